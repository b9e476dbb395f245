//! `POST /keyMaterial/{targetUser}` (P-06 §5.2): hand out one KeyPackage per client of a user,
//! each at most once; as a hub, relay a follower's claim for another provider's user.

use super::{reject, tls_body, uri_domain, PeerDomain, SharedState};
use crate::faults::Fault;
use crate::state::Client;
use crate::variants::Variant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use axum::Extension;
use mimi_wire::common::{Capabilities, IdentifierUri, RequiredCapabilities, PROTOCOL_MLS10};
use mimi_wire::messages::key_material::*;
use mimi_wire::mls_objects::KeyPackage;
use mimi_wire::{decode_exact, Encode};
use openmls::prelude::{Lifetime, ProtocolVersion};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn route() -> MethodRouter<SharedState> {
    post(handle)
}

async fn handle(
    State(shared): State<SharedState>,
    Extension(PeerDomain(peer)): Extension<PeerDomain>,
    Path(target_user): Path<String>,
    body: Bytes,
) -> Response {
    let request = match decode_exact::<KeyMaterialRequest>(&body) {
        Ok(r) => r,
        Err(e) => {
            let status = if shared.fault(Fault::MalformedBodyServerError) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                shared.malformed()
            };
            return reject(status, format!("malformed KeyMaterialRequest: {e}"));
        }
    };
    if request.target_user.0 != target_user {
        return reject(
            StatusCode::BAD_REQUEST,
            format!(
                "targetUser {:?} in the body differs from {target_user:?} in the path",
                request.target_user.0
            ),
        );
    }
    if !shared.fault(Fault::RequestSignatureNotChecked) {
        if let Err(e) = mimi_mls::labels::verify_key_material_request(&request) {
            return reject(
                StatusCode::FORBIDDEN,
                format!("key_material_request_signature: {e}"),
            );
        }
    }
    let target_domain = uri_domain(&target_user).unwrap_or_default().to_string();
    if target_domain != shared.domain {
        return relay(&shared, &peer, &request, &target_domain, body.to_vec()).await;
    }
    if shared.fault(Fault::KeyPackageRace) {
        // The fault reads the KeyPackages it hands out, waits on its store, then takes them:
        // a claim that arrives meanwhile reads the same ones.
        let response = answer_with(&shared, &request, Claim::Read);
        tokio::time::sleep(RACE_WINDOW).await;
        take_handed_out(&shared, &response);
        return tls_body(response.to_bytes());
    }
    tls_body(answer(&shared, &request).to_bytes())
}

/// How long the fault `key-package-race` takes between reading and taking a KeyPackage.
const RACE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether a claim takes the KeyPackage it hands out, or (the fault) only reads it.
#[derive(Clone, Copy, PartialEq)]
enum Claim {
    Take,
    Read,
}

/// Takes the KeyPackages a response handed out from their clients, where still published.
fn take_handed_out(shared: &super::Shared, response: &KeyMaterialResponse) {
    let mut state = shared.state();
    for offered in &response.clients {
        let ClientKeyMaterialBody::KeyPackage(kp) = &offered.body else {
            continue;
        };
        let user = crate::state::user_of_client(&offered.client_uri.0);
        let client = state.users.get_mut(&user).and_then(|u| {
            u.clients
                .iter_mut()
                .find(|c| c.sim.uri == offered.client_uri.0)
        });
        if let Some(client) = client {
            client.take_key_package(&kp.bytes);
        }
    }
}

/// The hub relays a follower's claim for a user of another provider and returns the target's
/// answer unchanged (P-06 §3.3, Fig. 4); only for a room it hosts, on behalf of its own users.
async fn relay(
    shared: &SharedState,
    peer: &str,
    request: &KeyMaterialRequest,
    target_domain: &str,
    body: Vec<u8>,
) -> Response {
    let room = &request.room_id.0;
    if shared.fault(crate::faults::Fault::ClaimNotRelayed) {
        return tls_body(
            KeyMaterialResponse {
                protocol: request.protocol,
                user_status: USER_UNKNOWN,
                user_uri: request.target_user.clone(),
                clients: vec![],
            }
            .to_bytes(),
        );
    }
    if !shared.state().rooms.contains_key(room) {
        return reject(
            StatusCode::NOT_FOUND,
            format!(
                "{target_domain} serves that user, and this provider is not the hub of roomId {room:?}, so it relays nothing"
            ),
        );
    }
    if uri_domain(&request.requesting_user.0) != Some(peer) {
        return reject(
            StatusCode::FORBIDDEN,
            format!(
                "requestingUser {:?} is not a user of {peer}",
                request.requesting_user.0
            ),
        );
    }
    match shared
        .peers
        .call(
            target_domain,
            "keyMaterial",
            &request.target_user.0,
            Some(room),
            body,
        )
        .await
    {
        Ok(answer) => {
            let mut response = tls_body(answer.body);
            *response.status_mut() =
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            response
        }
        Err(e) => reject(
            StatusCode::BAD_GATEWAY,
            format!("relaying to {target_domain}: {e}"),
        ),
    }
}

