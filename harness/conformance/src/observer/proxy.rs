//! The observer's proxy: a TLS server that answers as whichever provider the sender asked for
//! (SNI), and forwards each request to that provider presenting the certificate of the domain
//! the sender proved. Bodies are read whole (bounded), every wait is bounded, and nothing a
//! provider sends can make it panic: the worst a hostile provider gets is a 502 and a record
//! saying why.

use super::checks::{Checker, Observation};
use super::decode::{self, Parsed};
use super::record::{Exchange, Message};
use super::{ExchangeListener, ObservedProvider, ObserverConfig, State, LINK};
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use axum_server::tls::TlsInfo;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use mimi_pki::ca::CertifiedIdentity;
use mimi_pki::tls::{certificate_domains, certs_from_pem, key_from_pem};
use mimi_wire::messages::directory::{Directory, DIRECTORY_PATH};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest body forwarded either way (providers refuse far smaller requests themselves).
pub const MAX_BODY: usize = 4 << 20;
/// Time a sender has to send its whole request body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time the upstream provider has to answer, body included.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Time to read a directory the observer fetches itself.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);
/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1), and those
/// the HTTP client sets itself.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

pub struct Shared {
    pub providers: BTreeMap<String, ObservedProvider>,
    identities: BTreeMap<String, CertifiedIdentity>,
    trust_roots: Vec<String>,
    /// One client per identity the observer speaks as (None: no client certificate).
    clients: Mutex<HashMap<Option<String>, reqwest::Client>>,
    /// Each provider's directory, as seen on the link or fetched.
    directories: Mutex<BTreeMap<String, Directory>>,
    state: Mutex<State>,
    epoch: Instant,
    pub started_unix_ms: u64,
    listener: Option<ExchangeListener>,
}

impl Shared {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn client(&self, identity: Option<&str>) -> Result<reqwest::Client, String> {
        let key = identity.map(str::to_string);
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let pair = match identity {
            Some(domain) => {
                let id = self
                    .identities
                    .get(domain)
                    .ok_or_else(|| format!("the observer holds no certificate for {domain}"))?;
                Some((id.cert_pem.as_str(), id.key_pem.as_str()))
            }
            None => None,
        };
        let tls = mimi_pki::tls::client_config(&self.trust_roots, pair)
            .map_err(|e| format!("the observer's TLS client: {e:#}"))?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .no_proxy()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(UPSTREAM_TIMEOUT);
        for p in self.providers.values() {
            builder = builder.resolve(&p.domain, p.upstream);
        }
        let client = builder
            .build()
            .map_err(|e| format!("the observer's HTTP client: {e}"))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn draft(&self, domain: Option<&str>) -> mimi_wire::codec::Draft {
        domain
            .and_then(|d| self.providers.get(d))
            .map(|p| p.draft)
            .unwrap_or_default()
    }

    /// The target's directory: as seen on the link, else fetched once as `identity`.
    async fn directory(&self, target: &str, identity: Option<&str>) -> Option<Directory> {
        if let Some(d) = self.known_directory(target) {
            return Some(d);
        }
        let provider = self.providers.get(target)?;
        let client = self.client(identity).ok()?;
        let url = format!(
            "https://{target}:{}{DIRECTORY_PATH}",
            provider.upstream.port()
        );
        let mut request = client.get(url).timeout(DIRECTORY_TIMEOUT);
        if let Some(domain) = identity {
            request = request.header("from", format!("mimi@{domain}"));
        }
        // A provider that answers with no directory is remembered with an empty one, so that
        // the observer does not ask again for every exchange (one seen on the link replaces
        // it); one that cannot be reached is asked again next time.
        let directory = match request.send().await.ok()?.error_for_status() {
            Ok(r) => Directory::parse(&read_bounded(r).await.ok()?.2).unwrap_or_default(),
            // It answered, but not with a directory.
            Err(_) => Directory::default(),
        };
        self.learn_directory(target, directory.clone());
        Some(directory)
    }

