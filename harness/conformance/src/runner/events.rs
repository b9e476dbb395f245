//! What the runner emits. Reporters consume these; they never reach back into the runner, and
//! the runner never formats a report.

use crate::catalogue::{Level, Requirement};
use serde::Serialize;
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    /// A MUST was broken.
    Fail,
    /// A SHOULD was broken: a warning, a failure only with --strict.
    Warn,
    /// A derived (or MAY) check did not hold: informational.
    Info,
    /// The provider's profile does not declare what the case needs.
    Unsupported,
    /// The case could not be carried out (unreachable provider, timeout, bad template).
    Error,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Info => "info",
            Verdict::Unsupported => "unsupported",
            Verdict::Error => "error",
        }
    }

    /// The grade of a failed check of this level.
    pub fn for_broken(level: Level) -> Self {
        match level {
            Level::Must => Verdict::Fail,
            Level::Should => Verdict::Warn,
            Level::May | Level::Derived => Verdict::Info,
        }
    }

    /// Whether this verdict fails the run.
    pub fn fails(self, strict: bool) -> bool {
        matches!(self, Verdict::Fail | Verdict::Error) || (strict && self == Verdict::Warn)
    }
}

/// One HTTP exchange as it happened, rendered for people.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeRecord {
    pub step: String,
    pub attempt: u32,
    pub request: String,
    /// Status line and body, or the connection failure.
    pub response: String,
    pub status: Option<u16>,
    pub millis: u64,
}

/// One expectation that did not hold.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionFailure {
    pub step: String,
    /// `file:line:col` of the expectation in the case.
    pub location: String,
    pub line: u64,
    pub column: u64,
    /// What was checked, e.g. `body $.userStatus` or `status`.
    pub subject: String,
    pub message: String,
    /// The requirement the failure is charged to, when the check names one itself (what the
    /// harness's link-B server found a received request to break); otherwise the case's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub title: String,
    pub file: String,
    pub links: Vec<String>,
    pub requirements: Vec<Requirement>,
    pub provider: String,
    pub draft: String,
    pub verdict: Verdict,
    /// Why the verdict is what it is, for people: failures, the error, or the unsupported need.
    pub message: String,
    pub failures: Vec<AssertionFailure>,
    pub transcript: Vec<ExchangeRecord>,
    /// Steps that passed only after retries (`eventually`), with their retry counts.
    pub retried: Vec<(String, u32)>,
    /// How an expectation file entry applied: `known failure`, `known flaky`, or
    /// `stale known failure` (listed, but passed).
    pub expectation: Option<String>,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A case is done: its verdict, failures and transcript.
    CaseFinished(Box<CaseRecord>),
}

/// Where events go: a channel whose receiver the reporters drain after the run.
#[derive(Clone)]
pub struct EventSink(mpsc::Sender<Event>);

impl EventSink {
    pub fn channel() -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        (Self(tx), rx)
    }

    pub fn emit(&self, event: Event) {
        // A receiver that is gone means nobody reports; the run itself goes on.
        let _ = self.0.send(event);
    }
}
