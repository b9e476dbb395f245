//! What the observer (`crate::observer`) reports: a console line per exchange (stderr), and on
//! exit the reports of `run` where they fit: `junit.xml` with one testcase per requirement the
//! observer checks, graded like a case, `observer.json` with every exchange and finding, and
//! the site.

use crate::catalogue::Catalogue;
use crate::observer::checks::CHECKED;
use crate::observer::{Exchange, Finding, ObserverReport};
use crate::runner::events::RequirementVerdict;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::BTreeSet;
use std::path::Path;

/// Characters of a provider's text shown on the console (control bytes are escaped).
const MAX_CONSOLE_TEXT: usize = 160;

fn printable(text: &str) -> String {
    let escaped: String = text.escape_debug().collect();
    let mut out: String = escaped.chars().take(MAX_CONSOLE_TEXT).collect();
    if out.len() < escaped.len() {
        out.push('…');
    }
    out
}

/// `B #12 a.example → b.example POST notify mimi://a.example/r/x: 201 (3 ms)`, then a line per
/// finding.
pub fn console_line(ex: &Exchange) -> String {
    let outcome = match (ex.status, &ex.failure) {
        (Some(status), _) => status.to_string(),
        (None, Some(why)) => format!("no answer ({})", printable(why)),
        (None, None) => "no answer".into(),
    };
    let mut line = format!(
        "{} #{} {} → {} {} {}{}: {outcome} ({} ms)",
        ex.link,
        ex.id,
        ex.sender.as_deref().unwrap_or("(unknown)"),
        ex.target,
        ex.method,
        ex.endpoint.as_deref().unwrap_or("(unclassified)"),
        ex.key
            .as_deref()
            .map(|k| format!(" {}", printable(k)))
            .unwrap_or_else(|| format!(" {}", printable(&ex.path))),
        ex.millis
    );
    for f in &ex.findings {
        line.push_str(&format!(
            "\n    {} broken by {}: {}",
            f.requirement,
            f.provider,
            printable(&f.message)
        ));
    }
    line
}

/// The verdict of one requirement over what the observer saw.
pub fn verdict(
    catalogue: &Catalogue,
    requirement: &str,
    findings: &[&Finding],
) -> RequirementVerdict {
    if findings.is_empty() {
        return RequirementVerdict::Pass;
    }
    catalogue
        .requirements
        .get(requirement)
        .map(|r| RequirementVerdict::broken(r.level))
        .unwrap_or(RequirementVerdict::Fail)
}

/// Whether a requirement's verdict fails the observation, as a case's would fail a run.
pub fn fails(verdict: RequirementVerdict, strict: bool) -> bool {
    match verdict {
        RequirementVerdict::Fail => true,
        RequirementVerdict::Warn => strict,
        _ => false,
    }
}

pub fn junit(report: &ObserverReport, catalogue: &Catalogue, strict: bool) -> Report {
    let mut suite = TestSuite::new(format!("link {} (observed)", report.link));
    let ids: BTreeSet<&str> = CHECKED
        .iter()
        .copied()
        .chain(report.findings.iter().map(|f| f.requirement.as_str()))
        .collect();
    for id in ids {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.requirement == id)
            .collect();
        let verdict = verdict(catalogue, id, &findings);
        let providers: BTreeSet<&str> = findings.iter().map(|f| f.provider.as_str()).collect();
        let text: Vec<String> = findings
            .iter()
            .map(|f| {
                format!(
                    "exchange {} ({}): {} broke it: {}",
                    f.exchange,
                    f.endpoint.as_deref().unwrap_or("-"),
                    f.provider,
                    f.message
                )
            })
            .collect();
        let status = if fails(verdict, strict) {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "{id} broken by {}",
                providers.iter().copied().collect::<Vec<_>>().join(", ")
            ));
            s.set_type(verdict.name());
            s.set_description(text.join("\n"));
            s
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(format!("{}::observed::{id}", report.link), status);
        case.set_classname(format!("mimi.{}.observed", report.link));
        if !text.is_empty() && !fails(verdict, strict) {
            case.set_system_err(text.join("\n"));
        }
        case.add_property(Property::new("verdict", verdict.name()));
        case.add_property(Property::new("requirements", id));
        if let Some(q) = catalogue.requirements.get(id) {
            case.add_property(Property::new(
                format!("requirement.{id}"),
                format!("{} {}: {}", q.level.name(), q.citation(), q.text),
            ));
        }
        case.add_property(Property::new(
            "provider",
            providers.into_iter().collect::<Vec<_>>().join(","),
        ));
        case.add_property(Property::new(
            "findings",
            report
                .finding_counts
                .get(id)
                .copied()
                .unwrap_or_default()
                .to_string(),
        ));
        suite.add_test_case(case);
    }
    let mut junit = Report::new("mimi-conformance observe");
    junit.add_test_suite(suite);
    junit
}

/// Whether what the observer saw fails a run (a broken MUST, or a SHOULD with `strict`).
pub fn observation_fails(report: &ObserverReport, catalogue: &Catalogue, strict: bool) -> bool {
    report
        .findings
        .iter()
        .any(|f| fails(verdict(catalogue, &f.requirement, &[f]), strict))
}

/// Writes `junit.xml`, `observer.json` and the HTML site (`index.html`) into `dir`.
pub fn write(
    dir: &Path,
    report: &ObserverReport,
    catalogue: &Catalogue,
    strict: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::create(dir.join("junit.xml"))?;
    junit(report, catalogue, strict).serialize(std::io::BufWriter::new(file))?;
    write_json(&dir.join("observer.json"), report)?;
    crate::report::html::observe::write(dir, report, catalogue)
}

/// Writes `observer.json`: every exchange kept, decoded, and every finding.
pub fn write_json(path: &Path, report: &ObserverReport) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(path)?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(file), report)?;
    Ok(())
}
