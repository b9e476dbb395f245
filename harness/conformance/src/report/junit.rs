//! `reports/junit.xml`: one testsuite per link, one testcase per case; the failure message with
//! requirement and expected/actual, the transcript in system-out, properties for requirement
//! ids, draft and provider. quick-junit escapes what a provider may send back (control bytes,
//! `]]>`), so the file stays valid XML.

use crate::report::console::transcript;
use crate::runner::events::{CaseRecord, Verdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::path::Path;

pub fn report(records: &[CaseRecord], strict: bool) -> Report {
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for r in records {
        let link = r.links.first().cloned().unwrap_or_default();
        let suite = suites
            .entry(link.clone())
            .or_insert_with(|| TestSuite::new(format!("link {link}")));
        let status = match r.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Unsupported => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("unsupported: {}", r.message));
                s
            }
            // A known failure is shown as one (its property), but does not fail the report.
            v if v.fails(strict)
                && !r
                    .expectation
                    .as_deref()
                    .is_some_and(|e| e.starts_with("known")) =>
            {
                let kind = if v == Verdict::Error {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(first_line(&r.message));
                s.set_type(v.name());
                s.set_description(r.message.clone());
                s
            }
            // A warning or informational finding passes the run; its message goes to system-err.
            _ => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(r.id.clone(), status);
        case.set_classname(format!("mimi.{link}"));
        case.set_time(r.duration);
        case.set_system_out(transcript(r));
        if matches!(r.verdict, Verdict::Warn | Verdict::Info) && !r.verdict.fails(strict) {
            case.set_system_err(r.message.clone());
        }
        case.add_property(Property::new("verdict", r.verdict.name()));
        if let Some(expectation) = &r.expectation {
            case.add_property(Property::new("expectation", expectation.clone()));
        }
        case.add_property(Property::new(
            "requirements",
            r.requirements
                .iter()
                .map(|q| q.id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ));
        for q in &r.requirements {
            case.add_property(Property::new(
                format!("requirement.{}", q.id),
                format!("{} {}: {}", q.level.name(), q.citation(), q.text),
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
    use crate::runner::events::{AssertionFailure, ExchangeRecord};

    /// What a hostile or broken provider can put in a response ends up in messages and
    /// transcripts; the report must stay well-formed XML.
    #[test]
    fn hostile_bytes_keep_the_report_valid() {
        let nasty = "ansi \u{1b}[31mred\u{1b}[0m nul \0 cdata ]]> lt < amp & bell \u{7}";
        let record = CaseRecord {
            id: "B::x::y".into(),
            title: nasty.into(),
            file: "cases/B/x/y.yaml".into(),
            links: vec!["B".into()],
            requirements: vec![],
            provider: nasty.into(),
            draft: "06".into(),
            verdict: Verdict::Fail,
            message: nasty.into(),
            failures: vec![AssertionFailure {
                step: nasty.into(),
                location: "x".into(),
                line: 1,
                column: 1,
                subject: "body".into(),
                message: nasty.into(),
                requirement: None,
            }],
            transcript: vec![ExchangeRecord {
                step: "s".into(),
                attempt: 1,
                request: nasty.into(),
                response: nasty.into(),
                status: Some(200),
                millis: 1,
            }],
            retried: vec![],
            expectation: None,
            duration: Default::default(),
        };
        let xml = report(&[record], false).to_string().unwrap();
        assert!(
            !xml.contains('\0') && !xml.contains('\u{1b}'),
            "control bytes are escaped or dropped"
        );
        let parsed = Report::deserialize_from_str(&xml).expect("the report parses back");
        assert_eq!(parsed.failures, 1);
    }
}
