//! Verdicts: every expectation is charged to requirements (its `expect`'s `checks`, else its
//! step's, else the case's; an empty list marks a precondition), each requirement gets its own
//! verdict, and the case's verdict comes from the requirements whose expectations failed,
//! never from the strongest one the case cites.

use super::events::{
    AssertionFailure, CaseRecord, Check, CheckOutcome, Evaluation, Event, EventSink, Exchange,
    Inconclusive, Interaction, RequirementResult, RequirementVerdict, Verdict,
};
use crate::case::model::{Step, StepKind};
use crate::case::Case;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The requirement ids a step's expectations are charged to (resolved at load: the `expect`
/// block's `checks`, else the step's, else the fragment's or the case's); empty for a
/// precondition, and for the steps that check nothing themselves (`answer`, and the groups
/// `parallel` and `use`, whose own steps are charged one by one).
pub fn charges(step: &Step) -> Vec<String> {
    let expect = match &step.kind {
        StepKind::Call(c) => c.outcome.expect.as_ref(),
        StepKind::Driver(d) => d.outcome.expect.as_ref(),
        StepKind::Receive(r) => r.outcome.expect.as_ref(),
        StepKind::Mls(m) => m.outcome.expect.as_ref(),
        StepKind::Assert(_) => None,
        StepKind::Answer(_) | StepKind::Parallel(_) | StepKind::Use(_) => return Vec::new(),
    };
    expect
        .map(|e| &e.charge)
        .unwrap_or(&step.charge)
        .iter()
        .map(|r| r.id.clone())
        .collect()
}

/// Every step of a case's plan, groups' steps included, in the order they are written: a
/// check's and an exchange's `step_index` is a place in this list.
pub fn plan_steps(case: &Case) -> Vec<&Step> {
    let mut steps = Vec::new();
    walk(&case.spec.steps, &mut steps);
    steps
}

/// Every step of a plan, groups' steps included, in the order they are written.
fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
    for step in steps {
        out.push(step);
        match &step.kind {
            StepKind::Parallel(inner) => walk(inner, out),
            StepKind::Use(fragment) => walk(&fragment.steps, out),
            _ => {}
        }
    }
}

/// Where a step stands in its case's plan (`walk` order): the same step, whichever branch or
/// fragment runs it.
#[derive(Clone)]
pub struct StepIndex(Arc<HashMap<usize, usize>>);

impl StepIndex {
    pub fn of(case: &Case) -> Self {
        Self(Arc::new(
            plan_steps(case)
                .iter()
                .enumerate()
                .map(|(index, step)| (*step as *const Step as usize, index))
                .collect(),
        ))
    }

    fn get(&self, step: &Step) -> usize {
        self.0
            .get(&(step as *const Step as usize))
            .copied()
            .unwrap_or(usize::MAX)
    }
}

/// Keeps the record of a running case and emits its events as they happen.
pub struct Recorder<'s> {
    pub record: CaseRecord,
    sink: &'s EventSink,
    started: Instant,
    index: StepIndex,
}

impl<'s> Recorder<'s> {
    pub fn new(case: &Case, record: CaseRecord, sink: &'s EventSink) -> Self {
        sink.emit(Event::CaseStarted { case: &record.id });
        Self {
            record,
            sink,
            started: Instant::now(),
            index: StepIndex::of(case),
        }
    }

    /// A recorder for one branch of a `parallel` group: the same case and clock, a record of
    /// its own, joined to this one's by `absorb` when the group is done.
    pub fn branch(&self) -> Recorder<'s> {
        Recorder {
            record: CaseRecord {
                transcript: Vec::new(),
                checks: Vec::new(),
                retried: Vec::new(),
                ..self.record.clone()
            },
            sink: self.sink,
            started: self.started,
            index: self.index.clone(),
        }
    }

    pub fn absorb(&mut self, branch: Recorder<'_>) {
        self.record.transcript.extend(branch.record.transcript);
        self.record.checks.extend(branch.record.checks);
        self.record.retried.extend(branch.record.retried);
    }

    /// A later step would build on one whose expectations did not hold.
    pub fn stopped(&self) -> bool {
        self.record
            .checks
            .iter()
            .any(|c| c.outcome != CheckOutcome::Pass)
    }

    /// One attempt of the current step, begun at `started`, that took `took`.
    pub fn exchange(
        &mut self,
        step: &Step,
        attempt: u32,
        started: Instant,
        took: Duration,
        interaction: Interaction,
    ) {
        let exchange = Exchange {
            step: step.name.clone(),
            step_index: self.index.get(step),
            attempt,
            started_ms: started.saturating_duration_since(self.started).as_millis() as u64,
            millis: took.as_millis() as u64,
            interaction,
        };
        self.sink.emit(Event::Exchange {
            case: &self.record.id,
            exchange: &exchange,
        });
        self.record.transcript.push(exchange);
    }

    /// The expectations of the current step, judged.
    pub fn judged(&mut self, step: &Step, requirements: Vec<String>, judgement: Judgement) {
        let check = judgement.into_check(step, self.index.get(step), requirements);
        self.sink.emit(Event::ExpectationChecked {
            case: &self.record.id,
            check: &check,
        });
        self.record.checks.push(check);
    }
}

/// What a step's expectations said (or, once they held, its `save` and snapshot).
pub struct Judgement {
    /// What did not hold (for an inconclusive check, what the provider did instead).
    pub failures: Vec<AssertionFailure>,
    /// The refused precondition the case names that held when the expectations failed.
    pub inconclusive: Option<Inconclusive>,
    pub evaluation: Option<Evaluation>,
}

