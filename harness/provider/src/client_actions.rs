//! This provider's own clients acting in rooms (what links A and C carry, reached through the
//! driver API), and the delivery of fanned-out messages to them. A client's handshake goes to the
//! room's hub (over link B, or in-process when the hub is this provider) and is merged only once
//! the hub accepts it.

use crate::endpoints::{uri_domain, Shared};
use crate::hub::{HubRoom, RoomPolicy};
use crate::state::{user_of_client, user_uri, Client, State};
use mimi_mls::room::{participant_list, Changes, HubSender};
use mimi_wire::common::{Credential, IdentifierUri, RequiredCapabilities, PROTOCOL_MLS10};
use mimi_wire::fields::Opaque;
use mimi_wire::messages::common_mls::RatchetTreeOption;
use mimi_wire::messages::group_info::*;
use mimi_wire::messages::key_material::*;
use mimi_wire::messages::notify::FanoutMessage;
use mimi_wire::messages::room_state::{ParticipantListData, UserRolePair};
use mimi_wire::messages::submit::*;
use mimi_wire::messages::update::*;
use mimi_wire::mls_objects::{framed, WIRE_FORMAT_GROUP_INFO};
use mimi_wire::{decode_exact, Encode};
use openmls::prelude::MlsGroup;
use std::sync::Arc;

/// The role a client of this provider gives a user it adds unless told otherwise: `participant`
/// in the roles_list its rooms start with (`mimi_mls::room::standard_roles`).
pub const PARTICIPANT_ROLE: u32 = 2;

/// Why a client's action failed.
#[derive(Debug)]
pub enum ActionError {
    /// The request names something that does not exist or cannot be done.
    Invalid(String),
    /// The hub refused (its response code and reason).
    Refused(String),
    /// A peer could not be reached or answered nonsense.
    Peer(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(s) | Self::Refused(s) | Self::Peer(s) => f.write_str(s),
        }
    }
}

type Result<T> = std::result::Result<T, ActionError>;

fn invalid(s: impl Into<String>) -> ActionError {
    ActionError::Invalid(s.into())
}

pub fn find_client<'a>(state: &'a mut State, client: &str) -> Result<&'a mut Client> {
    state
        .users
        .get_mut(&user_of_client(client))
        .and_then(|u| u.clients.iter_mut().find(|c| c.sim.uri == client))
        .ok_or_else(|| invalid(format!("no client {client} here")))
}

fn group_of<'a>(
    state: &'a mut State,
    client: &str,
    room: &str,
) -> Result<(&'a mimi_mls::SimClient, &'a mut MlsGroup)> {
    let Client { sim, groups, .. } = find_client(state, client)?;
    let group = groups
        .get_mut(room)
        .ok_or_else(|| invalid(format!("{} is not a member of {room}", sim.uri)))?;
    Ok((sim, group))
}

fn hub_of(room: &str) -> Result<String> {
    uri_domain(room)
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("{room:?} is not a MIMI room URI")))
}

/// Creates a room with this provider as its hub and `client` as its first member.
pub fn create_room(
    shared: &Shared,
    client: &str,
    name: &str,
    policy: RoomPolicy,
) -> Result<String> {
    check_name("room", name)?;
    let room = format!("mimi://{}/r/{name}", shared.domain);
    let group_id = format!("mimi://{}/g/{name}", shared.domain);
    let mut state = shared.state();
    if state.rooms.contains_key(&room) {
        return Err(invalid(format!("{room} exists")));
    }
    if state.rooms.len() >= crate::state::MAX_ROOMS {
        return Err(invalid("this provider hosts as many rooms as it keeps"));
    }
    let hub = HubSender::of(&shared.hub);
    let participants = ParticipantListData {
        participants: vec![UserRolePair {
            user: Opaque(user_of_client(client).into_bytes()),
            role_index: PARTICIPANT_ROLE,
        }],
    };
    let member = find_client(&mut state, client)?;
    let group = member
        .sim
        .create_room(group_id.as_bytes(), &hub, &participants)
        .map_err(invalid)?;
    let group_info = member.sim.group_info(&group).map_err(invalid)?;
    let tree = mimi_mls::room::ratchet_tree(&group);
    member.groups.insert(room.clone(), group);
    let hub_room = HubRoom::new(room.clone(), group_info, &tree, policy).map_err(invalid)?;
    state.rooms.insert(room.clone(), hub_room);
    Ok(room)
}

