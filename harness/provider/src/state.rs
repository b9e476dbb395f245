//! The provider's state: in memory and bounded, because this is a test fixture, not a production
//! server. Users, their clients (simulated MLS clients) and the KeyPackages those clients published.

use mimi_mls::SimClient;
use mimi_wire::mls_objects::KeyPackage;
use openmls::prelude::Lifetime;
use openmls::prelude::MlsGroup;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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

pub struct Client {
    pub sim: SimClient,
    /// Published KeyPackages, oldest first; each is handed out at most once.
    pub key_packages: VecDeque<KeyPackage>,
    /// Refs of the KeyPackages handed out, to find the client a Welcome is for.
    pub claimed_refs: BTreeSet<Vec<u8>>,
    /// The client's groups, by room URI.
    pub groups: BTreeMap<String, MlsGroup>,
    /// What the client received, oldest first (bounded).
    pub inbox: VecDeque<Delivery>,
}

/// An application message a client received and decrypted (link C, through the driver API).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub room: String,
    pub sender_client: String,
    pub sender_user: String,
    pub content: Vec<u8>,
    /// The hub's acceptance time (FanoutMessage.timestamp).
    pub hub_timestamp: u64,
    /// CONT-08 §3.3 message ID (-08), computed from the content, the sender and the room.
    pub message_id: Vec<u8>,
    pub franked: bool,
}

/// No client keeps more received messages than this.
pub const MAX_INBOX: usize = 1024;

impl Client {
    pub fn new(sim: SimClient, key_packages: usize) -> Self {
        let key_packages = (0..key_packages.min(MAX_KEY_PACKAGES_PER_CLIENT))
            .map(|_| sim.key_package(Lifetime::new(KEY_PACKAGE_LIFETIME_SECONDS)))
            .collect();
        Self {
            sim,
            key_packages,
            claimed_refs: BTreeSet::new(),
            groups: BTreeMap::new(),
            inbox: VecDeque::new(),
        }
    }

    pub fn receive(&mut self, delivery: Delivery) {
        if self.inbox.len() == MAX_INBOX {
            self.inbox.pop_front();
        }
        self.inbox.push_back(delivery);
    }
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

/// The user URI of a client URI (`mimi://d/d/<user>/<n>` → `mimi://d/u/<user>`).
pub fn user_of_client(client: &str) -> String {
    match client.strip_prefix("mimi://").and_then(|rest| {
        let mut parts = rest.split('/');
        let domain = parts.next()?;
        (parts.next()? == "d").then_some(())?;
        Some(user_uri(domain, parts.next()?))
    }) {
        Some(user) => user,
        None => client.to_string(),
    }
}

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
                    Client::new(sim, seed.key_packages_per_client)
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
