//! The provider's MIMI endpoints (P-06 §5). The router and the directory are built from the same
//! table, so the directory lists exactly the endpoints that are served.

mod consent;
mod directory;
mod identifier;
pub mod key_material;
mod notify;
pub mod proxy;
mod rooms;

pub use rooms::answer as group_info_answer;

use crate::faults::{Fault, Faults};
use crate::state::State;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State as AxumState};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Extension, Router};
use axum_server::tls::TlsInfo;
use std::sync::{Arc, Mutex};

/// Largest request body accepted; anything bigger gets 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub struct Shared {
    pub domain: String,
    pub faults: Faults,
    pub state: Mutex<State>,
    /// The provider's client on link B.
    pub peers: crate::peer_client::PeerClient,
    /// The hub's own signer: its external-sender key in rooms it hosts (P-06 §7.4), which also
    /// signs GroupInfo responses and franks.
    pub hub: mimi_mls::SimClient,
    /// Peer domains whose assets `proxyDownload` fetches (P-06 §5.10.2).
    pub asset_domains: std::collections::BTreeSet<String>,
    pub fanout: crate::fanout::FanoutQueues,
}

pub type SharedState = Arc<Shared>;

impl Shared {
    pub fn fault(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A handler that panicked cannot leave the state half-written (no handler panics while
        // holding the lock), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Endpoint {
    /// The directory key (P-06 §5.1).
    name: &'static str,
    /// The path, both as the axum route and as the directory's URL template.
    path: &'static str,
    handler: fn() -> MethodRouter<SharedState>,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "keyMaterial",
        path: "/v1/keyMaterial/{targetUser}",
        handler: key_material::route,
    },
    // The draft's §5.7 names the path variable targetDomain, its directory example targetUser
    // (reference §9 item 2); we follow §5.7.
    Endpoint {
        name: "requestConsent",
        path: "/v1/requestConsent/{targetDomain}",
        handler: consent::request_route,
    },
    Endpoint {
        name: "updateConsent",
        path: "/v1/updateConsent/{requesterDomain}",
        handler: consent::update_route,
    },
    Endpoint {
        name: "identifierQuery",
        path: "/v1/identifierQuery/{domain}",
        handler: identifier::route,
    },
    Endpoint {
        name: "update",
        path: "/v1/update/{roomId}",
        handler: rooms::update_route,
    },
    Endpoint {
        name: "submitMessage",
        path: "/v1/submitMessage/{roomId}",
        handler: rooms::submit_route,
    },
    Endpoint {
        name: "groupInfo",
        path: "/v1/groupInfo/{roomId}",
        handler: rooms::group_info_route,
    },
    Endpoint {
        name: "reportAbuse",
        path: "/v1/reportAbuse/{roomId}",
        handler: rooms::abuse_route,
    },
    Endpoint {
        name: "proxyDownload",
        path: "/v1/proxyDownload/{downloadUrl}",
        handler: proxy::route,
    },
    Endpoint {
        name: "notify",
        path: "/v1/notify/{roomId}",
        handler: notify::route,
    },
];

/// The directory document: every served endpoint at the provider's public domain.
pub fn directory(domain: &str) -> mimi_wire::messages::directory::Directory {
    mimi_wire::messages::directory::Directory {
        endpoints: ENDPOINTS
            .iter()
            .map(|e| (e.name.to_string(), format!("https://{domain}{}", e.path)))
            .collect(),
    }
}

pub fn router(shared: SharedState) -> Router {
    let mimi = ENDPOINTS
        .iter()
        .fold(Router::new(), |r, e| r.route(e.path, (e.handler)()))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            authenticate_peer,
        ));
    Router::new()
        .route(
            mimi_wire::messages::directory::DIRECTORY_PATH,
            axum::routing::get(directory::get),
        )
        .merge(mimi)
        .route(proxy::ASSET_PATH, proxy::asset_route())
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn unknown_path(uri: axum::http::Uri) -> Response {
    reject(
        StatusCode::NOT_FOUND,
        format!(
            "no MIMI endpoint at {}; the directory lists those served",
            uri.path()
        ),
    )
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    reject(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not served at {}", uri.path()),
    )
}

/// A 4xx or 5xx with the reason in plain text, so that a peer sees why.
pub fn reject(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, reason.into()).into_response()
}

pub fn tls_body(bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// The provider domain of the peer that sent the request (its authenticated `From`).
#[derive(Clone, Debug)]
pub struct PeerDomain(pub String);

/// The domain of a MIMI URI (`mimi://<domain>/...`).
pub fn uri_domain(uri: &str) -> Option<&str> {
    uri.strip_prefix("mimi://")?.split('/').next()
}

/// P-06 §4.1: the peer's certificate must authenticate the domain in `From: mimi@<domain>`.
async fn authenticate_peer(
    AxumState(shared): AxumState<SharedState>,
    tls: Option<Extension<Arc<TlsInfo>>>,
    request: Request,
    next: Next,
) -> Response {
    let from = request
        .headers()
        .get(header::FROM)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(from) = from else {
        return reject(
            StatusCode::BAD_REQUEST,
            "missing From: mimi@<provider domain> (P-06 §4.1)",
        );
    };
    let Some(domain) = from.strip_prefix("mimi@").map(str::to_ascii_lowercase) else {
        return reject(
            StatusCode::BAD_REQUEST,
            format!("From {from:?} is not mimi@<provider domain> (P-06 §4.1)"),
        );
    };
    let mut request = request;
    request.extensions_mut().insert(PeerDomain(domain.clone()));
    let certificate = tls.and_then(|Extension(info)| info.peer_certificates.first().cloned());
    // The fault takes a peer without a certificate at its word.
    let trusted_without_certificate =
        certificate.is_none() && shared.fault(Fault::ClientCertificateOptional);
    if !shared.fault(Fault::FromNotChecked) && !trusted_without_certificate {
        let certified = certificate
            .map(|der| mimi_pki::tls::certificate_domains(&der))
            .unwrap_or_default();
        if !certified
            .iter()
            .any(|c| authenticates(c, &domain, &shared.faults))
        {
            return reject(
                StatusCode::FORBIDDEN,
                format!(
                    "From names {domain:?} but the client certificate authenticates {certified:?} (P-06 §4.1)"
                ),
            );
        }
    }
    next.run(request).await
}

/// Whether a certificate name authenticates a `From` domain: exactly the same name (P-06 §4.1).
fn authenticates(certified: &str, from: &str, faults: &Faults) -> bool {
    // The faults compare the way a hand-rolled check might: by suffix, or by prefix.
    (faults.on(Fault::FromSubdomainAccepted) && from.ends_with(&format!(".{certified}")))
        || (faults.on(Fault::FromPrefixAccepted) && from.starts_with(certified))
        || certified == from
}
