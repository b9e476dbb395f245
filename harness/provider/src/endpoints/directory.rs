//! `GET /.well-known/mimi-protocol-directory` (P-06 §5.1).

use super::SharedState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn get(State(shared): State<SharedState>) -> impl IntoResponse {
    let mut directory = super::directory(&shared.domain);
    if shared.fault(crate::faults::Fault::DirectoryWithoutNotify) {
        directory.endpoints.remove("notify");
    }
    if shared.fault(crate::faults::Fault::DirectoryHttpUrls) {
        for url in directory.endpoints.values_mut() {
            *url = url.replacen("https://", "http://", 1);
        }
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        directory.to_json(),
    )
}
