//! What the observer records: each exchange that crossed it, and each finding, as plain
//! serialisable data (for `observer.json`, and for whoever builds reports or verdicts on them).

use serde::{Deserialize, Serialize};

/// One HTTP exchange between two providers, as it crossed the observer.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Numbered from 1 in the order the exchanges finished.
    pub id: u64,
    /// The architecture's link it crossed (`B`).
    pub link: String,
    /// When the request arrived, in ms since the UNIX epoch.
    pub unix_ms: u64,
    /// How long the exchange took, the upstream provider's answer included.
    pub millis: u64,
    /// The provider that sent the request: the domain its client certificate authenticates,
    /// or (without a certificate) the domain its `From` claims; None when neither says.
    pub sender: Option<String>,
    /// The DNS names of the client certificate the sender presented (empty: none).
    pub client_certificate: Vec<String>,
    /// The provider the request was for (the TLS server name the sender asked for).
    pub target: String,
    pub method: String,
    pub path: String,
    /// The directory key of the endpoint the path belongs to (`directory` for the directory).
    pub endpoint: Option<String>,
    /// The endpoint's path variable (a user, room or domain), percent-decoded.
    pub key: Option<String>,
    /// The room the exchange is about, when it is about one.
    pub room: Option<String>,
    pub request: Message,
    /// The upstream provider's answer as forwarded; None when there was none.
    pub response: Option<Message>,
    pub status: Option<u16>,
    /// Why there was no answer (the upstream provider could not be reached, say).
    pub failure: Option<String>,
    /// The findings this exchange raised.
    pub findings: Vec<Finding>,
    /// Microseconds since the observer started, when the request arrived and when the answer
    /// went back: which of two exchanges happened first.
    #[serde(skip)]
    pub(crate) started_us: u64,
    #[serde(skip)]
    pub(crate) finished_us: u64,
}

/// A request or response body with the headers that matter, decoded where the endpoint says
/// what it holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub size: usize,
    /// The body in hex, cut at `MAX_RECORDED_BODY` bytes (`truncated` then says so).
    pub hex: String,
    pub truncated: bool,
    /// The message type it was decoded as (`KeyMaterialResponse`, `json`, ...).
    pub decoded_as: Option<String>,
    pub decoded: Option<serde_json::Value>,
    /// Where and why it did not decode.
    pub decode_error: Option<String>,
}

/// Body bytes kept per message in the record (decoding always sees the whole body).
pub const MAX_RECORDED_BODY: usize = 8 << 10;
/// Headers kept per message, and bytes per header value.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_VALUE: usize = 512;

impl Message {
    pub fn new(headers: &axum::http::HeaderMap, body: &[u8]) -> Self {
        let headers = headers
            .iter()
            .take(MAX_HEADERS)
            .map(|(name, value)| {
                let text = String::from_utf8_lossy(value.as_bytes());
                let text: String = text.chars().take(MAX_HEADER_VALUE).collect();
                (name.as_str().to_string(), text)
            })
            .collect();
        let kept = &body[..body.len().min(MAX_RECORDED_BODY)];
        Self {
            headers,
            size: body.len(),
            hex: hex::encode(kept),
            truncated: kept.len() < body.len(),
            ..Self::default()
        }
    }

    /// The first value of the header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Something a provider sent that breaks a requirement, as seen passively on the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The requirement id (cases/requirements.yaml).
    pub requirement: String,
    /// The provider (domain) that sent the offending message.
    pub provider: String,
    pub link: String,
    /// The exchange that showed it.
    pub exchange: u64,
    pub endpoint: Option<String>,
    /// The endpoint's path variable (a user, room or domain), percent-decoded.
    pub key: Option<String>,
    pub room: Option<String>,
    /// What was wrong, in plain words.
    pub message: String,
    pub unix_ms: u64,
}
