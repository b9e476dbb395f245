//! The provider profile as `evidence.json` (and so a bundle) shows it: everything it declares,
//! with every secret left out. Out go the harness's private key, the driver API's bearer token (only the name of the
//! variable that held it stays) and credentials or query strings in URLs; what was left out is
//! listed, so a reader knows. Certificates and CA certificates are public and stay.

use crate::differences::{Consent, TestUser};
use crate::profile::{Driver, HarnessIdentity, Profile};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PublicProfile {
    pub name: String,
    pub software_version: Option<String>,
    pub domain: String,
    pub directory: String,
    pub address_overrides: BTreeMap<String, String>,
    /// The CA certificates (PEM) that issued the provider's server certificate.
    pub trust_roots: Vec<String>,
    pub harness: PublicHarness,
    pub draft: String,
    pub roles: BTreeSet<String>,
    pub endpoints: BTreeSet<String>,
    pub users: BTreeMap<String, String>,
    /// What each test user is for (`differences`).
    pub test_users: BTreeMap<String, TestUser>,
    pub template_variables: BTreeMap<String, String>,
    pub directory_entries: BTreeMap<String, String>,
    pub consent: Consent,
    pub driver: Option<PublicDriver>,
    /// What was left out, in words.
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PublicHarness {
    pub domain: String,
    /// The certificate (PEM) the harness presented; its private key is not here.
    pub certificate: String,
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PublicDriver {
    pub url: String,
    /// The variable that held the bearer token; the token is not here.
    pub token_env: String,
}

impl PublicProfile {
    pub fn of(profile: &Profile) -> Self {
        let mut removed = vec!["the harness's private key".to_string()];
        let directory = public_url(&profile.directory_url, "directory", &mut removed);
        let driver = profile.driver.as_ref().map(|d| {
            removed.push(format!("the driver API's bearer token (${})", d.token_env));
            PublicDriver {
                url: public_url(&d.url, "driver url", &mut removed),
                token_env: d.token_env.clone(),
            }
        });
        Self {
            name: profile.name.clone(),
            software_version: profile.software_version.clone(),
            domain: profile.domain.clone(),
            directory,
            address_overrides: profile.address_overrides.clone(),
            trust_roots: profile.trust_roots_pem.clone(),
            harness: PublicHarness {
                domain: profile.harness.domain.clone(),
                certificate: profile.harness.cert_pem.clone(),
                listen: profile.harness.listen,
            },
            draft: profile.draft.clone(),
            roles: profile.roles.clone(),
            endpoints: profile.endpoints.clone(),
            users: profile.users.clone(),
            test_users: profile.test_users.clone(),
            template_variables: profile.template_variables.clone(),
            directory_entries: profile.directory_entries.clone(),
            consent: profile.consent.clone(),
            driver,
            removed,
        }
    }

    /// The profile as far as declarations go (which cases it supports, what templates fill
    /// in with); it cannot connect: no key, no token.
    pub fn declarations(&self) -> Profile {
        Profile {
            name: self.name.clone(),
            domain: self.domain.clone(),
            directory_url: self.directory.clone(),
            address_overrides: self.address_overrides.clone(),
            trust_roots_pem: self.trust_roots.clone(),
            harness: HarnessIdentity {
                domain: self.harness.domain.clone(),
                cert_pem: self.harness.certificate.clone(),
                key_pem: String::new(),
                listen: self.harness.listen,
            },
            draft: self.draft.clone(),
            roles: self.roles.clone(),
            endpoints: self.endpoints.clone(),
            users: self.users.clone(),
            test_users: self.test_users.clone(),
            template_variables: self.template_variables.clone(),
            directory_entries: self.directory_entries.clone(),
            consent: self.consent.clone(),
            driver: self.driver.as_ref().map(|d| Driver {
                url: d.url.clone(),
                token_env: d.token_env.clone(),
                token: None,
            }),
            software_version: self.software_version.clone(),
            // Where link B was routed through is the lab's, not a declaration of the provider.
            observer: None,
            // How long a wait for what must not arrive lasted: the recorded exchanges say what
            // arrived, which is what a verdict is recomputed from.
            quiet_period: None,
        }
    }
}

/// The secrets of a profile, as they would appear in text: the private key's PEM and each of
/// its base64 lines, and the driver token (from the profile, or the variable it names).
pub fn secrets(profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    let key = profile.harness.key_pem.trim();
    if !key.is_empty() {
        out.push(key.to_string());
        out.extend(
            key.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_string),
        );
    }
    if let Some(token) = profile.driver.as_ref().and_then(|d| d.token().ok()) {
        // A token too short to search for safely is still never written; it just cannot be
        // told apart from other text.
        if token.len() >= 8 {
            out.push(token);
        }
    }
    out
}

/// The URL without user information, query or fragment (where credentials hide).
fn public_url(url: &str, what: &str, removed: &mut Vec<String>) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => {
            removed.push(format!("the credentials in the {what}"));
            host
        }
        None => authority,
    };
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    if path_end < tail.len() {
        removed.push(format!("the query and fragment of the {what}"));
    }
    let prefix = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{prefix}{host}{}", &tail[..path_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        let mut removed = Vec::new();
        assert_eq!(
            public_url(
                "https://u:p@h.example:9/driver?token=x#y",
                "driver url",
                &mut removed
            ),
            "https://h.example:9/driver"
        );
        assert_eq!(removed.len(), 2);
        let mut removed = Vec::new();
        assert_eq!(
            public_url("http://127.0.0.1:8/d", "driver url", &mut removed),
            "http://127.0.0.1:8/d"
        );
        assert!(removed.is_empty());
    }
}
