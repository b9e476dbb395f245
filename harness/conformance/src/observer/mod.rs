//! The observer: link B seen from the middle. Providers reach each other through it (an address
//! override or DNS entry for each peer domain pointing at it); it terminates mutual TLS as the
//! provider the sender asked for (SNI) and re-originates it as the provider the sender proved
//! (its client certificate), with certificates for every domain from a lab CA both sides trust
//! (`pki --observer`). It forwards each exchange unchanged, records it, decodes it with
//! mimi-wire, and checks it passively (`checks`): every finding names the requirement, the
//! provider that sent the offending message, and the link.
//!
//! Use it as a library (`Observer::start` on a tokio runtime, then `findings_between`,
//! `findings_for_room`, `report`), or as the `observe` command (`commands::observe`).

pub mod checks;
pub mod decode;
mod proxy;
pub mod record;
pub mod report;

pub use record::{Exchange, Finding, Message};

use mimi_pki::ca::CertifiedIdentity;
use mimi_wire::codec::Draft;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The link the observer stands on.
pub const LINK: &str = "B";
/// Exchanges kept (the oldest go first); findings are kept apart, and counted even when these
/// are dropped.
pub const MAX_EXCHANGES: usize = 2048;
pub const MAX_FINDINGS: usize = 16384;

/// A provider the observer stands in front of.
#[derive(Debug, Clone, Serialize)]
pub struct ObservedProvider {
    pub domain: String,
    /// Where the provider really is.
    pub upstream: SocketAddr,
    /// The draft whose wire format its bodies are decoded in.
    #[serde(serialize_with = "draft_name")]
    pub draft: Draft,
}

fn draft_name<S: serde::Serializer>(d: &Draft, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match d {
        Draft::D04 => "04",
        Draft::D05 => "05",
        Draft::D06 => "06",
    })
}

pub struct ObserverConfig {
    /// Where providers reach the observer (port 0 picks one).
    pub listen: SocketAddr,
    pub providers: Vec<ObservedProvider>,
    /// Domain → the certificate and key the observer presents for it: as a server to whoever
    /// asks for that domain, as a client on behalf of a sender that proved it.
    pub identities: BTreeMap<String, CertifiedIdentity>,
    /// The CAs whose certificates the providers present (the lab CA).
    pub trust_roots: Vec<String>,
}

/// Called with every exchange as it is recorded (the `observe` command's console line).
pub type ExchangeListener = Arc<dyn Fn(&Exchange) + Send + Sync>;

/// Everything the observer saw, serialisable (`observer.json`).
#[derive(Debug, Clone, Serialize)]
pub struct ObserverReport {
    pub harness: &'static str,
    pub version: &'static str,
    pub link: &'static str,
    pub listen: SocketAddr,
    pub providers: Vec<ObservedProvider>,
    pub started_unix_ms: u64,
    pub finished_unix_ms: u64,
    /// Exchanges seen in all, and how many of the oldest the record had to drop.
    pub exchanges_seen: u64,
    pub exchanges_dropped: u64,
    pub findings_dropped: u64,
    /// Findings per requirement id, dropped ones included.
    pub finding_counts: BTreeMap<String, u64>,
    pub exchanges: Vec<Exchange>,
    pub findings: Vec<Finding>,
}

struct State {
    exchanges: VecDeque<Exchange>,
    findings: VecDeque<Finding>,
    seen: u64,
    findings_dropped: u64,
    counts: BTreeMap<String, u64>,
    checker: checks::Checker,
}

/// A running observer; it stops when dropped.
pub struct Observer {
    pub addr: SocketAddr,
    shared: Arc<proxy::Shared>,
    handle: axum_server::Handle<SocketAddr>,
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn ms_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Observer {
    /// Starts listening on the current tokio runtime.
    pub async fn start(
        config: ObserverConfig,
        listener: Option<ExchangeListener>,
    ) -> anyhow::Result<Self> {
        let (addr, shared, handle) = proxy::start(config, listener).await?;
        Ok(Self {
            addr,
            shared,
            handle,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state()
    }

    /// How many exchanges crossed so far.
    pub fn exchanges_seen(&self) -> u64 {
        self.state().seen
    }

    /// Every finding kept so far, oldest first.
    pub fn findings(&self) -> Vec<Finding> {
        self.state().findings.iter().cloned().collect()
    }

    /// The findings of exchanges whose request arrived between `from` and `to` (inclusive).
    pub fn findings_between(&self, from: SystemTime, to: SystemTime) -> Vec<Finding> {
        let (from, to) = (ms_of(from), ms_of(to));
        self.state()
            .findings
            .iter()
            .filter(|f| (from..=to).contains(&f.unix_ms))
            .cloned()
            .collect()
    }

    /// The findings about one room (its URI, as the path or the claim names it).
    pub fn findings_for_room(&self, room: &str) -> Vec<Finding> {
        self.state()
            .findings
            .iter()
            .filter(|f| f.room.as_deref() == Some(room))
            .cloned()
            .collect()
    }

    /// The exchanges kept whose request arrived between `from` and `to` (inclusive).
    pub fn exchanges_between(&self, from: SystemTime, to: SystemTime) -> Vec<Exchange> {
        let (from, to) = (ms_of(from), ms_of(to));
        self.state()
            .exchanges
            .iter()
            .filter(|e| (from..=to).contains(&e.unix_ms))
            .cloned()
            .collect()
    }

    /// The exchanges kept about one room.
    pub fn exchanges_for_room(&self, room: &str) -> Vec<Exchange> {
        self.state()
            .exchanges
            .iter()
            .filter(|e| e.room.as_deref() == Some(room))
            .cloned()
            .collect()
    }

    /// Everything seen so far.
    pub fn report(&self) -> ObserverReport {
        let state = self.state();
        ObserverReport {
            harness: "mimi-conformance",
            version: env!("CARGO_PKG_VERSION"),
            link: LINK,
            listen: self.addr,
            providers: self.shared.providers.values().cloned().collect(),
            started_unix_ms: self.shared.started_unix_ms,
            finished_unix_ms: unix_ms(),
            exchanges_seen: state.seen,
            exchanges_dropped: state.seen - state.exchanges.len() as u64,
            findings_dropped: state.findings_dropped,
            finding_counts: state.counts.clone(),
            exchanges: state.exchanges.iter().cloned().collect(),
            findings: state.findings.iter().cloned().collect(),
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// An observer on loopback between providers at `providers` (domain, where it really is): it
/// holds certificates for their domains and `extra_domains` from `ca`. The providers must then
/// be made to reach one another at `Observer::addr`.
pub async fn between(
    ca: &mimi_pki::ca::TestCa,
    providers: &[(String, SocketAddr)],
    extra_domains: &[&str],
) -> anyhow::Result<Observer> {
    let mut identities = BTreeMap::new();
    for domain in providers
        .iter()
        .map(|(d, _)| d.as_str())
        .chain(extra_domains.iter().copied())
    {
        identities.insert(domain.to_string(), ca.issue(domain)?);
    }
    Observer::start(
        ObserverConfig {
            listen: "127.0.0.1:0".parse()?,
            providers: providers
                .iter()
                .map(|(domain, addr)| ObservedProvider {
                    domain: domain.clone(),
                    upstream: *addr,
                    draft: Draft::default(),
                })
                .collect(),
            identities,
            trust_roots: vec![ca.cert_pem.clone()],
        },
        None,
    )
    .await
}
