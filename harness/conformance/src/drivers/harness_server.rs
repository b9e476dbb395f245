//! The harness as a link-B provider: when a case has the harness play a follower or a target,
//! the provider under test calls it. It serves its directory, keyMaterial (from the KeyPackages
//! of the cases' simulated clients), notify (each fanned-out message goes to those clients,
//! which join from Welcomes, merge commits and decrypt messages), requestConsent and
//! updateConsent. Every request is recorded with its headers and client certificate, for
//! `receive` steps to check, and a case can script the answers (`answer` steps: a 503 with
//! Retry-After, say). One server per run, shared by all cases: each case's requests are told
//! apart by their path variable (a user or room URI that carries the case's run nonce).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use axum_server::tls::TlsInfo;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use mimi_mls::member::Member;
use mimi_wire::common::{IdentifierUri, PROTOCOL_MLS10};
use mimi_wire::messages::key_material::*;
use mimi_wire::messages::notify::NotifyBody;
use mimi_wire::{decode_exact, Encode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The endpoints the harness serves when it plays a provider, each with its path variable as
/// P-06 names it (§5.2, §5.5, §5.7): its directory is made from this table, and its router
/// takes exactly these.
const ENDPOINTS: [(&str, &str); 4] = [
    ("keyMaterial", "targetUser"),
    ("notify", "roomId"),
    ("requestConsent", "targetDomain"),
    ("updateConsent", "requesterDomain"),
];

/// The names of `ENDPOINTS`, for the case format's `receive` and `answer` steps.
pub const SERVED: &[&str] = &{
    let mut names = [""; ENDPOINTS.len()];
    let mut i = 0;
    while i < ENDPOINTS.len() {
        names[i] = ENDPOINTS[i].0;
        i += 1;
    }
    names
};
/// Requests kept; the oldest go first (a run's cases need far fewer).
const MAX_RECORDED: usize = 4096;
const MAX_BODY: usize = 1 << 20;

pub type SharedMember = Arc<Mutex<Member>>;

/// A request the harness received.
#[derive(Clone)]
pub struct Recorded {
    pub endpoint: String,
    /// The path variable: the target user, room or domain.
    pub key: String,
    pub headers: HeaderMap,
    /// DNS names of the client certificate presented (empty: none).
    pub client_certificate: Vec<String>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// What the harness answered.
    pub answered: u16,
    /// A byte-identical repeat of a notify the harness accepted before (P-06 §5.5: answered 201,
    /// delivered once). `receive` steps do not see it: a hub may repeat a notify.
    pub repeat: bool,
}

/// A scripted answer: the next `times` requests to `endpoint` for `key` get it.
pub struct Script {
    pub endpoint: String,
    pub key: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub times: usize,
}

#[derive(Default)]
struct Inner {
    /// User URI → the simulated clients of that user.
    members: HashMap<String, Vec<SharedMember>>,
    recorded: Vec<Recorded>,
    scripts: Vec<Script>,
    /// Hashes of (roomId, body) of the notifies the harness accepted, to know a repeat.
    accepted_notifies: std::collections::HashSet<u64>,
}

pub struct HarnessServer {
    pub domain: String,
    pub addr: SocketAddr,
    inner: Mutex<Inner>,
    arrived: tokio::sync::Notify,
}

/// The simulated clients a case registered; they leave the server when the case ends.
pub struct Registration {
    server: Arc<HarnessServer>,
    users: Vec<String>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.server.lock();
        for user in &self.users {
            inner.members.remove(user);
        }
    }
}

impl HarnessServer {
    /// Starts serving on `listen` (on the current runtime) as `domain`.
    pub async fn start(
        domain: &str,
        cert_pem: &str,
        key_pem: &str,
        trust_roots: &[String],
        listen: SocketAddr,
    ) -> anyhow::Result<Arc<Self>> {
        let config = mimi_pki::tls::server_config(cert_pem, key_pem, trust_roots, false)?;
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let server = Arc::new(Self {
            domain: domain.to_string(),
            addr,
            inner: Mutex::new(Inner::default()),
            arrived: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route(
                mimi_wire::messages::directory::DIRECTORY_PATH,
                get(directory),
            )
            .route("/v1/{endpoint}/{key}", post(serve))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(server.clone());
        let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config)))
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let serving = axum_server::from_tcp(listener)?
            .acceptor(acceptor)
            .serve(app.into_make_service());
        tokio::spawn(async move {
            if let Err(e) = serving.await {
                tracing::error!("the harness's link-B server stopped: {e}");
            }
        });
        Ok(server)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes a case's clients known: claims for their users are answered with their
    /// KeyPackages, and fanned-out messages reach them.
    pub fn register(self: &Arc<Self>, members: &[(String, SharedMember)]) -> Registration {
        let mut inner = self.lock();
        let mut users = Vec::new();
        for (user, member) in members {
            inner
                .members
                .entry(user.clone())
                .or_default()
                .push(member.clone());
            users.push(user.clone());
        }
        Registration {
            server: self.clone(),
            users,
        }
    }

    pub fn script(&self, script: Script) {
        self.lock().scripts.push(script);
    }

    /// The oldest request to `endpoint` for `key` that no step took yet, waiting until
    /// `deadline` for one to arrive; taking it hides it from later steps.
    pub async fn take(&self, endpoint: &str, key: &str, deadline: Instant) -> Option<Recorded> {
        loop {
            let arrived = self.arrived.notified();
            {
                let mut inner = self.lock();
                if let Some(i) = inner
                    .recorded
                    .iter()
                    .position(|r| r.endpoint == endpoint && r.key == key && !r.repeat)
                {
                    return Some(inner.recorded.remove(i));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), arrived).await;
        }
    }