/// The answer to a claim for one of this provider's users.
pub fn answer(shared: &super::Shared, request: &KeyMaterialRequest) -> KeyMaterialResponse {
    answer_with(shared, request, Claim::Take)
}

fn answer_with(
    shared: &super::Shared,
    request: &KeyMaterialRequest,
    how: Claim,
) -> KeyMaterialResponse {
    let target_user = &request.target_user.0;
    let mut state = shared.state();
    let no_consent = if shared.fault(Fault::ConsentIgnored) {
        None
    } else {
        missing_consent(shared, &state, request)
    };
    let user_uri = if shared.fault(Fault::WrongUserUri) {
        request.requesting_user.clone()
    } else {
        request.target_user.clone()
    };
    let user = match state.users.get_mut(target_user) {
        Some(user) => Some(user),
        // The fault answers for someone else's clients.
        None if shared.fault(Fault::UnknownUserGetsMaterial) => state.users.values_mut().next(),
        None => None,
    };
    let Some(user) = user else {
        return KeyMaterialResponse {
            protocol: PROTOCOL_MLS10,
            user_status: if shared.variant(Variant::NoConsentCatchAll) {
                USER_NO_CONSENT
            } else {
                USER_UNKNOWN
            },
            user_uri,
            clients: vec![],
        };
    };
    if let Some(user_status) = no_consent {
        let user_status = if user_status == USER_NO_CONSENT_FOR_THIS_ROOM
            && shared.variant(Variant::NoConsentCatchAll)
        {
            USER_NO_CONSENT
        } else {
            user_status
        };
        return KeyMaterialResponse {
            protocol: PROTOCOL_MLS10,
            user_status,
            user_uri,
            clients: vec![],
        };
    }
    // The fault treats the user as having one device.
    let listed = if shared.fault(Fault::ClaimFirstClientOnly) {
        1
    } else {
        user.clients.len()
    };
    let mut clients: Vec<ClientKeyMaterial> = user
        .clients
        .iter_mut()
        .take(listed)
        .map(|client| claim(client, request, shared, how))
        .collect();
    let count = |status| clients.iter().filter(|c| c.client_status == status).count();
    let successes = count(CLIENT_SUCCESS);
    // The fault counts a client with nothing left as served.
    let served = if shared.fault(Fault::ExhaustedReportedSuccess) {
        successes + count(CLIENT_EXHAUSTED)
    } else {
        successes
    };
    let user_status = if served == clients.len() && successes > 0 {
        USER_SUCCESS
    } else if successes > 0 {
        USER_PARTIAL_SUCCESS
    } else if shared.variant(Variant::NoConsentCatchAll) {
        USER_NO_CONSENT
    } else {
        USER_NO_COMPATIBLE_MATERIAL
    };
    if shared.fault(Fault::ExhaustedClientOmitted) {
        clients.retain(|c| c.client_status != CLIENT_EXHAUSTED);
    }
    let clients = if user_status != USER_SUCCESS
        && user_status != USER_PARTIAL_SUCCESS
        && (user_status == USER_NO_CONSENT || shared.variant(Variant::NoCompatibleWithoutClients))
    {
        // P-06 §5.2: only noCompatibleMaterial may populate the clients list.
        vec![]
    } else {
        clients
    };
    KeyMaterialResponse {
        protocol: PROTOCOL_MLS10,
        user_status,
        user_uri,
        clients,
    }
}

