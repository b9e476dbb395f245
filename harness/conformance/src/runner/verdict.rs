//! Verdicts: every expectation is charged to requirements (its `expect`'s `checks`, else its
//! step's, else the case's; an empty list marks a precondition), each requirement gets its own
//! verdict, and the case's verdict comes from the requirements whose expectations failed,
//! never from the strongest one the case cites.

use super::events::{
    AssertionFailure, CaseRecord, Check, CheckOutcome, Event, EventSink, Exchange, Inconclusive,
    Interaction, RequirementResult, RequirementVerdict, Verdict,
};
use crate::case::model::{Action, Step};
use crate::case::Case;
use std::collections::BTreeMap;
use std::time::Instant;

/// The requirement ids a step's expectations are charged to; empty for a precondition, and for
/// an `answer` step, which checks nothing.
pub fn charges(case: &Case, step: &Step) -> Vec<String> {
    if matches!(step.action(), Action::Answer(_)) {
        return Vec::new();
    }
    step.expect
        .as_ref()
        .and_then(|e| e.value.checks.as_ref())
        .or(step.checks.as_ref())
        .unwrap_or(&case.spec.checks)
        .iter()
        .map(|id| id.value.clone())
        .collect()
}

/// Keeps the record of a running case and emits its events as they happen.
pub struct Recorder<'s> {
    pub record: CaseRecord,
    sink: &'s EventSink,
    started: Instant,
    step_index: usize,
    /// Steps that ran to their end (passed, failed or inconclusive), in order.
    pub steps_run: usize,
}

impl<'s> Recorder<'s> {
    pub fn new(record: CaseRecord, sink: &'s EventSink) -> Self {
        sink.emit(Event::CaseStarted { case: &record.id });
        Self {
            record,
            sink,
            started: Instant::now(),
            step_index: 0,
            steps_run: 0,
        }
    }

    pub fn begin_step(&mut self, index: usize) {
        self.step_index = index;
    }

    pub fn end_step(&mut self) {
        self.steps_run = self.step_index + 1;
    }

    /// A later step would build on one whose expectations did not hold.
    pub fn stopped(&self) -> bool {
        self.record
            .checks
            .iter()
            .any(|c| c.outcome != CheckOutcome::Pass)
    }

    /// One attempt of the current step, begun at `started`.
    pub fn exchange(
        &mut self,
        step: &Step,
        attempt: u32,
        started: Instant,
        interaction: Interaction,
    ) {
        let exchange = Exchange {
            step: step.name.clone(),
            step_index: self.step_index,
            attempt,
            started_ms: started.saturating_duration_since(self.started).as_millis() as u64,
            millis: started.elapsed().as_millis() as u64,
            interaction,
        };
        self.sink.emit(Event::Exchange {
            case: &self.record.id,
            exchange: &exchange,
        });
        self.record.transcript.push(exchange);
    }

    /// The expectations of the current step, judged: passed when nothing failed.
    pub fn judged(
        &mut self,
        step: &Step,
        requirements: Vec<String>,
        failures: Vec<AssertionFailure>,
    ) {
        let outcome = if failures.is_empty() {
            CheckOutcome::Pass
        } else {
            CheckOutcome::Fail
        };
        self.check(step, requirements, outcome, failures, None);
    }

    /// The current step's expectations failed, but a refused precondition the case names held.
    pub fn inconclusive(
        &mut self,
        step: &Step,
        requirements: Vec<String>,
        seen: Vec<AssertionFailure>,
        why: Inconclusive,
    ) {
        self.check(
            step,
            requirements,
            CheckOutcome::Inconclusive,
            seen,
            Some(why),
        );
    }

    fn check(
        &mut self,
        step: &Step,
        requirements: Vec<String>,
        outcome: CheckOutcome,
        failures: Vec<AssertionFailure>,
        inconclusive: Option<Inconclusive>,
    ) {
        let check = Check {
            step: step.name.clone(),
            step_index: self.step_index,
            requirements,
            outcome,
            failures,
            inconclusive,
        };
        self.sink.emit(Event::ExpectationChecked {
            case: &self.record.id,
            check: &check,
        });
        self.record.checks.push(check);
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
}

/// Sets the verdict of every requirement of the case, and the case's verdict, from its checks.
pub fn conclude(case: &Case, record: &mut CaseRecord, steps_run: usize, ended: Ended) {
    let inconclusive = record.inconclusive().is_some();
    let unreached = match &ended {
        Ended::Unsupported(_) => RequirementVerdict::Unsupported,
        _ if inconclusive => RequirementVerdict::Inconclusive,
        _ => RequirementVerdict::NotReached,
    };
    // What each step said of each requirement it is charged to.
    let mut said: BTreeMap<&str, Vec<RequirementVerdict>> = BTreeMap::new();
    for (index, step) in case.spec.steps.iter().enumerate() {
        let step = &step.value;
        if index < steps_run && !matches!(ended, Ended::Unsupported(_)) {
            for check in record.checks.iter().filter(|c| c.step_index == index) {
                for id in &check.requirements {
                    let Some(r) = case.requirements.iter().find(|r| r.id == *id) else {
                        continue;
                    };
                    let verdict = match check.outcome {
                        CheckOutcome::Pass => RequirementVerdict::Pass,
                        CheckOutcome::Fail => RequirementVerdict::broken(r.level),
                        CheckOutcome::Inconclusive => RequirementVerdict::Inconclusive,
                    };
                    said.entry(r.id.as_str()).or_default().push(verdict);
                }
            }
        } else {
            for id in charges(case, step) {
                if let Some(r) = case.requirements.iter().find(|r| r.id == id) {
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
        })
        .collect();
    let broken: Vec<RequirementVerdict> = record.broken().map(|r| r.verdict).collect();
    let precondition = record
        .failed_checks()
        .find(|c| c.requirements.is_empty())
        .map(|c| c.step.clone());
    (record.verdict, record.error) = match ended {
        Ended::Unsupported(reason) => (Verdict::Unsupported, Some(reason)),
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
fn combine(said: &[RequirementVerdict]) -> Option<RequirementVerdict> {
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
