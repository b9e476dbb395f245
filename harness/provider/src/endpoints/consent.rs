//! `requestConsent` and `updateConsent` (P-06 §5.7): consent to claim a user's KeyPackages,
//! connection-wide or for one room. Requests are stored for local users; grants and revocations
//! come from the target's provider to the requester's.

use super::{reject, uri_domain, PeerDomain, SharedState};
use crate::faults::Fault;
use crate::state::{ConsentScope, MAX_CONSENT_ENTRIES};
use crate::variants::Variant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Extension;
use mimi_wire::decode_exact;
use mimi_wire::messages::consent::{ConsentEntry, ConsentOperation};

pub fn request_route() -> MethodRouter<SharedState> {
    post(request)
}

pub fn update_route() -> MethodRouter<SharedState> {
    post(update)
}

fn scope(entry: &ConsentEntry) -> ConsentScope {
    (
        entry.requester_uri.0.clone(),
        entry.target_uri.0.clone(),
        entry.room_id.as_ref().map(|r| r.0.clone()),
    )
}

/// The consent endpoint an entry came to.
#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    /// requestConsent: from the requester's provider, for a local target.
    Request,
    /// updateConsent: from the target's provider, for a local requester.
    Update,
}

/// The entry, decoded, with the side it comes from and the side it goes to checked (P-06 §5.7):
/// for `requestConsent` the requesterUri is in the sending provider's domain and the targetUri
/// in ours; for `updateConsent` the other way round. Every comparison is of the whole domain.
fn entry(
    body: &Bytes,
    peer: &str,
    endpoint: Endpoint,
    shared: &super::Shared,
) -> Result<ConsentEntry, (StatusCode, String)> {
    let entry = decode_exact::<ConsentEntry>(body).map_err(|e| {
        // The faults answer what they cannot read as if they had taken it.
        let accepted = match endpoint {
            Endpoint::Request => shared.fault(Fault::RequestConsentMalformedAccepted),
            Endpoint::Update => shared.fault(Fault::UpdateConsentMalformedAccepted),
        };
        if accepted {
            (StatusCode::CREATED, String::new())
        } else {
            (shared.malformed(), format!("malformed ConsentEntry: {e}"))
        }
    })?;
    if shared.fault(Fault::ConsentDomainsUnchecked) {
        return Ok(entry);
    }
    let (from_peer, local) = match endpoint {
        Endpoint::Request => (&entry.requester_uri.0, &entry.target_uri.0),
        Endpoint::Update => (&entry.target_uri.0, &entry.requester_uri.0),
    };
    let peer_side_checked =
        !(endpoint == Endpoint::Update && shared.fault(Fault::GrantTargetUnchecked));
    let of_peer = match uri_domain(from_peer) {
        Some(d) => {
            d == peer
                || (shared.fault(Fault::ConsentSubdomainAccepted)
                    && d.ends_with(&format!(".{peer}")))
        }
        None => false,
    };
    if peer_side_checked && !of_peer {
        return Err((
            StatusCode::FORBIDDEN,
            format!("{from_peer} is not a user of the sending provider {peer}"),
        ));
    }
    if uri_domain(local) != Some(shared.domain.as_str()) {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("{local} is not a user of this provider"),
        ));
    }
    Ok(entry)
}

/// From the requester's provider to the target's: `request` or `cancel`.
async fn request(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(_target_domain): Path<String>,
    body: Bytes,
) -> Response {
    let entry = match entry(&body, &peer, Endpoint::Request, &shared) {
        Ok(e) => e,
        Err((status, reason)) => return reject(status, reason),
    };
    if shared.fault(Fault::ConsentAnswers200) {
        return StatusCode::OK.into_response();
    }
    let mut state = shared.state();
    match entry.consent_operation {
        ConsentOperation::request => {
            // We reveal that a target does not exist (the draft allows either, P-06 §5.7).
            if !state.users.contains_key(&entry.target_uri.0) {
                if shared.variant(Variant::ConsentRequestAlways201) {
                    return StatusCode::CREATED.into_response();
                }
                return reject(
                    StatusCode::NOT_FOUND,
                    format!("no user {}", entry.target_uri.0),
                );
            }
            if state.consent_requested.len() >= MAX_CONSENT_ENTRIES {
                return reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many pending consent requests",
                );
            }
            state.consent_requested.insert(scope(&entry));
        }
        ConsentOperation::cancel => {
            let removed = state.consent_requested.remove(&scope(&entry));
            // A cancel with no matching request still gets 201 (P-06 §5.7).
            if !removed && shared.fault(Fault::ConsentCancelRejected) {
                return reject(StatusCode::NOT_FOUND, "no such consent request");
            }
        }
        other => {
            return reject(
                StatusCode::BAD_REQUEST,
                format!(
                    "requestConsent carries request or cancel, not {}",
                    other.name().unwrap_or("an unknown operation")
                ),
            )
        }
    }
    StatusCode::CREATED.into_response()
}

/// From the target's provider to the requester's: `grant` (with KeyPackages) or `revoke`.
async fn update(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(_requester_domain): Path<String>,
    body: Bytes,
) -> Response {
    let entry = match entry(&body, &peer, Endpoint::Update, &shared) {
        Ok(e) => e,
        Err((status, reason)) => return reject(status, reason),
    };
    let mut state = shared.state();
    if !state.users.contains_key(&entry.requester_uri.0)
        && shared.variant(Variant::UpdateConsentReveals404)
    {
        return reject(
            StatusCode::NOT_FOUND,
            format!("no user {}", entry.requester_uri.0),
        );
    }
    match entry.consent_operation {
        ConsentOperation::grant
            if shared.fault(Fault::ConsentGrantRefused)
                && !entry.client_key_packages.is_empty() =>
        {
            return reject(
                StatusCode::BAD_REQUEST,
                "grants with KeyPackages are not accepted",
            );
        }
        ConsentOperation::grant => {
            if state.consent_granted.len() >= MAX_CONSENT_ENTRIES {
                return reject(StatusCode::SERVICE_UNAVAILABLE, "too many consent grants");
            }
            state.consent_granted.insert(scope(&entry));
        }
        ConsentOperation::revoke => {
            state.consent_granted.remove(&scope(&entry));
        }
        other => {
            return reject(
                StatusCode::BAD_REQUEST,
                format!(
                    "updateConsent carries grant or revoke, not {}",
                    other.name().unwrap_or("an unknown operation")
                ),
            )
        }
    }
    StatusCode::CREATED.into_response()
}
