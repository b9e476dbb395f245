//! Provider profiles: how to reach a provider under test and what it declares. Given as YAML with
//! `run --provider FILE`; with none, the embedded reference providers get generated profiles.

use crate::case::node::Pos;
use crate::case::LoadError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A profile as written in YAML. Paths are relative to the profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProfileFile {
    name: String,
    /// The provider's MIMI domain.
    domain: String,
    /// Defaults to `https://<domain>/.well-known/mimi-protocol-directory`.
    directory: Option<String>,
    /// Where to connect instead of DNS: `domain: host:port`.
    #[serde(default)]
    address_overrides: BTreeMap<String, String>,
    /// PEM files of the CAs that issued the provider's server certificate.
    trust_roots: Vec<PathBuf>,
    /// The certificate the harness presents, and the domain it authenticates.
    harness: HarnessIdentityFile,
    /// The draft revision the provider implements (`06`).
    #[serde(default = "default_draft")]
    draft: String,
    /// Roles it plays: hub, follower, target.
    #[serde(default)]
    roles: BTreeSet<String>,
    /// Endpoints it serves (directory keys); cases that need others are unsupported.
    #[serde(default)]
    endpoints: BTreeSet<String>,
    /// Test users that exist on the provider with key material, by short name.
    #[serde(default)]
    users: BTreeMap<String, String>,
    /// The driver API for links A and C.
    driver: Option<Driver>,
    /// The provider's software version, as its vendor declares it (reports show it).
    version: Option<String>,
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

fn default_draft() -> String {
    "06".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct HarnessIdentityFile {
    domain: String,
    certificate: PathBuf,
    key: PathBuf,
    /// Where the harness serves link B as `domain`, for cases in which the provider calls it
    /// (the provider must resolve `domain` to this address); without it those cases are
    /// unsupported.
    listen: Option<std::net::SocketAddr>,
}

/// Where the provider's driver API (links A and C) is, and the environment variable holding its
/// bearer token (the token controls users' accounts, so it is never written in the profile).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Driver {
    pub url: String,
    pub token_env: String,
    /// The token itself, when the harness made the provider (the embedded pair); otherwise it is
    /// read from `token_env` when the harness connects.
    #[serde(skip)]
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
    pub users: BTreeMap<String, String>,
    pub driver: Option<Driver>,
    pub version: Option<String>,
    pub observer: Option<ObserverRoute>,
}

impl Profile {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::file(path, format!("cannot read the provider profile: {e}")))?;
        let file: ProfileFile =
            serde_saphyr::from_str(&text).map_err(|e| LoadError::from_yaml(path, &text, &e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let read = |p: &Path| {
            std::fs::read_to_string(dir.join(p)).map_err(|e| {
                LoadError::file(path, format!("cannot read {}: {e}", dir.join(p).display()))
            })
        };
        let trust_roots_pem = file
            .trust_roots
            .iter()
            .map(|p| read(p))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(url) = &file.directory {
            if !url.starts_with("https://") {
                return Err(LoadError::at(
                    path,
                    &text,
                    Pos::default(),
                    format!("directory {url:?} is not an https URL (P-06 §4.1)"),
                ));
            }
        }
        Ok(Self {
            directory_url: file
                .directory
                .unwrap_or_else(|| default_directory(&file.domain)),
            harness: HarnessIdentity {
                domain: file.harness.domain,
                cert_pem: read(&file.harness.certificate)?,
                key_pem: read(&file.harness.key)?,
                listen: file.harness.listen,
            },
            name: file.name,
            domain: file.domain,
            address_overrides: file.address_overrides,
            trust_roots_pem,
            draft: file.draft,
            roles: file.roles,
            endpoints: file.endpoints,
            users: file.users,
            driver: file.driver,
            version: file.version,
            observer: file.observer.map(|o| ObserverRoute {
                listen: o.listen,
                identities: dir.join(o.identities),
            }),
        })
    }

    /// Whether the provider offers a capability a case needs: an endpoint, a role, or a test
    /// user (`users.<name>`).
    pub fn declares(&self, capability: &str) -> bool {
        match capability.strip_prefix("users.") {
            Some(user) => self.users.contains_key(user),
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