/// Room and user names become URI segments: 1 to 64 of `[A-Za-z0-9_-]`.
fn check_name(what: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "a {what} name is 1 to 64 of [A-Za-z0-9_-]"
        )))
    }
}

/// Calls `endpoint` on `peer` about `room` and decodes its 200 answer.
async fn call_peer<T: mimi_wire::Decode>(
    shared: &Shared,
    peer: &str,
    endpoint: &str,
    value: &str,
    room: &str,
    body: Vec<u8>,
) -> Result<T> {
    let answer = shared
        .peers
        .call(peer, endpoint, value, Some(room), body)
        .await
        .map_err(ActionError::Peer)?;
    let decoded = decode_exact::<T>(&answer.body);
    match (answer.status, decoded) {
        (200, decoded) => {
            decoded.map_err(|e| ActionError::Peer(format!("{peer}'s {}: {e}", T::NAME)))
        }
        // The draft gives no HTTP status for a refusal its body states (notAllowed, say): a
        // 4xx that carries the endpoint's response is that response.
        (400..=499, Ok(response)) => Ok(response),
        (status, _) => Err(ActionError::Peer(format!(
            "{peer} answered {endpoint} with {status}: {}",
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        ))),
    }
}

/// Sends an update to the room's hub and returns its answer.
async fn send_update(
    shared: &Arc<Shared>,
    room: &str,
    bundle: &HandshakeBundle,
) -> Result<UpdateRoomResponse> {
    let hub = hub_of(room)?;
    if hub == shared.domain {
        let mut state = shared.state();
        let hub_room = state
            .rooms
            .get_mut(room)
            .ok_or_else(|| invalid(format!("no room {room} here")))?;
        let decision = hub_room.update(bundle, &shared.domain, &shared.faults);
        shared.dispatch(&mut state, decision.fanout);
        return Ok(decision.response);
    }
    call_peer(shared, &hub, "update", room, room, bundle.to_bytes()).await
}

fn refusal(response: &UpdateRoomResponse) -> ActionError {
    ActionError::Refused(format!(
        "{}: {}",
        response.response_code.name().unwrap_or("unknown code"),
        response.error_description.0
    ))
}

type CommitChanges = (
    Vec<mimi_wire::mls_objects::KeyPackage>,
    Vec<u32>,
    Option<ParticipantListData>,
);

/// Stages a commit of `changes`, has the hub accept it, and merges it; returns the new epoch.
async fn commit(
    shared: &Arc<Shared>,
    client: &str,
    room: &str,
    changes: impl FnOnce(&MlsGroup) -> Result<CommitChanges>,
) -> Result<u64> {
    let bundle = {
        let mut state = shared.state();
        let (sim, group) = group_of(&mut state, client, room)?;
        let (adds, removes, participants) = changes(group)?;
        let staged = sim
            .stage_commit(
                group,
                Changes {
                    adds: &adds,
                    removes: &removes,
                    participants,
                    roles: None,
                    omit_pending: false,
                },
            )
            .map_err(invalid)?;
        mimi_mls::member::commit_bundle(
            &staged.commit,
            staged.welcome.as_deref(),
            &staged.group_info,
        )
        .map_err(invalid)?
    };
    let response = send_update(shared, room, &bundle).await;
    let mut state = shared.state();
    let (sim, group) = group_of(&mut state, client, room)?;
    match response {
        Ok(r) if r.response_code == UpdateResponseCode::success => {
            // The hub's fan-out may have merged it already (see `deliver_to_member`).
            if group.pending_commit().is_some() {
                sim.confirm_commit(group).map_err(invalid)?;
            }
            Ok(group.epoch().as_u64())
        }
        Ok(r) => {
            sim.discard_commit(group);
            Err(refusal(&r))
        }
        Err(e) => {
            sim.discard_commit(group);
            Err(e)
        }
    }
}

