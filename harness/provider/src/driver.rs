//! The driver API (links A and C): HTTP/JSON through which the harness acts as this provider's
//! users: create users and clients, create rooms with this provider as hub, invite, send,
//! read what a client received, remove, leave, join by external commit. Specified in
//! `fixtures/driver-api/openapi.yaml`; every request needs `Authorization: Bearer <token>`,
//! because it controls users' accounts.

use crate::client_actions::{self, ActionError};
use crate::endpoints::{Shared, SharedState};
use crate::hub::RoomPolicy;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// KeyPackages a client created through the driver publishes.
const KEY_PACKAGES_PER_NEW_CLIENT: usize = 16;
/// Largest driver request body.
const MAX_DRIVER_BODY: usize = 1 << 20;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

impl IntoResponse for ActionError {
    fn into_response(self) -> Response {
        let status = match &self {
            ActionError::Invalid(_) => StatusCode::BAD_REQUEST,
            ActionError::Refused(_) => StatusCode::CONFLICT,
            ActionError::Peer(_) => StatusCode::BAD_GATEWAY,
        };
        error(status, self.to_string())
    }
}

type Answer = Result<Response, ActionError>;

fn ok(status: StatusCode, body: Value) -> Answer {
    Ok((status, Json(body)).into_response())
}

pub fn router(shared: SharedState, token: String) -> Router {
    Router::new()
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/{user}/clients", post(create_client))
        .route("/v1/rooms", post(create_room))
        .route("/v1/rooms/{room}/invite", post(invite))
        .route("/v1/rooms/{room}/remove", post(remove))
        .route("/v1/rooms/{room}/leave", post(leave))
        .route("/v1/rooms/{room}/commit", post(commit))
        .route("/v1/rooms/{room}/join", post(join))
        .route("/v1/rooms/{room}/messages", post(send))
        .route("/v1/clients/{client}/messages", get(messages))
        .route("/v1/clients/{client}/rooms/{room}", get(room_state))
        .route("/v1/assets", post(upload_asset))
        .route("/v1/consent", post(|s, b| consent(s, b, false)))
        .route("/v1/consent/cancel", post(|s, b| consent(s, b, true)))
        .route("/v1/idle", post(await_idle))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such driver operation") })
        .layer(middleware::from_fn_with_state(Arc::new(token), authorise))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DRIVER_BODY))
        .with_state(shared)
}

