//! `GET /.well-known/mimi-protocol-directory` (P-06 §5.1).

use super::SharedState;
use crate::variants::Variant;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn get(State(shared): State<SharedState>) -> impl IntoResponse {
    let mut directory = super::directory_with(&shared.domain, &shared.variants);
    // Counted when served: what these variants change is the document itself.
    for variant in [
        Variant::DirectoryMeta,
        Variant::DirectoryVendorEndpoints,
        Variant::PathPrefix,
        Variant::ConsentVariablesAsExample,
        Variant::OwnVariableNames,
    ] {
        shared.variant(variant);
    }
    if shared.fault(crate::faults::Fault::DirectoryWithoutNotify) {
        directory.endpoints.remove("notify");
    }
    if shared.fault(crate::faults::Fault::DirectoryHttpUrls) {
        for url in directory.endpoints.values_mut() {
            *url = url.replacen("https://", "http://", 1);
        }
    }
    let mut members = directory.members();
    if shared.variant(Variant::DirectoryMemberOrder) {
        members.sort_by(|a, b| b.0.cmp(&a.0));
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        mimi_wire::messages::directory::json_object(&members),
    )
}
