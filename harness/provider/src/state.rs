//! The provider's state: in memory and bounded, because this is a test fixture, not a production
//! server. Users, their clients (simulated MLS clients) and the KeyPackages those clients published.

use crate::variants::{Variant, Variants};
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
    /// Requesters (user URIs) the user granted consent to beforehand, for any room.
    pub consented_requesters: Vec<String>,
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
    /// Notified messages the variant `late-delivery` holds back from the clients until the
    /// time given, oldest first.
    pub held_back: VecDeque<(
        tokio::time::Instant,
        String,
        mimi_wire::messages::notify::FanoutMessage,
    )>,
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

/// The suites of a user's clients under the variant `several-suites`, in turn.
const SEVERAL_SUITES: [mimi_mls::Ciphersuite; 2] = [
    mimi_mls::DEFAULT_CIPHERSUITE,
    mimi_mls::Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
];

/// KeyPackages each client of the `index`th seed starts with: one for the first under the
/// variant `one-key-package-left`.
pub fn seeded_key_packages(index: usize, seed: &UserSeed, variants: &Variants) -> usize {
    if index == 0 && variants.contains(Variant::OneKeyPackageLeft) {
        1
    } else {
        seed.key_packages_per_client
    }
}

impl State {
    pub fn seeded(domain: &str, seeds: &[UserSeed], variants: &Variants) -> Self {
        let mut state = Self::default();
        for (index, seed) in seeds.iter().enumerate() {
            let uri = user_uri(domain, &seed.name);
            let several_suites = variants.contains(Variant::SeveralSuites);
            let clients = if several_suites {
                seed.clients.max(2)
            } else {
                seed.clients
            };
            let key_packages = seeded_key_packages(index, seed, variants);
            let clients = (1..=clients)
                .map(|i| {
                    let suite = if several_suites {
                        SEVERAL_SUITES[(i - 1) % SEVERAL_SUITES.len()]
                    } else {
                        mimi_mls::DEFAULT_CIPHERSUITE
                    };
                    let sim = SimClient::new(client_uri(domain, &seed.name, i), suite);
                    new_client(sim, key_packages)
                })
                .collect();
            for requester in &seed.consented_requesters {
                state
                    .consent_granted
                    .insert((requester.clone(), uri.clone(), None));
            }
            state.users.insert(
                uri.clone(),
                User {
                    uri,
                    handle: seed.name.clone(),
                    email: format!("{}@{domain}", seed.name),
                    clients,
                    consent_required: seed.consent_required
                        || variants.contains(Variant::ConsentRequired),
                },
            );
        }
        state
    }
}
