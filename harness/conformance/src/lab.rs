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
    description: &crate::differences::Description,
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
