//! What people read: the failure message of a case (requirement, expected against actual at
//! the line of the case, transcript), and the rendering of requests and responses in it.

use crate::case::node::Pos;
use crate::case::{snippet, Case};
use crate::drivers::link_b::{ConnectionFailure, Request, Response};
use crate::runner::events::{CaseRecord, Verdict};
use serde_json::Value;
use std::fmt::Write;

/// Bodies longer than this are shown cut, in transcripts.
const SHOWN_BYTES: usize = 512;

pub fn render_body(value: &Value) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|_| value.to_string())
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

pub fn render_request(request: &Request, message_type: Option<&str>) -> String {
    let mut out = format!("→ {} {}\n", request.method, request.url);
    for (name, value) in &request.headers {
        let _ = writeln!(out, "  {name}: {value}");
    }
    if !request.client_certificate {
        out.push_str("  (no client certificate)\n");
    }
    if request.method != reqwest::Method::GET {
        let body = match message_type.map(|t| mimi_wire::registry::decode_as(t, &request.body)) {
            Some(Ok(v)) => format!(
                "{}:\n{}",
                message_type.unwrap_or_default(),
                indent(&render_body(&v))
            ),
            _ => raw_body(&request.body),
        };
        out.push_str(&indent(&body));
    }
    out
}

pub fn render_response(
    outcome: &Result<Response, ConnectionFailure>,
    decoded: Option<&Result<(Value, &str), String>>,
) -> String {
    match outcome {
        Err(f) => format!("← no complete response: {}\n", f.message),
        Ok(r) => {
            let mut out = format!("← {} ({} ms)\n", r.status, r.elapsed.as_millis());
            if let Some(ct) = r.headers.get("content-type").and_then(|v| v.to_str().ok()) {
                let _ = writeln!(out, "  content-type: {ct}");
            }
            let body = match decoded {
                Some(Ok((v, t))) => format!("{t}:\n{}", indent(&render_body(v))),
                Some(Err(e)) => format!("{}\n({e})", raw_body(&r.body)),
                None => raw_body(&r.body),
            };
            out.push_str(&indent(&body));
            out
        }
    }
}

/// The message a non-passing case shows: verdict, requirements, failures at their lines,
/// the transcript.
pub fn failure_message(case: &Case, record: &CaseRecord) -> String {
    let mut out = String::new();
    let verdict = match record.verdict {
        Verdict::Fail => "FAIL",
        Verdict::Warn => "WARN (SHOULD)",
        Verdict::Info => "INFO (derived)",
        Verdict::Error => "ERROR",
        Verdict::Unsupported => "UNSUPPORTED",
        Verdict::NotRun => "NOT RUN",
        Verdict::Pass => "PASS",
    };
    let _ = writeln!(out, "{verdict}: {} [{}]", record.title, record.provider);
    for r in &record.requirements {
        let _ = writeln!(
            out,
            "  {} ({}, {}): {}",
            r.id,
            r.level.name(),
            r.citation(),
            r.text
        );
    }
    if record.failures.is_empty() && !record.message.is_empty() {
        let _ = writeln!(out, "\n{}", record.message);
    }
    for f in &record.failures {
        let _ = writeln!(
            out,
            "\n{} in step {:?}: {}: {}",
            f.location, f.step, f.subject, f.message
        );
        let s = snippet(
            &case.source,
            Pos {
                line: f.line,
                column: f.column,
            },
        );
        if !s.is_empty() {
            let _ = writeln!(out, "{s}");
        }
    }
    if !record.transcript.is_empty() {
        out.push_str("\ntranscript:\n");
        out.push_str(&transcript(record));
    }
    out
}

pub fn transcript(record: &CaseRecord) -> String {
    let mut out = String::new();
    for e in &record.transcript {
        let attempt = if e.attempt > 1 {
            format!(" (attempt {})", e.attempt)
        } else {
            String::new()
        };
        let _ = writeln!(out, "--- step {:?}{attempt}", e.step);
        out.push_str(&e.request);
        out.push_str(&e.response);
    }
    out
}
