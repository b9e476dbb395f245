//! What the runner emits: typed events carrying typed records. Reporters (`crate::report`)
//! consume them and render them; the runner records data and renders nothing.

use crate::catalogue::{Level, Requirement};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The verdict of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// An expectation charged to a MUST failed.
    Fail,
    /// An expectation charged to a SHOULD failed (and none charged to a MUST): a warning, a
    /// failure only with --strict.
    Warn,
    /// Only expectations charged to derived (or MAY) requirements failed: informational.
    Info,
    /// The provider refused a precondition in a way the drafts allow: nothing was judged
    /// against it. Never a pass; a failure only with --strict.
    Inconclusive,
    /// The provider's profile does not declare what the case needs.
    Unsupported,
    /// The case could not be carried out (unreachable provider, timeout, bad template, a
    /// precondition that failed in a way no requirement covers).
    Error,
    /// The run stopped (a signal, its timeout) before the case was done.
    NotRun,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Info => "info",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Unsupported => "unsupported",
            Verdict::Error => "error",
            Verdict::NotRun => "not-run",
        }
    }

    /// Whether this verdict fails the run.
    pub fn fails(self, strict: bool) -> bool {
        match self {
            Verdict::Fail | Verdict::Error => true,
            Verdict::Warn | Verdict::Inconclusive => strict,
            Verdict::Pass | Verdict::Info | Verdict::Unsupported | Verdict::NotRun => false,
        }
    }
}

/// The verdict of one requirement in one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequirementVerdict {
    Pass,
    /// A MUST was broken.
    Fail,
    /// A SHOULD was broken.
    Warn,
    /// A derived or MAY requirement was broken.
    Info,
    /// The case stopped before any expectation charged to it ran.
    NotReached,
    /// The case stopped inconclusive before judging it.
    Inconclusive,
    /// The case did not run: the profile does not declare what it needs.
    Unsupported,
}

impl RequirementVerdict {
    pub fn name(self) -> &'static str {
        match self {
            RequirementVerdict::Pass => "pass",
            RequirementVerdict::Fail => "fail",
            RequirementVerdict::Warn => "warn",
            RequirementVerdict::Info => "info",
            RequirementVerdict::NotReached => "not-reached",
            RequirementVerdict::Inconclusive => "inconclusive",
            RequirementVerdict::Unsupported => "unsupported",
        }
    }

    /// The verdict of a requirement of this level whose expectation failed.
    pub fn broken(level: Level) -> Self {
        match level {
            Level::Must => RequirementVerdict::Fail,
            Level::Should => RequirementVerdict::Warn,
            Level::May | Level::Derived => RequirementVerdict::Info,
        }
    }

    /// Some expectation charged to the requirement ran and said whether it holds.
    pub fn judged(self) -> bool {
        matches!(
            self,
            RequirementVerdict::Pass
                | RequirementVerdict::Fail
                | RequirementVerdict::Warn
                | RequirementVerdict::Info
        )
    }

    pub fn is_broken(self) -> bool {
        matches!(
            self,
            RequirementVerdict::Fail | RequirementVerdict::Warn | RequirementVerdict::Info
        )
    }
}

/// A requirement of the case with its verdict in this run.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementResult {
    pub requirement: Requirement,
    pub verdict: RequirementVerdict,
    /// For a broken requirement, who broke it and on which hop (`runner::blame`); empty
    /// otherwise.
    pub blame: Vec<Blame>,
}

/// Who broke a requirement, and on which hop of the architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blame {
    /// The link the offending message crossed: A, B, C or D.
    pub link: String,
    /// The provider (its domain) responsible.
    pub provider: String,
    /// The role it plays in the case (hub, follower, target, ...).
    pub role: Option<String>,
    pub basis: BlameBasis,
}

/// What a blame rests on, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlameBasis {
    /// The observer saw this provider send an offending message on link B in the case's
    /// traffic: one that breaks this requirement, or another the same failed check judges.
    Observed,
    /// The requirement binds the role this provider plays in the case (the catalogue's `role`
    /// and `link`), and nothing seen on link B clears that hop.
    Requirement,
    /// The step whose expectation failed talked to this provider over this link.
    Step,
    /// Nothing narrows it down (an `assert` step, a requirement of any role): the provider
    /// under test, on the link the case is reported under.
    UnderTest,
}