/// For a user who requires consent (P-06 §5.2, §8): `noConsent` without a grant for the
/// requester, `noConsentForThisRoom` when the only grants are for other rooms.
fn missing_consent(
    shared: &super::Shared,
    state: &crate::state::State,
    request: &KeyMaterialRequest,
) -> Option<u8> {
    let user = state.users.get(&request.target_user.0)?;
    if !user.consent_required {
        return None;
    }
    // Every user requires consent under the variant; counted where that is judged.
    shared.variant(Variant::ConsentRequired);
    let (requester, target) = (&request.requesting_user.0, &request.target_user.0);
    let room = (!request.room_id.0.is_empty()).then(|| request.room_id.0.clone());
    let granted = |room: &Option<String>| {
        state
            .consent_granted
            .contains(&(requester.clone(), target.clone(), room.clone()))
    };
    if granted(&None) || (room.is_some() && granted(&room)) {
        return None;
    }
    let for_other_rooms = state
        .consent_granted
        .iter()
        .any(|(r, t, scope)| r == requester && t == target && scope.is_some());
    Some(if for_other_rooms {
        USER_NO_CONSENT_FOR_THIS_ROOM
    } else {
        USER_NO_CONSENT
    })
}

fn claim(
    client: &mut Client,
    request: &KeyMaterialRequest,
    shared: &super::Shared,
    how: Claim,
) -> ClientKeyMaterial {
    let client_uri = IdentifierUri(client.sim.uri.clone());
    // What the client supports is what its published KeyPackages say (they all say the same).
    let Some(capabilities) = client.key_packages.front().map(leaf_capabilities) else {
        return ClientKeyMaterial {
            client_status: CLIENT_EXHAUSTED,
            client_uri,
            body: ClientKeyMaterialBody::Empty,
        };
    };
    let suite = u16::from(client.sim.ciphersuite);
    let suite_ok =
        shared.fault(Fault::CiphersuiteIgnored) || request.acceptable_ciphersuites.contains(&suite);
    let capabilities_ok = shared.fault(Fault::RequiredCapabilitiesIgnored)
        || meets(&request.required_capabilities, &capabilities);
    if suite != u16::from(mimi_mls::DEFAULT_CIPHERSUITE) {
        // A client in a suite of its own: what the variant gives the test users.
        shared.variant(Variant::SeveralSuites);
    }
    if !(suite_ok && capabilities_ok) {
        let capabilities = (!shared.variant(Variant::CapabilitiesWithheld)).then_some(capabilities);
        return ClientKeyMaterial {
            client_status: CLIENT_NOTHING_COMPATIBLE,
            client_uri,
            body: ClientKeyMaterialBody::NothingCompatible(capabilities),
        };
    }
    let key_package = if shared.fault(Fault::ExpiredKeyPackages) {
        Some(expired_key_package(client))
    } else if shared.fault(Fault::KeyPackageReused) || how == Claim::Read {
        client.key_packages.front().cloned()
    } else {
        client.claim_key_package()
    };
    if client.key_packages.is_empty() && key_package.is_some() {
        // The last KeyPackage, handed out: what the variant leaves a test user with.
        shared.variant(Variant::OneKeyPackageLeft);
    }
    ClientKeyMaterial::offering(client_uri, key_package)
}

/// The capabilities in a KeyPackage's leaf node, as the wire carries them.
fn leaf_capabilities(kp: &KeyPackage) -> Capabilities {
    let kp = kp.unchecked();
    let caps = kp.leaf_node().capabilities();
    Capabilities {
        versions: caps
            .versions()
            .iter()
            .map(|v| match v {
                ProtocolVersion::Mls10 => 1,
                ProtocolVersion::Other(n) => *n,
            })
            .collect(),
        cipher_suites: caps.ciphersuites().iter().map(|c| c.value()).collect(),
        extensions: caps.extensions().iter().map(|e| u16::from(*e)).collect(),
        proposals: caps.proposals().iter().map(|p| u16::from(*p)).collect(),
        credentials: caps.credentials().iter().map(|c| u16::from(*c)).collect(),
    }
}

/// RFC 9420 §7.2: a client supports the default extension and proposal types without listing
/// them; anything else, and every credential type, must be in its capabilities.
fn meets(required: &RequiredCapabilities, supported: &Capabilities) -> bool {
    const DEFAULT_EXTENSIONS: &[u16] = &[1, 2, 3, 4, 5];
    const DEFAULT_PROPOSALS: &[u16] = &[1, 2, 3, 4, 5, 6, 7];
    required
        .extension_types
        .iter()
        .all(|e| DEFAULT_EXTENSIONS.contains(e) || supported.extensions.contains(e))
        && required
            .proposal_types
            .iter()
            .all(|p| DEFAULT_PROPOSALS.contains(p) || supported.proposals.contains(p))
        && required
            .credential_types
            .iter()
            .all(|c| supported.credentials.contains(c))
}

fn expired_key_package(client: &Client) -> KeyPackage {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    client
        .sim
        .key_package(Lifetime::init(now - 7200, now - 3600))
}
