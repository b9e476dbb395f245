//! `POST /notify/{roomId}` (P-06 §5.5), the follower side of fan-out: 201 with no body for a
//! well-formed body of one or more FanoutMessages from the room's hub; a byte-identical repeat
//! is also 201 and delivered only once.

use super::{reject, uri_domain, PeerDomain, SharedState};
use crate::faults::Fault;
use crate::variants::Variant;
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
        Err(e) => return reject(shared.malformed(), format!("malformed notify body: {e}")),
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
    if shared.variant(Variant::LateDelivery) {
        deliver_later(&shared, &mut state, &room, &messages[..count]);
        return created(&shared);
    }
    for message in messages.iter().take(count) {
        crate::client_actions::deliver(&mut state, &room, message, &shared.faults);
    }
    created(&shared)
}

/// How long the variant `late-delivery` holds a notify's messages back from the clients.
const LATE_DELIVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Queues the messages for delivery a while from now; whichever wake-up comes first delivers
/// everything that is due, oldest first, so that they reach the clients in the order received.
fn deliver_later(
    shared: &SharedState,
    state: &mut crate::state::State,
    room: &str,
    messages: &[mimi_wire::messages::notify::FanoutMessage],
) {
    let due = tokio::time::Instant::now() + LATE_DELIVERY;
    for message in messages {
        state
            .held_back
            .push_back((due, room.to_string(), message.clone()));
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(due).await;
        let mut state = shared.state();
        while state
            .held_back
            .front()
            .is_some_and(|(at, _, _)| *at <= tokio::time::Instant::now())
        {
            if let Some((_, room, message)) = state.held_back.pop_front() {
                crate::client_actions::deliver(&mut state, &room, &message, &shared.faults);
            }
        }
    });
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
