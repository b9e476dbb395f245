//! Builds the typed records of `events` from what the drivers saw: requests, responses,
//! connection failures, requests the harness received, and failed expectations. Nothing here
//! renders; the reporters do.

use super::events::{
    AssertionFailure, Body, Decoding, Failure, FailureKind, Header, HttpRequest, HttpResponse,
    Interaction, Location, ReceivedRequest,
};
use crate::case::model::Origin;
use crate::case::model::Step;
use crate::drivers::harness_server::{Recorded, Script};
use crate::drivers::link_b::{ConnectionFailure, Request, Response};
use crate::yaml::Pos;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The decode type of JSON bodies (the driver API, results of `mls` steps).
pub const JSON: &str = "json";

impl Body {
    /// A body that has not been decoded.
    pub fn raw(bytes: Vec<u8>) -> Self {
        Self::new(bytes, None)
    }

    /// A body with what it decoded to (or why it did not), as the runner decoded it for its
    /// expectations.
    pub fn new(bytes: Vec<u8>, decoded: Option<Result<(Value, &str), String>>) -> Self {
        Self {
            bytes,
            decode_as: None,
            decoding: Decoding::of(decoded).into(),
        }
    }

    /// A body to decode as `message_type` when first read (a request the harness built or
    /// received).
    pub fn decode(bytes: Vec<u8>, message_type: Option<&'static str>) -> Self {
        Self {
            bytes,
            decode_as: message_type,
            decoding: Default::default(),
        }
    }

    /// What the body decodes to, decoded now if it has not been.
    pub(super) fn decoding(&self) -> &Decoding {
        self.decoding.get_or_init(|| {
            Decoding::of(
                (self.decode_as)
                    .filter(|_| !self.bytes.is_empty())
                    .map(|t| decode(t, &self.bytes).map(|v| (v, t))),
            )
        })
    }
}

impl Decoding {
    fn of(decoded: Option<Result<(Value, &str), String>>) -> Self {
        match decoded {
            Some(Ok((value, message_type))) => Self {
                message_type: Some(message_type.to_string()),
                decoded: Some(value),
                decode_error: None,
            },
            Some(Err(e)) => Self {
                decode_error: Some(e),
                ..Self::default()
            },
            None => Self::default(),
        }
    }
}

fn decode(message_type: &str, bytes: &[u8]) -> Result<Value, String> {
    if message_type == JSON {
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))
    } else {
        mimi_wire::registry::decode_as(message_type, bytes)
    }
}

fn headers(map: &HeaderMap) -> Vec<Header> {
    map.iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect()
}

impl Interaction {
    /// How an `answer` step scripts the harness's link-B server.
    pub fn scripted(script: &Script) -> Self {
        Interaction::Scripted {
            endpoint: script.endpoint.clone(),
            key: script.key.clone(),
            status: script.status,
            headers: (script.headers.iter())
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            times: script.times,
        }
    }
}

impl HttpRequest {
    /// A link-B request, its body to decode as `message_type`.
    pub fn link_b(request: &Request, message_type: Option<&'static str>) -> Self {
        Self {
            method: request.method.to_string(),
            url: request.url.clone(),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            client_certificate: request.client_certificate,
            body: Body::decode(request.body.clone(), message_type),
        }
    }

    /// A driver API request (its bearer token is left out).
    pub fn driver(method: &str, url: &str, json: Option<&Value>) -> Self {
        let bytes = json.map(|j| j.to_string().into_bytes()).unwrap_or_default();
        Self {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            client_certificate: false,
            body: Body::new(bytes, json.map(|j| Ok((j.clone(), JSON)))),
        }
    }
}

impl HttpResponse {
    pub fn new(response: Response, decoded: Option<Result<(Value, &str), String>>) -> Self {
        Self {
            status: response.status,
            headers: headers(&response.headers),
            body: Body::new(response.body, decoded),
        }
    }
}

impl Failure {
    pub fn new(failure: &ConnectionFailure) -> Self {
        use crate::drivers::outcome::Failure as Broke;
        let kind = match &failure.kind {
            Broke::TlsRefused { .. } => FailureKind::TlsRefused,
            Broke::NoConnection => FailureKind::Unreachable,
            Broke::ClosedBeforeResponse { .. } => FailureKind::Closed,
            Broke::NothingArrived => FailureKind::NotReceived,
            _ => FailureKind::Other,
        };
        Self {
            kind,
            message: failure.message.clone(),
            status: failure.status(),
        }
    }

    pub fn not_received(message: String) -> Self {
        Self {
            kind: FailureKind::NotReceived,
            message,
            status: None,
        }
    }
}

impl ReceivedRequest {
    /// The request, its body as the runner decoded it for the step's expectations, and what
    /// the harness's server found it breaks.
    pub fn new(got: Recorded, decoded: Option<Result<(Value, &str), String>>) -> Self {
        Self {
            headers: headers(&got.headers),
            client_certificate: got.client_certificate,
            body: Body::new(got.body, decoded),
            answered: got.answered,
            findings: got.findings,
        }
    }
}

impl Location {
    /// `pos` in the file `origin` (a case file, or the fragment a step comes from).
    pub fn at(origin: &Origin, pos: Pos) -> Self {
        Self {
            file: origin.file.display().to_string(),
            line: pos.line,
            column: pos.column,
            source_line: origin
                .source
                .lines()
                .nth(pos.line.saturating_sub(1) as usize)
                .unwrap_or_default()
                .to_string(),
        }
    }
}

impl AssertionFailure {
    /// A failed expectation at `pos` of `step`; for a step from a fragment, the message names
    /// the lines that use it.
    pub fn at(
        step: &Step,
        pos: Pos,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut message = message.into();
        for site in &step.origin.used_at {
            message.push_str(&format!(
                " (in fragment {}, used at {}:{}:{})",
                site.fragment,
                site.file.display(),
                site.pos.line,
                site.pos.column
            ));
        }
        Self {
            step: step.name.clone(),
            location: Location::at(&step.origin, pos),
            subject: subject.into(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_decoded_when_read_is_recorded_as_one_decoded_at_once() {
        let json = br#"{"a": [1, 2]}"#.to_vec();
        let value = serde_json::json!({"a": [1, 2]});
        let cases = [
            (json.clone(), Some(JSON), Some(Ok((value, JSON)))),
            (b"[".to_vec(), Some(JSON), None),
            (Vec::new(), Some(JSON), None),
            (json.clone(), None, None),
        ];
        for (bytes, message_type, decoded) in cases {
            let lazy = Body::decode(bytes.clone(), message_type);
            let text = |b: &Body| serde_json::to_string(b).unwrap();
            let eager = match (&decoded, message_type, bytes.is_empty()) {
                (None, Some(_), false) => {
                    // Does not decode: recorded with why, and no type.
                    assert!(lazy.decode_error().unwrap().starts_with("not JSON"));
                    assert_eq!(lazy.message_type(), None);
                    Body::new(bytes, Some(Err(lazy.decode_error().unwrap().into())))
                }
                _ => Body::new(bytes, decoded),
            };
            assert_eq!(text(&lazy), text(&eager));
            let again: Body = serde_json::from_str(&text(&lazy)).unwrap();
            assert_eq!(text(&again), text(&eager));
        }
    }
}
