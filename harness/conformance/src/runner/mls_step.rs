//! `mls` steps: what one of the harness's simulated clients does or knows in a room (link D).
//! An operation either reports the client's view (`state`, `inbox`) or produces a message for
//! a later `call` step to send (`commit`, `propose`, `message`, `group-info-request`), as hex;
//! a staged commit stays pending until `confirm` or `discard`. The result is JSON, for `expect`
//! and `save`.

use crate::case::model::{CommitArgs, MessageArgs, MessageKind, MlsOperation, ProposalKind};
use crate::drivers::harness_server::SharedMember;
use crate::yaml::{Located, Pos};
use base64::Engine;
use mimi_mls::member::{identity, user_of_client, Member};
use mimi_mls::room::{participant_list, Changes};
use mimi_wire::common::{Credential, IdentifierUri, PROTOCOL_MLS10};
use mimi_wire::fields::Opaque;
use mimi_wire::messages::group_info::{
    GroupInfoRequest, JoiningCodeInTbs, GROUP_INFO_REQUEST_LABEL,
};
use mimi_wire::messages::room_state::{ParticipantListData, Role, RoleData, UserRolePair};
use mimi_wire::messages::submit::SubmitMessageRequest;
use mimi_wire::{decode_exact, Encode};
use openmls::prelude::MlsGroup;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The role a user gets when a harness commit adds it (the reference provider's default).
const PARTICIPANT_ROLE: u32 = 2;

/// Runs `operation` for `client` (one of `members`), its arguments filled in from `vars`;
/// errors without a place of their own are put at `at`.
pub fn run(
    operation: &MlsOperation,
    client: &str,
    members: &HashMap<String, SharedMember>,
    vars: &minijinja::Value,
    at: Pos,
) -> Located<Value> {
    let here = |e: String| (at, e);
    // KeyPackages of added clients are taken before the committer is locked: one lock at a time.
    let mut added = Vec::new();
    if let MlsOperation::Commit(args) = operation {
        for name in &args.add {
            let other = members
                .get(name)
                .ok_or_else(|| here(format!("{name:?} is not a client of this case")))?;
            let mut other = other.lock().unwrap_or_else(|e| e.into_inner());
            let kp = other
                .claim_key_package()
                .ok_or_else(|| here(format!("{name} has no KeyPackage left")))?;
            added.push((user_of_client(&other.sim.uri), kp));
        }
    }
    let member = members
        .get(client)
        .ok_or_else(|| here(format!("{client:?} is not a client of this case")))?;
    let mut member = member.lock().unwrap_or_else(|e| e.into_inner());
    let member = &mut *member;
    match operation {
        MlsOperation::State { room } => Ok(state(member, &room.get(vars)?)),
        MlsOperation::Inbox => Ok(inbox(member)),
        MlsOperation::Commit(args) => {
            let room = args.room.get(vars)?;
            let changes = CommitChanges {
                remove: args
                    .remove
                    .as_ref()
                    .map(|r| r.get(vars))
                    .transpose()?
                    .unwrap_or_default(),
                participants: args
                    .participants
                    .as_ref()
                    .map(|p| p.get(vars))
                    .transpose()?,
            };
            commit(member, &room, args, &changes, added).map_err(here)
        }
        MlsOperation::Confirm { room } | MlsOperation::Discard { room } => {
            let room = room.get(vars)?;
            let Member { sim, groups, .. } = member;
            let group = groups.get_mut(&room).ok_or_else(|| here(not_in(&room)))?;
            // The hub's fan-out may have merged an accepted commit already.
            if group.pending_commit().is_some() {
                if matches!(operation, MlsOperation::Confirm { .. }) {
                    sim.confirm_commit(group).map_err(here)?;
                } else {
                    sim.discard_commit(group);
                }
            }
            Ok(json!({"epoch": group.epoch().as_u64()}))
        }
        MlsOperation::Propose {
            room,
            proposals,
            corrupt,
        } => propose(member, &room.get(vars)?, proposals, *corrupt).map_err(here),
        MlsOperation::Message(args) => {
            let filled = FilledMessage {
                content: args.content.get(vars)?,
                sending_uri: args.sending_uri.as_ref().map(|s| s.get(vars)).transpose()?,
            };
            message(member, &args.room.get(vars)?, args, &filled).map_err(here)
        }
        MlsOperation::GroupInfoRequest { corrupt } => Ok(group_info_request(member, *corrupt)),
        MlsOperation::CreateRoom { room } => create_room(member, &room.get(vars)?).map_err(here),
        MlsOperation::Add { room, key_material } => {
            add(member, &room.get(vars)?, &key_material.get(vars)?).map_err(here)
        }
    }
}

/// What a commit changes beyond its adds, filled in.
struct CommitChanges {
    remove: Vec<String>,
    participants: Option<Vec<String>>,
}

/// A message's arguments that hold templates, filled in.
struct FilledMessage {
    content: String,
    sending_uri: Option<String>,
}

fn not_in(room: &str) -> String {
    format!("the client is not in {room}")
}

fn state(member: &Member, room: &str) -> Value {
    let Some(group) = member.groups.get(room) else {
        return json!({"member": false});
    };
    let participants: Vec<Value> = participant_list(group.extensions())
        .participants
        .iter()
        .map(|p| json!({"user": String::from_utf8_lossy(&p.user.0), "roleIndex": p.role_index}))
        .collect();
    let external_senders: Vec<String> = group
        .extensions()
        .external_senders()
        .map(|senders| senders.iter().map(external_sender_identity).collect())
        .unwrap_or_default();
    // As GroupInfoResponse.hub_sender.signature_key renders, so that a case can compare them.
    let external_sender_keys: Vec<String> = group
        .extensions()
        .external_senders()
        .map(|senders| senders.iter().map(external_sender_key).collect())
        .unwrap_or_default();
    json!({
        "member": true,
        "epoch": group.epoch().as_u64(),
        "cipherSuite": u16::from(group.ciphersuite()),
        "members": group.members().map(|m| identity(&m.credential)).collect::<Vec<_>>(),
        "participants": participants,
        "externalSenders": external_senders,
        "externalSenderKeys": external_sender_keys,
        "pendingProposals": group.pending_proposals().count(),
    })
}

/// An ExternalSender's signature key, shortened as the wire rendering shows keys (openmls keeps
/// it private, so it is read from the encoding, which starts with `signature_key<V>`).
fn external_sender_key(sender: &openmls::prelude::ExternalSender) -> String {
    use openmls::prelude::tls_codec::Serialize;
    let bytes = sender.tls_serialize_detached().unwrap_or_default();
    match mimi_wire::codec::Reader::new(&bytes).opaque("signature_key") {
        Ok(key) => mimi_wire::render::hex_short(&key),
        Err(e) => format!("(undecodable: {e})"),
    }
}

/// The identity in an ExternalSender's basic credential (openmls keeps the credential private,
/// so it is read from the encoding: `signature_key<V>`, then the Credential).
fn external_sender_identity(sender: &openmls::prelude::ExternalSender) -> String {
    use openmls::prelude::tls_codec::Serialize;
    let bytes = sender.tls_serialize_detached().unwrap_or_default();
    let mut r = mimi_wire::codec::Reader::new(&bytes);
    match r
        .opaque("signature_key")
        .and_then(|_| r.read::<Credential>())
    {
        Ok(Credential::Basic(identity)) => String::from_utf8_lossy(&identity).into_owned(),
        Ok(Credential::X509(_)) => "(an X.509 credential)".into(),
        Err(e) => format!("(undecodable: {e})"),
    }
}

fn inbox(member: &Member) -> Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let messages: Vec<Value> = member
        .inbox
        .iter()
        .map(|d| {
            let content = mimi_wire::content::decode(&d.content);
            let expected_tag = mimi_mls::room::franking_tag(&d.content).ok();
            json!({
                "room": d.room,
                "senderClient": d.sender_client,
                "senderUser": d.sender_user,
                "content": b64(&d.content),
                "contentValid": match &content {
                    Ok(c) => match mimi_wire::content::violations(c) {
                        v if v.is_empty() => Value::Bool(true),
                        v => Value::String(v.join("; ")),
                    },
                    Err(e) => Value::String(e.clone()),
                },
                "hubTimestamp": d.hub_timestamp,
                "messageId": hex::encode(&d.message_id),
                "franked": d.franked,
                "frankVerifies": match &d.frank_verifies {
                    None => Value::Null,
                    Some(Ok(())) => Value::Bool(true),
                    Some(Err(e)) => Value::String(e.clone()),
                },
                "frankingTag": d.franking_tag.as_deref().map(hex::encode),
                "frankingTagMatches": match (&d.franking_tag, expected_tag) {
                    (Some(tag), Some(expected)) => tag.as_slice() == expected.as_slice(),
                    _ => false,
                },
            })
        })
        .collect();
    json!({"messages": messages})
}

