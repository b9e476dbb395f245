//! `GET /proxyDownload/{downloadUrl}` (P-06 §5.10.2): the hub fetches an asset for a follower's
//! client, only from a registered peer asset domain (never an open proxy); and the asset store
//! each provider serves its own users' uploads from.

use super::{reject, SharedState};
use crate::faults::Fault;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, MethodRouter};

/// Where this provider serves its users' assets.
pub const ASSET_PATH: &str = "/v1/assets/{asset}";

pub fn route() -> MethodRouter<SharedState> {
    get(proxy_download)
}

async fn proxy_download(State(shared): State<SharedState>, Path(url): Path<String>) -> Response {
    let Ok(parsed) = reqwest::Url::parse(&url) else {
        return reject(StatusCode::BAD_REQUEST, format!("{url:?} is not a URL"));
    };
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    // A registered peer asset host, exactly (P-06 §5.10.2); the faults compare by suffix or
    // by prefix, or take http too.
    let listed = shared.asset_domains.iter().any(|d| {
        *d == host
            || (shared.fault(Fault::ProxySubdomainAccepted) && host.ends_with(&format!(".{d}")))
            || (shared.fault(Fault::ProxyPrefixAccepted) && host.starts_with(d.as_str()))
    });
    let secure = parsed.scheme() == "https" || shared.fault(Fault::ProxyHttpAccepted);
    let registered = secure && listed && !shared.fault(Fault::ProxyRefusesEverything);
    if !registered && !shared.fault(Fault::OpenProxy) {
        let status = if shared.variant(crate::variants::Variant::ProxyRefusal404) {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        return reject(
            status,
            format!("{host:?} is not a registered peer asset domain; the hub is no open proxy (P-06 §5.10.2)"),
        );
    }
    match shared.peers.get(&url).await {
        Ok(answer) if answer.status == 200 => super::tls_body(answer.body),
        Ok(answer) => reject(
            StatusCode::BAD_GATEWAY,
            format!("{host} answered {} for the asset", answer.status),
        ),
        Err(e) => reject(StatusCode::BAD_GATEWAY, format!("fetching the asset: {e}")),
    }
}

pub fn asset_route() -> MethodRouter<SharedState> {
    get(asset)
}

async fn asset(State(shared): State<SharedState>, Path(asset): Path<String>) -> Response {
    match shared.state().assets.get(&asset) {
        Some(bytes) => super::tls_body(bytes.clone()),
        None => reject(StatusCode::NOT_FOUND, format!("no asset {asset:?}")),
    }
}