    fn known_directory(&self, target: &str) -> Option<Directory> {
        self.directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
            .cloned()
    }

    fn learn_directory(&self, target: &str, directory: Directory) {
        self.directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(target.to_string(), directory);
    }
}

fn server_config(
    identities: &BTreeMap<String, CertifiedIdentity>,
    trust_roots: &[String],
) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::server::{ResolvesServerCertUsingSni, WebPkiClientVerifier};
    let provider = mimi_pki::tls::crypto_provider();
    let mut resolver = ResolvesServerCertUsingSni::new();
    for (domain, identity) in identities {
        let key = provider
            .key_provider
            .load_private_key(key_from_pem(&identity.key_pem)?)?;
        let certified = rustls::sign::CertifiedKey::new(certs_from_pem(&identity.cert_pem)?, key);
        resolver
            .add(domain, certified)
            .map_err(|e| anyhow::anyhow!("the observer's certificate for {domain}: {e}"))?;
    }
    let roots = Arc::new(mimi_pki::tls::root_store(trust_roots)?);
    // A sender without a client certificate is let in, so that the observer sees (and
    // reports) it; it is forwarded without one, and the receiver decides.
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

pub async fn start(
    config: ObserverConfig,
    listener: Option<ExchangeListener>,
) -> anyhow::Result<(SocketAddr, Arc<Shared>, axum_server::Handle<SocketAddr>)> {
    use anyhow::Context;
    let tls = server_config(&config.identities, &config.trust_roots)?;
    let socket = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    let shared = Arc::new(Shared {
        providers: config
            .providers
            .into_iter()
            .map(|p| (p.domain.to_ascii_lowercase(), p))
            .collect(),
        identities: config
            .identities
            .into_iter()
            .map(|(d, i)| (d.to_ascii_lowercase(), i))
            .collect(),
        trust_roots: config.trust_roots,
        clients: Mutex::default(),
        directories: Mutex::default(),
        state: Mutex::new(State {
            exchanges: VecDeque::new(),
            findings: VecDeque::new(),
            seen: 0,
            findings_dropped: 0,
            counts: BTreeMap::new(),
            checker: Checker::new(LINK),
        }),
        epoch: Instant::now(),
        started_unix_ms: super::unix_ms(),
        listener,
    });
    let app = Router::new().fallback(forward).with_state(shared.clone());
    let handle = axum_server::Handle::new();
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(tls)))
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let server = axum_server::from_tcp(socket)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .first_request_timeout(REQUEST_TIMEOUT)
        .serve(app.into_make_service());
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("the observer stopped: {e}");
        }
    });
    Ok((addr, shared, handle))
}

