//! `mimi-conformance keypackage`: KeyPackages for a test user, minted as the harness's own
//! clients mint them (RFC 9420 §10: a basic credential naming the client's MIMI URI, the
//! capabilities MIMI rooms need — the app-data dictionary, P-06 §7.2 — and a lifetime that covers
//! a run), so that a vendor can put them in the store of a provider that has no driver API.
//!
//! The KeyPackages serve claims (the cases of the target role); their private keys stay in this
//! process, so a client of the provider cannot join a room with them.

use crate::exit;
use mimi_wire::Render;
use openmls::prelude::{Ciphersuite, Lifetime};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct KeyPackageArgs {
    /// The test user, a MIMI user URI: mimi://<provider domain>/u/<name>.
    #[arg(long)]
    pub user: String,
    /// How many clients the user has; client i is mimi://<domain>/d/<name>/<i>.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// KeyPackages per client.
    #[arg(long, default_value_t = 4)]
    pub count: usize,
    /// The MLS cipher suite (RFC 9420 §17.1): 1, 2 or 3.
    #[arg(long, default_value_t = 1)]
    pub suite: u16,
    /// How long the KeyPackages stay valid, in days.
    #[arg(long, default_value_t = 28)]
    pub lifetime_days: u64,
    /// Write each KeyPackage (TLS-encoded, RFC 9420 §10) to DIR/<name>-<client>-<n>.keypackage
    /// instead of one hex line each on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The user's short name and provider domain, from its URI.
fn split_user(user: &str) -> Result<(&str, &str), String> {
    let rest = user
        .strip_prefix("mimi://")
        .ok_or_else(|| format!("{user:?} is not a MIMI URI (mimi://<domain>/u/<name>)"))?;
    match rest.split('/').collect::<Vec<_>>()[..] {
        [domain, "u", name] if !domain.is_empty() && !name.is_empty() => Ok((domain, name)),
        _ => Err(format!(
            "{user:?} is not a MIMI user URI (mimi://<domain>/u/<name>)"
        )),
    }
}

/// One minted KeyPackage: its client, its bytes and a line that describes it.
pub struct Minted {
    pub client: String,
    pub bytes: Vec<u8>,
    pub summary: String,
}

pub fn mint(args: &KeyPackageArgs) -> Result<Vec<Minted>, String> {
    let (domain, name) = split_user(&args.user)?;
    let suite = Ciphersuite::try_from(args.suite).map_err(|_| {
        format!(
            "cipher suite {} is not one the harness can mint (1, 2 or 3)",
            args.suite
        )
    })?;
    if !matches!(args.suite, 1..=3) {
        return Err(format!(
            "cipher suite {} is not one the harness can mint (1, 2 or 3)",
            args.suite
        ));
    }
    if args.clients == 0 || args.count == 0 {
        return Err("--clients and --count are at least 1".into());
    }
    let lifetime = Lifetime::new(args.lifetime_days.saturating_mul(24 * 3600));
    let mut minted = Vec::new();
    for i in 1..=args.clients {
        let client = format!("mimi://{domain}/d/{name}/{i}");
        let sim = mimi_mls::SimClient::new(client.clone(), suite);
        for _ in 0..args.count {
            let key_package = sim.key_package(lifetime);
            let shown = key_package.render();
            minted.push(Minted {
                client: client.clone(),
                bytes: key_package.bytes.clone(),
                summary: format!(
                    "{client}: ref {}, suite {}, extensions {}, valid until {}",
                    shown["ref"].as_str().unwrap_or_default(),
                    shown["cipher_suite"].as_str().unwrap_or_default(),
                    shown["leaf_node"]["capabilities"]["extensions"],
                    shown["leaf_node"]["lifetime"]["not_after"]
                ),
            });
        }
    }
    Ok(minted)
}

#[expect(
    clippy::print_stdout,
    reason = "the KeyPackages, one hex line each, are this command's product"
)]
pub fn run(args: &KeyPackageArgs) -> ExitCode {
    let minted = match mint(args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::code(exit::INVALID);
        }
    };
    match &args.out {
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return exit::code(exit::INVALID);
            }
            let mut per_client = std::collections::BTreeMap::<&str, usize>::new();
            for m in &minted {
                let n = per_client.entry(&m.client).or_default();
                *n += 1;
                let file = dir.join(format!(
                    "{}-{}.keypackage",
                    m.client
                        .trim_start_matches("mimi://")
                        .replace(['/', ':'], "_"),
                    n
                ));
                if let Err(e) = std::fs::write(&file, &m.bytes) {
                    eprintln!("error: cannot write {}: {e}", file.display());
                    return exit::code(exit::INVALID);
                }
                eprintln!("wrote {}: {}", file.display(), m.summary);
            }
        }
        None => {
            // The KeyPackages are this command's product; it never runs under a test runner.
            for m in &minted {
                println!("{}", hex::encode(&m.bytes));
                eprintln!("{}", m.summary);
            }
        }
    }
    exit::code(exit::PASSED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(user: &str) -> KeyPackageArgs {
        KeyPackageArgs {
            user: user.into(),
            clients: 2,
            count: 3,
            suite: 1,
            lifetime_days: 28,
            out: None,
        }
    }

    #[test]
    fn mints_valid_key_packages_for_each_client_with_the_mimi_capabilities() {
        let minted = mint(&args("mimi://vendor.example/u/bob")).unwrap();
        assert_eq!(minted.len(), 6);
        let kp = mimi_wire::mls_objects::KeyPackage::from_bytes(&minted[5].bytes).unwrap();
        let shown = kp.render();
        assert_eq!(shown["verification"], "valid");
        assert_eq!(
            shown["leaf_node"]["credential"]["basic"],
            "mimi://vendor.example/d/bob/2"
        );
        assert!(shown["leaf_node"]["capabilities"]["extensions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(6)));
        assert_ne!(minted[0].bytes, minted[1].bytes, "each KeyPackage is fresh");
    }

    #[test]
    fn a_uri_that_is_not_a_user_or_a_suite_it_cannot_mint_is_refused() {
        assert!(mint(&args("mimi://vendor.example/d/bob/1"))
            .err()
            .unwrap()
            .contains("not a MIMI user URI"));
        let mut a = args("mimi://vendor.example/u/bob");
        a.suite = 7;
        assert!(mint(&a).err().unwrap().contains("cipher suite 7"));
    }
}
