//! `reports/junit.xml`: one testsuite per link, one testcase per case; the failure message with
//! the requirements whose expectations failed and expected/actual, the transcript in
//! system-out, properties for the verdict of the case and of each requirement, requirement
//! words, draft and provider. An inconclusive case is a skipped testcase with its reason and
//! remedy (a failure with --strict). quick-junit escapes what a provider may send back (control
//! bytes, `]]>`), so the file stays valid XML.

use crate::report::console::{summary, transcript};
use crate::runner::events::{CaseRecord, Verdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::path::Path;

fn status(r: &CaseRecord, strict: bool) -> TestCaseStatus {
    let known = r
        .expectation
        .as_ref()
        .is_some_and(|e| e.label.starts_with("known"));
    match r.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Unsupported => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!(
                "unsupported: {}",
                r.error.as_deref().unwrap_or_default()
            ));
            s
        }
        Verdict::NotRun => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(first_line(r.error.as_deref().unwrap_or("not run")));
            s
        }
        Verdict::Inconclusive if !strict || known => {
            let mut s = TestCaseStatus::skipped();
            if let Some((_, why)) = r.inconclusive() {
                s.set_message(format!(
                    "inconclusive: {} (to make it conclusive: {})",
                    why.reason, why.remedy
                ));
            }
            s.set_description(summary(r));
            s
        }
        // A known failure is shown as one (its property), but does not fail the report.
        v if v.fails(strict) && !known => {
            let kind = if v == Verdict::Error {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            };
            let message = summary(r);
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(first_line(&message));
            s.set_type(v.name());
            s.set_description(message);
            s
        }
        // A warning or informational finding passes the run; its message goes to system-err.
        _ => TestCaseStatus::success(),
    }
}

pub fn report(records: &[CaseRecord], strict: bool) -> Report {
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for r in records {
        let link = r.links.first().cloned().unwrap_or_default();
        let suite = suites
            .entry(link.clone())
            .or_insert_with(|| TestSuite::new(format!("link {link}")));
        let mut case = TestCase::new(r.id.clone(), status(r, strict));
        case.set_classname(format!("mimi.{link}"));
        case.set_time(r.duration);
        case.set_system_out(transcript(r));
        if matches!(r.verdict, Verdict::Warn | Verdict::Info) && !r.verdict.fails(strict) {
            case.set_system_err(summary(r));
        }
        case.add_property(Property::new("verdict", r.verdict.name()));
        if let Some(expectation) = &r.expectation {
            case.add_property(Property::new("expectation", expectation.to_string()));
        }
        if let Some((check, why)) = r.inconclusive() {
            case.add_property(Property::new("inconclusive.step", check.step.clone()));
            case.add_property(Property::new("inconclusive.reason", why.reason.clone()));
            case.add_property(Property::new("inconclusive.remedy", why.remedy.clone()));
        }
        case.add_property(Property::new(
            "requirements",
            r.requirements
                .iter()
                .map(|q| q.requirement.id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ));
        for q in &r.requirements {
            let (id, requirement) = (&q.requirement.id, &q.requirement);
            case.add_property(Property::new(format!("verdict.{id}"), q.verdict.name()));
            case.add_property(Property::new(
                format!("requirement.{id}"),
                format!(
                    "{} {}: {}",
                    requirement.level.name(),
                    requirement.citation(),
                    requirement.text
                ),
            ));
        }
        case.add_property(Property::new("draft", r.draft.clone()));
        case.add_property(Property::new("provider", r.provider.clone()));
        suite.add_test_case(case);
    }
    let mut report = Report::new("mimi-conformance");
    report.add_test_suites(suites.into_values());
    report
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

pub fn write(path: &Path, records: &[CaseRecord], strict: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(path)?;
    report(records, strict).serialize(std::io::BufWriter::new(file))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::record;
    use crate::runner::events::{CheckOutcome, RequirementVerdict};

    /// What a hostile or broken provider can put in a response ends up in messages and
    /// transcripts; the report must stay well-formed XML.
    #[test]
    fn hostile_bytes_keep_the_report_valid() {
        let nasty = "ansi \u{1b}[31mred\u{1b}[0m nul \0 cdata ]]> lt < amp & bell \u{7}";
        let mut failing = record(nasty, Verdict::Fail);
        failing.checks[0].outcome = CheckOutcome::Fail;
        failing.checks[0].inconclusive = None;
        failing.requirements[0].verdict = RequirementVerdict::Fail;
        let xml = report(&[failing], false).to_string().unwrap();
        assert!(
            !xml.contains('\0') && !xml.contains('\u{1b}'),
            "control bytes are escaped or dropped"
        );
        let parsed = Report::deserialize_from_str(&xml).expect("the report parses back");
        assert_eq!(parsed.failures, 1);
    }

    /// Inconclusive is its own verdict: skipped with its reason and remedy, never a pass, and a
    /// failure with --strict.
    #[test]
    fn an_inconclusive_case_is_skipped_with_its_reason_or_fails_when_strict() {
        let inconclusive = record("noConsent", Verdict::Inconclusive);
        let xml = report(std::slice::from_ref(&inconclusive), false)
            .to_string()
            .unwrap();
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!((parsed.failures, parsed.tests), (0, 1));
        let case = &parsed.test_suites[0].test_cases[0];
        assert!(
            matches!(case.status, TestCaseStatus::Skipped { .. }),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="verdict" value="inconclusive""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="verdict.KM-11" value="inconclusive""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="verdict.KM-12" value="not-reached""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="inconclusive.remedy" value="noConsent""#),
            "{xml}"
        );
        let strict = report(&[inconclusive], true).to_string().unwrap();
        assert_eq!(Report::deserialize_from_str(&strict).unwrap().failures, 1);
    }
}
