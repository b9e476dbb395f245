//! `mimi-conformance pki`: a CA plus server/client certificates for a plugfest or a lab, and a
//! provider profile per domain that uses them.

use crate::exit;
use mimi_reference_provider::pki::TestCa;
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

/// A CA to reuse instead of generating one (for `pki` and `serve`).
#[derive(clap::Args)]
pub struct CaArgs {
    /// Reuse this CA certificate (PEM) instead of generating one; needs --ca-key.
    #[arg(long, requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    #[arg(long, requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
}

impl CaArgs {
    /// The CA given as PEM files, or a fresh one named `name`.
    pub fn load_or_generate(&self, name: &str) -> anyhow::Result<TestCa> {
        match (&self.ca_cert, &self.ca_key) {
            (Some(cert), Some(key)) => TestCa::from_pem(
                &std::fs::read_to_string(cert)?,
                &std::fs::read_to_string(key)?,
            ),
            _ => TestCa::generate(name),
        }
    }
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

/// A provider profile as YAML, with paths relative to the folder it is written to.
pub fn profile_yaml(
    domain: &str,
    harness: &str,
    harness_listen: Option<std::net::SocketAddr>,
    address: Option<&str>,
    endpoints: &[String],
    users: &std::collections::BTreeMap<String, String>,
    driver: Option<(String, &str)>,
) -> String {
    let overrides = match address {
        Some(a) => format!("{{{domain}: \"{a}\"}}"),
        None => format!("{{}}  # e.g. {{{domain}: 127.0.0.1:8443}}"),
    };
    let users = if users.is_empty() {
        format!("{{}}  # test users with key material, e.g. {{bob: mimi://{domain}/u/bob}}")
    } else {
        let entries: Vec<String> = users.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
        format!("{{{}}}", entries.join(", "))
    };
    let (roles, driver) = match driver {
        Some((url, token_env)) => (
            "[target, hub, follower]",
            format!("driver: {{url: \"{url}\", token-env: {token_env}}}\n"),
        ),
        None => (
            "[target]",
            "# driver: {url: \"https://...\", token-env: MIMI_DRIVER_TOKEN}  # links A and C\n"
                .into(),
        ),
    };
    let listen = harness_listen
        .map(|a| format!("  listen: \"{a}\"\n"))
        .unwrap_or_default();
    format!(
        "# A provider profile for {domain}; run with: mimi-conformance run --provider profile-{domain}.yaml\n\
name: {domain}\n\
domain: {domain}\n\
# directory: https://{domain}/.well-known/mimi-protocol-directory\n\
address-overrides: {overrides}\n\
trust-roots: [ca.pem]\n\
harness:\n  domain: {harness}\n  certificate: {harness}.pem\n  key: {harness}.key.pem\n{listen}\
draft: \"06\"\n\
roles: {roles}\n\
endpoints: [{}]\n\
users: {users}\n\
{driver}",
        endpoints.join(", ")
    )
}
