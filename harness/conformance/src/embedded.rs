//! The embedded reference providers: the default target, started in-process on loopback with
//! ephemeral ports and freshly generated certificates, so every test process can have its own.

use crate::profile::{HarnessIdentity, Profile};
use mimi_reference_provider::faults::Faults;
use mimi_reference_provider::pki::TestCa;
use mimi_reference_provider::state::{user_uri, UserSeed};
use mimi_reference_provider::{ProviderConfig, RunningProvider};
use std::collections::{BTreeMap, BTreeSet};

/// The provider under test, then its peer.
pub const DOMAINS: [&str; 2] = ["a.example", "b.example"];
pub const HARNESS_DOMAIN: &str = "harness.example";

pub struct Embedded {
    /// Profiles in the order of `DOMAINS`.
    pub profiles: Vec<Profile>,
    _providers: Vec<RunningProvider>,
}

/// bob and carol let anyone claim their KeyPackages; dora requires consent.
pub fn seeds() -> Vec<UserSeed> {
    [("bob", 2, false), ("carol", 1, false), ("dora", 1, true)]
        .into_iter()
        .map(|(name, clients, consent_required)| UserSeed {
            name: name.into(),
            clients,
            key_packages_per_client: 32,
            consent_required,
        })
        .collect()
}

/// Starts the pair on the current runtime; `faults` apply to the provider under test only.
pub async fn start(faults: Faults) -> anyhow::Result<Embedded> {
    let ca = TestCa::generate("mimi-conformance embedded CA")?;
    let harness_identity = ca.issue(HARNESS_DOMAIN)?;
    let harness = HarnessIdentity {
        domain: HARNESS_DOMAIN.into(),
        cert_pem: harness_identity.cert_pem,
        key_pem: harness_identity.key_pem,
    };
    let mut profiles = Vec::new();
    let mut providers = Vec::new();
    for (i, domain) in DOMAINS.iter().enumerate() {
        let provider = mimi_reference_provider::start(ProviderConfig {
            domain: domain.to_string(),
            identity: ca.issue(domain)?,
            trust_roots: vec![ca.cert_pem.clone()],
            users: seeds(),
            faults: if i == 0 {
                faults.clone()
            } else {
                Faults::none()
            },
            listen: "127.0.0.1:0".parse()?,
            asset_domains: DOMAINS.iter().map(|d| d.to_string()).collect(),
            driver: None,
        })
        .await?;
        let directory = mimi_reference_provider::endpoints::directory(domain);
        profiles.push(Profile {
            name: format!("embedded reference provider {domain}"),
            domain: domain.to_string(),
            directory_url: crate::profile::default_directory(domain),
            address_overrides: BTreeMap::from([(domain.to_string(), provider.addr.to_string())]),
            trust_roots_pem: vec![ca.cert_pem.clone()],
            harness: harness.clone(),
            draft: "06".into(),
            roles: BTreeSet::from(["target".to_string()]),
            endpoints: directory.endpoints.keys().cloned().collect(),
            users: seeds()
                .iter()
                .map(|s| (s.name.clone(), user_uri(domain, &s.name)))
                .collect(),
            driver: None,
        });
        providers.push(provider);
    }
    Ok(Embedded {
        profiles,
        _providers: providers,
    })
}
