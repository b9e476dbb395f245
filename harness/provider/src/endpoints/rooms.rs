//! The hub's room endpoints (P-06 §5.3, §5.4, §5.6, §5.9): each decodes its body, finds the
//! room and hands both to the hub logic in `crate::hub`; accepted messages are fanned out under
//! the same lock that accepted them, so that fan-out order is acceptance order.

use super::{reject, tls_body, PeerDomain, SharedState};
use crate::faults::Fault;
use crate::variants::Variant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Extension;
use mimi_wire::messages::abuse::AbuseReport;
use mimi_wire::messages::group_info::{
    GroupInfoCode, GroupInfoRequest, GroupInfoResponse, JoiningCodeInTbs, GROUP_INFO_REQUEST_LABEL,
};
use mimi_wire::messages::submit::{SubmitMessageRequest, SubmitOutcome};
use mimi_wire::messages::update::{HandshakeBundle, UpdateOutcome};
use mimi_wire::{decode_exact, Decode, Encode};

/// The body decoded, or the 4xx that says why it does not decode; with `accepted_by_fault`
/// on, the answer a vendor's "take it now, read it later" gives instead: `status`, no body.
fn decode<T: Decode>(
    body: &[u8],
    shared: &super::Shared,
    accepted_by_fault: Fault,
    status: StatusCode,
) -> Result<T, Box<Response>> {
    decode_exact::<T>(body).map_err(|e| {
        Box::new(if shared.fault(accepted_by_fault) {
            status.into_response()
        } else {
            reject(shared.malformed(), format!("malformed {}: {e}", T::NAME))
        })
    })
}

/// A response body; a refusal goes with `refusal` instead of 200 under the variant
/// `refusals-with-4xx`.
fn answer_with(shared: &super::Shared, body: Vec<u8>, refusal: Option<StatusCode>) -> Response {
    let mut response = tls_body(body);
    if let Some(status) = refusal.filter(|_| shared.variant(Variant::RefusalsWith4xx)) {
        *response.status_mut() = status;
    }
    response
}

fn no_room(room: &str) -> Response {
    reject(
        StatusCode::NOT_FOUND,
        format!("this provider is not the hub of {room:?}"),
    )
}

pub fn update_route() -> MethodRouter<SharedState> {
    post(update)
}

async fn update(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(room): Path<String>,
    body: Bytes,
) -> Response {
    let bundle = match decode::<HandshakeBundle>(
        &body,
        &shared,
        Fault::UpdateMalformedAccepted,
        StatusCode::OK,
    ) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut state = shared.state();
    let Some(hub_room) = state.rooms.get_mut(&room) else {
        return no_room(&room);
    };
    let decision = hub_room.update(&bundle, &peer, &shared.faults);
    shared.dispatch(&mut state, decision.fanout);
    let refusal = match decision.response.outcome {
        UpdateOutcome::Success { .. } => None,
        UpdateOutcome::WrongEpoch { .. } => Some(StatusCode::CONFLICT),
        UpdateOutcome::InvalidProposal { .. } => Some(StatusCode::UNPROCESSABLE_ENTITY),
        UpdateOutcome::Other => Some(StatusCode::FORBIDDEN),
    };
    answer_with(&shared, decision.response.to_bytes(), refusal)
}

pub fn submit_route() -> MethodRouter<SharedState> {
    post(submit)
}

async fn submit(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(room): Path<String>,
    body: Bytes,
) -> Response {
    let request = match decode::<SubmitMessageRequest>(
        &body,
        &shared,
        Fault::SubmitMalformedAccepted,
        StatusCode::OK,
    ) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let mut state = shared.state();
    let Some(hub_room) = state.rooms.get_mut(&room) else {
        return no_room(&room);
    };
    let (response, fanout) = hub_room.submit(&request, &peer, &shared.hub, &shared.faults);
    shared.dispatch(&mut state, fanout);
    let refusal = match response.outcome {
        SubmitOutcome::Accepted { .. } => None,
        SubmitOutcome::EpochTooOld { .. } => Some(StatusCode::CONFLICT),
        SubmitOutcome::Other => Some(StatusCode::FORBIDDEN),
    };
    answer_with(&shared, response.to_bytes(), refusal)
}

