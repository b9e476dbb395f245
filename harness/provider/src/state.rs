//! The provider's state: in memory and bounded, because this is a test fixture, not a production
//! server. Users, their clients (simulated MLS clients) and the KeyPackages those clients published.

use mimi_mls::SimClient;
use std::collections::{BTreeMap, VecDeque};

/// No client keeps more KeyPackages than this (a bound on memory, not a protocol limit).
pub const MAX_KEY_PACKAGES_PER_CLIENT: usize = 256;
/// KeyPackages are valid for this long from their creation.
pub const KEY_PACKAGE_LIFETIME_SECONDS: u64 = 28 * 24 * 3600;

/// A user that the provider starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSeed {
    pub name: String,
    pub clients: usize,
    pub key_packages_per_client: usize,
    /// Claims of this user's KeyPackages need its consent (P-06 §5.2, §8).
    pub consent_required: bool,
}

pub use mimi_mls::member::{user_of_client, Delivery, Member as Client};

/// A new client with its KeyPackages published.
pub fn new_client(sim: SimClient, key_packages: usize) -> Client {
    Client::new(
        sim,
        key_packages.min(MAX_KEY_PACKAGES_PER_CLIENT),
        KEY_PACKAGE_LIFETIME_SECONDS,
    )
}

pub struct User {
    pub uri: String,
    /// The identifiers `identifierQuery` finds the user by.
    pub handle: String,
    pub email: String,
    pub clients: Vec<Client>,
    pub consent_required: bool,
}

/// `(requesterUri, targetUri, roomId)`: the scope of a consent (P-06 §5.7).
pub type ConsentScope = (String, String, Option<String>);

/// No more consent requests or grants are kept than this (a bound on memory).
pub const MAX_CONSENT_ENTRIES: usize = 4096;
/// No more identifierQuery bodies are remembered than this (a bound on memory).
pub const MAX_SEEN_QUERIES: usize = 4096;

#[derive(Default)]
pub struct State {
    pub users: BTreeMap<String, User>,
    /// Consent granted to requesters, by scope.
    pub consent_granted: std::collections::BTreeSet<ConsentScope>,
    /// Consent requested of local users, by scope.
    pub consent_requested: std::collections::BTreeSet<ConsentScope>,
    /// identifierQuery bodies seen (kept only by the fault that makes queries change state).
    pub seen_queries: std::collections::BTreeSet<Vec<u8>>,
    /// Rooms this provider is the hub of, by room URI.
    pub rooms: BTreeMap<String, crate::hub::HubRoom>,
    /// Digests of the notify bodies received, oldest first, to deliver a repeat only once.
    pub seen_notifications: VecDeque<[u8; 32]>,
    /// Abuse reports received (bounded).
    pub abuse_reports: VecDeque<mimi_wire::messages::abuse::AbuseReport>,
    /// Assets this provider hosts for its users, by id (bounded).
    pub assets: BTreeMap<String, Vec<u8>>,
}

/// No more rooms, remembered notifications, abuse reports or assets are kept than this.
pub const MAX_ROOMS: usize = 1024;
pub const MAX_SEEN_NOTIFICATIONS: usize = 8192;
pub const MAX_ABUSE_REPORTS: usize = 1024;
pub const MAX_ASSETS: usize = 1024;
/// Users a provider may create through the driver API, beyond its seeds.
pub const MAX_USERS: usize = 4096;

pub fn user_uri(domain: &str, name: &str) -> String {
    format!("mimi://{domain}/u/{name}")
}

pub fn client_uri(domain: &str, user: &str, index: usize) -> String {
    format!("mimi://{domain}/d/{user}/{index}")
}

impl State {
    pub fn seeded(domain: &str, seeds: &[UserSeed]) -> Self {
        let mut state = Self::default();
        for seed in seeds {
            let uri = user_uri(domain, &seed.name);
            let clients = (1..=seed.clients)
                .map(|i| {
                    let sim = SimClient::new(
                        client_uri(domain, &seed.name, i),
                        mimi_mls::DEFAULT_CIPHERSUITE,
                    );
                    new_client(sim, seed.key_packages_per_client)
                })
                .collect();
            state.users.insert(
                uri.clone(),
                User {
                    uri,
                    handle: seed.name.clone(),
                    email: format!("{}@{domain}", seed.name),
                    clients,
                    consent_required: seed.consent_required,
                },
            );
        }
        state
    }
}
