//! The embedded reference providers: a run's providers by default, started in-process on loopback with
//! ephemeral ports and freshly generated certificates, so every test process can have its own.

use crate::observer::Observer;
use crate::profile::{HarnessIdentity, Profile};
use crate::session::{RunningProviders, StartProviders};
use mimi_pki::ca::TestCa;
use mimi_reference_provider::faults::Faults;
use mimi_reference_provider::state::UserSeed;
use mimi_reference_provider::variants::Variants;
use mimi_reference_provider::{ProviderConfig, RunningProvider};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

/// The provider under test, then its peer.
pub const DOMAINS: [&str; 2] = ["a.example", "b.example"];
pub const HARNESS_DOMAIN: &str = "harness.example";
/// The asset each embedded provider hosts (served at /v1/assets/<first 16 bytes of its SHA-256>).
pub const EMBEDDED_ASSET: &[u8] = b"an asset of the embedded reference provider\n";

/// The pair to start, with these faults and variants in the provider under test.
pub struct Pair {
    pub faults: Faults,
    /// Its counters are shared with the running provider's, so the holder of a clone sees the
    /// variants' code paths used.
    pub variants: Variants,
}

impl StartProviders for Pair {
    fn start(
        self: Box<Self>,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Box<dyn RunningProviders>> {
        Ok(Box::new(
            runtime.block_on(start(self.faults, self.variants))?,
        ))
    }
}

/// The pair, running; dropping it stops them.
pub struct Embedded {
    /// Profiles in the order of `DOMAINS`.
    pub profiles: Vec<Profile>,
    providers: Vec<RunningProvider>,
    /// The variants of the provider under test, by name, when it has any.
    variants: Option<String>,
    /// Stands between the providers: each reaches the other through it on link B.
    pub observer: Arc<Observer>,
}

impl RunningProviders for Embedded {
    fn profiles(&self) -> Vec<Profile> {
        self.profiles.clone()
    }

    fn snapshot_suffix(&self) -> Option<String> {
        self.variants.clone()
    }

    fn route(&self, domain: &str, addr: SocketAddr) {
        for provider in &self.providers {
            provider.route(domain, addr);
        }
    }

    fn observer(&self) -> Option<Arc<Observer>> {
        Some(self.observer.clone())
    }
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
            consented_requesters: Vec::new(),
        })
        .collect()
}

/// Starts the pair on the current runtime; `faults` and `variants` apply to the provider under
/// test only, and its profile describes the variants the way a vendor's would.
pub async fn start(faults: Faults, variants: Variants) -> anyhow::Result<Embedded> {
    let ca = TestCa::generate("mimi-conformance embedded CA")?;
    let harness_identity = ca.issue(HARNESS_DOMAIN)?;
    let harness = HarnessIdentity {
        domain: HARNESS_DOMAIN.into(),
        cert_pem: harness_identity.cert_pem,
        key_pem: harness_identity.key_pem,
        listen: Some("127.0.0.1:0".parse()?),
    };
    // The driver token guards nothing here (loopback, this process), but is required all the same.
    let token = format!("embedded-{}", std::process::id());
    let mut configs = Vec::new();
    for (i, domain) in DOMAINS.iter().enumerate() {
        configs.push(ProviderConfig {
            domain: domain.to_string(),
            identity: ca.issue(domain)?,
            trust_roots: vec![ca.cert_pem.clone()],
            users: if i == 0 {
                super::variants::seeds(&variants, HARNESS_DOMAIN)
            } else {
                seeds()
            },
            faults: if i == 0 {
                faults.clone()
            } else {
                Faults::none()
            },
            variants: if i == 0 {
                variants.clone()
            } else {
                Variants::none()
            },
            listen: "127.0.0.1:0".parse()?,
            // Each provider fetches assets for its rooms from the other one only.
            asset_domains: DOMAINS
                .iter()
                .filter(|d| *d != domain)
                .map(|d| d.to_string())
                .collect(),
            driver: Some(("127.0.0.1:0".parse()?, token.clone())),
        });
    }
    let providers = mimi_reference_provider::start_network(configs).await?;
    let observer = interpose(&ca, &providers).await?;
    let mut profiles = Vec::new();
    for (i, provider) in providers.iter().enumerate() {
        let domain = provider.domain.as_str();
        // A known asset, so that cases can fetch it through a hub's proxyDownload.
        provider.host_asset(EMBEDDED_ASSET.to_vec())?;
        let variants = if i == 0 {
            variants.clone()
        } else {
            Variants::none()
        };
        let description = super::variants::describe(&variants, domain, HARNESS_DOMAIN);
        profiles.push(Profile {
            name: format!("embedded reference provider {domain}"),
            domain: domain.to_string(),
            directory_url: crate::profile::default_directory(domain),
            address_overrides: BTreeMap::from([(domain.to_string(), provider.addr.to_string())]),
            trust_roots_pem: vec![ca.cert_pem.clone()],
            harness: harness.clone(),
            draft: "06".into(),
            roles: BTreeSet::from([
                "target".to_string(),
                "hub".to_string(),
                "follower".to_string(),
            ]),
            endpoints: mimi_wire::messages::directory::ENDPOINTS
                .iter()
                .map(|e| e.to_string())
                .collect(),
            users: description
                .users
                .iter()
                .map(|(name, user)| (name.clone(), user.uri.clone()))
                .collect(),
            test_users: description.users,
            template_variables: description.template_variables,
            directory_entries: Default::default(),
            consent: description.consent,
            driver: provider.driver_addr.map(|addr| crate::profile::Driver {
                url: format!("http://{addr}"),
                token_env: "MIMI_DRIVER_TOKEN".into(),
                token: Some(token.clone()),
            }),
            software_version: Some(format!(
                "mimi-reference-provider {}",
                env!("CARGO_PKG_VERSION")
            )),
            // The pair's observer is the harness's own, started with the pair.
            observer: None,
            // Its driver answers awaitIdle.
            quiet_period: None,
        });
    }
    let names: Vec<&str> = variants.iter().map(|v| v.name()).collect();
    Ok(Embedded {
        profiles,
        providers,
        variants: (!names.is_empty()).then(|| names.join("+")),
        observer,
    })
}

/// Puts an observer between the providers: every provider reaches the others through it on
/// link B.
async fn interpose(ca: &TestCa, providers: &[RunningProvider]) -> anyhow::Result<Arc<Observer>> {
    let at: Vec<(String, SocketAddr)> = providers
        .iter()
        .map(|p| (p.domain.clone(), p.addr))
        .collect();
    let observer = crate::observer::between(ca, &at, &[HARNESS_DOMAIN]).await?;
    route_peers_via(providers, observer.addr);
    Ok(Arc::new(observer))
}

/// Makes every provider reach the others at `addr` (an observer) on link B.
pub fn route_peers_via(providers: &[RunningProvider], addr: SocketAddr) {
    for provider in providers {
        for peer in providers.iter().filter(|p| p.domain != provider.domain) {
            provider.route(&peer.domain, addr);
        }
    }
}
