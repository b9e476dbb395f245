//! Provider profiles: how to reach a provider under test and what it declares. Given as YAML with
//! `run --provider FILE`; with none, the embedded reference providers get generated profiles.

use crate::case::LoadError;
use crate::yaml::{Node, Pos};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A profile as written in YAML. Paths are relative to the profile file. Values whose errors
/// are found after parsing keep their position, so that each names its line and column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProfileFile {
    name: Spanned<String>,
    /// The provider's MIMI domain.
    domain: Spanned<String>,
    /// Defaults to `https://<domain>/.well-known/mimi-protocol-directory`.
    directory: Option<Spanned<String>>,
    /// Where to connect instead of DNS: `domain: host:port`.
    #[serde(default)]
    address_overrides: BTreeMap<String, Spanned<String>>,
    /// PEM files of the CAs that issued the provider's server certificate.
    trust_roots: Spanned<Vec<Spanned<PathBuf>>>,
    /// The certificate the harness presents, and the domain it authenticates.
    harness: HarnessIdentityFile,
    /// The draft revision the provider implements (`06`).
    draft: Option<Spanned<Node>>,
    /// Roles it plays: hub, follower, target.
    #[serde(default)]
    roles: Vec<Spanned<String>>,
    /// Endpoints it serves (directory keys); cases that need others are unsupported.
    #[serde(default)]
    endpoints: Vec<Spanned<String>>,
    /// Test users, by short name: a URI, or a URI and what the user is for (`differences`).
    #[serde(default)]
    users: BTreeMap<String, Spanned<crate::differences::TestUserEntry>>,
    /// The driver API for links A and C.
    driver: Option<DriverFile>,
    /// How long a step that expects nothing to arrive looks when the driver cannot say that
    /// the provider has nothing left to send (`awaitIdle`): `500ms`, `2s`. Without it, the
    /// step's timeout.
    quiet_period: Option<Spanned<String>>,
    /// The directory's own names for URL template variables → the drafts' names.
    #[serde(default)]
    template_variables: BTreeMap<String, String>,
    /// Directory entries (endpoint → URL template) that replace or add to the provider's.
    #[serde(default)]
    directory_entries: BTreeMap<String, String>,
    /// The consent model: whether claims need consent, and the requester that has it.
    #[serde(default)]
    consent: crate::differences::Consent,
    /// The provider's software version, as its vendor names it (`certify` needs one).
    software_version: Option<Spanned<String>>,
    /// The provider reaches its peers through the harness's observer (`ObserverRoute`).
    observer: Option<ObserverRouteFile>,
}

/// As written: paths relative to the profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ObserverRouteFile {
    listen: std::net::SocketAddr,
    identities: PathBuf,
}

/// Where the provider reaches its peers on link B: an observer the harness runs at `listen`
/// (the provider resolves its peers' domains there), which answers and asks as each domain
/// with the certificates in `identities` (`<domain>.pem`, `<domain>.key.pem`, from a CA the
/// providers trust; `pki --observer` and `serve --peers-via` write them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverRoute {
    pub listen: std::net::SocketAddr,
    pub identities: PathBuf,
}

/// The draft revisions a profile may name.
pub const DRAFTS: &[&str] = &["04", "05", "06"];
const DEFAULT_DRAFT: &str = "06";