impl Judgement {
    /// The check of the step at `step_index` of its case's plan: passed when nothing failed.
    pub fn into_check(self, step: &Step, step_index: usize, requirements: Vec<String>) -> Check {
        let outcome = match (&self.inconclusive, self.failures.is_empty()) {
            (Some(_), _) => CheckOutcome::Inconclusive,
            (None, true) => CheckOutcome::Pass,
            (None, false) => CheckOutcome::Fail,
        };
        Check {
            step: step.name.clone(),
            step_index,
            requirements,
            outcome,
            failures: self.failures,
            inconclusive: self.inconclusive,
            evaluation: self.evaluation,
        }
    }
}

/// How a case ended, before its verdicts.
pub enum Ended {
    /// Every step ran, or one's expectations failed or were inconclusive and the case stopped.
    Ran,
    /// The harness could not carry the case out.
    Error(String),
    /// The profile does not declare what the case needs.
    Unsupported(String),
    /// The run stopped (a signal, its timeout) before the case was done.
    Stopped(String),
}

/// Sets the verdict of every requirement of the case, and the case's verdict, from its checks.
/// A step with no check did not run to its end: what it is charged to was not reached.
pub fn conclude(case: &Case, record: &mut CaseRecord, ended: Ended) {
    let inconclusive = record.inconclusive().is_some();
    let unreached = match &ended {
        Ended::Unsupported(_) => RequirementVerdict::Unsupported,
        _ if inconclusive => RequirementVerdict::Inconclusive,
        _ => RequirementVerdict::NotReached,
    };
    let unsupported = matches!(ended, Ended::Unsupported(_));
    let steps = plan_steps(case);
    let judged: HashSet<usize> = record.checks.iter().map(|c| c.step_index).collect();
    // What each step said of each requirement it is charged to.
    let mut said: BTreeMap<&str, Vec<RequirementVerdict>> = BTreeMap::new();
    let level = |id: &str| case.requirements.iter().find(|r| r.id == id);
    if !unsupported {
        for check in &record.checks {
            for id in &check.requirements {
                let Some(r) = level(id) else { continue };
                let verdict = match check.outcome {
                    CheckOutcome::Pass => RequirementVerdict::Pass,
                    CheckOutcome::Fail => RequirementVerdict::broken(r.level),
                    CheckOutcome::Inconclusive => RequirementVerdict::Inconclusive,
                };
                said.entry(r.id.as_str()).or_default().push(verdict);
            }
        }
    }
    for (index, step) in steps.iter().enumerate() {
        if unsupported || !judged.contains(&index) {
            for id in charges(step) {
                if let Some(r) = level(&id) {
                    said.entry(r.id.as_str()).or_default().push(unreached);
                }
            }
        }
    }
    record.requirements = case
        .requirements
        .iter()
        .map(|r| RequirementResult {
            requirement: r.clone(),
            verdict: combine(said.get(r.id.as_str()).map(Vec::as_slice).unwrap_or(&[]))
                .unwrap_or(unreached),
            blame: Vec::new(),
        })
        .collect();
    let broken: Vec<RequirementVerdict> = record.broken().map(|r| r.verdict).collect();
    let precondition = record
        .failed_checks()
        .find(|c| c.requirements.is_empty())
        .map(|c| c.step.clone());
    (record.verdict, record.error) = match ended {
        Ended::Unsupported(reason) => (Verdict::Unsupported, Some(reason)),
        Ended::Stopped(why) => (Verdict::NotRun, Some(why)),
        _ if !broken.is_empty() => (grade(&broken), None),
        Ended::Error(error) => (Verdict::Error, Some(error)),
        Ended::Ran => match precondition {
            Some(step) => (
                Verdict::Error,
                Some(format!(
                    "precondition not met in step {step:?}: its expectations check no requirement, so none is blamed"
                )),
            ),
            None if inconclusive => (Verdict::Inconclusive, None),
            None => (Verdict::Pass, None),
        },
    };
}

/// One requirement's verdict from what each expectation charged to it said: broken wins,
/// then inconclusive, then not reached; pass only when every expectation ran and held.
pub fn combine(said: &[RequirementVerdict]) -> Option<RequirementVerdict> {
    let rank = |v: &RequirementVerdict| match v {
        RequirementVerdict::Fail | RequirementVerdict::Warn | RequirementVerdict::Info => 0,
        RequirementVerdict::Inconclusive => 1,
        RequirementVerdict::NotReached => 2,
        RequirementVerdict::Unsupported => 3,
        RequirementVerdict::Pass => 4,
    };
    said.iter().copied().min_by_key(rank)
}

/// The case's grade from the requirements whose expectations failed.
fn grade(broken: &[RequirementVerdict]) -> Verdict {
    if broken.contains(&RequirementVerdict::Fail) {
        Verdict::Fail
    } else if broken.contains(&RequirementVerdict::Warn) {
        Verdict::Warn
    } else {
        Verdict::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_requirement_outweighs_every_other_verdict_and_pass_needs_every_expectation() {
        use RequirementVerdict::*;
        assert_eq!(combine(&[Pass, Warn, NotReached]), Some(Warn));
        assert_eq!(combine(&[Pass, NotReached]), Some(NotReached));
        assert_eq!(
            combine(&[Pass, Inconclusive, NotReached]),
            Some(Inconclusive)
        );
        assert_eq!(combine(&[Pass, Pass]), Some(Pass));
        assert_eq!(combine(&[]), None);
    }

    #[test]
    fn a_should_breach_is_a_warning_whatever_else_the_case_cites() {
        use RequirementVerdict::*;
        assert_eq!(grade(&[Warn]), Verdict::Warn);
        assert_eq!(grade(&[Info, Warn]), Verdict::Warn);
        assert_eq!(grade(&[Info, Fail]), Verdict::Fail);
        assert_eq!(grade(&[Info]), Verdict::Info);
    }
}
