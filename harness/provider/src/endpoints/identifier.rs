//! `identifierQuery` (P-06 §5.8): find users by identifiers. Safe and idempotent: a query never
//! changes state. This provider searches handles, nicks and emails; whole-profile and
//! partial-name searches are refused (they enumerate users); OIDC claims, vCard fields and phone
//! numbers are not supported.

use super::{reject, tls_body, SharedState};
use crate::faults::Fault;
use crate::variants::Variant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use mimi_wire::common::IdentifierUri;
use mimi_wire::fields::Since;
use mimi_wire::messages::identifier::{
    IdentifierQueryCode, IdentifierRequest, IdentifierResponse, QueryElement, SearchIdentifierType,
};
use mimi_wire::{decode_exact, Encode};

pub fn route() -> MethodRouter<SharedState> {
    post(handle)
}

fn answer(code: IdentifierQueryCode, uris: Vec<String>) -> Response {
    tls_body(
        IdentifierResponse {
            response_code: code,
            uri: uris.into_iter().map(IdentifierUri).collect(),
            found_profiles: Vec::new(),
            id_response_extensions: Since(Some(Default::default())),
        }
        .to_bytes(),
    )
}

fn matches(shared: &super::Shared, user: &crate::state::User, element: &QueryElement) -> bool {
    let value = String::from_utf8_lossy(&element.search_value.0);
    match element.search_type {
        SearchIdentifierType::handle if shared.variant(Variant::HandlesAreUris) => {
            format!("im:{}@{}", user.handle, shared.domain) == value
        }
        // The fault matches the start of a handle: a search, not the exact match of P-06 §5.8.
        SearchIdentifierType::handle | SearchIdentifierType::nick
            if shared.fault(Fault::IdentifierHandlePrefix) =>
        {
            !value.is_empty() && user.handle.starts_with(&*value)
        }
        SearchIdentifierType::handle | SearchIdentifierType::nick => user.handle == value,
        SearchIdentifierType::email => user.email.eq_ignore_ascii_case(&value),
        _ => false,
    }
}

async fn handle(
    State(shared): State<SharedState>,
    Path(_domain): Path<String>,
    body: Bytes,
) -> Response {
    let request = match decode_exact::<IdentifierRequest>(&body) {
        Ok(r) => r,
        // The fault answers what it cannot read as a query that found nobody.
        Err(_) if shared.fault(Fault::IdentifierMalformedAccepted) => {
            return answer(IdentifierQueryCode::notFound, Vec::new())
        }
        Err(e) => {
            return reject(
                shared.malformed(),
                format!("malformed IdentifierRequest: {e}"),
            )
        }
    };
    // The fault makes a query change state: the same query a second time finds nothing.
    if shared.fault(Fault::IdentifierQueryNotIdempotent) {
        let mut state = shared.state();
        if state.seen_queries.len() >= crate::state::MAX_SEEN_QUERIES {
            state.seen_queries.clear();
        }
        if !state.seen_queries.insert(body.to_vec()) {
            return answer(IdentifierQueryCode::notFound, Vec::new());
        }
    }
    if request.query_elements.is_empty() {
        return answer(IdentifierQueryCode::forbidden, Vec::new());
    }
    if shared.fault(Fault::IdentifierQueryEnumerates) {
        let everyone = shared.state().users.keys().cloned().collect();
        return answer(IdentifierQueryCode::success, everyone);
    }
    // The fault decides from the first element's field alone.
    let judged = if shared.fault(Fault::IdentifierFieldSupportFirstOnly) {
        1
    } else {
        request.query_elements.len()
    };
    for element in request.query_elements.iter().take(judged) {
        match element.search_type {
            SearchIdentifierType::handle | SearchIdentifierType::email
                if shared.variant(Variant::IdentifierNickOnly) =>
            {
                return answer(IdentifierQueryCode::unsupportedField, Vec::new())
            }
            SearchIdentifierType::handle
            | SearchIdentifierType::nick
            | SearchIdentifierType::email => {}
            SearchIdentifierType::wholeProfile | SearchIdentifierType::partialName => {
                return answer(IdentifierQueryCode::forbidden, Vec::new())
            }
            _ if shared.variant(Variant::IdentifierRefusalsForbidden) => {
                return answer(IdentifierQueryCode::forbidden, Vec::new())
            }
            _ => return answer(IdentifierQueryCode::unsupportedField, Vec::new()),
        }
    }
    let state = shared.state();
    let found: Vec<String> = state
        .users
        .values()
        .filter(|u| {
            let mut elements = request.query_elements.iter();
            // P-06 §5.8: every element has to match (AND); the faults take any, or the first.
            if shared.fault(Fault::IdentifierQueryOrSemantics) {
                elements.any(|e| matches(&shared, u, e))
            } else if shared.fault(Fault::IdentifierQueryFirstElementOnly) {
                elements.next().is_some_and(|e| matches(&shared, u, e))
            } else {
                elements.all(|e| matches(&shared, u, e))
            }
        })
        .map(|u| u.uri.clone())
        .collect();
    if shared.fault(Fault::IdentifierQueryFindsNobody) {
        return answer(IdentifierQueryCode::notFound, Vec::new());
    }
    match found.len() {
        0 if shared.fault(Fault::IdentifierQueryMatchesAnyone) => answer(
            IdentifierQueryCode::success,
            state.users.keys().take(1).cloned().collect(),
        ),
        0 => answer(IdentifierQueryCode::notFound, found),
        1 => answer(IdentifierQueryCode::success, found),
        _ => answer(IdentifierQueryCode::ambiguous, found),
    }
}
