//! The observer: link B seen from the middle. Providers reach each other through it (an address
//! override or DNS entry for each peer domain pointing at it); it terminates mutual TLS as the
//! provider the sender asked for (SNI) and re-originates it as the provider the sender proved
//! (its client certificate), with certificates for every domain from a lab CA both sides trust
//! (`pki --observer`). It forwards each exchange unchanged, records it, decodes it with
//! mimi-wire, and checks it passively (`checks`): every finding names the requirement, the
//! provider that sent the offending message, and the link.
//!
//! Use it as a library (`Observer::start` on a tokio runtime, then `findings_between`,
//! `findings_for_room`, `report`), or as the `observe` command (`commands::observe`); what it
//! saw is reported by `report::observed`.

pub mod checks;
pub mod decode;
pub mod names;
mod proxy;
pub mod record;

pub use record::{Exchange, Finding, Message};

use mimi_pki::ca::CertifiedIdentity;
use mimi_wire::codec::Draft;
use serde::Serialize;
use std::collections::HashSet;
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
    s.serialize_str(ObservedProvider::draft_number(*d))
}

impl ObservedProvider {
    /// The draft's number as profiles write it (`06`).
    pub fn draft_number(d: Draft) -> &'static str {
        match d {
            Draft::D04 => "04",
            Draft::D05 => "05",
            Draft::D06 => "06",
        }
    }
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

impl ObserverConfig {
    /// An observer at `listen` in front of the providers of these profiles: each is reached
    /// where its address override says (else DNS, port 443) and decoded in its draft; the
    /// observer's certificates are `<domain>.pem` and `<domain>.key.pem` in `identities`.
    pub fn for_profiles(
        profiles: &[crate::profile::Profile],
        identities: &std::path::Path,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        let mut providers = Vec::new();
        let mut trust_roots: Vec<String> = Vec::new();
        let mut certified = BTreeMap::new();
        for profile in profiles {
            let address = profile
                .address_overrides
                .get(&profile.domain)
                .cloned()
                .unwrap_or_else(|| format!("{}:443", profile.domain));
            let upstream = std::net::ToSocketAddrs::to_socket_addrs(&address)
                .map_err(|e| {
                    anyhow::anyhow!("{}: {} → {address}: {e}", profile.name, profile.domain)
                })?
                .next()
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: {address} resolves to nothing", profile.name)
                })?;
            let draft = profile
                .draft
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", profile.name))?;
            for pem in &profile.trust_roots_pem {
                if !trust_roots.contains(pem) {
                    trust_roots.push(pem.clone());
                }
            }
            let read = |name: String| {
                let file = identities.join(&name);
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("the observer's {}: {e}", file.display()))
            };
            certified.insert(
                profile.domain.clone(),
                CertifiedIdentity {
                    cert_pem: read(format!("{}.pem", profile.domain))?,
                    key_pem: read(format!("{}.key.pem", profile.domain))?,
                },
            );
            providers.push(ObservedProvider {
                domain: profile.domain.clone(),
                upstream,
                draft,
            });
        }
        Ok(Self {
            listen,
            providers,
            identities: certified,
            trust_roots,
        })
    }
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

/// One run of a case, as the observer can tell its traffic apart from other cases running at
/// the same time: the names it makes carry its nonce (`{{ run }}`), and the rooms it works in
/// appear in its transcript (a provider may name rooms without the case's words).
#[derive(Clone, Copy)]
pub struct CaseTie<'a> {
    /// The case's nonce (empty: none).
    pub run: &'a str,
    /// The words of the case's transcript (`names::words`): a room named there is the case's.
    pub names: &'a HashSet<String>,
    /// When the case ran, in ms since the UNIX epoch.
    pub from_ms: u64,
    pub to_ms: u64,
}

impl CaseTie<'_> {
    /// Whether an exchange (or its finding) at `unix_ms` about `room` or `key` is this case's.
    /// One that names neither (a directory fetch) could be any
    /// running case's, so it is tied to none: a case is charged only with what its own names
    /// show.
    fn ties(&self, unix_ms: u64, room: Option<&str>, key: Option<&str>) -> bool {
        if !(self.from_ms..=self.to_ms).contains(&unix_ms) {
            return false;
        }
        let carries_nonce = |name: &str| !self.run.is_empty() && name.contains(self.run);
        room.is_some_and(|r| carries_nonce(r) || self.names.contains(r))
            || key.is_some_and(carries_nonce)
    }
}

/// How long a case's link-B traffic must be quiet before what the observer saw of it is taken
/// as all there is, when the providers cannot say they are idle, and how long that wait may
/// last.
pub const QUIET: std::time::Duration = std::time::Duration::from_millis(150);
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);
/// How long the providers may take, in all, to say they have nothing left to send.
pub const IDLE_SETTLE: std::time::Duration = std::time::Duration::from_secs(20);

