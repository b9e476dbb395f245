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
    description: &crate::variants::Description,
    driver: Option<(String, &str)>,
) -> String {
    let overrides = match address {
        Some(a) => format!("{{{domain}: \"{a}\"}}"),
        None => format!("{{}}  # e.g. {{{domain}: 127.0.0.1:8443}}"),
    };
    let users = if description.users.is_empty() {
        format!(" {{}}  # test users with key material, e.g. {{bob: mimi://{domain}/u/bob}}\n")
    } else {
        format!("\n{}", indented(&description.users))
    };
    let mut differences = String::new();
    if !description.template_variables.is_empty() {
        differences.push_str(&format!(
            "template-variables:  # the directory's names for the drafts' variables\n{}",
            indented(&description.template_variables)
        ));
    }
    if description.consent != Default::default() {
        differences.push_str(&format!(
            "consent:  # claims need consent; the test users granted it to the requester\n{}",
            indented(&description.consent)
        ));
    }
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
users:{users}\
{differences}\
{driver}",
        endpoints.join(", ")
    )
}

/// A value as block YAML, indented under its key.
fn indented(value: &impl serde::Serialize) -> String {
    serde_saphyr::to_string(value)
        .unwrap_or_default()
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect()
}
