//! Every verdict of a run, recomputed from its recorded evidence, offline, with the verifier's
//! own copy of the cases. For each recorded check, the exchange it judged is taken from the
//! transcript and its bytes decoded again (the recorded decoding must be what they decode to;
//! a request the harness received is inspected again, and must break what the record says),
//! and the runner's own judgement runs on them (`runner::replay`: each matcher re-parsed from
//! the case file, its argument filled in again from the recorded context with `now_ms()` at the
//! recorded time, the values its path selects taken again, then `save`, the snapshot and the
//! refused preconditions); every expectation's argument, actual values and result must be the
//! recorded ones. Which steps were judged must be what the runner does: a case stops after a
//! check that did not pass, and a step with no check is where the case ended. The verdicts
//! then follow as in the runner (`verdict::conclude`): each requirement's, and the case's.
//!
//! Not recomputed, and why: what an `mls` step's result says (the harness's simulated client
//! computed it from MLS group state built with fresh randomness; its expectations are evaluated
//! again on the recorded result), why a case ended in `error` (a timeout, an unreachable
//! provider: the record says; that the evidence ends where it says is checked), and which
//! attempt of an `eventually` step decided it (the retries' timing; the attempt it names is
//! judged again).

use crate::case::model::{Step, StepKind};
use crate::case::Case;
use crate::observer::Finding;
use crate::profile::Profile;
use crate::runner::events::{
    Blame, CaseRecord, Check, Evaluated, Exchange, ExpectationUse, RequirementVerdict, Verdict,
};
use crate::runner::replay::{self, Replay};
use crate::runner::verdict::{self, plan_steps, Ended};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// `results.json` as `verify` reads it back: what it recomputes and compares (the rest, such as
/// the messages, is for people).
#[derive(Debug, Deserialize)]
pub struct Results {
    pub format: u32,
    pub strict: bool,
    pub cases: Vec<RecordedCase>,
    /// How the run ended (`report::lifecycle`).
    pub run: RecordedRun,
}

#[derive(Debug, Deserialize)]
pub struct RecordedRun {
    /// `finished`, or why it is not (`in-progress`, `interrupted`, ...).
    pub state: String,
    pub reason: Option<String>,
}

