//! The passive checks: what can be judged of two providers from the middle of link B, without
//! sending anything. Each finding names the requirement, the provider that sent the offending
//! message, and the link. The checks keep what they need across exchanges (fan-out streams,
//! what hubs accepted, KeyPackages handed out), bounded.
//!
//! Order between exchanges is only taken where the observer saw it: one exchange "came before"
//! another when its answer went back before the other's request arrived. Two overlapping
//! exchanges are never ordered, so that a correct provider that works concurrently is never
//! blamed for an order the observer guessed.

use super::decode::{Parsed, RequestBody, ResponseBody};
use super::record::{Exchange, Finding};
use mimi_wire::messages::key_material::{
    ClientKeyMaterialBody, CLIENT_SUCCESS, USER_NO_COMPATIBLE_MATERIAL, USER_PARTIAL_SUCCESS,
    USER_SUCCESS,
};
use mimi_wire::messages::notify::{FanoutMessage, FanoutRest};
use mimi_wire::messages::submit::{franking_tag_in_safe_aad, SubmitOutcome};
use mimi_wire::messages::update::{BundleRest, UpdateOutcome, CONTENT_TYPE_COMMIT};
use mimi_wire::mls_objects::{MlsMessage, WIRE_FORMAT_PRIVATE_MESSAGE};
use mimi_wire::Encode;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

/// What the checks see of one exchange.
pub struct Observation<'a> {
    pub exchange: &'a Exchange,
    pub request: &'a Parsed<RequestBody>,
    pub response: &'a Parsed<ResponseBody>,
    /// The whole request body (the record keeps only its beginning).
    pub request_body: &'a [u8],
    /// The JSON rendering of the response (KeyPackage verification outcomes live there).
    pub rendered_response: Option<&'a serde_json::Value>,
    /// The upstream provider's server certificate was refused, and why.
    pub bad_server_certificate: Option<&'a str>,
    /// Now, in ms since the UNIX epoch (timestamps are judged against it).
    pub now_ms: u64,
}

/// The requirement a malformed body breaks, by endpoint: the one whose expectation presumes
/// the endpoint's structure (the catalogue has no requirement of well-formedness as such).
/// (endpoint, request's requirement, response's requirement)
pub const STRUCTURE: &[(&str, &str, &str)] = &[
    ("directory", "DIR-7", "DIR-7"),
    ("keyMaterial", "KM-19", "KM-9"),
    ("update", "UPD-33", "UPD-25"),
    ("submitMessage", "SUB-37", "SUB-41"),
    ("notify", "FAN-48", "NOT-43"),
    ("groupInfo", "GI-55", "GI-56"),
    ("requestConsent", "CON-68", "CON-64"),
    ("updateConsent", "CON-68", "CON-67"),
    ("identifierQuery", "IDQ-70", "IDQ-70"),
    ("reportAbuse", "ABU-71", "ABU-71"),
];

/// Every requirement a finding of the observer can name (the JUnit report has a testcase per
/// requirement, so that one that holds shows as passed).
pub const CHECKED: &[&str] = &[
    "TLS-2", "TLS-4", "TLS-5", "TLS-6", "DIR-7", "KM-9", "KM-10", "KM-11", "KM-12", "KM-13",
    "KM-14", "KM-15", "KM-19", "UPD-22", "UPD-25", "UPD-33", "SUB-37", "SUB-39", "SUB-41",
    "NOT-43", "NOT-44", "FAN-47", "FAN-48", "FAN-50", "FAN-51", "GI-55", "GI-56", "CON-64",
    "CON-67", "CON-68", "IDQ-70", "ABU-71",
];

/// A timestamp more than this far from now is not milliseconds since the UNIX epoch "near
/// now" (one in seconds is about 50 years off; clocks of correct providers are not a day off).
const PLAUSIBLE_SKEW_MS: u64 = 24 * 3600 * 1000;

const MAX_STREAMS: usize = 1024;
const MAX_ROOMS: usize = 1024;
const MAX_PER_STREAM: usize = 4096;
const MAX_ACCEPTED_PER_ROOM: usize = 1024;
const MAX_NOTIFIES: usize = 16384;
const MAX_KEY_PACKAGES: usize = 65536;

fn digest(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// A message a hub accepted from a follower (update or submitMessage).
#[derive(Debug, Clone)]
struct Accepted {
    exchange: u64,
    started_us: u64,
    finished_us: u64,
    accepted_timestamp: u64,
    /// The Frank in the submit response, encoded.
    frank: Option<Vec<u8>>,
    /// The proposal bundle's moreProposals, by digest.
    more_proposals: Option<Vec<u64>>,
}

#[derive(Default)]
struct Room {
    /// Message digest → what the hub said when it accepted it.
    accepted: HashMap<u64, Accepted>,
    order: VecDeque<u64>,
    /// The room is at least at this epoch for every request that arrived after `since_us`
    /// (a commit of the epoch before was accepted by then).
    min_epoch: Option<(u64, u64)>,
}

impl Room {
    fn raise(&mut self, epoch: u64, since_us: u64) {
        match self.min_epoch {
            Some((e, _)) if e >= epoch => {}
            _ => self.min_epoch = Some((epoch, since_us)),
        }
    }

    /// The epoch the room had reached for a request that arrived at `started_us`.
    fn epoch_before(&self, started_us: u64) -> Option<u64> {
        self.min_epoch
            .filter(|(_, since)| *since < started_us)
            .map(|(e, _)| e)
    }

    fn accept(&mut self, digest: u64, accepted: Accepted) {
        if self.order.len() == MAX_ACCEPTED_PER_ROOM {
            if let Some(old) = self.order.pop_front() {
                self.accepted.remove(&old);
            }
        }
        self.order.push_back(digest);
        self.accepted.insert(digest, accepted);
    }
}

/// What one follower accepted of one hub's fan-out for one room, in order.
#[derive(Default)]
struct Stream {
    delivered: HashSet<u64>,
    order: VecDeque<u64>,
    max_timestamp: Option<u64>,
    max_epoch: Option<u64>,
    /// The delivered messages the observer also saw accepted: (digest, accepted).
    with_acceptance: VecDeque<(u64, Accepted)>,
}

impl Stream {
    fn record(&mut self, digest: u64) {
        if self.order.len() == MAX_PER_STREAM {
            if let Some(old) = self.order.pop_front() {
                self.delivered.remove(&old);
            }
        }
        self.order.push_back(digest);
        self.delivered.insert(digest);
    }
}

/// What a hub's answer to an update or submitMessage says it accepted.
struct Acceptance<'a> {
    message: &'a MlsMessage,
    accepted_timestamp: u64,
    /// The Frank in the submit response, encoded.
    frank: Option<Vec<u8>>,
    /// The proposal bundle's moreProposals, by digest.
    more_proposals: Option<Vec<u64>>,
    /// What a timestamp that is not ms near now breaks, and an epoch the room had left.
    timestamp_requirement: &'static str,
    epoch_requirement: &'static str,
}

