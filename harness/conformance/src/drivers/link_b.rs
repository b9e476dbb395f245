//! Link B: the harness as a MIMI provider calling another over HTTPS with mutual TLS (P-06 §4.1).
//! Every request carries `From: mimi@<harness domain>` and the harness's client certificate
//! unless a case asks for none; TLS failures are put in plain words.

use super::outcome::quote;
pub use super::outcome::{BodyBreak, ConnectionFailure, Failure};
use super::transport::Transport;
use crate::profile::Profile;
use mimi_wire::messages::directory::Directory;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::OnceCell;

/// A provider under test as link B reaches it.
pub struct Connection {
    pub profile: Profile,
    transport: Transport,
    /// The directory, fetched once per run and shared by every case; a failure is kept too, so
    /// that each case that needs it fails at once with its cause instead of fetching it again.
    directory: OnceCell<Result<Directory, String>>,
    /// The provider's driver API (links A and C), when its profile names one.
    pub driver: Option<super::driver_api::DriverClient>,
}

pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub client_certificate: bool,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

impl Response {
    /// The body of a refusal that explains itself in words (a 4xx or 5xx labelled text,
    /// problem+json, or unlabelled and printable): shown as text, never decoded as a MIMI
    /// structure.
    pub fn error_text(&self) -> Option<String> {
        if self.status < 400 || self.body.is_empty() {
            return None;
        }
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let text = std::str::from_utf8(&self.body).ok()?;
        let printable = !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t');
        let textual = content_type.starts_with("text/")
            || content_type.starts_with("application/problem+json")
            || (content_type.is_empty() && printable);
        textual.then(|| text.trim().to_string())
    }
}

/// Largest response body the harness reads; a provider that sends more is cut off (and failed).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

impl Connection {
    pub async fn new(profile: Profile) -> anyhow::Result<Self> {
        let mut overrides = BTreeMap::new();
        for (domain, address) in &profile.address_overrides {
            let addr = tokio::net::lookup_host(address.as_str())
                .await
                .map_err(|e| anyhow::anyhow!("address override {domain} → {address}: {e}"))?
                .next()
                .ok_or_else(|| {
                    anyhow::anyhow!("address override {domain} → {address} resolves to nothing")
                })?;
            overrides.insert(domain.clone(), addr);
        }
        let tls = |certificate: bool| {
            let identity = certificate.then_some((
                profile.harness.cert_pem.as_str(),
                profile.harness.key_pem.as_str(),
            ));
            mimi_pki::tls::client_config(&profile.trust_roots_pem, identity)
        };
        let transport = Transport::new(tls(true)?, tls(false)?, overrides);
        let driver = match &profile.driver {
            Some(d) => Some(super::driver_api::DriverClient::new(
                &d.url,
                &d.token()?,
                &profile.trust_roots_pem,
            )?),
            None => None,
        };
        Ok(Self {
            driver,
            transport,
            directory: OnceCell::new(),
            profile,
        })
    }

    pub fn default_headers(&self) -> Vec<(String, String)> {
        vec![
            (
                "from".into(),
                format!("mimi@{}", self.profile.harness.domain),
            ),
            ("content-type".into(), "application/octet-stream".into()),
        ]
    }

    pub async fn send(&self, request: &Request) -> Result<Response, ConnectionFailure> {
        self.transport.send(request).await
    }

    /// The provider's directory, fetched once per run (the first call's `timeout` bounds it);
    /// why it cannot be read, in plain words, when it cannot.
    pub async fn directory(&self, timeout: Duration) -> Result<&Directory, String> {
        self.directory
            .get_or_init(|| self.fetch_directory(timeout))
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn fetch_directory(&self, timeout: Duration) -> Result<Directory, String> {
        let url = &self.profile.directory_url;
        let unreadable = |why: String| {
            format!(
                "the directory of {} at {url} cannot be read: {why}",
                self.profile.domain
            )
        };
        let response = self
            .send(&Request {
                method: reqwest::Method::GET,
                url: url.clone(),
                headers: vec![(
                    "from".into(),
                    format!("mimi@{}", self.profile.harness.domain),
                )],
                body: Vec::new(),
                client_certificate: true,
                timeout,
            })
            .await
            .map_err(|f| unreadable(f.message))?;
        if response.status != 200 {
            return Err(unreadable(format!(
                "the provider answered {} instead of the directory{}",
                response.status,
                if response.body.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": \"{}\"",
                        quote(&response.body, super::outcome::QUOTED_CHARS)
                    )
                }
            )));
        }
        let mut directory = Directory::parse(&response.body).map_err(unreadable)?;
        // The profile corrects or adds entries where the provider's directory differs.
        directory
            .endpoints
            .extend(self.profile.directory_entries.clone());
        Ok(directory)
    }
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
        assert_eq!(text.error_text().as_deref(), Some("malformed body"));
        let problem = br#"{"title": "Forbidden", "status": 403}"#;
        let json = response(403, Some("application/problem+json"), problem);
        assert!(json.error_text().unwrap().contains("Forbidden"));
        let unlabelled = response(404, None, b"no such room");
        assert_eq!(unlabelled.error_text().as_deref(), Some("no such room"));
    }

    #[test]
    fn a_mimi_body_is_never_taken_for_words() {
        // A refusal may carry the endpoint's own response (a notAllowed UpdateRoomResponse).
        let binary = response(409, Some("application/octet-stream"), &[2, 0, 0xff]);
        assert_eq!(binary.error_text(), None);
        let unlabelled = response(403, None, &[2, 0, 0]);
        assert_eq!(unlabelled.error_text(), None);
        assert_eq!(response(200, Some("text/plain"), b"ok").error_text(), None);
    }
}
