//! `GET /.well-known/mimi-protocol-directory` (P-06 §5.1).

use super::SharedState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn get(State(shared): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::directory(&shared.domain).to_json(),
    )
}