/// The room's participant list with `user` in it with `role`, or (None) out of it.
fn with_participant(group: &MlsGroup, user: &str, role: Option<u32>) -> ParticipantListData {
    let mut list = participant_list(group.extensions());
    list.participants.retain(|p| p.user.0 != user.as_bytes());
    if let Some(role_index) = role {
        list.participants.push(UserRolePair {
            user: Opaque(user.as_bytes().to_vec()),
            role_index,
        });
    }
    // Sorted by user, each once (P-06 §7.2).
    list.participants.sort_by(|a, b| a.user.0.cmp(&b.user.0));
    list
}

/// Claims KeyPackages of `user` for `room`: from this provider's own store, from the target
/// provider (as hub), or through the hub (as follower: P-06 §5.2, Fig. 4).
async fn claim(
    shared: &Arc<Shared>,
    client: &str,
    room: &str,
    user: &str,
) -> Result<Vec<mimi_wire::mls_objects::KeyPackage>> {
    use crate::faults::Fault;
    let target = uri_domain(user)
        .ok_or_else(|| invalid(format!("{user:?} is not a MIMI user URI")))?
        .to_string();
    let request = {
        let mut state = shared.state();
        let member = find_client(&mut state, client)?;
        let mut request = KeyMaterialRequest {
            protocol: PROTOCOL_MLS10,
            requesting_user: IdentifierUri(user_of_client(client)),
            target_user: IdentifierUri(user.to_string()),
            room_id: IdentifierUri(if shared.faults.on(Fault::ClaimWithoutRoom) {
                String::new()
            } else {
                room.to_string()
            }),
            acceptable_ciphersuites: vec![u16::from(member.sim.ciphersuite)],
            required_capabilities: RequiredCapabilities {
                extension_types: vec![u16::from(
                    openmls::prelude::ExtensionType::AppDataDictionary,
                )],
                proposal_types: vec![],
                credential_types: vec![],
            },
            requester_signature_key: member.sim.signature_key().to_vec(),
            requester_credential: Credential::Basic(client.as_bytes().to_vec()),
            signature: vec![],
        };
        if !shared.faults.on(Fault::OutgoingClaimUnsigned) {
            request.signature = member
                .sim
                .sign_with_label(KEY_MATERIAL_REQUEST_LABEL, &request.to_be_signed());
        }
        request
    };
    let hub = hub_of(room)?;
    let response = if target == shared.domain {
        crate::endpoints::key_material::answer(shared, &request)
    } else {
        // A follower claims through the hub; the hub goes to the target (P-06 §5.2).
        let via = if hub == shared.domain || shared.faults.on(Fault::ClaimBypassesHub) {
            target
        } else {
            hub
        };
        call_peer(shared, &via, "keyMaterial", user, room, request.to_bytes()).await?
    };
    let user_status = response.user_status;
    let key_packages = response.key_packages();
    if key_packages.is_empty() {
        return Err(ActionError::Refused(format!(
            "no KeyPackage for {user}: userStatus {user_status}"
        )));
    }
    Ok(key_packages)
}

/// Adds every client of `user` to the room, and the user to its participant list.
pub async fn invite(
    shared: &Arc<Shared>,
    client: &str,
    room: &str,
    user: &str,
    role: u32,
) -> Result<u64> {
    let key_packages = claim(shared, client, room, user).await?;
    commit(shared, client, room, |group| {
        Ok((
            key_packages,
            vec![],
            Some(with_participant(group, user, Some(role))),
        ))
    })
    .await
}

/// Removes `user`: all its clients, and its participant-list entry.
pub async fn remove(shared: &Arc<Shared>, client: &str, room: &str, user: &str) -> Result<u64> {
    commit(shared, client, room, |group| {
        let leaves: Vec<u32> = group
            .members()
            .filter(|m| user_of_client(&identity(&m.credential)) == user)
            .map(|m| m.index.u32())
            .collect();
        if leaves.is_empty() {
            return Err(invalid(format!("{user} has no clients in the room")));
        }
        Ok((vec![], leaves, Some(with_participant(group, user, None))))
    })
    .await
}