pub fn group_info_route() -> MethodRouter<SharedState> {
    post(group_info)
}

async fn group_info(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(room): Path<String>,
    body: Bytes,
) -> Response {
    match decode::<GroupInfoRequest>(
        &body,
        &shared,
        Fault::GroupInfoMalformedAccepted,
        StatusCode::OK,
    ) {
        Ok(request) => {
            let response = answer(&shared, &room, &request, &peer);
            let refusal = match response.status {
                GroupInfoCode::success => None,
                GroupInfoCode::noSuchRoom => Some(StatusCode::NOT_FOUND),
                _ => Some(StatusCode::FORBIDDEN),
            };
            answer_with(&shared, response.to_bytes(), refusal)
        }
        Err(r) => *r,
    }
}

/// The hub's answer to a GroupInfoRequest from a client of `peer` (P-06 §5.6).
pub fn answer(
    shared: &super::Shared,
    room: &str,
    request: &GroupInfoRequest,
    peer: &str,
) -> GroupInfoResponse {
    let refuse = |status| GroupInfoResponse::refusal(room, status);
    if !shared.fault(crate::faults::Fault::GroupInfoSignatureNotChecked) && verify(request).is_err()
    {
        return refuse(GroupInfoCode::notAuthorized);
    }
    let state = shared.state();
    match state.rooms.get(room) {
        Some(hub_room) => hub_room.group_info(request, peer, &shared.hub, &shared.faults),
        None if shared.variant(Variant::GroupInfoHidesRooms) => {
            refuse(GroupInfoCode::notAuthorized)
        }
        None => refuse(GroupInfoCode::noSuchRoom),
    }
}

/// The request's signature with its own key, in its suite's scheme (label "GroupInfoRequestTBS").
fn verify(request: &GroupInfoRequest) -> Result<(), String> {
    let suite = openmls::prelude::Ciphersuite::try_from(request.cipher_suite)
        .map_err(|e| format!("cipher_suite: {e:?}"))?;
    // The draft's TBS marks the joining code optional and its request does not (reference §9
    // item 8): either encoding is accepted.
    [JoiningCodeInTbs::Optional, JoiningCodeInTbs::Plain]
        .iter()
        .find_map(|form| {
            mimi_mls::labels::verify_with_label(
                suite.signature_algorithm(),
                &request.requesting_signature_key.0,
                GROUP_INFO_REQUEST_LABEL,
                &request.to_be_signed(*form),
                &request.signature.0,
            )
            .ok()
        })
        .ok_or_else(|| "the request signature does not verify".to_string())
}

pub fn abuse_route() -> MethodRouter<SharedState> {
    post(report_abuse)
}

/// `reportAbuse` (P-06 §5.9): accepted with no body, for a room hosted here.
async fn report_abuse(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(room): Path<String>,
    body: Bytes,
) -> Response {
    if shared.fault(Fault::AbuseReportRefused) {
        return reject(StatusCode::BAD_REQUEST, "abuse reports are not taken");
    }
    let report = match decode::<AbuseReport>(
        &body,
        &shared,
        Fault::AbuseMalformedAccepted,
        StatusCode::CREATED,
    ) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if super::uri_domain(&report.reporting_user.0) != Some(peer.as_str()) {
        return reject(
            StatusCode::FORBIDDEN,
            format!(
                "reportingUser {:?} is not a user of {peer}",
                report.reporting_user.0
            ),
        );
    }
    let mut state = shared.state();
    if !state.rooms.contains_key(&room) {
        return no_room(&room);
    }
    if state.abuse_reports.len() == crate::state::MAX_ABUSE_REPORTS {
        state.abuse_reports.pop_front();
    }
    state.abuse_reports.push_back(report);
    if shared.variant(Variant::AbuseReport204) {
        return StatusCode::NO_CONTENT.into_response();
    }
    StatusCode::CREATED.into_response()
}