fn group_of<'a>(
    member: &'a mut Member,
    room: &str,
) -> Result<(&'a mimi_mls::SimClient, &'a mut MlsGroup), String> {
    let Member { sim, groups, .. } = member;
    let group = groups.get_mut(room).ok_or_else(|| not_in(room))?;
    Ok((sim, group))
}

fn commit(
    member: &mut Member,
    room: &str,
    args: &CommitArgs,
    changes: &CommitChanges,
    added: Vec<(String, mimi_wire::mls_objects::KeyPackage)>,
) -> Result<Value, String> {
    let (sim, group) = group_of(member, room)?;
    let removes: Vec<u32> = group
        .members()
        .filter(|m| {
            changes
                .remove
                .contains(&user_of_client(&identity(&m.credential)))
        })
        .map(|m| m.index.u32())
        .collect();
    let mut list = participant_list(group.extensions());
    let participants = match &changes.participants {
        Some(users) => Some(ParticipantListData {
            participants: users
                .iter()
                .map(|u| UserRolePair {
                    user: Opaque(u.as_bytes().to_vec()),
                    role_index: list
                        .participants
                        .iter()
                        .find(|p| p.user.0 == u.as_bytes())
                        .map_or(PARTICIPANT_ROLE, |p| p.role_index),
                })
                .collect(),
        }),
        None if added.is_empty() && changes.remove.is_empty() => None,
        None => {
            list.participants
                .retain(|p| !changes.remove.iter().any(|r| r.as_bytes() == p.user.0));
            for (user, _) in &added {
                if !list
                    .participants
                    .iter()
                    .any(|p| p.user.0 == user.as_bytes())
                {
                    list.participants.push(UserRolePair {
                        user: Opaque(user.as_bytes().to_vec()),
                        role_index: PARTICIPANT_ROLE,
                    });
                }
            }
            list.participants.sort_by(|a, b| a.user.0.cmp(&b.user.0));
            Some(list)
        }
    };
    let key_packages: Vec<_> = added.into_iter().map(|(_, kp)| kp).collect();
    let epoch = group.epoch().as_u64();
    sim.encrypt_handshakes(group, args.private)?;
    let staged = sim.stage_commit(
        group,
        Changes {
            adds: &key_packages,
            removes: &removes,
            participants,
            roles: args.roles.as_ref().map(|roles| RoleData {
                roles: roles
                    .iter()
                    .map(|r| Role::named(r.index, &r.name, &r.capabilities))
                    .collect(),
            }),
            omit_pending: args.omit_pending,
        },
    );
    sim.encrypt_handshakes(group, false)?;
    let staged = staged?;
    let bundle = mimi_mls::member::commit_bundle(
        &staged.commit,
        staged.welcome.as_deref(),
        &staged.group_info,
    )?;
    Ok(json!({"bundle": hex::encode(bundle.to_bytes()), "epoch": epoch}))
}