/// Commits the proposals the client has received (another client's leave, for one).
pub async fn commit_pending(shared: &Arc<Shared>, client: &str, room: &str) -> Result<u64> {
    commit(shared, client, room, |_| Ok((vec![], vec![], None))).await
}

/// Proposes the client's own removal; a later commit by another member carries it out.
pub async fn leave(shared: &Arc<Shared>, client: &str, room: &str) -> Result<()> {
    let proposal = {
        let mut state = shared.state();
        let (sim, group) = group_of(&mut state, client, room)?;
        sim.propose_leave(group).map_err(invalid)?
    };
    let bundle = mimi_mls::member::proposal_bundle(&proposal, vec![]).map_err(invalid)?;
    let response = send_update(shared, room, &bundle).await?;
    if response.response_code != UpdateResponseCode::success {
        return Err(refusal(&response));
    }
    Ok(())
}

/// A consent request (or, with `cancel`, its cancellation) from `client`'s user to `target`,
/// for a room or for any (P-06 §5.7). A cancel repeats the scope of the request it cancels.
pub async fn consent(
    shared: &Arc<Shared>,
    client: &str,
    target: &str,
    room: Option<&str>,
    cancel: bool,
) -> Result<()> {
    use mimi_wire::messages::consent::{ConsentEntry, ConsentOperation};
    {
        let mut state = shared.state();
        find_client(&mut state, client)?;
    }
    let target_domain = uri_domain(target)
        .ok_or_else(|| invalid(format!("{target:?} is not a MIMI user URI")))?
        .to_string();
    let room = room.filter(|_| !(cancel && shared.fault(crate::faults::Fault::CancelScopeDiffers)));
    let entry = ConsentEntry {
        consent_operation: if cancel {
            ConsentOperation::cancel
        } else {
            ConsentOperation::request
        },
        requester_uri: IdentifierUri(user_of_client(client)),
        target_uri: IdentifierUri(target.to_string()),
        room_id: room.map(|r| IdentifierUri(r.to_string())),
        client_key_packages: vec![],
        consent_extensions: Default::default(),
    };
    let answer = shared
        .peers
        .call(
            &target_domain,
            "requestConsent",
            &target_domain,
            room,
            entry.to_bytes(),
        )
        .await
        .map_err(ActionError::Peer)?;
    match answer.status {
        201 => Ok(()),
        status => Err(ActionError::Refused(format!(
            "{target_domain} answered requestConsent with {status}: {}",
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        ))),
    }
}

/// MIMI content a client writes for a text (content-08 §4): a fresh salt, the sender and room
/// URIs as extensions, the text as its single part.
pub fn text_content(shared: &Shared, client: &str, room: &str, text: &str) -> Vec<u8> {
    use crate::faults::Fault;
    use mimi_wire::content::model::{NestedPart, Part};
    let salt = mimi_mls::random_bytes(if shared.fault(Fault::ShortSalt) {
        8
    } else {
        16
    });
    let mut content = mimi_wire::content::text_content(&salt, &user_of_client(client), room, text);
    if shared.fault(Fault::MultipartOfOne) {
        content.body = NestedPart {
            disposition: content.body.disposition,
            language: String::new(),
            part: Part::Multi {
                semantics: 0,
                parts: vec![content.body],
            },
        };
    }
    let mut bytes = mimi_wire::content::encode(&content);
    if shared.fault(Fault::ContentNotDeterministic) {
        // The same array with an indefinite length: still CBOR, no longer deterministic.
        bytes[0] = 0x9f;
        bytes.push(0xff);
    }
    bytes
}

/// What the hub said about a submitted message.
pub struct Sent {
    pub accepted_timestamp: u64,
    pub franked: bool,
}

