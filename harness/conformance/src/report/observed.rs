//! What the observer (`crate::observer`) reports: a console line per exchange (stderr), and on
//! exit the reports of `run` where they fit: `junit.xml` with one testcase per requirement the
//! observer checks, graded like a case, `results.json` in the results format with one entry per
//! such requirement (its verdict, its findings, and the exchanges that raised them),
//! `observer.json` with every exchange and finding, and the site. `report::lifecycle` writes
//! them over the observation's life, as it writes a run's.

use crate::catalogue::Catalogue;
use crate::observer::checks::CHECKED;
use crate::observer::{Exchange, Finding, ObserverReport};
use crate::runner::events::{Blame, BlameBasis, RequirementVerdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;
use serde_json::json;
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

/// The requirements the observer reports on: those it checks, and any a finding names.
fn reported_requirements(report: &ObserverReport) -> BTreeSet<&str> {
    CHECKED
        .iter()
        .copied()
        .chain(report.findings.iter().map(|f| f.requirement.as_str()))
        .collect()
}

fn findings_on<'a>(report: &'a ObserverReport, requirement: &str) -> Vec<&'a Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.requirement == requirement)
        .collect()
}

/// The name of a requirement's entry (JUnit test case, results.json case): `B::observed::FAN-51`.
fn entry_id(report: &ObserverReport, requirement: &str) -> String {
    format!("{}::observed::{requirement}", report.link)
}

pub fn junit(report: &ObserverReport, catalogue: &Catalogue, strict: bool) -> Report {
    let mut suite = TestSuite::new(format!("link {} (observed)", report.link));
    for id in reported_requirements(report) {
        let findings = findings_on(report, id);
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
        let mut case = TestCase::new(entry_id(report, id), status);
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

/// One exchange the observer kept, as results.json holds it (`"kind": "observed"`): who sent
/// it to whom, its request and answer with their bodies in hex and decoded, and its findings.
#[derive(Serialize)]
struct ObservedExchange<'a> {
    kind: &'static str,
    /// Its number in observer.json.
    id: u64,
    link: &'a str,
    unix_ms: u64,
    /// From the start of the observation.
    started_ms: u64,
    millis: u64,
    sender: Option<&'a str>,
    client_certificate: &'a [String],
    target: &'a str,
    method: &'a str,
    path: &'a str,
    endpoint: Option<&'a str>,
    key: Option<&'a str>,
    room: Option<&'a str>,
    request: ObservedMessage,
    response: Option<ObservedMessage>,
    status: Option<u16>,
    failure: Option<&'a str>,
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct ObservedMessage {
    headers: Vec<serde_json::Value>,
    size: usize,
    truncated: bool,
    body: serde_json::Value,
}

fn observed_message(m: &crate::observer::Message) -> ObservedMessage {
    ObservedMessage {
        headers: m
            .headers
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
        size: m.size,
        truncated: m.truncated,
        body: json!({
            "bytes": m.hex,
            "message_type": m.decoded_as,
            "decoded": m.decoded,
            "decode_error": m.decode_error,
        }),
    }
}

fn observed_exchange<'a>(report: &ObserverReport, ex: &'a Exchange) -> ObservedExchange<'a> {
    ObservedExchange {
        kind: "observed",
        id: ex.id,
        link: &ex.link,
        unix_ms: ex.unix_ms,
        started_ms: ex.unix_ms.saturating_sub(report.started_unix_ms),
        millis: ex.millis,
        sender: ex.sender.as_deref(),
        client_certificate: &ex.client_certificate,
        target: &ex.target,
        method: &ex.method,
        path: &ex.path,
        endpoint: ex.endpoint.as_deref(),
        key: ex.key.as_deref(),
        room: ex.room.as_deref(),
        request: observed_message(&ex.request),
        response: ex.response.as_ref().map(observed_message),
        status: ex.status,
        failure: ex.failure.as_deref(),
        findings: &ex.findings,
    }
}

/// One results.json case per requirement the observer reports on (as `junit` has a test case
/// per requirement): its verdict, who broke it on which link (`blame`, basis `observed`), its
/// findings (`observed`) and the exchanges kept that raised them (`exchanges`).
pub fn results_cases(
    report: &ObserverReport,
    catalogue: &Catalogue,
    strict: bool,
) -> Vec<serde_json::Value> {
    let providers: Vec<&str> = report.providers.iter().map(|p| p.domain.as_str()).collect();
    let drafts: BTreeSet<&str> = report
        .providers
        .iter()
        .map(|p| crate::observer::ObservedProvider::draft_number(p.draft))
        .collect();
    let drafts: Vec<&str> = drafts.into_iter().collect();
    reported_requirements(report)
        .into_iter()
        .map(|id| {
            let findings = findings_on(report, id);
            let verdict = verdict(catalogue, id, &findings);
            let broken_by: BTreeSet<&str> = findings.iter().map(|f| f.provider.as_str()).collect();
            let blame: Vec<Blame> = broken_by
                .iter()
                .map(|provider| Blame {
                    link: report.link.to_string(),
                    provider: provider.to_string(),
                    role: None,
                    basis: BlameBasis::Observed,
                })
                .collect();
            let raised: BTreeSet<u64> = findings.iter().map(|f| f.exchange).collect();
            let exchanges: Vec<ObservedExchange<'_>> = report
                .exchanges
                .iter()
                .filter(|ex| raised.contains(&ex.id))
                .map(|ex| observed_exchange(report, ex))
                .collect();
            let requirement = catalogue.requirements.get(id);
            let counted = report.finding_counts.get(id).copied().unwrap_or_default();
            let message = if broken_by.is_empty() {
                format!(
                    "{}: nothing broke {id} in {} exchange(s)",
                    verdict.name(),
                    report.exchanges_seen
                )
            } else {
                format!(
                    "{}{}: {id} broken by {} on link {} ({counted} finding(s))",
                    verdict.name(),
                    if fails(verdict, strict) {
                        ""
                    } else {
                        " (does not fail the observation)"
                    },
                    broken_by.iter().copied().collect::<Vec<_>>().join(", "),
                    report.link
                )
            };
            json!({
                "id": entry_id(report, id),
                "title": requirement.map_or_else(
                    || format!("{id}, as the observer checks it"),
                    |q| q.text.clone()
                ),
                "file": "",
                "verdict": verdict.name(),
                "requirements": [id],
                // A requirement the cases' catalogue does not know has no level to report.
                "requirement_verdicts": requirement.map_or_else(Vec::new, |q| vec![json!({
                    "id": id,
                    "level": q.level.name(),
                    "citation": q.citation(),
                    "verdict": verdict.name(),
                    "blame": blame,
                })]),
                "links": [report.link],
                "provider": providers.join(","),
                "draft": drafts.join(","),
                "run": "",
                "roles": {},
                "started_unix_ms": report.started_unix_ms,
                "duration_ms": report.finished_unix_ms.saturating_sub(report.started_unix_ms),
                "retried": [],
                "expectation": null,
                "error": null,
                "inconclusive": null,
                "message": message,
                "checks": [],
                "exchanges": exchanges,
                "observed": findings,
            })
        })
        .collect()
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