    fn record(&self, recorded: Recorded) {
        let mut inner = self.lock();
        if inner.recorded.len() == MAX_RECORDED {
            inner.recorded.remove(0);
        }
        inner.recorded.push(recorded);
        drop(inner);
        self.arrived.notify_waiters();
    }

    fn scripted(&self, endpoint: &str, key: &str) -> Option<(u16, Vec<(String, String)>)> {
        let mut inner = self.lock();
        let script = inner
            .scripts
            .iter_mut()
            .find(|s| s.endpoint == endpoint && s.key == key && s.times > 0)?;
        script.times -= 1;
        let answer = (script.status, script.headers.clone());
        inner.scripts.retain(|s| s.times > 0);
        Some(answer)
    }

    fn members_of(&self, user: &str) -> Vec<SharedMember> {
        self.lock().members.get(user).cloned().unwrap_or_default()
    }

    fn all_members(&self) -> Vec<SharedMember> {
        self.lock().members.values().flatten().cloned().collect()
    }
}

/// The directory (P-06 §5.1) of what the harness serves, at its own domain.
async fn directory(State(server): State<Arc<HarnessServer>>) -> Response {
    let served: serde_json::Map<String, serde_json::Value> = ENDPOINTS
        .iter()
        .map(|(name, variable)| {
            let url = format!("https://{}/v1/{name}/{{{variable}}}", server.domain);
            (name.to_string(), url.into())
        })
        .collect();
    axum::Json(served).into_response()
}

fn refuse(status: StatusCode, why: String) -> Response {
    (status, why).into_response()
}

async fn serve(
    State(server): State<Arc<HarnessServer>>,
    Path((endpoint, key)): Path<(String, String)>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    uri: axum::http::Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Over HTTP/2 the host travels as :authority (RFC 9113 §8.3.1); it is recorded as Host.
    if let (false, Some(authority)) = (headers.contains_key("host"), uri.authority()) {
        if let Ok(value) = axum::http::HeaderValue::from_str(authority.as_str()) {
            headers.insert("host", value);
        }
    }
    if !SERVED.contains(&endpoint.as_str()) {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("the harness does not serve {endpoint}"),
        );
    }
    let client_certificate = tls
        .and_then(|Extension(info)| info.peer_certificates.first().cloned())
        .map(|der| mimi_pki::tls::certificate_domains(&der))
        .unwrap_or_default();
    let notify_hash = (endpoint == "notify").then(|| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&key, &body[..]).hash(&mut hasher);
        hasher.finish()
    });
    let repeat = notify_hash.is_some_and(|h| server.lock().accepted_notifies.contains(&h));
    let (status, extra, answer) = match server.scripted(&endpoint, &key) {
        Some((status, headers)) => (status, headers, Vec::new()),
        // P-06 §5.5: a repeat gets 201 and is not processed again.
        None if repeat => (201, Vec::new(), Vec::new()),
        None => {
            let (status, answer) = default_answer(&server, &endpoint, &key, &body);
            (status, Vec::new(), answer)
        }
    };
    if let (Some(hash), 201) = (notify_hash, status) {
        let mut inner = server.lock();
        if inner.accepted_notifies.len() >= MAX_RECORDED {
            inner.accepted_notifies.clear();
        }
        inner.accepted_notifies.insert(hash);
    }
    server.record(Recorded {
        endpoint,
        key,
        headers,
        client_certificate,
        body: body.to_vec(),
        at: Instant::now(),
        answered: status,
        repeat,
    });
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        answer,
    )
        .into_response();
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// What a correct follower or target answers.
fn default_answer(
    server: &HarnessServer,
    endpoint: &str,
    key: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    match endpoint {
        "keyMaterial" => match decode_exact::<KeyMaterialRequest>(body) {
            Ok(_) => (200, claim(server, key).to_bytes()),
            Err(e) => (
                400,
                format!("malformed KeyMaterialRequest: {e}").into_bytes(),
            ),
        },
        "notify" => match decode_exact::<NotifyBody>(body) {
            Ok(NotifyBody(messages)) => {
                for member in server.all_members() {
                    let mut member = member.lock().unwrap_or_else(|e| e.into_inner());
                    for message in &messages {
                        if let Err(e) = member.deliver(key, message) {
                            tracing::warn!(client = %member.sim.uri, "{e}");
                        }
                    }
                }
                (201, Vec::new())
            }
            Err(e) => (400, format!("malformed NotifyBody: {e}").into_bytes()),
        },
        _ => (201, Vec::new()),
    }
}

/// One KeyPackage of each of the user's clients, each handed out once.
fn claim(server: &HarnessServer, user: &str) -> KeyMaterialResponse {
    let members = server.members_of(user);
    let clients: Vec<ClientKeyMaterial> = members
        .iter()
        .map(|m| {
            let mut member = m.lock().unwrap_or_else(|e| e.into_inner());
            let client_uri = IdentifierUri(member.sim.uri.clone());
            ClientKeyMaterial::offering(client_uri, member.claim_key_package())
        })
        .collect();
    KeyMaterialResponse {
        protocol: PROTOCOL_MLS10,
        user_status: if clients.is_empty() {
            USER_UNKNOWN
        } else {
            USER_SUCCESS
        },
        user_uri: IdentifierUri(user.to_string()),
        clients,
    }
}