/// A notify refused with Retry-After: the hub may not send the follower another before.
struct RetryAfter {
    exchange: u64,
    seconds: u64,
    not_before_us: u64,
}

#[derive(Default)]
pub struct Checker {
    link: String,
    rooms: BTreeMap<String, Room>,
    /// (hub, follower, room) → the fan-out the follower accepted.
    streams: BTreeMap<(String, String, String), Stream>,
    /// Notify bodies a follower accepted with 201: (hub, follower, room, body digest) → exchange.
    accepted_notifies: HashMap<(String, String, String, u64), u64>,
    notify_order: VecDeque<(String, String, String, u64)>,
    /// KeyPackageRef → (the exchange that handed it out, when its answer went back).
    handed_out: HashMap<Vec<u8>, (u64, u64)>,
    handed_order: VecDeque<Vec<u8>>,
    /// (hub, follower) → the last Retry-After the follower gave.
    retry_after: BTreeMap<(String, String), RetryAfter>,
}

/// Collects an observation's findings.
struct Findings<'a> {
    seen: &'a Observation<'a>,
    link: &'a str,
    out: Vec<Finding>,
}

impl Findings<'_> {
    fn add(&mut self, requirement: &str, provider: &str, message: String) {
        let ex = self.seen.exchange;
        self.out.push(Finding {
            requirement: requirement.to_string(),
            provider: provider.to_string(),
            link: self.link.to_string(),
            exchange: ex.id,
            endpoint: ex.endpoint.clone(),
            key: ex.key.clone(),
            room: ex.room.clone(),
            message,
            unix_ms: ex.unix_ms,
        });
    }
}

fn is_success(status: Option<u16>) -> bool {
    status.is_some_and(|s| (200..300).contains(&s))
}

fn plausible_ms(timestamp: u64, now_ms: u64) -> bool {
    timestamp.abs_diff(now_ms) <= PLAUSIBLE_SKEW_MS
}

fn describe_time(timestamp: u64, now_ms: u64) -> String {
    if plausible_ms(timestamp.saturating_mul(1000), now_ms) {
        format!("{timestamp}, which is seconds since the UNIX epoch, not milliseconds")
    } else {
        format!("{timestamp}, which is not milliseconds since the UNIX epoch near now ({now_ms})")
    }
}

impl Checker {
    pub fn new(link: &str) -> Self {
        Self {
            link: link.to_string(),
            ..Self::default()
        }
    }

    /// The findings of one exchange; the checker remembers what later exchanges are judged
    /// against.
    pub fn check(&mut self, seen: &Observation<'_>) -> Vec<Finding> {
        let link = self.link.clone();
        let mut f = Findings {
            seen,
            link: &link,
            out: Vec::new(),
        };
        transport(&mut f);
        form(&mut f);
        let ex = seen.exchange;
        match (ex.endpoint.as_deref(), seen.request, seen.response) {
            (Some("keyMaterial"), request, Parsed::Decoded(ResponseBody::KeyMaterial(_)))
                if is_success(ex.status) =>
            {
                self.key_material(&mut f, request.decoded())
            }
            (Some("update"), Parsed::Decoded(RequestBody::Update(_)), _) => self.update(&mut f),
            (Some("submitMessage"), Parsed::Decoded(RequestBody::Submit(_)), _) => {
                self.submit(&mut f)
            }
            (Some("notify"), Parsed::Decoded(RequestBody::Notify(_)), _) => self.notify(&mut f),
            _ => {}
        }
        f.out
    }

    fn room(&mut self, room: &str) -> &mut Room {
        if !self.rooms.contains_key(room) && self.rooms.len() == MAX_ROOMS {
            self.rooms.pop_first();
        }
        self.rooms.entry(room.to_string()).or_default()
    }

    fn key_material(&mut self, f: &mut Findings<'_>, request: Option<&RequestBody>) {
        let ex = f.seen.exchange;
        let Parsed::Decoded(ResponseBody::KeyMaterial(response)) = f.seen.response else {
            return;
        };
        let target = ex.target.as_str();
        if response.protocol != mimi_wire::common::PROTOCOL_MLS10 {
            f.add(
                "KM-9",
                target,
                format!(
                    "the KeyMaterialResponse's protocol is {}, not mls10",
                    response.protocol
                ),
            );
        }
        if let Some(user) = &ex.key {
            if &response.user_uri.0 != user {
                f.add(
                    "KM-9",
                    target,
                    format!(
                        "the KeyMaterialResponse names userUri {:?} for a claim of {user:?}",
                        response.user_uri.0
                    ),
                );
            }
        }
        let status = response.user_status;
        let with_package = |c: &&mimi_wire::messages::key_material::ClientKeyMaterial| {
            c.client_status == CLIENT_SUCCESS
                && matches!(c.body, ClientKeyMaterialBody::KeyPackage(_))
        };
        if ![
            USER_SUCCESS,
            USER_PARTIAL_SUCCESS,
            USER_NO_COMPATIBLE_MATERIAL,
        ]
        .contains(&status)
            && !response.clients.is_empty()
        {
            f.add(
                "KM-10",
                target,
                format!(
                    "userStatus {status} lists {} client(s); it allows none",
                    response.clients.len()
                ),
            );
        }
        let packaged = response.clients.iter().filter(with_package).count();
        if status == USER_SUCCESS && packaged != response.clients.len() {
            f.add(
                "KM-11",
                target,
                format!(
                    "userStatus success, but only {packaged} of {} client(s) have clientStatus success and a KeyPackage",
                    response.clients.len()
                ),
            );
        }
        if status == USER_PARTIAL_SUCCESS && packaged == 0 {
            f.add(
                "KM-11",
                target,
                "userStatus partialSuccess, but no client has a KeyPackage".into(),
            );
        }
        let acceptable = match request {
            Some(RequestBody::KeyMaterial(r)) => r.acceptable_ciphersuites.clone(),
            _ => Vec::new(),
        };
        let rendered = f
            .seen
            .rendered_response
            .and_then(|r| r.get("clients"))
            .and_then(|c| c.as_array());
        let now_s = f.seen.now_ms / 1000;
        for (i, client) in response.clients.iter().enumerate() {
            let ClientKeyMaterialBody::KeyPackage(kp) = &client.body else {
                continue;
            };
            let who = &client.client_uri.0;
            let unchecked = kp.unchecked();
            if let Some(verification) = rendered
                .and_then(|c| c.get(i))
                .and_then(|c| c["keyPackage"]["verification"].as_str())
                .filter(|v| *v != "valid")
            {
                f.add(
                    "KM-15",
                    target,
                    format!("the KeyPackage of {who} fails RFC 9420 validation: {verification}"),
                );
            }
            let not_after = unchecked.life_time().not_after();
            if not_after < now_s {
                f.add(
                    "KM-13",
                    target,
                    format!("the KeyPackage of {who} expired at {not_after} (now {now_s})"),
                );
            }
            let suite = u16::from(unchecked.ciphersuite());
            if !acceptable.is_empty() && !acceptable.contains(&suite) {
                f.add(
                    "KM-14",
                    target,
                    format!(
                        "the KeyPackage of {who} uses suite {suite}, not one of the acceptableCiphersuites {acceptable:?}"
                    ),
                );
            }
            // A last-resort KeyPackage may be handed out again (RFC 9420 §16.8).
            let Some(reference) = kp.reference().filter(|_| !unchecked.last_resort()) else {
                continue;
            };
            match self.handed_out.get(&reference) {
                // Handed out in an exchange that ended before this one began: a second
                // claim got it (a hub relaying the target's answer overlaps the target's).
                Some((first, ended)) if *ended < ex.started_us => f.add(
                    "KM-12",
                    target,
                    format!(
                        "the KeyPackage of {who} ({}) was handed out before, in exchange {first}",
                        hex::encode(&reference)
                    ),
                ),
                Some(_) => {}
                None => {
                    if self.handed_order.len() == MAX_KEY_PACKAGES {
                        if let Some(old) = self.handed_order.pop_front() {
                            self.handed_out.remove(&old);
                        }
                    }
                    self.handed_order.push_back(reference.clone());
                    self.handed_out.insert(reference, (ex.id, ex.finished_us));
                }
            }
        }
    }