/// The roles a provider plays in a room (P-06 §3).
pub const ROLES: &[&str] = &["hub", "follower", "target"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct HarnessIdentityFile {
    domain: Spanned<String>,
    certificate: Spanned<PathBuf>,
    key: Spanned<PathBuf>,
    /// Where the harness serves link B as `domain`, for cases in which the provider calls it
    /// (the provider must resolve `domain` to this address); without it those cases are
    /// unsupported.
    listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DriverFile {
    url: Spanned<String>,
    token_env: Spanned<String>,
}

/// Where the provider's driver API (links A and C) is, and the environment variable holding its
/// bearer token (the token controls users' accounts, so it is never written in the profile).
#[derive(Debug, Clone)]
pub struct Driver {
    pub url: String,
    pub token_env: String,
    /// The token itself, when the harness made the provider (the embedded pair); otherwise it is
    /// read from `token_env` when the harness connects.
    pub token: Option<String>,
}

impl Driver {
    pub fn token(&self) -> anyhow::Result<String> {
        match &self.token {
            Some(t) => Ok(t.clone()),
            None => std::env::var(&self.token_env).map_err(|_| {
                anyhow::anyhow!(
                    "the driver API's bearer token is read from ${}, which is not set",
                    self.token_env
                )
            }),
        }
    }
}

/// The identity the harness uses when it plays a provider.
#[derive(Debug, Clone)]
pub struct HarnessIdentity {
    pub domain: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// Where the harness serves link B, if it does (`harness-server` in a case's `needs`).
    pub listen: Option<std::net::SocketAddr>,
}

/// A loaded profile, certificates read.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub domain: String,
    pub directory_url: String,
    pub address_overrides: BTreeMap<String, String>,
    pub trust_roots_pem: Vec<String>,
    pub harness: HarnessIdentity,
    pub draft: String,
    pub roles: BTreeSet<String>,
    pub endpoints: BTreeSet<String>,
    /// Test users' URIs by short name (`{{ target.users.bob }}`).
    pub users: BTreeMap<String, String>,
    /// What each test user is for.
    pub test_users: BTreeMap<String, crate::differences::TestUser>,
    pub template_variables: BTreeMap<String, String>,
    pub directory_entries: BTreeMap<String, String>,
    pub consent: crate::differences::Consent,
    pub driver: Option<Driver>,
    pub software_version: Option<String>,
    pub observer: Option<ObserverRoute>,
    /// The wait for what must not arrive, when the driver cannot say the provider is idle.
    pub quiet_period: Option<std::time::Duration>,
}

impl Profile {
    /// Reads and checks a profile: every value is validated here, with its file, line and
    /// column, so that a typo is an invalid profile (exit 2) and never a provider failure.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        Self::load_all(path).map_err(|mut errors| errors.remove(0))
    }

    /// As `load`, with every error found rather than the first.
    pub fn load_all(path: &Path) -> Result<Self, Vec<LoadError>> {
        let text = crate::case::read_source(path, "the provider profile").map_err(|e| vec![e])?;
        Self::parse(path, &text)
    }

    /// As `load`, for a command that never calls the provider's driver API (`observe`): its
    /// bearer token need not be set.
    pub fn load_undriven(path: &Path) -> Result<Self, LoadError> {
        let text = crate::case::read_source(path, "the provider profile")?;
        Self::parse_checked(path, &text, false).map_err(|mut errors| errors.remove(0))
    }

    /// A profile from its text; files it names are read relative to `path`'s folder.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Vec<LoadError>> {
        Self::parse_checked(path, text, true)
    }

    /// `parse`, with the driver's token checked to be set or not.
    fn parse_checked(path: &Path, text: &str, driven: bool) -> Result<Self, Vec<LoadError>> {
        let file: ProfileFile =
            serde_saphyr::from_str(text).map_err(|e| {
                let mut error = LoadError::from_yaml(path, text, &e);
                // serde's words for an untagged enum name our type, not what to write.
                if error.message.contains("untagged enum TestUserEntry") {
                    error.message = "a test user is a mimi:// URI, or a map of its URI and meanings (uri, claimable, needs-consent, key-packages, found-by)".into();
                }
                vec![error]
            })?;
        let mut check = Check {
            path,
            text,
            dir: path.parent().unwrap_or(Path::new(".")),
            driven,
            errors: Vec::new(),
        };
        let profile = check.profile(file);
        match profile {
            Some(p) if check.errors.is_empty() => Ok(p),
            _ => Err(check.errors),
        }
    }

    /// Whether the provider offers a capability a case needs: an endpoint, a role, or a test
    /// user (`users.<name>`) with a meaning (`users.<name>.claimable`, see `differences`).
    pub fn declares(&self, capability: &str) -> bool {
        match capability.strip_prefix("users.") {
            Some(user) => match user.split_once('.') {
                None => self.users.contains_key(user),
                Some((user, meaning)) => self.test_users.get(user).is_some_and(|u| u.has(meaning)),
            },
            None if capability == "driver" => self.driver.is_some(),
            None if capability == HARNESS_SERVER => self.harness.listen.is_some(),
            None => self.endpoints.contains(capability) || self.roles.contains(capability),
        }
    }
}

