//! `mimi-conformance pki`: a CA plus server/client certificates for a plugfest or a lab, and a
//! provider profile per domain that uses them.

use crate::exit;
use crate::lab::{profile_yaml, CaArgs};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PkiArgs {
    /// Folder to write into (created if missing).
    #[arg(long, default_value = "pki")]
    pub out: PathBuf,
    /// A provider domain to issue a certificate for (repeatable).
    #[arg(long = "domain", default_values_t = ["a.example".to_string(), "b.example".to_string()])]
    pub domains: Vec<String>,
    /// The domain the harness authenticates as when it plays a provider.
    #[arg(long, default_value = "harness.example")]
    pub harness_domain: String,
    /// Also write the observer's certificates, one for each domain (the harness's included),
    /// to `<out>/observer/` (`mimi-conformance observe --identities <out>/observer`).
    #[arg(long)]
    pub observer: bool,
    #[command(flatten)]
    pub ca: CaArgs,
}

pub fn run(args: &PkiArgs) -> ExitCode {
    match write(args) {
        Ok(files) => {
            for f in files {
                eprintln!("wrote {}", f.display());
            }
            exit::code(exit::PASSED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(exit::INVALID)
        }
    }
}

fn write(args: &PkiArgs) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&args.out)?;
    let ca = args.ca.load_or_generate("mimi-conformance lab CA")?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: &str| -> anyhow::Result<()> {
        let path = args.out.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    put("ca.pem", &ca.cert_pem)?;
    if args.ca.ca_cert.is_none() {
        put("ca.key.pem", &ca.key_pem)?;
    }
    for domain in args.domains.iter().chain([&args.harness_domain]) {
        let identity = ca.issue(domain)?;
        put(&format!("{domain}.pem"), &identity.cert_pem)?;
        put(&format!("{domain}.key.pem"), &identity.key_pem)?;
    }
    if args.observer {
        // Its own keys: the observer answers and asks as each domain, so it needs a
        // certificate for each, from the CA the providers trust.
        std::fs::create_dir_all(args.out.join("observer"))?;
        for domain in args.domains.iter().chain([&args.harness_domain]) {
            let identity = ca.issue(domain)?;
            put(&format!("observer/{domain}.pem"), &identity.cert_pem)?;
            put(&format!("observer/{domain}.key.pem"), &identity.key_pem)?;
        }
    }
    for domain in &args.domains {
        let endpoints = ["keyMaterial".to_string()];
        let profile = profile_yaml(
            domain,
            &args.harness_domain,
            None,
            None,
            &endpoints,
            &Default::default(),
            None,
        );
        put(&format!("profile-{domain}.yaml"), &profile)?;
    }
    Ok(written)
}