    fn update(&mut self, f: &mut Findings<'_>) {
        let ex = f.seen.exchange;
        let (
            Parsed::Decoded(RequestBody::Update(bundle)),
            Parsed::Decoded(ResponseBody::Update(response)),
            Some(room),
        ) = (f.seen.request, f.seen.response, ex.key.as_deref())
        else {
            return;
        };
        let UpdateOutcome::Success { accepted_timestamp } = response.outcome else {
            return;
        };
        let message = &bundle.proposal_or_commit;
        if message.wire_format() == WIRE_FORMAT_PRIVATE_MESSAGE {
            f.add(
                "UPD-33",
                &ex.target,
                "accepted a handshake sent as a PrivateMessage, which it cannot check".into(),
            );
        }
        let more_proposals = match &bundle.rest {
            BundleRest::Proposal { more_proposals } => {
                Some(more_proposals.iter().map(|m| digest(&m.bytes)).collect())
            }
            BundleRest::Commit { .. } => None,
        };
        self.accepted(
            f,
            room,
            Acceptance {
                message,
                accepted_timestamp,
                frank: None,
                more_proposals,
                timestamp_requirement: "UPD-25",
                epoch_requirement: "UPD-22",
            },
        );
    }

    fn submit(&mut self, f: &mut Findings<'_>) {
        let ex = f.seen.exchange;
        let (
            Parsed::Decoded(RequestBody::Submit(request)),
            Parsed::Decoded(ResponseBody::Submit(response)),
            Some(room),
        ) = (f.seen.request, f.seen.response, ex.key.as_deref())
        else {
            return;
        };
        let SubmitOutcome::Accepted {
            accepted_timestamp,
            frank,
        } = &response.outcome
        else {
            return;
        };
        let message = &request.app_message;
        if message.wire_format() != WIRE_FORMAT_PRIVATE_MESSAGE || message.content_type() != Some(1)
        {
            f.add(
                "SUB-37",
                &ex.target,
                format!(
                    "accepted an appMessage of wire format {} and content type {:?}, not a PrivateMessage application message",
                    message.wire_format(),
                    message.content_type()
                ),
            );
        }
        if frank.is_none() && franking_tag(message).is_some() {
            f.add(
                "SUB-41",
                &ex.target,
                "accepted a message with a frank_aad in its SafeAAD but answered without a Frank"
                    .into(),
            );
        }
        self.accepted(
            f,
            room,
            Acceptance {
                message,
                accepted_timestamp: *accepted_timestamp,
                frank: frank.as_ref().map(Encode::to_bytes),
                more_proposals: None,
                timestamp_requirement: "FAN-51",
                epoch_requirement: "SUB-39",
            },
        );
    }

    /// A message the hub (the exchange's target) says it accepted, judged against the room's
    /// past, and remembered for its fan-out.
    fn accepted(&mut self, f: &mut Findings<'_>, room: &str, a: Acceptance<'_>) {
        let ex = f.seen.exchange;
        if !is_success(ex.status) {
            return;
        }
        let hub = ex.target.as_str();
        if !plausible_ms(a.accepted_timestamp, f.seen.now_ms) {
            f.add(
                a.timestamp_requirement,
                hub,
                format!(
                    "accepted_timestamp is {}",
                    describe_time(a.accepted_timestamp, f.seen.now_ms)
                ),
            );
        }
        let epoch = a.message.epoch();
        let state = self.room(room);
        if let (Some(e), Some(current)) = (epoch, state.epoch_before(ex.started_us)) {
            if e < current {
                f.add(
                    a.epoch_requirement,
                    hub,
                    format!("accepted a message of epoch {e} when the room was at epoch {current}"),
                );
            }
        }
        if let (Some(e), Some(CONTENT_TYPE_COMMIT)) = (epoch, a.message.content_type()) {
            state.raise(e.saturating_add(1), ex.finished_us);
        }
        state.accept(
            digest(&a.message.bytes),
            Accepted {
                exchange: ex.id,
                started_us: ex.started_us,
                finished_us: ex.finished_us,
                accepted_timestamp: a.accepted_timestamp,
                frank: a.frank,
                more_proposals: a.more_proposals,
            },
        );
    }