impl BlameBasis {
    pub fn name(self) -> &'static str {
        match self {
            BlameBasis::Observed => "observed",
            BlameBasis::Requirement => "requirement",
            BlameBasis::Step => "step",
            BlameBasis::UnderTest => "under-test",
        }
    }
}

impl std::fmt::Display for Blame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = self
            .role
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let basis = match self.basis {
            BlameBasis::Observed => "seen by the observer",
            BlameBasis::Requirement => "the requirement binds that role",
            BlameBasis::Step => "the failing step's hop",
            BlameBasis::UnderTest => "the provider under test, on the case's link",
        };
        write!(
            f,
            "broken by {}{role} on link {}: {basis}",
            self.provider, self.link
        )
    }
}

/// A place in a case file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The case file's text on that line, as written.
    pub source_line: String,
}

/// One expectation that did not hold: what was checked, where it is written, expected against
/// actual as the matcher put it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertionFailure {
    pub step: String,
    pub location: Location,
    /// What was checked, e.g. `body userStatus` or `status`.
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckOutcome {
    Pass,
    Fail,
    /// The expectations failed, but a condition the case names as a refused precondition held.
    Inconclusive,
}

/// Why a check was inconclusive, and what would make it conclusive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inconclusive {
    pub reason: String,
    pub remedy: String,
    /// Where the `inconclusive` entry whose condition held is written.
    pub location: Location,
}

/// The expectations of one step (or its `save` or snapshot), judged, and the requirements they
/// are charged to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub step: String,
    /// The step's position in the case, from 0.
    pub step_index: usize,
    /// Requirement ids; empty for a precondition (setup) that checks no requirement.
    pub requirements: Vec<String>,
    pub outcome: CheckOutcome,
    /// What did not hold (for an inconclusive check, what the provider did instead).
    pub failures: Vec<AssertionFailure>,
    pub inconclusive: Option<Inconclusive>,
    /// What the expectations were evaluated on and what each said; none for a check that
    /// records no evaluation.
    pub evaluation: Option<Evaluation>,
}

/// A check's expectations as evaluated: with the exchange of the transcript they judged, what
/// `verify` needs to evaluate them again offline (`crate::certify::recompute`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// The attempt of the step whose exchange was judged (its last).
    pub attempt: u32,
    /// What `now_ms()` gave the expectations' templates: ms since the UNIX epoch.
    pub now_ms: u64,
    /// The template context their arguments were filled from: the case's variables and actors
    /// and what earlier steps saved.
    pub context: minijinja::Value,
    /// For a request the harness received: ms since the case's previous one of its endpoint.
    pub delay_ms: Option<u64>,
    /// Each matcher (and the status, `refused` and `arrives` checks) in the order evaluated.
    pub expectations: Vec<Evaluated>,
}

/// One expectation as evaluated: where it is written (in the step's file), what it checked,
/// its argument filled in, the values it was applied to, and why it did not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    pub line: u64,
    pub column: u64,
    /// What was checked, e.g. `body userStatus`, `header content-type` or `status`.
    pub subject: String,
    /// The matcher's keyword (`equals`, `one-of`, ...), or `status`, `refused`, `arrives`, or
    /// `breaks` (a requirement a received request breaks, as the harness's server found).
    pub keyword: String,
    /// Null when its template could not be filled in, or nothing was selected.
    pub argument: Value,
    pub actual: Vec<Value>,
    pub failure: Option<String>,
}

/// Bytes as they went over the wire, and what they decode to. A request the harness built is
/// decoded only when something reads it (a reporter, `results.json`): no expectation judges
/// it, and decoding it on every step was a tenth of the runner's work.
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// The message type to decode `bytes` as when first read.
    pub(super) decode_as: Option<&'static str>,
    pub(super) decoding: OnceLock<Decoding>,
}

/// What a body's bytes decode to.
#[derive(Debug, Clone, Default)]
pub struct Decoding {
    /// The MIMI message type (or `json`) the bytes were decoded as.
    pub message_type: Option<String>,
    pub decoded: Option<Value>,
    /// Why the bytes did not decode as `message_type`.
    pub decode_error: Option<String>,
}

impl Body {
    pub fn message_type(&self) -> Option<&str> {
        self.decoding().message_type.as_deref()
    }

    pub fn decoded(&self) -> Option<&Value> {
        self.decoding().decoded.as_ref()
    }