/// The capability of a profile whose provider can reach the harness's link-B server.
pub const HARNESS_SERVER: &str = "harness-server";

pub fn default_directory(domain: &str) -> String {
    format!(
        "https://{domain}{}",
        mimi_wire::messages::directory::DIRECTORY_PATH
    )
}

/// Validates a parsed profile file, collecting every error at its position.
struct Check<'a> {
    path: &'a Path,
    text: &'a str,
    dir: &'a Path,
    /// Whether the driver API will be called, so that its token must be set.
    driven: bool,
    errors: Vec<LoadError>,
}

impl Check<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors
            .push(LoadError::at(self.path, self.text, pos, message));
    }

    fn profile(&mut self, file: ProfileFile) -> Option<Profile> {
        if file.name.value.trim().is_empty() {
            self.error(Pos::of(&file.name), "name must not be empty");
        }
        let domain = file.domain.value.to_ascii_lowercase();
        if let Err(e) = check_domain(&domain) {
            self.error(
                Pos::of(&file.domain),
                format!("domain {:?} {e}", file.domain.value),
            );
        }
        let software_version = file.software_version.and_then(|v| {
            if v.value.trim().is_empty() {
                self.error(Pos::of(&v), "software-version must not be empty");
                None
            } else {
                Some(v.value)
            }
        });
        if let Some(url) = &file.directory {
            match reqwest::Url::parse(&url.value) {
                Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
                _ => self.error(
                    Pos::of(url),
                    format!("directory {:?} is not an https URL (P-06 §4.1)", url.value),
                ),
            }
        }
        for (name, address) in &file.address_overrides {
            if let Err(e) = check_domain(&name.to_ascii_lowercase()) {
                self.error(
                    Pos::of(address),
                    format!("address override for {name:?}: {name:?} {e}"),
                );
            }
            if let Err(e) = check_address(&address.value) {
                self.error(
                    Pos::of(address),
                    format!("address override {name}: {:?} {e}", address.value),
                );
            }
        }
        if file.trust_roots.value.is_empty() {
            self.error(
                Pos::of(&file.trust_roots),
                "trust-roots must name at least one PEM file of the CAs that issued the provider's server certificate",
            );
        }
        let mut trust_roots_pem = Vec::new();
        for root in &file.trust_roots.value {
            if let Some(pem) = self.read(root, "trust root") {
                match mimi_pki::tls::certs_from_pem(&pem) {
                    Ok(_) => trust_roots_pem.push(pem),
                    Err(_) => self.error(
                        Pos::of(root),
                        format!(
                            "trust root {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            root.value.display()
                        ),
                    ),
                }
            }
        }
        let harness = self.harness(&file.harness);
        let draft = match &file.draft {
            None => DEFAULT_DRAFT.to_string(),
            Some(d) => {
                let text = match &d.value {
                    Node::Str(s) => s.clone(),
                    Node::Int(i) => format!("{i:02}"),
                    other => other.kind().to_string(),
                };
                if !DRAFTS.contains(&text.as_str()) {
                    self.error(
                        Pos::of(d),
                        format!(
                            "draft {text:?} is not a draft the harness knows (one of {})",
                            DRAFTS.join(", ")
                        ),
                    );
                }
                text
            }
        };
        for role in &file.roles {
            if !ROLES.contains(&role.value.as_str()) {
                self.error(
                    Pos::of(role),
                    format!(
                        "{:?} is not a role (one of {})",
                        role.value,
                        ROLES.join(", ")
                    ),
                );
            }
        }
        let known = mimi_wire::messages::directory::ENDPOINTS;
        for endpoint in &file.endpoints {
            if !known.contains(&endpoint.value.as_str()) {
                self.error(
                    Pos::of(endpoint),
                    format!(
                        "{:?} is not a MIMI endpoint (directory keys: {})",
                        endpoint.value,
                        known.join(", ")
                    ),
                );
            }
        }
        let mut test_users = BTreeMap::new();
        for (name, entry) in file.users {
            let pos = Pos::of(&entry);
            let user = entry.value.into_user();
            if user_of(&user.uri, &domain) {
                test_users.insert(name, user);
            } else {
                self.error(
                    pos,
                    format!(
                        "user {name}: {:?} is not a user of {domain} (mimi://{domain}/u/<name>)",
                        user.uri
                    ),
                );
            }
        }
        let problems = crate::differences::check(
            &domain,
            &file.harness.domain.value.to_ascii_lowercase(),
            &file.template_variables,
            &file.directory_entries,
            &file.consent,
            &test_users,
        );
        for problem in problems {
            self.errors.push(LoadError::file(self.path, problem));
        }
        let users = test_users
            .iter()
            .map(|(name, user)| (name.clone(), user.uri.clone()))
            .collect();
        let driver = file.driver.as_ref().map(|d| {
            match reqwest::Url::parse(&d.url.value) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => self.error(
                    Pos::of(&d.url),
                    format!("driver url {:?} is not an http(s) URL", d.url.value),
                ),
            }
            let name = &d.token_env.value;
            if name.is_empty() || name.contains(['=', '\0']) {
                self.error(
                    Pos::of(&d.token_env),
                    format!("token-env {name:?} is not the name of an environment variable"),
                );
            } else if self.driven && std::env::var_os(name).is_none() {
                self.error(
                    Pos::of(&d.token_env),
                    format!("the driver API's bearer token is read from ${name}, which is not set"),
                );
            }
            Driver {
                url: d.url.value.clone(),
                token_env: name.clone(),
                token: None,
            }
        });
        let quiet_period = file.quiet_period.as_ref().and_then(|period| {
            crate::case::parse_duration(&period.value)
                .map_err(|e| self.error(Pos::of(period), format!("quiet-period: {e}")))
                .ok()
        });
        Some(Profile {
            directory_url: file
                .directory
                .map(|d| d.value)
                .unwrap_or_else(|| default_directory(&domain)),
            harness: harness?,
            name: file.name.value,
            domain,
            address_overrides: file
                .address_overrides
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.value))
                .collect(),
            trust_roots_pem,
            draft,
            roles: file.roles.into_iter().map(|r| r.value).collect(),
            endpoints: file.endpoints.into_iter().map(|e| e.value).collect(),
            users,
            test_users,
            template_variables: file.template_variables,
            directory_entries: file.directory_entries,
            consent: file.consent,
            driver,
            software_version,
            observer: file.observer.map(|o| ObserverRoute {
                listen: o.listen,
                identities: self.dir.join(o.identities),
            }),
            quiet_period,
        })
    }

    /// The harness's identity: its certificate, its key, that they belong together, and that
    /// the certificate authenticates the harness's domain.
    fn harness(&mut self, file: &HarnessIdentityFile) -> Option<HarnessIdentity> {
        let domain = file.domain.value.to_ascii_lowercase();
        if let Err(e) = check_domain(&domain) {
            self.error(
                Pos::of(&file.domain),
                format!("harness.domain {domain:?} {e}"),
            );
        }
        let cert_pem = self.read(&file.certificate, "harness certificate");
        let key_pem = self.read(&file.key, "harness key");
        let (cert_pem, key_pem) = (cert_pem?, key_pem?);
        let certs = match mimi_pki::tls::certs_from_pem(&cert_pem) {
            Ok(c) => c,
            Err(_) => {
                self.error(
                    Pos::of(&file.certificate),
                    format!(
                        "harness certificate {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        file.certificate.value.display()
                    ),
                );
                return None;
            }
        };
        let key = match mimi_pki::tls::key_from_pem(&key_pem) {
            Ok(k) => k,
            Err(_) => {
                self.error(
                    Pos::of(&file.key),
                    format!(
                        "harness key {} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
                        file.key.value.display()
                    ),
                );
                return None;
            }
        };
        let provider = mimi_pki::tls::crypto_provider();
        if let Err(e) = rustls::sign::CertifiedKey::from_der(certs.clone(), key, &provider) {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "the key in {} is not the key of the certificate in {}",
                    file.key.value.display(),
                    file.certificate.value.display()
                ),
                other => format!("harness key {}: {other}", file.key.value.display()),
            };
            self.error(Pos::of(&file.key), why);
        }
        let authenticated = mimi_pki::tls::certificate_domains(&certs[0]);
        if !authenticated.contains(&domain) {
            self.error(
                Pos::of(&file.certificate),
                format!(
                    "harness certificate {} authenticates {}, not harness.domain {domain} (P-06 §4.1: the certificate must authenticate the From domain)",
                    file.certificate.value.display(),
                    if authenticated.is_empty() {
                        "no DNS name".to_string()
                    } else {
                        authenticated.join(", ")
                    }
                ),
            );
        }
        Some(HarnessIdentity {
            domain,
            cert_pem,
            key_pem,
            listen: file.listen,
        })
    }

    /// A file the profile names, relative to the profile's folder.
    fn read(&mut self, name: &Spanned<PathBuf>, what: &str) -> Option<String> {
        let path = self.dir.join(&name.value);
        if let Err(e) = std::fs::metadata(&path) {
            self.error(
                Pos::of(name),
                format!(
                    "cannot read {what} {} ({}): {e}",
                    name.value.display(),
                    path.display()
                ),
            );
            return None;
        }
        match crate::case::read_source(&path, what) {
            Ok(text) => Some(text),
            Err(e) => {
                self.error(
                    Pos::of(name),
                    format!("{what} {}: {}", name.value.display(), e.message),
                );
                None
            }
        }
    }
}