    fn notify(&mut self, f: &mut Findings<'_>) {
        let ex = f.seen.exchange;
        let (Parsed::Decoded(RequestBody::Notify(body)), Some(room), Some(hub)) =
            (f.seen.request, ex.key.clone(), ex.sender.clone())
        else {
            return;
        };
        let follower = ex.target.clone();
        // Retry-After (P-06 §5.5): the hub waits at least that long before the next notify.
        let pair = (hub.clone(), follower.clone());
        if let Some(wait) = self.retry_after.remove(&pair) {
            if ex.started_us < wait.not_before_us {
                f.add(
                    "FAN-47",
                    &hub,
                    format!(
                        "notified again {} ms before the Retry-After of {} s that {follower} gave in exchange {}",
                        (wait.not_before_us - ex.started_us) / 1000,
                        wait.seconds,
                        wait.exchange
                    ),
                );
            }
        }
        if let (false, Some(seconds)) = (
            is_success(ex.status),
            ex.response
                .as_ref()
                .and_then(|r| r.header("retry-after"))
                .and_then(|v| v.trim().parse::<u64>().ok()),
        ) {
            self.retry_after.insert(
                pair,
                RetryAfter {
                    exchange: ex.id,
                    seconds,
                    not_before_us: ex
                        .finished_us
                        .saturating_add(seconds.saturating_mul(1_000_000)),
                },
            );
        }
        // Once-only delivery rests on the follower accepting a byte-identical repeat (§5.5).
        let whole = (
            hub.clone(),
            follower.clone(),
            room.clone(),
            digest(f.seen.request_body),
        );
        match (ex.status, self.accepted_notifies.get(&whole)) {
            (Some(201), None) => {
                if self.notify_order.len() == MAX_NOTIFIES {
                    if let Some(old) = self.notify_order.pop_front() {
                        self.accepted_notifies.remove(&old);
                    }
                }
                self.notify_order.push_back(whole.clone());
                self.accepted_notifies.insert(whole, ex.id);
            }
            (Some(status), Some(first)) if status != 201 => f.add(
                "NOT-44",
                &follower,
                format!(
                    "answered {status} to a byte-identical repeat of the notify it accepted in exchange {first}"
                ),
            ),
            _ => {}
        }
        if !is_success(ex.status) {
            return;
        }
        let key = (hub.clone(), follower, room.clone());
        if !self.streams.contains_key(&key) && self.streams.len() == MAX_STREAMS {
            self.streams.pop_first();
        }
        let accepted: Vec<Option<Accepted>> = body
            .0
            .iter()
            .map(|m| {
                self.rooms
                    .get(&room)
                    .and_then(|r| r.accepted.get(&digest(&m.message.bytes)).cloned())
            })
            .collect();
        let mut commits = Vec::new();
        let stream = self.streams.entry(key).or_default();
        for (m, accepted) in body.0.iter().zip(accepted) {
            if let Some(next) = deliver(f, &hub, stream, m, accepted) {
                commits.push(next);
            }
        }
        for next in commits {
            self.room(&room).raise(next, ex.started_us);
        }
    }
}

/// The `frank_aad` of an application message's SafeAAD.
fn franking_tag(message: &MlsMessage) -> Option<[u8; 32]> {
    message
        .private_authenticated_data()
        .and_then(|aad| franking_tag_in_safe_aad(&aad))
}

/// One fanned-out message the follower accepted; returns the epoch a commit opens.
fn deliver(
    f: &mut Findings<'_>,
    hub: &str,
    stream: &mut Stream,
    m: &FanoutMessage,
    accepted: Option<Accepted>,
) -> Option<u64> {
    let d = digest(&m.message.bytes);
    if stream.delivered.contains(&d) {
        // A repeat of what the follower has: the order was judged the first time.
        return None;
    }
    stream.record(d);
    let now = f.seen.now_ms;
    if !plausible_ms(m.timestamp, now) {
        f.add(
            "FAN-51",
            hub,
            format!(
                "a FanoutMessage's timestamp is {}",
                describe_time(m.timestamp, now)
            ),
        );
    }
    let mut out_of_order = false;
    if let Some(max) = stream.max_timestamp.filter(|max| m.timestamp < *max) {
        out_of_order = true;
        f.add(
            "FAN-48",
            hub,
            format!(
                "fanned out a message the hub stamped {} after one it stamped {max}: not in acceptance order",
                m.timestamp
            ),
        );
    }
    stream.max_timestamp = stream.max_timestamp.max(Some(m.timestamp));
    let epoch = m.message.epoch();
    let content_type = m.message.content_type();
    if let (Some(e), Some(max)) = (epoch, stream.max_epoch) {
        if e < max && !out_of_order {
            let (requirement, what) = if content_type == Some(1) {
                ("SUB-39", "an application message")
            } else {
                ("UPD-22", "a handshake")
            };
            f.add(
                requirement,
                hub,
                format!(
                    "fanned out {what} of epoch {e} after a message of epoch {max}, stamped in order: it accepted a message of an epoch the room had left"
                ),
            );
        }
    }
    stream.max_epoch = stream.max_epoch.max(epoch);
    if let Some(acc) = accepted {
        if m.timestamp != acc.accepted_timestamp {
            f.add(
                "FAN-51",
                hub,
                format!(
                    "fanned out with timestamp {} a message it accepted with accepted_timestamp {} (exchange {})",
                    m.timestamp, acc.accepted_timestamp, acc.exchange
                ),
            );
        }
        if let (FanoutRest::Application { frank }, Some(given)) = (&m.rest, &acc.frank) {
            if frank.as_ref().map(Encode::to_bytes).as_ref() != Some(given) {
                f.add(
                    "FAN-51",
                    hub,
                    format!(
                        "fanned out a Frank other than the one its submit response gave (exchange {})",
                        acc.exchange
                    ),
                );
            }
        }
        if let (FanoutRest::Proposal { more_proposals }, Some(given)) =
            (&m.rest, &acc.more_proposals)
        {
            let sent: Vec<u64> = more_proposals.iter().map(|p| digest(&p.bytes)).collect();
            if &sent != given {
                f.add(
                    "FAN-50",
                    hub,
                    format!(
                        "fanned out a proposal with {} moreProposals; its bundle had {} (exchange {})",
                        sent.len(),
                        given.len(),
                        acc.exchange
                    ),
                );
            }
        }
        if !out_of_order {
            if let Some((_, later)) = stream
                .with_acceptance
                .iter()
                .find(|(_, earlier)| earlier.started_us > acc.finished_us)
            {
                f.add(
                    "FAN-48",
                    hub,
                    format!(
                        "fanned out the message it accepted in exchange {} after the one it accepted later, in exchange {}",
                        acc.exchange, later.exchange
                    ),
                );
            }
        }
        if stream.with_acceptance.len() == MAX_PER_STREAM {
            stream.with_acceptance.pop_front();
        }
        stream.with_acceptance.push_back((d, acc));
    }
    if let FanoutRest::Application { frank: None } = &m.rest {
        if franking_tag(&m.message).is_some() {
            f.add(
                "SUB-41",
                hub,
                "fanned out a message with a frank_aad in its SafeAAD without a Frank".into(),
            );
        }
    }
    if m.message.wire_format() == WIRE_FORMAT_PRIVATE_MESSAGE && content_type.is_some_and(|c| c > 1)
    {
        f.add(
            "UPD-33",
            hub,
            "fanned out a handshake sent as a PrivateMessage: it accepted one it could not check"
                .into(),
        );
    }
    match (epoch, content_type) {
        (Some(e), Some(CONTENT_TYPE_COMMIT)) => Some(e.saturating_add(1)),
        _ => None,
    }
}