fn propose(
    member: &mut Member,
    room: &str,
    proposals: &[ProposalKind],
    corrupt: bool,
) -> Result<Value, String> {
    let (sim, group) = group_of(member, room)?;
    let mut made = Vec::new();
    for kind in proposals {
        made.push(match kind {
            ProposalKind::Update => sim.propose_self_update(group)?,
            ProposalKind::Leave => sim.propose_leave(group)?,
        });
    }
    let suite = group.ciphersuite();
    if corrupt {
        mimi_mls::member::break_signature(&mut made[0], suite);
    }
    let refs: Vec<String> = made
        .iter()
        .map(|p| hex::encode(mimi_mls::member::proposal_ref(p, suite)))
        .collect();
    let first = made.remove(0);
    let bundle = mimi_mls::member::proposal_bundle(&first, made)?;
    Ok(
        json!({"bundle": hex::encode(bundle.to_bytes()), "epoch": group.epoch().as_u64(), "refs": refs}),
    )
}

/// The harness's hub signer for rooms its clients host: its domain's URI.
fn harness_hub(client_uri: &str) -> mimi_mls::SimClient {
    let domain = client_uri
        .strip_prefix("mimi://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    mimi_mls::SimClient::new(format!("mimi://{domain}"), mimi_mls::DEFAULT_CIPHERSUITE)
}

/// A room with the harness as hub and this client as its first member.
fn create_room(member: &mut Member, room: &str) -> Result<Value, String> {
    let hub = harness_hub(&member.sim.uri);
    let sender = mimi_mls::room::HubSender::of(&hub);
    let participants = ParticipantListData {
        participants: vec![UserRolePair {
            user: Opaque(user_of_client(&member.sim.uri).into_bytes()),
            role_index: PARTICIPANT_ROLE,
        }],
    };
    let group = member
        .sim
        .create_room(room.as_bytes(), &sender, &participants)?;
    let epoch = group.epoch().as_u64();
    member.groups.insert(room.to_string(), group);
    Ok(json!({"epoch": epoch}))
}

/// As the room's hub: adds the clients whose KeyPackages a claim returned, and makes the
/// NotifyBody that carries their Welcome (with the full tree) to their provider.
fn add(member: &mut Member, room: &str, key_material: &str) -> Result<Value, String> {
    use mimi_wire::messages::key_material::KeyMaterialResponse;
    use mimi_wire::messages::notify::{FanoutMessage, FanoutRest, NotifyBody};
    let claim = hex::decode(key_material).map_err(|e| format!("keyMaterial is not hex: {e}"))?;
    let claim = decode_exact::<KeyMaterialResponse>(&claim)
        .map_err(|e| format!("keyMaterial is not a KeyMaterialResponse: {e}"))?;
    let user = claim.user_uri.0.clone();
    let key_packages = claim.key_packages();
    if key_packages.is_empty() {
        return Err("the claim holds no KeyPackage".into());
    }
    let (sim, group) = group_of(member, room)?;
    let mut list = participant_list(group.extensions());
    list.participants.push(UserRolePair {
        user: Opaque(user.into_bytes()),
        role_index: PARTICIPANT_ROLE,
    });
    list.participants.sort_by(|a, b| a.user.0.cmp(&b.user.0));
    let staged = sim.stage_commit(
        group,
        Changes {
            adds: &key_packages,
            removes: &[],
            participants: Some(list),
            roles: None,
            omit_pending: false,
        },
    )?;
    sim.confirm_commit(group)?;
    let welcome = staged.welcome.ok_or("the commit made no Welcome")?;
    let notify = NotifyBody(vec![FanoutMessage {
        timestamp: crate::template::now_ms(),
        message: decode_exact(&welcome).map_err(|e| format!("our own Welcome: {e}"))?,
        rest: FanoutRest::Welcome {
            ratchet_tree_option: mimi_wire::messages::common_mls::RatchetTreeOption::Full(
                mimi_mls::room::ratchet_tree(group),
            ),
        },
    }]);
    Ok(json!({"notify": hex::encode(notify.to_bytes()), "epoch": group.epoch().as_u64()}))
}

fn message(
    member: &mut Member,
    room: &str,
    args: &MessageArgs,
    filled: &FilledMessage,
) -> Result<Value, String> {
    let (sim, group) = group_of(member, room)?;
    let content = base64::engine::general_purpose::STANDARD
        .decode(&filled.content)
        .map_err(|e| format!("content is not base64: {e}"))?;
    let tag = if args.frank {
        Some(mimi_mls::room::franking_tag(&content)?)
    } else {
        None
    };
    if let Some(count) = args.notify {
        use mimi_wire::messages::notify::{FanoutMessage, FanoutRest, NotifyBody};
        let mut messages = Vec::new();
        for _ in 0..count {
            let message = sim.send(group, &content, tag.as_ref())?;
            messages.push(FanoutMessage {
                timestamp: crate::template::now_ms(),
                message: decode_exact(&message).map_err(|e| format!("our own message: {e}"))?,
                rest: FanoutRest::Application { frank: None },
            });
        }
        return Ok(json!({"notify": hex::encode(NotifyBody(messages).to_bytes())}));
    }
    let message = match args.kind {
        MessageKind::Application => sim.send(group, &content, tag.as_ref())?,
        MessageKind::Proposal => sim.propose_self_update(group)?,
    };
    let request = SubmitMessageRequest {
        protocol: PROTOCOL_MLS10,
        app_message: decode_exact(&message).map_err(|e| format!("our own message: {e}"))?,
        sending_uri: IdentifierUri(
            filled
                .sending_uri
                .clone()
                .unwrap_or_else(|| user_of_client(&sim.uri)),
        ),
    };
    Ok(json!({"request": hex::encode(request.to_bytes()), "epoch": group.epoch().as_u64()}))
}

fn group_info_request(member: &Member, corrupt: bool) -> Value {
    let sim = &member.sim;
    let (_, public_key) = mimi_mls::labels::hpke_key_pair(sim.ciphersuite);
    let mut request = GroupInfoRequest {
        protocol: PROTOCOL_MLS10,
        cipher_suite: u16::from(sim.ciphersuite),
        requesting_signature_key: Opaque(sim.signature_key().to_vec()),
        requesting_credential: Credential::Basic(sim.uri.as_bytes().to_vec()),
        group_info_public_key: Opaque(public_key),
        joining_code: Opaque::default(),
        signature: Opaque::default(),
    };
    let mut signature = sim.sign_with_label(
        GROUP_INFO_REQUEST_LABEL,
        &request.to_be_signed(JoiningCodeInTbs::Optional),
    );
    if corrupt {
        signature[0] ^= 0xff;
    }
    request.signature = Opaque(signature);
    json!({"request": hex::encode(request.to_bytes())})
}