async fn authorise(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented != Some(token.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    next.run(request).await
}

/// A JSON body, with a 400 naming the problem when it is malformed.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Response;
    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

async fn list_users(State(shared): State<SharedState>) -> Json<Value> {
    let state = shared.state();
    Json(json!({"users": state.users.values().map(|u| json!({
        "user": u.uri,
        "clients": u.clients.iter().map(|c| c.sim.uri.clone()).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
}

async fn create_user(State(shared): State<SharedState>, Body(body): Body<NewUser>) -> Answer {
    let mut state = shared.state();
    let user = client_actions::add_user(
        &mut state,
        &shared.domain,
        &body.name,
        KEY_PACKAGES_PER_NEW_CLIENT,
    )?;
    let clients: Vec<String> = state.users[&user]
        .clients
        .iter()
        .map(|c| c.sim.uri.clone())
        .collect();
    ok(
        StatusCode::CREATED,
        json!({"user": user, "clients": clients}),
    )
}

async fn create_client(State(shared): State<SharedState>, Path(user): Path<String>) -> Answer {
    let mut state = shared.state();
    let client = client_actions::add_client(
        &mut state,
        &shared.domain,
        &user,
        KEY_PACKAGES_PER_NEW_CLIENT,
    )?;
    ok(StatusCode::CREATED, json!({"client": client}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewRoom {
    client: String,
    name: String,
    max_users: Option<usize>,
    max_clients: Option<usize>,
}

async fn create_room(State(shared): State<SharedState>, Body(body): Body<NewRoom>) -> Answer {
    let policy = RoomPolicy {
        max_users: body.max_users,
        max_clients: body.max_clients,
    };
    let room = client_actions::create_room(&shared, &body.client, &body.name, policy)?;
    ok(StatusCode::CREATED, json!({"room": room}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientAndUser {
    client: String,
    user: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientOnly {
    client: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invitation {
    client: String,
    user: String,
    /// The role the user gets (default: participant).
    role: Option<u32>,
}

async fn invite(
    State(shared): State<SharedState>,
    Path(room): Path<String>,
    Body(body): Body<Invitation>,
) -> Answer {
    let role = body.role.unwrap_or(client_actions::PARTICIPANT_ROLE);
    let epoch = client_actions::invite(&shared, &body.client, &room, &body.user, role).await?;
    ok(StatusCode::OK, json!({"epoch": epoch}))
}

async fn remove(
    State(shared): State<SharedState>,
    Path(room): Path<String>,
    Body(body): Body<ClientAndUser>,
) -> Answer {
    let epoch = client_actions::remove(&shared, &body.client, &room, &body.user).await?;
    ok(StatusCode::OK, json!({"epoch": epoch}))
}

async fn leave(
    State(shared): State<SharedState>,
    Path(room): Path<String>,
    Body(body): Body<ClientOnly>,
) -> Answer {
    client_actions::leave(&shared, &body.client, &room).await?;
    ok(StatusCode::ACCEPTED, json!({}))
}

async fn commit(
    State(shared): State<SharedState>,
    Path(room): Path<String>,
    Body(body): Body<ClientOnly>,
) -> Answer {
    let epoch = client_actions::commit_pending(&shared, &body.client, &room).await?;
    ok(StatusCode::OK, json!({"epoch": epoch}))
}

async fn join(
    State(shared): State<SharedState>,
    Path(room): Path<String>,
    Body(body): Body<ClientOnly>,
) -> Answer {
    let epoch = client_actions::join(&shared, &body.client, &room).await?;
    ok(StatusCode::OK, json!({"epoch": epoch}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    client: String,
    /// MIMI content (CBOR), base64.
    content: Option<String>,
    /// Instead of `content`: a text the client writes as MIMI content of its own.
    text: Option<String>,
}

fn base64_field(name: &str, value: &str) -> Result<Vec<u8>, ActionError> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| ActionError::Invalid(format!("{name} is not base64: {e}")))
}

async fn send(
    State(shared): State<SharedState>,
    Path(room): Path<String>,
    Body(body): Body<Message>,
) -> Answer {
    let content = match (&body.content, &body.text) {
        (Some(content), None) => base64_field("content", content)?,
        (None, Some(text)) => client_actions::text_content(&shared, &body.client, &room, text),
        _ => {
            return Err(ActionError::Invalid(
                "give exactly one of content and text".into(),
            ))
        }
    };
    let sent = client_actions::send(&shared, &body.client, &room, &content).await?;
    ok(
        StatusCode::OK,
        json!({"acceptedTimestamp": sent.accepted_timestamp, "franked": sent.franked}),
    )
}

async fn messages(State(shared): State<SharedState>, Path(client): Path<String>) -> Answer {
    let mut state = shared.state();
    let client = client_actions::find_client(&mut state, &client)?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let messages: Vec<Value> = client
        .inbox
        .iter()
        .map(|d| {
            json!({
                "room": d.room,
                "senderClient": d.sender_client,
                "senderUser": d.sender_user,
                "content": b64(&d.content),
                "hubTimestamp": d.hub_timestamp,
                "messageId": hex(&d.message_id),
                "franked": d.franked,
            })
        })
        .collect();
    ok(StatusCode::OK, json!({"messages": messages}))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn room_state(
    State(shared): State<SharedState>,
    Path((client, room)): Path<(String, String)>,
) -> Answer {
    let mut state = shared.state();
    let member = client_actions::find_client(&mut state, &client)?;
    let Some(group) = member.groups.get(&room) else {
        return Ok(error(
            StatusCode::NOT_FOUND,
            format!("{client} is not a member of {room}"),
        ));
    };
    let members: Vec<String> = group
        .members()
        .map(|m| client_actions::identity(&m.credential))
        .collect();
    let participants: Vec<Value> = mimi_mls::room::participant_list(group.extensions())
        .participants
        .iter()
        .map(|p| json!({"user": String::from_utf8_lossy(&p.user.0), "roleIndex": p.role_index}))
        .collect();
    ok(
        StatusCode::OK,
        json!({
            "room": room,
            "epoch": group.epoch().as_u64(),
            "members": members,
            "participants": participants,
            "deliveries": member.deliveries.get(&room).copied().unwrap_or_default(),
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    client: String,
    user: String,
    room: Option<String>,
}

/// A consent request, or (`cancel`) its cancellation.
async fn consent(
    State(shared): State<SharedState>,
    Body(body): Body<ConsentRequest>,
    cancel: bool,
) -> Answer {
    let room = body.room.as_deref();
    client_actions::consent(&shared, &body.client, &body.user, room, cancel).await?;
    ok(StatusCode::ACCEPTED, json!({}))
}

/// The longest `awaitIdle` wait a request may ask for.
const MAX_IDLE_WAIT_MS: u64 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdleWait {
    /// Milliseconds to wait at most.
    within: u64,
    /// Only these rooms' work is waited for (none: all work, of any room or none).
    rooms: Option<Vec<String>>,
}

/// Answers once nothing is left to send on link B (fan-out queued or retried, requests in
/// flight) for the rooms asked about, or for any when none are, or 504 when something still
/// is after `within` milliseconds.
async fn await_idle(State(shared): State<SharedState>, Body(body): Body<IdleWait>) -> Answer {
    if body.within > MAX_IDLE_WAIT_MS {
        return Err(ActionError::Invalid(format!(
            "within is at most {MAX_IDLE_WAIT_MS} ms"
        )));
    }
    let rooms = body.rooms.as_deref();
    let outgoing = &shared.peers.outgoing;
    if outgoing
        .settled(rooms, std::time::Duration::from_millis(body.within))
        .await
    {
        ok(StatusCode::OK, json!({}))
    } else {
        let of = match rooms {
            Some(rooms) => format!(" for {}", rooms.join(", ")),
            None => String::new(),
        };
        Ok(error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "{} outgoing link-B requests{of} still pending after {} ms",
                outgoing.pending(rooms),
                body.within
            ),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Asset {
    content: String,
}

async fn upload_asset(State(shared): State<SharedState>, Body(body): Body<Asset>) -> Answer {
    let content = base64_field("content", &body.content)?;
    let url = store_asset(&shared, content)?;
    ok(StatusCode::CREATED, json!({"url": url}))
}

/// Stores an asset and returns the URL it is served at.
pub fn store_asset(shared: &Shared, content: Vec<u8>) -> Result<String, ActionError> {
    use sha2::Digest;
    let mut state = shared.state();
    if state.assets.len() >= crate::state::MAX_ASSETS {
        return Err(ActionError::Invalid(
            "this provider holds as many assets as it keeps".into(),
        ));
    }
    let id = hex(&sha2::Sha256::digest(&content)[..16]);
    state.assets.insert(id.clone(), content);
    Ok(format!(
        "https://{}{}",
        shared.domain,
        crate::endpoints::proxy::ASSET_PATH.replace("{asset}", &id)
    ))
}