    pub fn decode_error(&self) -> Option<&str> {
        self.decoding().decode_error.as_deref()
    }
}

/// A body as a record writes it: its bytes in hex, and what they decode to.
#[derive(Serialize)]
#[serde(rename = "Body")]
struct BodyOut<'a> {
    #[serde(serialize_with = "as_hex")]
    bytes: &'a [u8],
    message_type: &'a Option<String>,
    decoded: &'a Option<Value>,
    decode_error: &'a Option<String>,
}

#[derive(Deserialize)]
struct BodyIn {
    #[serde(deserialize_with = "from_hex")]
    bytes: Vec<u8>,
    message_type: Option<String>,
    decoded: Option<Value>,
    decode_error: Option<String>,
}

impl Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let decoding = self.decoding();
        BodyOut {
            bytes: &self.bytes,
            message_type: &decoding.message_type,
            decoded: &decoding.decoded,
            decode_error: &decoding.decode_error,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let body = BodyIn::deserialize(d)?;
        Ok(Self {
            bytes: body.bytes,
            decode_as: None,
            decoding: OnceLock::from(Decoding {
                message_type: body.message_type,
                decoded: body.decoded,
                decode_error: body.decode_error,
            }),
        })
    }
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn from_hex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    hex::decode(text).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    /// Whether the harness presented its client certificate (link B).
    pub client_certificate: bool,
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The provider refused the TLS handshake or the client certificate.
    TlsRefused,
    /// The connection closed before any response.
    Closed,
    /// Nothing answered at all.
    Unreachable,
    /// No request reached the harness in time.
    NotReceived,
    /// Any other failure to get a response (a timeout, a broken body).
    Other,
}

/// No response: why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// The status of a response whose head arrived before its body broke (a 4xx of which is
    /// still a refusal): what `verify` needs to judge `refused` again.
    #[serde(default)]
    pub status: Option<u16>,
}

/// A request the provider sent the harness, as the harness took it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceivedRequest {
    pub headers: Vec<Header>,
    /// DNS names of the client certificate the sender presented (empty: none).
    pub client_certificate: Vec<String>,
    pub body: Body,
    /// The status the harness answered with.
    pub answered: u16,
    /// What the harness's link-B server found the request breaks (`harness_server::inspect`).
    #[serde(default)]
    pub findings: Vec<crate::drivers::harness_server::Finding>,
}

/// What one attempt of a step did, by kind of step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Interaction {
    /// A link-B request the harness sent, and the provider's answer.
    LinkB {
        request: HttpRequest,
        response: Option<HttpResponse>,
        failure: Option<Failure>,
    },
    /// An operation of a provider's driver API (links A and C).
    Driver {
        operation: String,
        request: HttpRequest,
        response: Option<HttpResponse>,
        failure: Option<Failure>,
    },
    /// A request the provider sent to the harness's link-B server (or that it waited for in
    /// vain).
    Received {
        endpoint: String,
        key: String,
        request: Option<ReceivedRequest>,
        failure: Option<Failure>,
    },
    /// How the harness's link-B server will answer the next requests to an endpoint.
    Scripted {
        endpoint: String,
        key: String,
        status: u16,
        headers: Vec<Header>,
        times: usize,
    },
    /// The values an `assert` step checked (no traffic).
    Assert { values: Vec<AssertedValue> },
    /// An operation of one of the harness's simulated clients (link D), and its result.
    Mls {
        client: String,
        operation: String,
        args: Option<Value>,
        result: Value,
    },
}

/// A value an `assert` step checked: its template as written, and what it was filled in as.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssertedValue {
    pub subject: String,
    pub value: Value,
}

/// One attempt of one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub step: String,
    pub step_index: usize,
    pub attempt: u32,
    /// Milliseconds from the start of the case to the start of this attempt.
    pub started_ms: u64,
    /// How long the attempt took, in milliseconds.
    pub millis: u64,
    #[serde(flatten)]
    pub interaction: Interaction,
}

impl Exchange {
    /// The status a provider or driver answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.interaction {
            Interaction::LinkB { response, .. } | Interaction::Driver { response, .. } => {
                response.as_ref().map(|r| r.status)
            }
            _ => None,
        }
    }
}