/// Sends MIMI content, with its franking tag when it decodes as MIMI content (P-06 §5.4.1.1).
pub async fn send(shared: &Arc<Shared>, client: &str, room: &str, content: &[u8]) -> Result<Sent> {
    let request = {
        let mut state = shared.state();
        let (sim, group) = group_of(&mut state, client, room)?;
        let tag = mimi_mls::room::franking_tag(content).ok().map(|mut tag| {
            if shared.fault(crate::faults::Fault::FrankingTagWrong) {
                tag[0] ^= 0xff;
            }
            tag
        });
        let message = sim.send(group, content, tag.as_ref()).map_err(invalid)?;
        SubmitMessageRequest {
            protocol: PROTOCOL_MLS10,
            app_message: decode_exact(&message).map_err(|e| invalid(format!("{e}")))?,
            sending_uri: IdentifierUri(user_of_client(client)),
        }
    };
    let hub = hub_of(room)?;
    let response = if hub == shared.domain {
        let mut state = shared.state();
        let hub_room = state
            .rooms
            .get_mut(room)
            .ok_or_else(|| invalid(format!("no room {room} here")))?;
        let (response, fanout) =
            hub_room.submit(&request, &shared.domain, &shared.hub, &shared.faults);
        shared.dispatch(&mut state, fanout);
        response
    } else {
        call_peer(
            shared,
            &hub,
            "submitMessage",
            room,
            room,
            request.to_bytes(),
        )
        .await?
    };
    match response.outcome {
        SubmitOutcome::Accepted {
            accepted_timestamp,
            frank,
        } => Ok(Sent {
            accepted_timestamp,
            franked: frank.is_some(),
        }),
        _ => Err(ActionError::Refused(
            response
                .status_code
                .name()
                .unwrap_or("unknown code")
                .to_string(),
        )),
    }
}

/// A new client of a participant joins by external commit from the hub's GroupInfo (P-06 §3.6).
pub async fn join(shared: &Arc<Shared>, client: &str, room: &str) -> Result<u64> {
    let (request, private_key) = {
        let mut state = shared.state();
        let member = find_client(&mut state, client)?;
        if member.groups.contains_key(room) {
            return Err(invalid(format!("{client} is in {room} already")));
        }
        let (private_key, public_key) = mimi_mls::labels::hpke_key_pair(member.sim.ciphersuite);
        let mut request = GroupInfoRequest {
            protocol: PROTOCOL_MLS10,
            cipher_suite: u16::from(member.sim.ciphersuite),
            requesting_signature_key: Opaque(member.sim.signature_key().to_vec()),
            requesting_credential: Credential::Basic(client.as_bytes().to_vec()),
            group_info_public_key: Opaque(public_key),
            joining_code: Opaque::default(),
            signature: Opaque::default(),
        };
        request.signature = Opaque(member.sim.sign_with_label(
            GROUP_INFO_REQUEST_LABEL,
            &request.to_be_signed(JoiningCodeInTbs::Optional),
        ));
        (request, private_key)
    };
    let hub = hub_of(room)?;
    let response = if hub == shared.domain {
        crate::endpoints::group_info_answer(shared, room, &request, &shared.domain)
    } else {
        call_peer(shared, &hub, "groupInfo", room, room, request.to_bytes()).await?
    };
    let Some(success) = response.success.clone() else {
        return Err(ActionError::Refused(
            response.status.name().unwrap_or("unknown code").to_string(),
        ));
    };
    let suite = openmls::prelude::Ciphersuite::try_from(success.cipher_suite)
        .map_err(|e| ActionError::Peer(format!("cipher_suite: {e:?}")))?;
    // The response must be signed by the hub's external-sender key (P-06 §5.6, §7.4).
    let tbs = GroupInfoResponse {
        success: Some(success.clone()),
        ..response.clone()
    }
    .to_be_signed();
    mimi_mls::labels::verify_with_label(
        suite.signature_algorithm(),
        &success.hub_sender.signature_key.0,
        GROUP_INFO_RESPONSE_LABEL,
        &tbs,
        &success.signature.0,
    )
    .map_err(|e| ActionError::Peer(format!("{hub}'s GroupInfoResponse: {e}")))?;
    let plaintext = mimi_mls::labels::decrypt_with_label(
        suite,
        &private_key,
        GROUP_INFO_ENCRYPTION_LABEL,
        room.as_bytes(),
        &success.encrypted_groupinfo_and_tree.kem_output.0,
        &success.encrypted_groupinfo_and_tree.ciphertext.0,
    )
    .map_err(ActionError::Peer)?;
    let tbe = decode_exact::<GroupInfoRatchetTreeTbe>(&plaintext)
        .map_err(|e| ActionError::Peer(format!("GroupInfoRatchetTreeTBE: {e}")))?;
    let RatchetTreeOption::Full(tree) = tbe.ratchet_tree_option else {
        return Err(ActionError::Peer(
            "the hub sent no full ratchet tree".into(),
        ));
    };
    let group_info = framed(WIRE_FORMAT_GROUP_INFO, &tbe.group_info.bytes);
    let bundle = {
        let mut state = shared.state();
        let member = find_client(&mut state, client)?;
        let (group, commit) = member
            .sim
            .join_external(&group_info, &tree)
            .map_err(invalid)?;
        let own_group_info = member.sim.group_info(&group).map_err(invalid)?;
        member.groups.insert(room.to_string(), group);
        mimi_mls::member::commit_bundle(&commit, None, &own_group_info).map_err(invalid)?
    };
    let response = send_update(shared, room, &bundle).await;
    let mut state = shared.state();
    let member = find_client(&mut state, client)?;
    match response {
        Ok(r) if r.response_code == UpdateResponseCode::success => Ok(member
            .groups
            .get(room)
            .map(|g| g.epoch().as_u64())
            .unwrap_or_default()),
        Ok(r) => {
            member.groups.remove(room);
            Err(refusal(&r))
        }
        Err(e) => {
            member.groups.remove(room);
            Err(e)
        }
    }
}

