//! What people read: a case's grade, the requirements whose expectations failed (level, draft
//! section, sentence), each failed expectation at its line in the case with expected against
//! actual, why a case is inconclusive and what would make it conclusive, and the transcript of
//! its exchanges, decoded.

use crate::case::snippet_of_line;
use crate::runner::events::{
    AssertionFailure, Body, CaseRecord, Exchange, Failure, Header, HttpRequest, HttpResponse,
    Interaction, RequirementVerdict, Verdict,
};
use crate::yaml::Pos;
use serde_json::Value;
use std::fmt::Write;

/// Bodies longer than this are shown cut, in transcripts.
const SHOWN_BYTES: usize = 512;

/// A decoded body as YAML, as snapshots hold it.
pub fn render_body(value: &Value) -> String {
    crate::runner::snapshot::yaml(value)
}

fn raw_body(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty body)".into();
    }
    let shown = &bytes[..bytes.len().min(SHOWN_BYTES)];
    let cut = if bytes.len() > SHOWN_BYTES {
        format!(" … ({} bytes in all)", bytes.len())
    } else {
        String::new()
    };
    match std::str::from_utf8(shown) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            format!("{text}{cut}")
        }
        _ => format!("hex: {}{cut}", hex::encode(shown)),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn body(b: &Body) -> String {
    match (b.decoded(), b.message_type()) {
        (Some(value), Some(t)) => {
            // A directory with entries the drafts do not name says so.
            let note = (t == mimi_wire::registry::DIRECTORY)
                .then(|| mimi_wire::messages::directory::Directory::parse(&b.bytes).ok())
                .flatten()
                .and_then(|d| d.note())
                .map(|n| format!("info: {n}\n"))
                .unwrap_or_default();
            format!("{note}{t}:\n{}", indent(&render_body(value)))
        }
        _ => match b.decode_error() {
            Some(e) => format!("{}\n({e})", raw_body(&b.bytes)),
            None => raw_body(&b.bytes),
        },
    }
}

fn headers(out: &mut String, headers: &[Header]) {
    for h in headers {
        let _ = writeln!(out, "  {}: {}", h.name, h.value);
    }
}

fn request(r: &HttpRequest, link_b: bool) -> String {
    let mut out = format!("→ {} {}\n", r.method, r.url);
    headers(&mut out, &r.headers);
    if link_b && !r.client_certificate {
        out.push_str("  (no client certificate)\n");
    }
    if r.method != "GET" {
        out.push_str(&indent(&body(&r.body)));
    }
    out
}

fn response(r: Option<&HttpResponse>, failure: Option<&Failure>, millis: u64) -> String {
    match (r, failure) {
        (Some(r), _) => {
            let mut out = format!("← {} ({millis} ms)\n", r.status);
            if let Some(ct) = r.headers.iter().find(|h| h.name == "content-type") {
                let _ = writeln!(out, "  content-type: {}", ct.value);
            }
            out.push_str(&indent(&body(&r.body)));
            out
        }
        (None, Some(f)) => format!("← no complete response: {}\n", f.message),
        (None, None) => "← no response\n".into(),
    }
}

/// One attempt of a step, as the transcript shows it.
pub fn exchange(e: &Exchange) -> String {
    let attempt = if e.attempt > 1 {
        format!(" (attempt {})", e.attempt)
    } else {
        String::new()
    };
    let mut out = format!("--- step {:?}{attempt}\n", e.step);
    match &e.interaction {
        Interaction::LinkB {
            request: r,
            response: answer,
            failure,
        } => {
            out.push_str(&request(r, true));
            out.push_str(&response(answer.as_ref(), failure.as_ref(), e.millis));
        }
        Interaction::Driver {
            operation,
            request: r,
            response: answer,
            failure,
        } => {
            let _ = writeln!(out, "(driver API: {operation})");
            out.push_str(&request(r, false));
            out.push_str(&response(answer.as_ref(), failure.as_ref(), e.millis));
        }
        Interaction::Received {
            endpoint,
            key,
            request,
            failure,
        } => match (request, failure) {
            (Some(r), _) => {
                let _ = writeln!(out, "← received {endpoint} for {key}");
                headers(&mut out, &r.headers);
                let _ = writeln!(
                    out,
                    "  (client certificate: {:?}; {} bytes; the harness answered {})",
                    r.client_certificate,
                    r.body.bytes.len(),
                    r.answered
                );
                out.push_str(&indent(&body(&r.body)));
            }
            (None, f) => {
                let _ = writeln!(
                    out,
                    "(waiting for {endpoint} at the harness, for {key})\n← {}",
                    f.as_ref().map_or("nothing", |f| f.message.as_str())
                );
            }
        },
        Interaction::Scripted {
            endpoint,
            key,
            status,
            headers: extra,
            times,
        } => {
            let _ = writeln!(
                out,
                "(the harness answers the next {times} {endpoint} request(s) for {key} with {status})"
            );
            headers(&mut out, extra);
        }
        Interaction::Assert { values } => {
            out.push_str("(assert: no traffic)\n");
            for v in values {
                let _ = writeln!(out, "  {} = {}", v.subject, crate::expect::show(&v.value));
            }
        }
        Interaction::Mls {
            client,
            operation,
            args,
            result,
        } => {
            let args = args.as_ref().map(|a| format!(" {a}")).unwrap_or_default();
            let _ = writeln!(out, "{client}: {operation}{args}");
            let _ = write!(out, "← ({} ms)\n{}", e.millis, indent(&render_body(result)));
        }
    }
    out
}

