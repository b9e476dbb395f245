//! Link B: the harness as a MIMI provider calling another over HTTPS with mutual TLS (P-06 §4.1).
//! Every request carries `From: mimi@<harness domain>` and the harness's client certificate
//! unless a case asks for none; TLS failures are put in plain words.

use crate::profile::Profile;
use mimi_wire::messages::directory::Directory;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// A provider under test as link B reaches it.
pub struct Connection {
    pub profile: Profile,
    with_certificate: reqwest::Client,
    without_certificate: reqwest::Client,
    /// Address overrides, resolved: domain → socket address.
    overrides: BTreeMap<String, SocketAddr>,
    directory: OnceCell<Directory>,
    /// The provider's driver API (links A and C), when its profile names one.
    pub driver: Option<super::link_a::DriverClient>,
}

pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub client_certificate: bool,
    pub timeout: Duration,
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub elapsed: Duration,
}

/// The harness could not get a response: why, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    pub message: String,
    /// The failure is the provider refusing the TLS handshake or the client certificate.
    pub tls_refused: bool,
    /// Nothing answered at all (connection refused, DNS, unreachable).
    pub unreachable: bool,
    /// The connection closed before any response, without a TLS reason the harness could see.
    pub closed: bool,
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
        let client = |certificate: bool| -> anyhow::Result<reqwest::Client> {
            let identity = certificate.then_some((
                profile.harness.cert_pem.as_str(),
                profile.harness.key_pem.as_str(),
            ));
            let tls =
                mimi_reference_provider::tls::client_config(&profile.trust_roots_pem, identity)?;
            let mut builder = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .no_proxy()
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none());
            for (domain, addr) in &overrides {
                builder = builder.resolve(domain, *addr);
            }
            Ok(builder.build()?)
        };
        let driver = match &profile.driver {
            Some(d) => Some(super::link_a::DriverClient::new(
                &d.url,
                &d.token()?,
                &profile.trust_roots_pem,
            )?),
            None => None,
        };
        Ok(Self {
            driver,
            with_certificate: client(true)?,
            without_certificate: client(false)?,
            overrides,
            directory: OnceCell::new(),
            profile,
        })
    }

    /// The URL with the override's port put in, so the override reaches a non-default port while
    /// TLS still names (SNI) and verifies the provider's domain.
    fn routed(&self, url: &str) -> String {
        let Ok(mut parsed) = reqwest::Url::parse(url) else {
            return url.to_string();
        };
        if let Some(addr) = parsed.host_str().and_then(|h| self.overrides.get(h)) {
            let _ = parsed.set_port(Some(addr.port()));
        }
        parsed.to_string()
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
        let client = if request.client_certificate {
            &self.with_certificate
        } else {
            &self.without_certificate
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) else {
                return Err(ConnectionFailure {
                    message: format!("header {name}: {value:?} cannot be sent in HTTP"),
                    tls_refused: false,
                    unreachable: false,
                    closed: false,
                });
            };
            headers.insert(name, value);
        }
        let start = Instant::now();
        let mut builder = client
            .request(request.method.clone(), self.routed(&request.url))
            .headers(headers)
            .timeout(request.timeout);
        if request.method != reqwest::Method::GET {
            builder = builder.body(request.body.clone());
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| diagnose(&e, request.client_certificate))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Err(ConnectionFailure {
                            message: format!("the response body exceeds {MAX_RESPONSE_BYTES} bytes; the harness stopped reading"),
                            tls_refused: false,
                            unreachable: false,
                            closed: false,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(diagnose(&e, request.client_certificate)),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            elapsed: start.elapsed(),
        })
    }

    /// The provider's directory, fetched once.
    pub async fn directory(&self, timeout: Duration) -> Result<&Directory, ConnectionFailure> {
        self.directory
            .get_or_try_init(|| async {
                let response = self
                    .send(&Request {
                        method: reqwest::Method::GET,
                        url: self.profile.directory_url.clone(),
                        headers: vec![(
                            "from".into(),
                            format!("mimi@{}", self.profile.harness.domain),
                        )],
                        body: Vec::new(),
                        client_certificate: true,
                        timeout,
                    })
                    .await?;
                let failure = |message: String| ConnectionFailure {
                    message,
                    tls_refused: false,
                    unreachable: false,
                    closed: false,
                };
                if response.status != 200 {
                    return Err(failure(format!(
                        "GET {} answered {} instead of the directory",
                        self.profile.directory_url, response.status
                    )));
                }
                let mut directory = Directory::parse(&response.body).map_err(failure)?;
                // The profile corrects or adds entries where the provider's directory differs.
                directory
                    .endpoints
                    .extend(self.profile.directory_entries.clone());
                Ok(directory)
            })
            .await
    }
}