/// A case's link-B traffic as the observer saw it.
#[derive(Debug, Clone, Default)]
pub struct CaseTraffic {
    /// The findings of the case's exchanges, oldest first.
    pub findings: Vec<Finding>,
    /// How many of the case's exchanges crossed the observer (kept ones only: the oldest are
    /// dropped after `MAX_EXCHANGES`).
    pub exchanges: usize,
}

impl CaseTraffic {
    /// Some exchange of the case crossed the observer.
    pub fn crossed(&self) -> bool {
        self.exchanges > 0
    }

    /// Nothing of the case crossed between the two looks.
    fn same(&self, before: &Self) -> bool {
        self.exchanges == before.exchanges && self.findings == before.findings
    }
}

/// A running observer; it stops when dropped.
pub struct Observer {
    pub addr: SocketAddr,
    shared: Arc<proxy::Shared>,
    handle: axum_server::Handle<SocketAddr>,
}

/// Now, in ms since the UNIX epoch (the observer's and the case records' clock).
pub fn unix_ms() -> u64 {
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

    /// What crossed link B for one run of a case that just ended, once its traffic has settled:
    /// a provider may still be sending what the case set off (a fan-out queued behind other
    /// rooms', a retry, a relayed claim), and what is tied to the case must not depend on how
    /// busy the providers were. So `idle` asks them, waiting at most the time it is given, until
    /// each says it has nothing left to send on link B (the driver API's `awaitIdle`); the
    /// observer records an exchange before it answers, so what they sent is all here then. The
    /// traffic is taken once a round of asking saw none of the case's exchanges cross (one
    /// provider's answer can give another work). `idle` is given the case's rooms
    /// (`case_rooms`, taken anew each round), so that other cases' work does not hold it up; it
    /// asks about all work when it is given none. When a provider cannot say, or is still busy
    /// after `IDLE_SETTLE`, this falls back to waiting while more of the case's exchanges
    /// arrive, for a quiet `QUIET` (at most `SETTLE`), which can miss a late one.
    pub fn settled_case_traffic(
        &self,
        case: &CaseTie<'_>,
        mut idle: impl FnMut(&[String], std::time::Duration) -> bool,
    ) -> CaseTraffic {
        let until_now = || {
            self.case_traffic(&CaseTie {
                to_ms: unix_ms(),
                ..*case
            })
        };
        let mut seen = until_now();
        let deadline = std::time::Instant::now() + IDLE_SETTLE;
        while std::time::Instant::now() < deadline
            && idle(
                &self.case_rooms(case),
                deadline.saturating_duration_since(std::time::Instant::now()),
            )
        {
            let now = until_now();
            if now.same(&seen) {
                return now;
            }
            seen = now;
        }
        let deadline = std::time::Instant::now() + SETTLE;
        while seen.crossed() && std::time::Instant::now() < deadline {
            std::thread::sleep(QUIET);
            let now = until_now();
            if now.same(&seen) {
                return now;
            }
            seen = now;
        }
        seen
    }

    /// The rooms of a case (as far as the observer can tell now): those its exchanges so far
    /// were about, and the URIs its transcript names.
    fn case_rooms(&self, case: &CaseTie<'_>) -> Vec<String> {
        // The `mimi://` URIs its transcript names: the rooms it worked in among them (and its
        // users and clients, which name no room's work and so cost nothing to ask about).
        let mut rooms: std::collections::BTreeSet<String> = (case.names.iter())
            .filter(|w| w.starts_with("mimi://"))
            .map(|w| w.to_string())
            .collect();
        let state = self.state();
        rooms.extend(
            state
                .exchanges
                .iter()
                .filter(|e| case.ties(e.unix_ms, e.room.as_deref(), e.key.as_deref()))
                .filter_map(|e| e.room.clone()),
        );
        rooms.into_iter().collect()
    }

    /// What crossed link B for one run of a case: the findings of the exchanges it made, and
    /// how many of its exchanges crossed (`CaseTraffic`).
    fn case_traffic(&self, case: &CaseTie<'_>) -> CaseTraffic {
        let state = self.state();
        CaseTraffic {
            findings: state
                .findings
                .iter()
                .filter(|f| case.ties(f.unix_ms, f.room.as_deref(), f.key.as_deref()))
                .cloned()
                .collect(),
            exchanges: state
                .exchanges
                .iter()
                .filter(|e| case.ties(e.unix_ms, e.room.as_deref(), e.key.as_deref()))
                .count(),
        }
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