/// What came back from upstream.
struct Upstream {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn read_bounded(mut r: reqwest::Response) -> Result<(u16, HeaderMap, Vec<u8>), String> {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| chain(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!(
                "the response body exceeds {MAX_BODY} bytes; the observer stopped reading"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Why a server certificate was refused, when that is why a request failed.
fn refused_certificate(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let rustls_error = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|i| i.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(why)) = rustls_error {
            return Some(format!("{why:?}"));
        }
        source = s.source();
    }
    let text = chain(e);
    text.split("invalid peer certificate: ")
        .nth(1)
        .map(str::to_string)
}

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !NOT_FORWARDED.contains(&name.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("mimi-conformance observer: {why}\n")).into_response()
}

async fn forward(
    AxumState(shared): AxumState<Arc<Shared>>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    request: Request,
) -> Response {
    let started_us = shared.micros();
    let unix_ms = super::unix_ms();
    let (parts, body) = request.into_parts();
    let info = tls.map(|Extension(i)| i);
    let target = info
        .as_ref()
        .and_then(|i| i.server_name.clone())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let client_certificate = info
        .as_ref()
        .and_then(|i| i.peer_certificates.first())
        .map(|der| certificate_domains(der))
        .unwrap_or_default();
    let mut headers = parts.headers.clone();
    // Over HTTP/2 the host travels as :authority (RFC 9113 §8.3.1); it is recorded as Host.
    if let (false, Some(authority)) = (headers.contains_key("host"), parts.uri.authority()) {
        if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
            headers.insert("host", value);
        }
    }
    let from_domain = headers
        .get("from")
        .and_then(|v| v.to_str().ok())
        .and_then(|f| f.split_once('@'))
        .map(|(_, d)| d.trim().to_ascii_lowercase());
    let sender = client_certificate.first().cloned().or(from_domain);
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut exchange = Exchange {
        id: 0,
        link: LINK.into(),
        unix_ms,
        millis: 0,
        sender,
        client_certificate: client_certificate.clone(),
        target: target.clone(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        endpoint: None,
        key: None,
        room: None,
        request: Message::default(),
        response: None,
        status: None,
        failure: None,
        findings: Vec::new(),
        started_us,
        finished_us: 0,
    };
    let body =
        match tokio::time::timeout(REQUEST_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
            Ok(Ok(b)) => b.to_vec(),
            Ok(Err(e)) => {
                exchange.request = Message::new(&headers, &[]);
                let why = format!("the request body could not be read whole: {e}");
                return finish(&shared, exchange, None, None, None, Err(why)).await;
            }
            Err(_) => {
                exchange.request = Message::new(&headers, &[]);
                let why = format!("the request body did not arrive within {REQUEST_TIMEOUT:?}");
                return finish(&shared, exchange, None, None, None, Err(why)).await;
            }
        };
    exchange.request = Message::new(&headers, &body);
    // Re-originate as the domain the sender proved, if the observer can speak for it.
    let identity = if client_certificate.is_empty() {
        None
    } else {
        match client_certificate
            .iter()
            .find(|d| shared.identities.contains_key(*d))
        {
            Some(d) => Some(d.clone()),
            None => {
                let why = format!(
                    "the observer holds no certificate for {client_certificate:?}, so it cannot forward as the sender"
                );
                return finish(&shared, exchange, None, Some(body), None, Err(why)).await;
            }
        }
    };
    let Some(upstream) = shared.providers.get(&target).map(|p| p.upstream) else {
        let why = format!("the observer does not know where {target:?} is");
        return finish(&shared, exchange, identity, Some(body), None, Err(why)).await;
    };
    let outcome = match shared.client(identity.as_deref()) {
        Err(why) => Err(why),
        Ok(client) => {
            let url = format!("https://{target}:{}{path_and_query}", upstream.port());
            let mut builder = client
                .request(parts.method.clone(), url)
                .headers(forwardable(&parts.headers));
            if !body.is_empty() {
                builder = builder.body(body.clone());
            }
            match builder.send().await {
                Ok(r) => read_bounded(r)
                    .await
                    .map(|(status, headers, body)| Upstream {
                        status,
                        headers,
                        body,
                    }),
                Err(e) => {
                    let bad_certificate = refused_certificate(&e);
                    let why = format!("{target} could not be reached: {}", chain(&e));
                    let body = Some(body);
                    return finish(&shared, exchange, identity, body, bad_certificate, Err(why))
                        .await;
                }
            }
        }
    };
    finish(&shared, exchange, identity, Some(body), None, outcome).await
}

/// Records the exchange (decoded, checked) and answers the sender: the upstream answer
/// unchanged, or a 502 that says why there is none. The record is made before the answer goes
/// back, so that whoever asks the observer after an exchange finds it.
async fn finish(
    shared: &Shared,
    exchange: Exchange,
    identity: Option<String>,
    request_body: Option<Vec<u8>>,
    bad_certificate: Option<String>,
    outcome: Result<Upstream, String>,
) -> Response {
    let response = match &outcome {
        Ok(up) => {
            let mut response = Response::new(Body::from(up.body.clone()));
            *response.status_mut() =
                StatusCode::from_u16(up.status).unwrap_or(StatusCode::BAD_GATEWAY);
            *response.headers_mut() = forwardable(&up.headers);
            response
        }
        Err(why) => refuse(StatusCode::BAD_GATEWAY, why),
    };
    observe(
        shared,
        exchange,
        identity,
        request_body.as_deref(),
        bad_certificate.as_deref(),
        outcome,
    )
    .await;
    response
}

/// The endpoints whose path variable is the room.
const ROOM_ENDPOINTS: &[&str] = &[
    "update",
    "submitMessage",
    "notify",
    "groupInfo",
    "reportAbuse",
];

async fn observe(
    shared: &Shared,
    mut ex: Exchange,
    identity: Option<String>,
    request_body: Option<&[u8]>,
    bad_certificate: Option<&str>,
    outcome: Result<Upstream, String>,
) {
    match &outcome {
        Ok(up) => {
            ex.status = Some(up.status);
            ex.response = Some(Message::new(&up.headers, &up.body));
        }
        Err(why) => ex.failure = Some(why.clone()),
    }
    let directory = if ex.path == DIRECTORY_PATH {
        if let Some(up) = outcome.as_ref().ok().filter(|up| up.status == 200) {
            if let Ok(d) = Directory::parse(&up.body) {
                shared.learn_directory(&ex.target, d);
            }
        }
        None
    } else {
        shared.directory(&ex.target, identity.as_deref()).await
    };
    if let Some((endpoint, key)) = decode::classify(directory.as_ref(), &ex.target, &ex.path) {
        ex.endpoint = Some(endpoint);
        ex.key = key;
    }
    let endpoint = ex.endpoint.clone().unwrap_or_default();
    // A body the observer could not read whole is not the sender's to answer for.
    let request = match request_body {
        Some(body) => decode::request(&endpoint, body, shared.draft(ex.sender.as_deref())),
        None => decode::request("", &[], Default::default()),
    };
    let response = match &outcome {
        Ok(up) if (200..300).contains(&up.status) => {
            decode::response(&endpoint, &up.body, shared.draft(Some(&ex.target)))
        }
        _ => decode::response("", &[], Default::default()),
    };
    fill(&mut ex.request, &request);
    if let Some(message) = ex.response.as_mut() {
        fill(message, &response);
    }
    ex.room = match (&request.parsed, endpoint.as_str()) {
        (_, e) if ROOM_ENDPOINTS.contains(&e) => ex.key.clone(),
        (Parsed::Decoded(decode::RequestBody::KeyMaterial(r)), _) if !r.room_id.0.is_empty() => {
            Some(r.room_id.0.clone())
        }
        _ => None,
    };
    ex.finished_us = shared.micros();
    ex.millis = ex.finished_us.saturating_sub(ex.started_us) / 1000;
    let recorded = {
        let mut state = shared.state();
        state.seen += 1;
        ex.id = state.seen;
        let findings = state.checker.check(&Observation {
            exchange: &ex,
            request: &request.parsed,
            response: &response.parsed,
            request_body: request_body.unwrap_or_default(),
            rendered_response: response.rendered.as_ref(),
            bad_server_certificate: bad_certificate,
            now_ms: super::unix_ms(),
        });
        for f in &findings {
            *state.counts.entry(f.requirement.clone()).or_default() += 1;
            if state.findings.len() == super::MAX_FINDINGS {
                state.findings.pop_front();
                state.findings_dropped += 1;
            }
            state.findings.push_back(f.clone());
        }
        ex.findings = findings;
        if state.exchanges.len() == super::MAX_EXCHANGES {
            state.exchanges.pop_front();
        }
        state.exchanges.push_back(ex.clone());
        ex
    };
    if let Some(listener) = &shared.listener {
        listener(&recorded);
    }
}

/// Puts what decoding found into the record of a message.
fn fill<T>(message: &mut Message, decoding: &decode::Decoding<T>) {
    message.decoded_as = decoding.type_name.map(str::to_string);
    message.decoded = decoding.rendered.clone();
    if let Parsed::Malformed(why) = &decoding.parsed {
        message.decode_error = Some(why.clone());
    }
}