/// Puts a reqwest failure in plain words. In TLS 1.3 a server that rejects the client
/// certificate does so after the client thinks the handshake is done, so the client sees a
/// closed connection or a broken pipe on its first write: say what that usually means.
pub fn diagnose(err: &reqwest::Error, presented_certificate: bool) -> ConnectionFailure {
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut rustls_error = None;
    let mut io_kind = None;
    while let Some(e) = source {
        chain.push(e.to_string());
        if let Some(rustls::Error::AlertReceived(a)) = e.downcast_ref::<rustls::Error>() {
            chain.push(format!("received fatal alert: {a:?}"));
        }
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            rustls_error = Some(r.clone());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                rustls_error = Some(r.clone());
            }
        }
        source = e.source();
    }
    let detail = chain.last().cloned().unwrap_or_default();
    // The alert does not always survive as a typed error through hyper; its text does.
    let alert = chain
        .iter()
        .find_map(|c| c.split("received fatal alert: ").nth(1))
        .map(str::to_string);
    let bad_certificate = chain
        .iter()
        .find_map(|c| c.split("invalid peer certificate: ").nth(1))
        .map(str::to_string);
    let closed = !err.is_timeout()
        && !err.is_connect()
        && chain.iter().any(|c| {
            // hyper says "not ready" when the connection closed while it was being set up.
            c.contains("channel closed")
                || c.contains("connection closed")
                || c.contains("connection was not ready")
        });
    let (message, tls_refused, unreachable) = match (&rustls_error, io_kind) {
        (Some(rustls::Error::AlertReceived(_)), _) | (None, _) if alert.is_some() => (
            format!(
                "the provider ended the TLS handshake with the alert {}: {}",
                alert.as_deref().unwrap_or_default(),
                if presented_certificate {
                    "it did not accept the harness's client certificate (is the harness's CA among its trust roots?)"
                } else {
                    "it requires a client certificate, and the harness presented none"
                }
            ),
            true,
            false,
        ),
        (None, _) if bad_certificate.is_some() => (
            format!(
                "the provider's server certificate is not acceptable: {} (check trust-roots, and that it authenticates the provider's domain)",
                bad_certificate.as_deref().unwrap_or_default()
            ),
            false,
            false,
        ),
        (Some(rustls::Error::InvalidCertificate(why)), _) => (
            format!("the provider's server certificate is not acceptable: {why:?} (check trust-roots and the domain it authenticates)"),
            false,
            false,
        ),
        (Some(other), _) => (format!("TLS failed: {other}"), true, false),
        (None, Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof)) => (
            format!(
                "the provider closed the connection during or right after the TLS handshake ({detail}); in TLS 1.3 this is how a rejected {} looks",
                if presented_certificate { "client certificate" } else { "connection without a client certificate" }
            ),
            true,
            false,
        ),
        (None, Some(std::io::ErrorKind::ConnectionRefused)) => {
            (format!("nothing accepts connections there: {detail}"), false, true)
        }
        _ if closed => (
            format!(
                "the provider closed the connection before any response ({detail}){}",
                if presented_certificate { "" } else { "; without a client certificate, this is how TLS 1.3 refusal usually looks" }
            ),
            false,
            false,
        ),
        _ if err.is_timeout() => (format!("no answer within the step's timeout: {detail}"), false, false),
        _ if err.is_connect() => (format!("could not connect: {}", chain.join(": ")), false, true),
        _ => (chain.join(": "), false, false),
    };
    ConnectionFailure {
        message,
        tls_refused,
        unreachable,
        closed,
    }
}
