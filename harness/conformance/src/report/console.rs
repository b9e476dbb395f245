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

/// The body of a refusal that explains itself in words (a 4xx or 5xx labelled text, problem+json,
/// or unlabelled and printable): shown as text, never decoded as a MIMI structure.
pub fn error_text(response: &Response) -> Option<String> {
    if response.status < 400 || response.body.is_empty() {
        return None;
    }
    let content_type = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let textual = content_type.starts_with("text/")
        || content_type.starts_with("application/problem+json")
        || (content_type.is_empty() && !raw_body(&response.body).starts_with("hex: "));
    let text = std::str::from_utf8(&response.body).ok()?;
    textual.then(|| text.trim().to_string())
}

pub fn render_response(
    outcome: &Result<Response, ConnectionFailure>,
    decoded: Option<&Result<(Value, &str), String>>,
) -> String {
    match outcome {
        Err(f) => format!("← no response: {}\n", f.message),
        Ok(r) => {
            let mut out = format!("← {} ({} ms)\n", r.status, r.elapsed.as_millis());
            if let Some(ct) = r.headers.get("content-type").and_then(|v| v.to_str().ok()) {
                let _ = writeln!(out, "  content-type: {ct}");
            }
            let body = match decoded {
                _ if error_text(r).is_some() => format!("text: {}", raw_body(&r.body)),
                Some(Ok((v, t))) => {
                    let note = (*t == mimi_wire::registry::DIRECTORY)
                        .then(|| mimi_wire::messages::directory::Directory::parse(&r.body).ok())
                        .flatten()
                        .and_then(|d| d.note())
                        .map(|n| format!("info: {n}\n"))
                        .unwrap_or_default();
                    format!("{note}{t}:\n{}", indent(&render_body(v)))
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: Option<&str>, body: &[u8]) -> Response {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert("content-type", ct.parse().unwrap());
        }
        Response {
            status,
            headers,
            body: body.to_vec(),
            elapsed: Default::default(),
        }
    }

    #[test]
    fn a_refusal_in_words_is_shown_as_text_not_decoded() {
        let text = response(400, Some("text/plain; charset=utf-8"), b"malformed body");
        assert_eq!(error_text(&text).as_deref(), Some("malformed body"));
        let problem = br#"{"title": "Forbidden", "status": 403}"#;
        let json = response(403, Some("application/problem+json"), problem);
        assert!(error_text(&json).unwrap().contains("Forbidden"));
        let unlabelled = response(404, None, b"no such room");
        assert_eq!(error_text(&unlabelled).as_deref(), Some("no such room"));
        let shown = render_response(&Ok(text), Some(&Err("not a valid X".into())));
        assert!(shown.contains("text: malformed body"), "{shown}");
        assert!(!shown.contains("not a valid X"), "{shown}");
    }

    #[test]
    fn a_mimi_body_is_never_taken_for_words() {
        // A refusal may carry the endpoint's own response (a notAllowed UpdateRoomResponse).
        let binary = response(409, Some("application/octet-stream"), &[2, 0, 0xff]);
        assert_eq!(error_text(&binary), None);
        let unlabelled = response(403, None, &[2, 0, 0]);
        assert_eq!(error_text(&unlabelled), None);
        assert_eq!(error_text(&response(200, Some("text/plain"), b"ok")), None);
    }
}