pub fn transcript(record: &CaseRecord) -> String {
    record.transcript.iter().map(exchange).collect()
}

/// The grade as the first line shows it.
fn label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Fail => "FAIL",
        Verdict::Warn => "WARN (SHOULD)",
        Verdict::Info => "INFO (derived)",
        Verdict::Inconclusive => "INCONCLUSIVE",
        Verdict::Error => "ERROR",
        Verdict::Unsupported => "UNSUPPORTED",
        Verdict::NotRun => "NOT RUN",
        Verdict::Pass => "PASS",
    }
}

fn failure(out: &mut String, f: &AssertionFailure) {
    let l = &f.location;
    let _ = writeln!(
        out,
        "\n{}:{}:{} in step {:?}: {}: {}",
        l.file, l.line, l.column, f.step, f.subject, f.message
    );
    if l.line > 0 {
        let pos = Pos {
            line: l.line,
            column: l.column,
        };
        let _ = writeln!(out, "{}", snippet_of_line(&l.source_line, pos));
    }
}

/// Why a case did not pass, without its transcript: the grade, the requirements whose
/// expectations failed, the error or the inconclusive precondition, and each failed
/// expectation at its line.
pub fn summary(record: &CaseRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} [{}]",
        label(record.verdict),
        record.title,
        record.provider
    );
    for r in record.broken() {
        let _ = writeln!(out, "  {}", r.requirement.describe());
        for blame in &r.blame {
            let _ = writeln!(out, "    {blame}");
        }
    }
    if let Some(error) = &record.error {
        let _ = writeln!(out, "\n{error}");
    }
    if let Some((check, why)) = record.inconclusive() {
        let not_judged: Vec<&str> = record
            .requirements
            .iter()
            .filter(|r| r.verdict == RequirementVerdict::Inconclusive)
            .map(|r| r.requirement.id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "\nin step {:?}: {}\nto make it conclusive: {}\nnot judged: {}\n\nwhat the provider did instead of what the step needs:",
            check.step,
            why.reason,
            why.remedy,
            if not_judged.is_empty() {
                "nothing".to_string()
            } else {
                not_judged.join(", ")
            }
        );
        check.failures.iter().for_each(|f| failure(&mut out, f));
    }
    for f in record.failed_checks().flat_map(|c| &c.failures) {
        failure(&mut out, f);
    }
    observed(&mut out, record);
    out
}

/// What the observer found in the case's link-B traffic.
fn observed(out: &mut String, record: &CaseRecord) {
    if record.observed.is_empty() {
        return;
    }
    out.push_str(
        "
seen on link B by the observer:
",
    );
    for f in &record.observed {
        let _ = writeln!(
            out,
            "  {} broken by {} (exchange {}, {}): {}",
            f.requirement,
            f.provider,
            f.exchange,
            f.endpoint.as_deref().unwrap_or("unclassified"),
            f.message
        );
    }
}

/// The message a case that did not pass shows: its summary, then its transcript.
pub fn failure_message(record: &CaseRecord) -> String {
    let mut out = summary(record);
    if !record.transcript.is_empty() {
        out.push_str("\ntranscript:\n");
        out.push_str(&transcript(record));
    }
    out
}