impl RecordedRun {
    /// Why the run cannot be certified, when it did not finish: it does not show every case.
    pub fn unfinished(&self) -> Option<String> {
        (self.state != "finished").then(|| {
            format!(
                "the run did not finish (its state is {}{}): only a finished run is certified",
                self.state,
                self.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct RecordedCase {
    pub id: String,
    pub verdict: Verdict,
    pub error: Option<String>,
    pub requirement_verdicts: Vec<RecordedRequirement>,
    pub checks: Vec<Check>,
    pub exchanges: Vec<Exchange>,
    // What the record says beside the verdicts, for the site `verify --html` writes: signed
    // with the rest, not recomputed (see `shown`).
    #[serde(default)]
    pub run: String,
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub started_unix_ms: u64,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub retried: Vec<Retried>,
    #[serde(default)]
    pub expectation: Option<String>,
    #[serde(default)]
    pub observed: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
pub struct Retried {
    pub step: String,
    pub retries: u32,
}

#[derive(Debug, Deserialize)]
pub struct RecordedRequirement {
    pub id: String,
    pub verdict: RequirementVerdict,
    #[serde(default)]
    pub blame: Vec<Blame>,
}

impl Results {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let results: Results = serde_json::from_slice(bytes)
            .map_err(|e| format!("results.json does not parse: {e}"))?;
        if results.format != crate::report::results::FORMAT {
            return Err(format!(
                "results.json is in format {}; this harness reads format {}",
                results.format,
                crate::report::results::FORMAT
            ));
        }
        Ok(results)
    }
}

/// What recomputing needs about the run.
pub struct Run<'a> {
    pub profiles: &'a [&'a Profile],
    pub snapshot_suffix: Option<&'a str>,
    pub started_ms: u64,
    pub finished_ms: u64,
}

/// A case's record, recomputed from the evidence of `recorded`: its checks judged again and its
/// verdicts concluded from them; or what does not follow.
pub fn case(recorded: &RecordedCase, case: &Case, run: &Run) -> Result<CaseRecord, String> {
    let id = &case.id;
    let under_test = run
        .profiles
        .first()
        .ok_or("the evidence names no provider under test")?;
    let mut record = crate::runner::new_record(case, under_test);
    if let Some(reason) = crate::runner::unsupported(case, run.profiles) {
        if recorded.verdict != Verdict::Unsupported || !recorded.checks.is_empty() {
            return Err(format!(
                "{id}: the profile does not declare what it needs ({reason}), so it cannot \
                 have run, yet the bundle records it {}",
                recorded.verdict.name()
            ));
        }
        verdict::conclude(case, &mut record, Ended::Unsupported(reason));
        shown(&mut record, recorded);
        return Ok(record);
    }
    let steps = plan_steps(case);
    let clock = |recorded: &Value, again: &mut Value| reconcile_clock(recorded, again, run);
    let settings = Replay {
        snapshot_suffix: run.snapshot_suffix,
        fixtures: &case.fixtures,
        harness_domain: &under_test.harness.domain,
        reconcile: &clock,
    };
    let mut seen = std::collections::HashSet::new();
    for check in &recorded.checks {
        let at = format!("{id}, step {:?}", check.step);
        let step = (steps.get(check.step_index))
            .filter(|s| s.name == check.step)
            .ok_or_else(|| format!("{at}: the case has no such step at that place"))?;
        if !seen.insert(check.step_index) {
            return Err(format!(
                "{at}: judged twice, where the runner judges a step once"
            ));
        }
        let attempt = check.evaluation.as_ref().map(|e| e.attempt);
        let exchange = (recorded.exchanges.iter())
            .find(|e| e.step_index == check.step_index && Some(e.attempt) == attempt);
        let again = replay::check(case, check.step_index, step, check, exchange, &settings)
            .map_err(|e| format!("{at}: {e}"))?;
        same_check(check, &again, step).map_err(|e| format!("{at}: {e}"))?;
        record.checks.push(again);
    }
    let judged: HashMap<usize, bool> = (record.checks.iter())
        .map(|c| {
            (
                c.step_index,
                c.outcome == crate::runner::events::CheckOutcome::Pass,
            )
        })
        .collect();
    let index: HashMap<*const Step, usize> = (steps.iter().enumerate())
        .map(|(i, s)| (*s as *const Step, i))
        .collect();
    let flow = Flow::of(&case.spec.steps, &index, &judged).map_err(|e| format!("{id}: {e}"))?;
    // A step the case did not get to the end of: it ended there, in error, for the reason the
    // record gives (a timeout, an unreachable provider: not something evidence shows).
    let ended = match flow {
        Flow::Ended => Ended::Error(recorded.error.clone().unwrap_or_default()),
        Flow::Ran | Flow::Stopped => Ended::Ran,
    };
    verdict::conclude(case, &mut record, ended);
    if record.verdict != recorded.verdict {
        let why = (record.checks.iter())
            .flat_map(|c| &c.failures)
            .next()
            .map(|f| {
                format!(
                    " ({}:{} {}: {})",
                    f.location.line, f.location.column, f.subject, f.message
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "{id}: the evidence gives {}{why}, but the bundle records {}",
            record.verdict.name(),
            recorded.verdict.name()
        ));
    }
    let mine: Vec<(&str, RequirementVerdict)> = (record.requirements.iter())
        .map(|r| (r.requirement.id.as_str(), r.verdict))
        .collect();
    let theirs: Vec<(&str, RequirementVerdict)> = (recorded.requirement_verdicts.iter())
        .map(|r| (r.id.as_str(), r.verdict))
        .collect();
    if mine != theirs {
        let said = |list: &[(&str, RequirementVerdict)]| {
            (list.iter())
                .map(|(id, v)| format!("{id} {}", v.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "{id}: the evidence gives the requirement verdicts [{}], the bundle records [{}]",
            said(&mine),
            said(&theirs)
        ));
    }
    shown(&mut record, recorded);
    Ok(record)
}

/// The recomputed `record` given what the recorded case says beside its verdicts, so that it
/// reads as the run's own record: every exchange (those the checks judged were decoded and
/// judged again), who was blamed for each broken requirement, what the observer saw, the
/// case's nonce, roles and timing. These are signed with the rest but not recomputed: blame
/// rests on the observer's view of the traffic, which the bundle does not carry.
fn shown(record: &mut CaseRecord, recorded: &RecordedCase) {
    record.transcript = recorded.exchanges.clone();
    record.run = recorded.run.clone();
    record.roles = recorded.roles.clone();
    record.started_unix_ms = recorded.started_unix_ms;
    record.duration = std::time::Duration::from_millis(recorded.duration_ms);
    record.retried = (recorded.retried.iter())
        .map(|r| (r.step.clone(), r.retries))
        .collect();
    record.expectation = (recorded.expectation.as_deref()).and_then(ExpectationUse::parse);
    record.observed = recorded.observed.clone();
    for requirement in (record.requirements.iter_mut()).filter(|r| r.verdict.is_broken()) {
        if let Some(theirs) =
            (recorded.requirement_verdicts.iter()).find(|r| r.id == requirement.requirement.id)
        {
            requirement.blame = theirs.blame.clone();
        }
    }
}

/// How far a case's plan ran, by its checks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flow {
    /// Every step ran.
    Ran,
    /// A check did not pass: the runner stops there.
    Stopped,
    /// A step that always ends in a check has none: the case ended there.
    Ended,
}

impl Flow {
    /// Walks `steps` as the runner runs them (`step::run_steps`): in order until a check that
    /// did not pass; `parallel` branches all run; a `use` runs its fragment's steps in order.
    /// No step after the end may have a check.
    fn of(
        steps: &[Step],
        index: &HashMap<*const Step, usize>,
        judged: &HashMap<usize, bool>,
    ) -> Result<Flow, String> {
        let mut flow = Flow::Ran;
        for step in steps {
            if flow != Flow::Ran {
                nothing_judged(step, index, judged)?;
                continue;
            }
            flow = match &step.kind {
                StepKind::Answer(_) => Flow::Ran,
                StepKind::Parallel(branches) => {
                    let mut group = Flow::Ran;
                    for branch in branches {
                        match Flow::of(std::slice::from_ref(branch), index, judged)? {
                            Flow::Ended => group = Flow::Ended,
                            Flow::Stopped if group == Flow::Ran => group = Flow::Stopped,
                            _ => {}
                        }
                    }
                    group
                }
                StepKind::Use(fragment) => Flow::of(&fragment.steps, index, judged)?,
                _ => match judged.get(&index[&(step as *const Step)]) {
                    Some(true) => Flow::Ran,
                    Some(false) => Flow::Stopped,
                    None => Flow::Ended,
                },
            };
        }
        Ok(flow)
    }
}

/// A step after the case stopped (or ended) has no check, nor have its own steps.
fn nothing_judged(
    step: &Step,
    index: &HashMap<*const Step, usize>,
    judged: &HashMap<usize, bool>,
) -> Result<(), String> {
    if judged.contains_key(&index[&(step as *const Step)]) {
        return Err(format!(
            "step {:?} is recorded as judged, but the case stopped before it",
            step.name
        ));
    }
    match &step.kind {
        StepKind::Parallel(inner) => inner
            .iter()
            .try_for_each(|s| nothing_judged(s, index, judged)),
        StepKind::Use(fragment) => fragment
            .steps
            .iter()
            .try_for_each(|s| nothing_judged(s, index, judged)),
        _ => Ok(()),
    }
}

/// The recorded check against the one judged again: the same requirements, expectations,
/// failures (by place and subject: their messages may name the run's files) and outcome.
fn same_check(recorded: &Check, again: &Check, step: &Step) -> Result<(), String> {
    if recorded.requirements != again.requirements {
        return Err(format!(
            "it is charged to {:?} in the case, the record says {:?}",
            again.requirements, recorded.requirements
        ));
    }
    fn expectations(c: &Check) -> &[Evaluated] {
        c.evaluation.as_ref().map_or(&[], |e| &e.expectations)
    }
    same_expectations(expectations(recorded), expectations(again), step)?;
    let places = |c: &Check| {
        let mut out: Vec<(u64, u64, String)> = (c.failures.iter())
            .map(|f| (f.location.line, f.location.column, f.subject.clone()))
            .collect();
        out.sort();
        out
    };
    let (mine, theirs) = (places(again), places(recorded));
    if mine != theirs {
        let said = |list: &[(u64, u64, String)]| {
            (list.iter())
                .map(|(line, column, subject)| format!("{line}:{column} {subject}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "the evidence gives the failures [{}], the record [{}]",
            said(&mine),
            said(&theirs)
        ));
    }
    let refused = |c: &Check| {
        (c.inconclusive.as_ref()).map(|i| (i.location.line, i.location.column, i.reason.clone()))
    };
    if recorded.outcome != again.outcome || refused(recorded) != refused(again) {
        return Err(format!(
            "the evidence gives {:?}{}, the record says {:?}",
            again.outcome,
            (again.inconclusive.as_ref())
                .map(|i| format!(" ({})", i.reason))
                .unwrap_or_default(),
            recorded.outcome
        ));
    }
    Ok(())
}

/// The recorded expectations against those evaluated again, one by one.
fn same_expectations(
    recorded: &[Evaluated],
    again: &[Evaluated],
    step: &Step,
) -> Result<(), String> {
    let file = step.origin.file.display();
    let held = |e: &Evaluated| match &e.failure {
        None => "held".to_string(),
        Some(f) => format!("did not hold ({f})"),
    };
    for (i, mine) in again.iter().enumerate() {
        let at = format!(
            "{file}:{}:{} ({} {})",
            mine.line, mine.column, mine.subject, mine.keyword
        );
        let Some(theirs) = recorded.get(i) else {
            return Err(format!("{at} was evaluated again but is not in the record"));
        };
        if (theirs.line, theirs.column, &theirs.subject, &theirs.keyword)
            != (mine.line, mine.column, &mine.subject, &mine.keyword)
        {
            return Err(format!(
                "{at} is evaluated here, but the record has {}:{} ({} {}) in its place",
                theirs.line, theirs.column, theirs.subject, theirs.keyword
            ));
        }
        if theirs.argument != mine.argument {
            return Err(format!(
                "{at}: its argument fills in as {}, the record says {}",
                mine.argument, theirs.argument
            ));
        }
        if theirs.actual != mine.actual {
            return Err(format!(
                "{at}: the recorded answer gives the actual value(s) {}, the record says {}",
                Value::from(mine.actual.clone()),
                Value::from(theirs.actual.clone())
            ));
        }
        if theirs.failure != mine.failure {
            return Err(format!(
                "{at}: on the recorded answer it {}, but the record says it {}",
                held(mine),
                held(theirs)
            ));
        }
    }
    if let Some(extra) = recorded.get(again.len()) {
        return Err(format!(
            "the record has an expectation at {file}:{}:{} ({}) that the case does not evaluate",
            extra.line, extra.column, extra.subject
        ));
    }
    Ok(())
}

/// A KeyPackage's `verification` depends on the clock (its lifetime must cover "now"): decoded
/// again later, a KeyPackage valid during the run reads as expired. Where the verification
/// decoded again differs from the recorded one only by the lifetime check, and the recorded one
/// is what that check gave at some moment of the run, the recorded one stands.
fn reconcile_clock(recorded: &Value, again: &mut Value, run: &Run) {
    match (recorded, again) {
        (Value::Object(r), Value::Object(a)) => {
            if let (Some(Value::String(was)), Some(Value::String(is))) =
                (r.get("verification"), a.get("verification"))
            {
                let lifetime = (a.get("leaf_node"))
                    .and_then(|l| l.get("lifetime"))
                    .and_then(|l| {
                        Some((
                            l.get("not_before")?.as_u64()?,
                            l.get("not_after")?.as_u64()?,
                        ))
                    });
                if was != is && lifetime.is_some_and(|l| same_but_clock(was, is, l, run)) {
                    a.insert("verification".into(), Value::String(was.clone()));
                }
            }
            for (key, value) in a.iter_mut() {
                if let Some(r) = r.get(key) {
                    reconcile_clock(r, value, run);
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => {
            for (r, a) in r.iter().zip(a.iter_mut()) {
                reconcile_clock(r, a, run);
            }
        }
        _ => {}
    }
}

/// Whether verification results `was` (during the run) and `is` (now) differ only because
/// the clock moved, for a KeyPackage of lifetime (not_before, not_after), in seconds.
fn same_but_clock(was: &str, is: &str, (not_before, not_after): (u64, u64), run: &Run) -> bool {
    let (from, to) = (run.started_ms / 1000, run.finished_ms / 1000 + 1);
    // openmls: valid from not_before, up to but excluding not_after.
    let covers = |t: u64| not_before <= t && t < not_after;
    // Only the lifetime check can differ, so the one now must be valid or a lifetime error,
    // and the lifetime check comes last: every other check passed.
    if is != "valid" && lifetime_error(is).is_none() {
        return false;
    }
    match (was, lifetime_error(was)) {
        ("valid", _) => not_before <= to && not_after > from,
        (_, Some(now)) => (from..=to).contains(&now) && !covers(now),
        _ => false,
    }
}

/// The `now` of openmls's lifetime error (`Lifetime is in the past: not_after=N, now=M.`).
fn lifetime_error(text: &str) -> Option<u64> {
    let rest = text
        .strip_prefix("Lifetime is in the past: ")
        .or_else(|| text.strip_prefix("Lifetime is in the future: "))?;
    rest.split("now=")
        .nth(1)?
        .trim_end_matches('.')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_lifetime_verdict_stands_when_only_the_clock_moved() {
        let run = Run {
            profiles: &[],
            snapshot_suffix: None,
            started_ms: 1_000_000,
            finished_ms: 1_060_000,
        };
        let kp = |verification: &str, not_before: u64, not_after: u64| {
            serde_json::json!({"verification": verification,
                "leaf_node": {"lifetime": {"not_before": not_before, "not_after": not_after}}})
        };
        let expired_now = "Lifetime is in the past: not_after=2000, now=9999.";
        // Valid during the run, expired now.
        let mut again = kp(expired_now, 900, 2000);
        reconcile_clock(&kp("valid", 900, 2000), &mut again, &run);
        assert_eq!(again, kp("valid", 900, 2000));
        // Expired during the run already (the expired-KeyPackage fault): the record stands.
        let was = "Lifetime is in the past: not_after=500, now=1030.";
        let mut again = kp(expired_now, 100, 500);
        reconcile_clock(&kp(was, 100, 500), &mut again, &run);
        assert_eq!(again, kp(was, 100, 500));
        // Claimed valid, but its lifetime never covered the run: no.
        let mut again = kp(expired_now, 100, 500);
        reconcile_clock(&kp("valid", 100, 500), &mut again, &run);
        assert_eq!(again, kp(expired_now, 100, 500));
        // A broken signature is not the clock.
        let bad = "The key package signature is not valid.";
        let mut again = kp(bad, 900, 2000);
        reconcile_clock(&kp("valid", 900, 2000), &mut again, &run);
        assert_eq!(again, kp(bad, 900, 2000));
    }
}