pub use mimi_mls::member::identity;

/// Delivers a fanned-out message to this provider's clients (P-06 §5.5; link C).
pub fn deliver(
    state: &mut State,
    room: &str,
    fanout: &FanoutMessage,
    faults: &crate::faults::Faults,
) {
    for user in state.users.values_mut() {
        for client in &mut user.clients {
            if faults.on(crate::faults::Fault::MessageIdDraft07) {
                client.message_id_draft = mimi_wire::content::ContentDraft::D07;
            }
            if let Err(e) = client.deliver(room, fanout) {
                tracing::warn!(client = %client.sim.uri, "{e}");
            }
        }
    }
}

/// A new client of a local user, with KeyPackages published.
pub fn add_client(
    state: &mut State,
    domain: &str,
    user: &str,
    key_packages: usize,
) -> Result<String> {
    let user = state
        .users
        .get_mut(user)
        .ok_or_else(|| invalid(format!("no user {user} here")))?;
    if user.clients.len() >= 64 {
        return Err(invalid("a user has at most 64 clients here"));
    }
    let name = user.uri.rsplit('/').next().unwrap_or_default().to_string();
    let uri = crate::state::client_uri(domain, &name, user.clients.len() + 1);
    let sim = mimi_mls::SimClient::new(uri.clone(), mimi_mls::DEFAULT_CIPHERSUITE);
    user.clients
        .push(crate::state::new_client(sim, key_packages));
    Ok(uri)
}

/// A new local user with one client.
pub fn add_user(
    state: &mut State,
    domain: &str,
    name: &str,
    key_packages: usize,
) -> Result<String> {
    check_name("user", name)?;
    let uri = user_uri(domain, name);
    if state.users.contains_key(&uri) {
        return Err(invalid(format!("{uri} exists")));
    }
    if state.users.len() >= crate::state::MAX_USERS {
        return Err(invalid("this provider has as many users as it keeps"));
    }
    state.users.insert(
        uri.clone(),
        crate::state::User {
            uri: uri.clone(),
            handle: name.to_string(),
            email: format!("{name}@{domain}"),
            clients: vec![],
            consent_required: false,
        },
    );
    add_client(state, domain, &uri, key_packages)?;
    Ok(uri)
}
