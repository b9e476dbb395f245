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
use crate::variants::{Variant, Variants};
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
    pub variants: Variants,
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

    /// Whether the variant is on; asked where its behaviour happens, so a `true` counts as a use.
    pub fn variant(&self, variant: Variant) -> bool {
        self.variants.has(variant)
    }

    /// The status for a body that does not decode.
    pub fn malformed(&self) -> StatusCode {
        if self.variant(Variant::Malformed422) {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A handler that panicked cannot leave the state half-written (no handler panics while
        // holding the lock), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Endpoint {
    /// The directory key (P-06 §5.1), also the path segment.
    name: &'static str,
    /// The path variable, as P-06 §5 names it.
    variable: &'static str,
    handler: fn() -> MethodRouter<SharedState>,
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        name: "keyMaterial",
        variable: "targetUser",
        handler: key_material::route,
    },
    // The draft's §5.7 names the path variable targetDomain, its directory example targetUser
    // (reference §9 item 2); we follow §5.7 (the variant `consent-variables-as-example` the other).
    Endpoint {
        name: "requestConsent",
        variable: "targetDomain",
        handler: consent::request_route,
    },
    Endpoint {
        name: "updateConsent",
        variable: "requesterDomain",
        handler: consent::update_route,
    },
    Endpoint {
        name: "identifierQuery",
        variable: "domain",
        handler: identifier::route,
    },
    Endpoint {
        name: "update",
        variable: "roomId",
        handler: rooms::update_route,
    },
    Endpoint {
        name: "submitMessage",
        variable: "roomId",
        handler: rooms::submit_route,
    },
    Endpoint {
        name: "groupInfo",
        variable: "roomId",
        handler: rooms::group_info_route,
    },
    Endpoint {
        name: "reportAbuse",
        variable: "roomId",
        handler: rooms::abuse_route,
    },
    Endpoint {
        name: "proxyDownload",
        variable: "downloadUrl",
        handler: proxy::route,
    },
    Endpoint {
        name: "notify",
        variable: "roomId",
        handler: notify::route,
    },
];

/// The path prefix of every endpoint.
fn prefix(variants: &Variants) -> &'static str {
    if variants.contains(Variant::PathPrefix) {
        "/mimi/api/v2"
    } else {
        "/v1"
    }
}

/// The endpoint's path variable, as this provider names it.
fn variable(endpoint: &Endpoint, variants: &Variants) -> &'static str {
    if variants.contains(Variant::OwnVariableNames) {
        return match endpoint.variable {
            "targetUser" => "user",
            "roomId" => "room",
            "downloadUrl" => "url",
            "targetDomain" => "target",
            "requesterDomain" => "requester",
            _ => "provider",
        };
    }
    match endpoint.name {
        "requestConsent" if variants.contains(Variant::ConsentVariablesAsExample) => "targetUser",
        "updateConsent" if variants.contains(Variant::ConsentVariablesAsExample) => "requesterUser",
        _ => endpoint.variable,
    }
}

/// The endpoint's path, both as the axum route and as the directory's URL template.
fn path(endpoint: &Endpoint, variants: &Variants) -> String {
    format!(
        "{}/{}/{{{}}}",
        prefix(variants),
        endpoint.name,
        variable(endpoint, variants)
    )
}

/// An endpoint of this provider's own that the draft does not name (the variant
/// `directory-vendor-endpoints`).
const VENDOR_ENDPOINT: (&str, &str) = ("vendorPresence", "vendor/presence/{user}");

/// The directory document of the reference provider: every served endpoint at the provider's
/// public domain.
pub fn directory(domain: &str) -> mimi_wire::messages::directory::Directory {
    directory_with(domain, &Variants::none())
}

/// The directory document: every served endpoint at the provider's public domain, as these
/// variants shape it.
pub fn directory_with(
    domain: &str,
    variants: &Variants,
) -> mimi_wire::messages::directory::Directory {
    let mut endpoints: std::collections::BTreeMap<String, String> = ENDPOINTS
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                format!("https://{domain}{}", path(e, variants)),
            )
        })
        .collect();
    if variants.contains(Variant::DirectoryVendorEndpoints) {
        let (name, path) = VENDOR_ENDPOINT;
        endpoints.insert(
            name.to_string(),
            format!("https://{domain}{}/{path}", prefix(variants)),
        );
    }
    let others = if variants.contains(Variant::DirectoryMeta) {
        // As ACME's directory carries `meta` (RFC 8555 §7.1.1), and an array and a number.
        serde_json::json!({
            "meta": {
                "termsOfService": format!("https://{domain}/terms"),
                "website": format!("https://{domain}/"),
                "externalAccountRequired": false,
            },
            "drafts": ["draft-ietf-mimi-protocol-06"],
            "maxBodyBytes": MAX_BODY_BYTES,
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect()
    } else {
        Default::default()
    };
    mimi_wire::messages::directory::Directory { endpoints, others }
}

pub fn router(shared: SharedState) -> Router {
    let variants = &shared.variants;
    let mut mimi = ENDPOINTS.iter().fold(Router::new(), |r, e| {
        r.route(&path(e, variants), (e.handler)())
    });
    if variants.contains(Variant::DirectoryVendorEndpoints) {
        mimi = mimi.route(
            &format!("{}/{}", prefix(variants), VENDOR_ENDPOINT.1),
            axum::routing::get(|| async { StatusCode::NO_CONTENT }),
        );
    }
    let mimi = mimi.route_layer(middleware::from_fn_with_state(
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
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            shape_response,
        ))
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

/// The variants that shape every response: its headers, its media type, how refusals explain
/// themselves, and (counted here) the HTTP version it came over.
async fn shape_response(
    AxumState(shared): AxumState<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let version = request.version();
    if version == axum::http::Version::HTTP_11 {
        shared.variant(Variant::Http1Only);
    }
    if version == axum::http::Version::HTTP_2 {
        shared.variant(Variant::Http2Only);
    }
    let mut response = next.run(request).await;
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type.starts_with("text/plain") && shared.variant(Variant::ProblemJsonErrors) {
        let status = response.status();
        let body = axum::body::to_bytes(std::mem::take(response.body_mut()), MAX_BODY_BYTES)
            .await
            .unwrap_or_default();
        let problem = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or_default(),
            "status": status.as_u16(),
            "detail": String::from_utf8_lossy(&body),
        });
        *response.body_mut() = Body::from(problem.to_string());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
    }
    let headers = response.headers_mut();
    match content_type.as_str() {
        "application/octet-stream" if shared.variant(Variant::UnlabelledBodies) => {
            headers.remove(header::CONTENT_TYPE);
        }
        "application/octet-stream" if shared.variant(Variant::MediaTypeParameters) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream; padding=0"),
            );
        }
        "application/json" if shared.variant(Variant::MediaTypeParameters) => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        _ => {}
    }
    if shared.variant(Variant::ExtraResponseHeaders) {
        headers.insert(header::SERVER, HeaderValue::from_static("variant/1.0"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("x-request-id", HeaderValue::from_static("8c1f0e2a"));
    }
    response
}

/// Whether a certificate name authenticates a `From` domain: exactly the same name (P-06 §4.1).
fn authenticates(certified: &str, from: &str, faults: &Faults) -> bool {
    // The faults compare the way a hand-rolled check might: by suffix, or by prefix.
    (faults.on(Fault::FromSubdomainAccepted) && from.ends_with(&format!(".{certified}")))
        || (faults.on(Fault::FromPrefixAccepted) && from.starts_with(certified))
        || certified == from
}