/// P-06 §4.1: who sent the request (certificate, From) and to whom (Host).
fn transport(f: &mut Findings<'_>) {
    let ex = f.seen.exchange;
    let sender = ex.sender.clone().unwrap_or_else(|| "unknown".into());
    if ex.client_certificate.is_empty() {
        f.add(
            "TLS-6",
            &sender,
            "presented no client certificate on link B".into(),
        );
    }
    match ex.request.header("from") {
        None => f.add("TLS-5", &sender, "sent no From header".into()),
        Some(from) => {
            let parsed = from.trim().split_once('@');
            let ok = parsed.is_some_and(|(local, domain)| {
                local == "mimi"
                    && (ex.client_certificate.is_empty()
                        || ex.client_certificate.contains(&domain.to_ascii_lowercase()))
            });
            if !ok {
                f.add(
                    "TLS-5",
                    &sender,
                    format!(
                        "sent From: {from} with a client certificate for {:?}; it must be mimi@<its own domain>",
                        ex.client_certificate
                    ),
                );
            }
        }
    }
    let host = ex.request.header("host").map(|h| {
        h.rsplit_once(':')
            .map_or(h, |(name, _)| name)
            .to_ascii_lowercase()
    });
    if host.as_deref() != Some(ex.target.as_str()) {
        f.add(
            "TLS-4",
            &sender,
            format!(
                "sent Host {:?} on a connection to {}",
                ex.request.header("host").unwrap_or("(none)"),
                ex.target
            ),
        );
    }
    if let Some(why) = f.seen.bad_server_certificate {
        f.add(
            "TLS-2",
            &ex.target,
            format!("its server certificate was refused: {why}"),
        );
    }
}