/// A DNS name as a MIMI domain: labels of letters, digits and hyphens.
fn check_domain(domain: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.is_empty() || domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err("is not a domain name".into());
    }
    Ok(())
}

/// `host:port`, `[v6]:port`: an address override names where to connect, port included.
fn check_address(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("has no port; write host:port".into());
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err()) {
        return Err("has no host; write host:port".into());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "has port {port:?}, which is not a port number (1 to 65535)"
        )),
    }
}

/// Whether `uri` is a MIMI URI of a user (or any identity) of `domain`.
fn user_of(uri: &str, domain: &str) -> bool {
    uri.strip_prefix("mimi://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(d, path)| d.eq_ignore_ascii_case(domain) && !path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert!(check_address("127.0.0.1:8443").is_ok());
        assert!(check_address("[::1]:8443").is_ok());
        assert!(check_address("vendor.example:443").is_ok());
        assert!(check_address("127.0.0.1").unwrap_err().contains("no port"));
        assert!(check_address(":443").unwrap_err().contains("no host"));
        assert!(check_address("host:0").is_err());
        assert!(check_address("host:99999").is_err());
    }

    #[test]
    fn users_are_uris_of_the_profiles_domain() {
        assert!(user_of("mimi://vendor.example/u/bob", "vendor.example"));
        assert!(!user_of("mimi://other.example/u/bob", "vendor.example"));
        assert!(!user_of("bob", "vendor.example"));
        assert!(!user_of("mimi://vendor.example/", "vendor.example"));
    }

    #[test]
    fn domains_are_dns_names() {
        assert!(check_domain("vendor.example").is_ok());
        assert!(check_domain("vendor example").is_err());
        assert!(check_domain("").is_err());
        assert!(check_domain("-x.example").is_err());
    }
}
