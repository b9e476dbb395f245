//! The libtest adapter: one libtest-mimic trial per case, named `<link>::<path>`. A trial
//! fails when its case fails the run; unsupported and (without --strict) inconclusive cases are
//! ignored with their reason; warnings, informational findings and inconclusive cases are told
//! on stderr, since libtest can only say "ok" or "ignored" for them.

use super::console;
use crate::case::Case;
use crate::runner::events::{CaseRecord, Verdict};
use crate::runner::{not_run, run_case, settle, Conclusion, Session};
use libtest_mimic::{Completion, Failed, Trial};
use std::sync::Arc;

pub fn trials(cases: Vec<Case>, session: Arc<Session>) -> Vec<Trial> {
    cases
        .into_iter()
        .map(|case| {
            let session = session.clone();
            Trial::ignorable_test(case.id.clone(), move || {
                // A stopping run (a signal, --run-timeout) starts no new case.
                let record = match crate::run_control::stopping() {
                    Some(stop) => not_run(&case, &session, &stop.reason()),
                    None => run_case(&case, &session),
                };
                let (record, conclusion) = settle(record, &session);
                outcome(&record, conclusion)
            })
        })
        .collect()
}

fn outcome(record: &CaseRecord, conclusion: Conclusion) -> Result<Completion, Failed> {
    if let Some(used) = &record.expectation {
        eprintln!(
            "{}: {} ({}): {}",
            used.label,
            record.id,
            record.verdict.name(),
            used.reason
        );
    }
    match conclusion {
        Conclusion::Failed { stale: Some(why) } => Err(why.into()),
        Conclusion::Failed { stale: None } => Err(console::failure_message(record).into()),
        Conclusion::Ignored => {
            let why = match record.inconclusive() {
                Some((_, why)) => {
                    eprintln!("inconclusive: {}\n{}", record.id, console::summary(record));
                    why.reason.clone()
                }
                None => record.error.clone().unwrap_or_default(),
            };
            Ok(Completion::ignored_with(format!(
                "{}: {why}",
                record.verdict.name()
            )))
        }
        Conclusion::Passed => {
            if matches!(record.verdict, Verdict::Warn | Verdict::Info) {
                eprintln!(
                    "{}: {}\n{}",
                    record.verdict.name(),
                    record.id,
                    console::failure_message(record)
                );
            }
            Ok(Completion::Completed)
        }
    }
}
