//! What a lab needs from the harness, for `pki` and `serve` alike: a CA (given or generated) and
//! provider profiles written for the certificates issued beside them.

use mimi_pki::ca::TestCa;
use std::path::PathBuf;

/// A CA to reuse instead of generating one (for `pki` and `serve`).
#[derive(clap::Args)]
pub struct CaArgs {
    /// Reuse this CA certificate (PEM) instead of generating one; needs --ca-key.
    #[arg(long, requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The CA's private key (PEM), for --ca-cert.
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