/// A case as it ran: everything a reporter needs, and nothing rendered.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub title: String,
    pub file: String,
    pub links: Vec<String>,
    pub provider: String,
    pub draft: String,
    /// The nonce of this run of the case (`{{ run }}`), which the names it makes carry.
    pub run: String,
    /// Each provider role of the case and the domain that played it.
    pub roles: BTreeMap<String, String>,
    /// When the case began, in ms since the UNIX epoch.
    pub started_unix_ms: u64,
    /// What the observer between the providers found in this case's link-B traffic.
    pub observed: Vec<crate::observer::Finding>,
    pub verdict: Verdict,
    /// Every requirement the case charges an expectation to, with its verdict.
    pub requirements: Vec<RequirementResult>,
    /// Why the case is `error` or `unsupported`.
    pub error: Option<String>,
    pub checks: Vec<Check>,
    pub transcript: Vec<Exchange>,
    /// Steps that passed only after retries (`eventually`), with their retry counts.
    pub retried: Vec<(String, u32)>,
    /// How an entry of the provider's expectation file applied.
    pub expectation: Option<ExpectationUse>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

/// An entry of the provider's expectation file, applied to a case.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectationUse {
    /// `known failure`, `known flaky`, or `stale known failure` (listed, but passed).
    pub label: &'static str,
    pub reason: String,
}

impl ExpectationUse {
    pub const KNOWN_FAILURE: &'static str = "known failure";
    pub const KNOWN_FLAKY: &'static str = "known flaky";
    pub const STALE: &'static str = "stale known failure";

    /// One as results.json writes it (`label: reason`); None when the label is none of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let (label, reason) = text.split_once(": ")?;
        let label = [Self::KNOWN_FAILURE, Self::KNOWN_FLAKY, Self::STALE]
            .into_iter()
            .find(|l| *l == label)?;
        Some(Self {
            label,
            reason: reason.to_string(),
        })
    }
}

impl std::fmt::Display for ExpectationUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.label, self.reason)
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl CaseRecord {
    /// The checks whose expectations failed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.outcome == CheckOutcome::Fail)
    }

    /// The requirements whose expectations failed, in the case's order.
    pub fn broken(&self) -> impl Iterator<Item = &RequirementResult> {
        self.requirements.iter().filter(|r| r.verdict.is_broken())
    }

    /// The check that made the case inconclusive, if one did.
    pub fn inconclusive(&self) -> Option<(&Check, &Inconclusive)> {
        self.checks
            .iter()
            .find_map(|c| c.inconclusive.as_ref().map(|i| (c, i)))
    }

    pub fn verdict_of(&self, id: &str) -> Option<RequirementVerdict> {
        self.requirements
            .iter()
            .find(|r| r.requirement.id == id)
            .map(|r| r.verdict)
    }
}

/// What happened, lent to the subscriber as it happens: one that keeps something clones it.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A case begins.
    CaseStarted { case: &'a str },
    /// One attempt of a step, as it happened.
    Exchange {
        case: &'a str,
        exchange: &'a Exchange,
    },
    /// Expectations were checked: passed, failed or inconclusive, with the requirements
    /// they are charged to.
    ExpectationChecked { case: &'a str, check: &'a Check },
    /// A case is done: its verdicts, checks and transcript.
    CaseFinished(&'a CaseRecord),
}

type Subscriber = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Where events go: a subscriber that sees each as it happens, or nobody.
#[derive(Clone, Default)]
pub struct EventSink(Option<Subscriber>);

impl EventSink {
    pub fn new(subscriber: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(subscriber)))
    }

    /// Events nobody reads: they cost nothing.
    pub fn discard() -> Self {
        Self(None)
    }

    /// A sink that keeps every finished case, for the reporters that write files after the run.
    pub fn finished_cases() -> (Self, FinishedCases) {
        let kept = FinishedCases::default();
        let sink = kept.clone();
        (
            Self::new(move |event| {
                if let Event::CaseFinished(record) = event {
                    sink.0
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((*record).clone());
                }
            }),
            kept,
        )
    }

    pub fn emit(&self, event: Event<'_>) {
        if let Some(subscriber) = &self.0 {
            subscriber(&event);
        }
    }
}

/// The finished cases a `finished_cases` sink kept.
#[derive(Clone, Default)]
pub struct FinishedCases(Arc<Mutex<Vec<CaseRecord>>>);

impl FinishedCases {
    pub fn take(&self) -> Vec<CaseRecord> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The records so far, leaving them kept.
    pub fn records(&self) -> Vec<CaseRecord> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
