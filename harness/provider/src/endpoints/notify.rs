//! `POST /notify/{roomId}` (P-06 §5.5), the follower side of fan-out: 201 with no body for a
//! well-formed body of one or more FanoutMessages from the room's hub; a byte-identical repeat
//! is also 201 and delivered only once.

use super::{reject, uri_domain, PeerDomain, SharedState};
use crate::faults::Fault;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Extension;
use mimi_wire::decode_exact;
use mimi_wire::messages::notify::NotifyBody;
use sha2::Digest;

pub fn route() -> MethodRouter<SharedState> {
    post(handle)
}

fn created(shared: &super::Shared) -> Response {
    if shared.fault(Fault::NotifyAnswers200) {
        StatusCode::OK.into_response()
    } else {
        StatusCode::CREATED.into_response()
    }
}

async fn handle(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(room): Path<String>,
    body: Bytes,
) -> Response {
    if !from_hub(&shared, &room, &peer) {
        return reject(
            StatusCode::FORBIDDEN,
            format!("{peer} is not the hub of {room:?}; only a room's hub notifies (P-06 §5.5)"),
        );
    }
    let messages = match decode_exact::<NotifyBody>(&body) {
        Ok(NotifyBody(messages)) => messages,
        // The fault takes the body now and reads it later, so garbage gets a 201 too.
        Err(_) if shared.fault(Fault::NotifyMalformedAccepted) => return created(&shared),
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                format!("malformed notify body: {e}"),
            )
        }
    };
    let digest: [u8; 32] = sha2::Sha256::new()
        .chain_update(peer.as_bytes())
        .chain_update([0])
        .chain_update(room.as_bytes())
        .chain_update([0])
        .chain_update(&body)
        .finalize()
        .into();
    let mut state = shared.state();
    if state.seen_notifications.contains(&digest) {
        if shared.fault(Fault::NotifyRepeatRefused) {
            return reject(StatusCode::CONFLICT, "this notify was received before");
        }
        if !shared.fault(Fault::NotifyRepeatRedelivered) {
            return created(&shared);
        }
    } else {
        if state.seen_notifications.len() == crate::state::MAX_SEEN_NOTIFICATIONS {
            state.seen_notifications.pop_front();
        }
        state.seen_notifications.push_back(digest);
    }
    let count = if shared.fault(Fault::NotifyBatchTruncated) {
        1
    } else if shared.fault(Fault::NotifyBatchLastDropped) && messages.len() > 1 {
        // A body of one message takes another path, which the fault leaves right.
        messages.len() - 1
    } else {
        messages.len()
    };
    for message in messages.iter().take(count) {
        crate::client_actions::deliver(&mut state, &room, message, &shared.faults);
    }
    created(&shared)
}

/// Whether `peer` is the hub of `room`: the provider of the room URI's domain, exactly.
fn from_hub(shared: &super::Shared, room: &str, peer: &str) -> bool {
    match uri_domain(room) {
        _ if shared.fault(Fault::NotifyFromAnyProvider) => true,
        Some(hub) if shared.fault(Fault::NotifyHubSubdomainAccepted) => {
            hub == peer || hub.ends_with(&format!(".{peer}"))
        }
        Some(hub) => hub == peer,
        None => false,
    }
}