/// Structures well formed for their endpoint and draft, and the status codes the drafts
/// allow for it.
fn form(f: &mut Findings<'_>) {
    let ex = f.seen.exchange;
    let Some(endpoint) = ex.endpoint.as_deref() else {
        return;
    };
    let sender = ex.sender.clone().unwrap_or_else(|| "unknown".into());
    let target = ex.target.clone();
    let (request_requirement, response_requirement) = STRUCTURE
        .iter()
        .find(|(e, _, _)| *e == endpoint)
        .map_or(("", ""), |(_, q, r)| (*q, *r));
    if let Parsed::Malformed(why) = f.seen.request {
        f.add(
            request_requirement,
            &sender,
            format!("sent a malformed {endpoint} request: {why}"),
        );
    }
    let Some(status) = ex.status else {
        return;
    };
    let body_size = ex.response.as_ref().map_or(0, |r| r.size);
    let success = (200..300).contains(&status);
    if success {
        if let Parsed::Malformed(why) = f.seen.response {
            f.add(
                response_requirement,
                &target,
                format!("answered {status} with a malformed {endpoint} response: {why}"),
            );
        }
    }
    let no_body_201 = |f: &mut Findings<'_>, requirement: &str| {
        if success && status != 201 {
            f.add(
                requirement,
                &target,
                format!("answered {endpoint} with {status}; the draft says 201"),
            );
        } else if status == 201 && body_size > 0 && endpoint == "notify" {
            f.add(
                requirement,
                &target,
                format!("answered notify 201 with a body of {body_size} byte(s); it has none"),
            );
        }
    };
    match endpoint {
        "notify" if matches!(f.seen.request, Parsed::Decoded(_)) => no_body_201(f, "NOT-43"),
        "requestConsent" => no_body_201(f, "CON-64"),
        "updateConsent" => no_body_201(f, "CON-67"),
        "reportAbuse" if success && body_size > 0 => f.add(
            "ABU-71",
            &target,
            format!("answered reportAbuse with a body of {body_size} byte(s); it has none"),
        ),
        "directory" if (400..500).contains(&status) => f.add(
            "DIR-7",
            &target,
            format!("answered {status} instead of its directory"),
        ),
        "directory" => {
            if let Parsed::Decoded(ResponseBody::Directory(d)) = f.seen.response {
                for (name, url) in &d.endpoints {
                    if !url.starts_with("https://") {
                        f.add(
                            "DIR-7",
                            &target,
                            format!("its directory lists {name} at {url:?}, not an https URL"),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::record::Message;
    use mimi_mls::room::HubSender;
    use mimi_mls::{SimClient, DEFAULT_CIPHERSUITE};
    use mimi_wire::common::{IdentifierUri, PROTOCOL_MLS10};
    use mimi_wire::decode_exact;
    use mimi_wire::fields::{Opaque, Text};
    use mimi_wire::messages::key_material::{ClientKeyMaterial, KeyMaterialResponse};
    use mimi_wire::messages::notify::NotifyBody;
    use mimi_wire::messages::room_state::{ParticipantListData, UserRolePair};
    use mimi_wire::messages::submit::{
        Frank, SubmitMessageRequest, SubmitMessageResponse, SubmitResponseCode,
    };
    use mimi_wire::messages::update::{HandshakeBundle, UpdateResponseCode, UpdateRoomResponse};
    use openmls::prelude::{Lifetime, MlsGroup};

    const ROOM: &str = "mimi://a.example/r/clubhouse";

    /// A room on a.example with alice in it, and what her client sends.
    struct Room {
        alice: SimClient,
        group: MlsGroup,
    }

    impl Room {
        fn new() -> Self {
            let hub = SimClient::new("mimi://a.example", DEFAULT_CIPHERSUITE);
            let alice = SimClient::new("mimi://b.example/d/alice/1", DEFAULT_CIPHERSUITE);
            let list = ParticipantListData {
                participants: vec![UserRolePair {
                    user: Opaque(b"mimi://b.example/u/alice".to_vec()),
                    role_index: 2,
                }],
            };
            let group = alice
                .create_room(b"mimi://a.example/g/clubhouse", &HubSender::of(&hub), &list)
                .unwrap();
            Self { alice, group }
        }

        fn message(&mut self, franked: bool) -> MlsMessage {
            let tag = franked.then_some([7u8; 32]);
            let sent = self.alice.send(&mut self.group, b"hello", tag.as_ref());
            decode_exact(&sent.unwrap()).unwrap()
        }

        fn proposal(&mut self) -> MlsMessage {
            decode_exact(&self.alice.propose_self_update(&mut self.group).unwrap()).unwrap()
        }

        /// A commit (of the current epoch) that moves the group on.
        fn commit(&mut self) -> MlsMessage {
            let bob = SimClient::new("mimi://b.example/d/bob/1", DEFAULT_CIPHERSUITE);
            let kp = bob.key_package(Lifetime::new(3600));
            decode_exact(&self.alice.add(&mut self.group, &[kp]).unwrap().commit).unwrap()
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> axum::http::HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    axum::http::HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    /// An exchange from `sender` to `target` that ran from `started` to `finished` µs.
    fn exchange(
        endpoint: &str,
        sender: &str,
        target: &str,
        status: u16,
        (started, finished): (u64, u64),
    ) -> Exchange {
        Exchange {
            id: started,
            link: "B".into(),
            unix_ms: 0,
            millis: 0,
            sender: Some(sender.into()),
            client_certificate: vec![sender.into()],
            target: target.into(),
            method: "POST".into(),
            path: "/".into(),
            endpoint: Some(endpoint.into()),
            key: Some(ROOM.into()),
            room: Some(ROOM.into()),
            request: Message::new(
                &headers(&[("from", &format!("mimi@{sender}")), ("host", target)]),
                &[],
            ),
            response: Some(Message::new(&headers(&[]), &[])),
            status: Some(status),
            failure: None,
            findings: vec![],
            started_us: started,
            finished_us: finished,
        }
    }

    fn check(
        checker: &mut Checker,
        ex: &Exchange,
        request: Parsed<RequestBody>,
        response: Parsed<ResponseBody>,
        body: &[u8],
    ) -> Vec<(String, String)> {
        checker
            .check(&Observation {
                exchange: ex,
                request: &request,
                response: &response,
                request_body: body,
                rendered_response: None,
                bad_server_certificate: None,
                now_ms: 1_700_000_000_000,
            })
            .into_iter()
            .map(|f| (f.requirement, f.provider))
            .collect()
    }

    fn found(requirement: &str, provider: &str) -> Vec<(String, String)> {
        vec![(requirement.to_string(), provider.to_string())]
    }

    const NOW: u64 = 1_700_000_000_000;

    fn notify(messages: Vec<(u64, MlsMessage, FanoutRest)>) -> Parsed<RequestBody> {
        Parsed::Decoded(RequestBody::Notify(NotifyBody(
            messages
                .into_iter()
                .map(|(timestamp, message, rest)| FanoutMessage {
                    timestamp,
                    message,
                    rest,
                })
                .collect(),
        )))
    }

    fn app(frank: Option<Frank>) -> FanoutRest {
        FanoutRest::Application { frank }
    }

    fn frank() -> Frank {
        Frank {
            franking_integrity_signature: Opaque(vec![1, 2, 3]),
            ..Frank::default()
        }
    }

    fn submit(message: &MlsMessage) -> Parsed<RequestBody> {
        Parsed::Decoded(RequestBody::Submit(SubmitMessageRequest {
            protocol: PROTOCOL_MLS10,
            app_message: message.clone(),
            sending_uri: IdentifierUri("mimi://b.example/u/alice".into()),
        }))
    }

    fn submitted(accepted_timestamp: u64, frank: Option<Frank>) -> Parsed<ResponseBody> {
        Parsed::Decoded(ResponseBody::Submit(SubmitMessageResponse {
            protocol: PROTOCOL_MLS10,
            status_code: SubmitResponseCode::accepted,
            outcome: SubmitOutcome::Accepted {
                accepted_timestamp,
                frank,
            },
        }))
    }

    fn updated(accepted_timestamp: u64) -> Parsed<ResponseBody> {
        Parsed::Decoded(ResponseBody::Update(UpdateRoomResponse {
            response_code: UpdateResponseCode::success,
            error_description: Text::default(),
            outcome: UpdateOutcome::Success { accepted_timestamp },
        }))
    }

    fn proposal_bundle(message: &MlsMessage, more: Vec<MlsMessage>) -> Parsed<RequestBody> {
        Parsed::Decoded(RequestBody::Update(HandshakeBundle {
            proposal_or_commit: message.clone(),
            rest: BundleRest::Proposal {
                more_proposals: more,
            },
        }))
    }

    #[test]
    fn a_correct_exchange_raises_nothing() {
        let mut c = Checker::new("B");
        let ex = exchange("requestConsent", "b.example", "a.example", 201, (1, 2));
        assert!(check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]).is_empty());
    }

    #[test]
    fn certificate_from_and_host_are_held_to_the_sender() {
        let mut c = Checker::new("B");
        let mut ex = exchange("requestConsent", "b.example", "a.example", 201, (1, 2));
        ex.client_certificate.clear();
        assert_eq!(
            check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]),
            found("TLS-6", "b.example")
        );
        let mut ex = exchange("requestConsent", "b.example", "a.example", 201, (1, 2));
        ex.request = Message::new(
            &headers(&[("from", "admin@b.example"), ("host", "a.example:8443")]),
            &[],
        );
        assert_eq!(
            check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]),
            found("TLS-5", "b.example")
        );
        ex.request = Message::new(
            &headers(&[("from", "mimi@c.example"), ("host", "c.example")]),
            &[],
        );
        let got = check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]);
        assert_eq!(
            got,
            [found("TLS-5", "b.example"), found("TLS-4", "b.example")].concat()
        );
    }

    #[test]
    fn status_codes_and_empty_bodies_are_held_to_the_answerer() {
        let mut c = Checker::new("B");
        let ex = exchange("requestConsent", "b.example", "a.example", 200, (1, 2));
        assert_eq!(
            check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]),
            found("CON-64", "a.example")
        );
        // 404 for an unknown target is allowed.
        let ex = exchange("requestConsent", "b.example", "a.example", 404, (1, 2));
        assert!(check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]).is_empty());
        let mut ex = exchange("reportAbuse", "b.example", "a.example", 200, (1, 2));
        ex.response = Some(Message::new(&headers(&[]), b"thanks"));
        assert_eq!(
            check(&mut c, &ex, Parsed::Absent, Parsed::Absent, &[]),
            found("ABU-71", "a.example")
        );
        let ex = exchange("update", "b.example", "a.example", 400, (1, 2));
        assert_eq!(
            check(
                &mut c,
                &ex,
                Parsed::Malformed("short".into()),
                Parsed::Absent,
                &[]
            ),
            found("UPD-33", "b.example"),
            "a malformed request is the sender's"
        );
        let mut ex = exchange("directory", "b.example", "a.example", 200, (1, 2));
        ex.endpoint = Some("directory".into());
        let directory = mimi_wire::messages::directory::Directory {
            endpoints: [(
                "notify".to_string(),
                "http://a.example/n/{roomId}".to_string(),
            )]
            .into(),
            others: Default::default(),
        };
        assert_eq!(
            check(
                &mut c,
                &ex,
                Parsed::Absent,
                Parsed::Decoded(ResponseBody::Directory(directory)),
                &[]
            ),
            found("DIR-7", "a.example")
        );
    }

    #[test]
    fn notify_answers_and_repeats_are_held_to_the_follower() {
        let mut room = Room::new();
        let m = room.message(false);
        let body = notify(vec![(NOW, m.clone(), app(None))]);
        let mut c = Checker::new("B");
        let ex = exchange("notify", "a.example", "b.example", 200, (1, 2));
        assert_eq!(
            check(&mut c, &ex, body.clone(), Parsed::Absent, b"one"),
            found("NOT-43", "b.example")
        );
        let ex = exchange("notify", "a.example", "b.example", 201, (3, 4));
        assert!(check(&mut c, &ex, body.clone(), Parsed::Absent, b"two").is_empty());
        let ex = exchange("notify", "a.example", "b.example", 409, (5, 6));
        assert_eq!(
            check(&mut c, &ex, body, Parsed::Absent, b"two"),
            found("NOT-44", "b.example")
        );
    }

    #[test]
    fn a_hub_that_retries_before_retry_after_is_named() {
        let mut room = Room::new();
        let body = notify(vec![(NOW, room.message(false), app(None))]);
        let mut c = Checker::new("B");
        let mut ex = exchange("notify", "a.example", "b.example", 503, (0, 1_000_000));
        ex.response = Some(Message::new(&headers(&[("retry-after", "2")]), &[]));
        assert!(check(&mut c, &ex, body.clone(), Parsed::Absent, b"n").is_empty());
        let early = exchange(
            "notify",
            "a.example",
            "b.example",
            503,
            (1_500_000, 1_600_000),
        );
        let mut refused = early.clone();
        refused.response = ex.response.clone();
        assert_eq!(
            check(&mut c, &refused, body.clone(), Parsed::Absent, b"n"),
            found("FAN-47", "a.example")
        );
        let late = exchange(
            "notify",
            "a.example",
            "b.example",
            201,
            (3_700_000, 3_800_000),
        );
        assert!(check(&mut c, &late, body, Parsed::Absent, b"n").is_empty());
    }

    #[test]
    fn fan_out_against_stamps_and_acceptance_order() {
        let mut room = Room::new();
        let (first, second) = (room.message(false), room.message(false));
        let mut c = Checker::new("B");
        // Stamped in one order, fanned out in the other.
        let ex = exchange("notify", "a.example", "b.example", 201, (1, 2));
        let body = notify(vec![
            (NOW + 2, second.clone(), app(None)),
            (NOW + 1, first.clone(), app(None)),
        ]);
        assert_eq!(
            check(&mut c, &ex, body, Parsed::Absent, b"1"),
            found("FAN-48", "a.example")
        );
        // Accepted one after the other (the first answered before the second arrived), with
        // the same stamp, and fanned out the other way round.
        let mut c = Checker::new("B");
        let (x, y) = (room.message(false), room.message(false));
        for (m, span) in [(&x, (10, 20)), (&y, (30, 40))] {
            let ex = exchange("submitMessage", "b.example", "a.example", 200, span);
            assert!(check(&mut c, &ex, submit(m), submitted(NOW, None), &[]).is_empty());
        }
        let ex = exchange("notify", "a.example", "b.example", 201, (50, 60));
        let body = notify(vec![
            (NOW, y.clone(), app(None)),
            (NOW, x.clone(), app(None)),
        ]);
        assert_eq!(
            check(&mut c, &ex, body.clone(), Parsed::Absent, b"2"),
            found("FAN-48", "a.example")
        );
        // Overlapping acceptances are not ordered.
        let mut c = Checker::new("B");
        for (m, span) in [(&x, (10, 40)), (&y, (20, 30))] {
            let ex = exchange("submitMessage", "b.example", "a.example", 200, span);
            check(&mut c, &ex, submit(m), submitted(NOW, None), &[]);
        }
        assert!(check(&mut c, &ex, body, Parsed::Absent, b"2").is_empty());
    }

    #[test]
    fn fan_out_must_carry_what_the_submitter_was_given() {
        let mut room = Room::new();
        let m = room.message(true);
        let mut c = Checker::new("B");
        let ex = exchange("submitMessage", "b.example", "a.example", 200, (1, 2));
        assert!(check(&mut c, &ex, submit(&m), submitted(NOW, Some(frank())), &[]).is_empty());
        let ex = exchange("notify", "a.example", "b.example", 201, (3, 4));
        let other = Frank {
            server_frank: [9; 32],
            ..frank()
        };
        let body = notify(vec![(NOW + 5, m, app(Some(other)))]);
        assert_eq!(
            check(&mut c, &ex, body, Parsed::Absent, &[]),
            [found("FAN-51", "a.example"), found("FAN-51", "a.example")].concat(),
            "another timestamp and another Frank"
        );
    }

    #[test]
    fn franks_where_the_message_asks_for_one() {
        let mut room = Room::new();
        let m = room.message(true);
        let mut c = Checker::new("B");
        let ex = exchange("submitMessage", "b.example", "a.example", 200, (1, 2));
        assert_eq!(
            check(&mut c, &ex, submit(&m), submitted(NOW, None), &[]),
            found("SUB-41", "a.example")
        );
        let ex = exchange("notify", "a.example", "b.example", 201, (3, 4));
        assert_eq!(
            check(
                &mut c,
                &ex,
                notify(vec![(NOW, m, app(None))]),
                Parsed::Absent,
                &[]
            ),
            found("SUB-41", "a.example")
        );
        let unfranked = room.message(false);
        let ex = exchange("submitMessage", "b.example", "a.example", 200, (5, 6));
        assert!(check(&mut c, &ex, submit(&unfranked), submitted(NOW, None), &[]).is_empty());
    }

    #[test]
    fn timestamps_in_seconds_are_named() {
        let mut room = Room::new();
        let m = room.message(false);
        let mut c = Checker::new("B");
        let ex = exchange("submitMessage", "b.example", "a.example", 200, (1, 2));
        assert_eq!(
            check(&mut c, &ex, submit(&m), submitted(NOW / 1000, None), &[]),
            found("FAN-51", "a.example")
        );
        let p = room.proposal();
        let ex = exchange("update", "b.example", "a.example", 200, (3, 4));
        assert_eq!(
            check(
                &mut c,
                &ex,
                proposal_bundle(&p, vec![]),
                updated(NOW / 1000),
                &[]
            ),
            found("UPD-25", "a.example")
        );
    }

    #[test]
    fn what_a_hub_must_refuse_but_accepted() {
        let mut room = Room::new();
        let mut c = Checker::new("B");
        // A proposal sent as a PrivateMessage.
        room.alice
            .encrypt_handshakes(&mut room.group, true)
            .unwrap();
        let hidden = room.proposal();
        room.alice
            .encrypt_handshakes(&mut room.group, false)
            .unwrap();
        let ex = exchange("update", "b.example", "a.example", 200, (1, 2));
        assert_eq!(
            check(
                &mut c,
                &ex,
                proposal_bundle(&hidden, vec![]),
                updated(NOW),
                &[]
            ),
            found("UPD-33", "a.example")
        );
        // A handshake in submitMessage.
        let p = room.proposal();
        let ex = exchange("submitMessage", "b.example", "a.example", 200, (3, 4));
        assert_eq!(
            check(&mut c, &ex, submit(&p), submitted(NOW, None), &[]),
            found("SUB-37", "a.example")
        );
    }

    #[test]
    fn epochs_never_go_back() {
        let mut room = Room::new();
        let old_message = room.message(false);
        let old_proposal = room.proposal();
        let commit = room.commit();
        let new_message = room.message(false);
        let mut c = Checker::new("B");
        let ex = exchange("update", "b.example", "a.example", 200, (1, 2));
        let bundle = Parsed::Decoded(RequestBody::Update(HandshakeBundle {
            proposal_or_commit: commit.clone(),
            rest: BundleRest::Proposal {
                more_proposals: vec![],
            },
        }));
        assert!(check(&mut c, &ex, bundle, updated(NOW), &[]).is_empty());
        // Accepted after the commit was: the room had left epoch 0.
        let ex = exchange("update", "b.example", "a.example", 200, (3, 4));
        assert_eq!(
            check(
                &mut c,
                &ex,
                proposal_bundle(&old_proposal, vec![]),
                updated(NOW),
                &[]
            ),
            found("UPD-22", "a.example")
        );
        let ex = exchange("submitMessage", "b.example", "a.example", 200, (5, 6));
        assert_eq!(
            check(&mut c, &ex, submit(&old_message), submitted(NOW, None), &[]),
            found("SUB-39", "a.example")
        );
        // In a fan-out stamped in order, an epoch going back.
        let mut c = Checker::new("B");
        let ex = exchange("notify", "a.example", "b.example", 201, (1, 2));
        let body = notify(vec![
            (NOW + 1, new_message, app(None)),
            (NOW + 2, old_message, app(None)),
        ]);
        assert_eq!(
            check(&mut c, &ex, body, Parsed::Absent, &[]),
            found("SUB-39", "a.example")
        );
    }

    #[test]
    fn more_proposals_are_fanned_out_as_given() {
        let mut room = Room::new();
        let (p, q) = (room.proposal(), room.proposal());
        let mut c = Checker::new("B");
        let ex = exchange("update", "b.example", "a.example", 200, (1, 2));
        assert!(check(&mut c, &ex, proposal_bundle(&p, vec![q]), updated(NOW), &[]).is_empty());
        let ex = exchange("notify", "a.example", "b.example", 201, (3, 4));
        let rest = FanoutRest::Proposal {
            more_proposals: vec![],
        };
        assert_eq!(
            check(
                &mut c,
                &ex,
                notify(vec![(NOW, p, rest)]),
                Parsed::Absent,
                &[]
            ),
            found("FAN-50", "a.example")
        );
    }

    #[test]
    fn key_packages_are_judged_as_handed_out() {
        let bob = SimClient::new("mimi://a.example/d/bob/1", DEFAULT_CIPHERSUITE);
        let kp = bob.key_package(Lifetime::new(3600));
        let response = |user: &str| {
            Parsed::Decoded(ResponseBody::KeyMaterial(KeyMaterialResponse {
                protocol: PROTOCOL_MLS10,
                user_status: USER_SUCCESS,
                user_uri: IdentifierUri(user.into()),
                clients: vec![ClientKeyMaterial::offering(
                    IdentifierUri("mimi://a.example/d/bob/1".into()),
                    Some(kp.clone()),
                )],
            }))
        };
        let claim = |span| {
            let mut ex = exchange("keyMaterial", "b.example", "a.example", 200, span);
            ex.key = Some("mimi://a.example/u/bob".into());
            ex
        };
        let mut c = Checker::new("B");
        let bob_uri = "mimi://a.example/u/bob";
        assert!(check(
            &mut c,
            &claim((1, 10)),
            Parsed::Absent,
            response(bob_uri),
            &[]
        )
        .is_empty());
        // A hub relaying the same answer overlaps the target's exchange: not a reuse.
        assert!(check(
            &mut c,
            &claim((5, 12)),
            Parsed::Absent,
            response(bob_uri),
            &[]
        )
        .is_empty());
        assert_eq!(
            check(
                &mut c,
                &claim((20, 30)),
                Parsed::Absent,
                response(bob_uri),
                &[]
            ),
            found("KM-12", "a.example")
        );
        let mut c = Checker::new("B");
        assert_eq!(
            check(
                &mut c,
                &claim((1, 2)),
                Parsed::Absent,
                response("mimi://a.example/u/carol"),
                &[]
            ),
            found("KM-9", "a.example")
        );
    }
}
