//! The hub role (P-06 §4.3, §5.3–5.6): rooms hosted here, each with the hub's MLS view of its
//! group. The hub checks every handshake before accepting it, orders what it accepts, stamps
//! franks and produces the fan-out; it never holds the group's secrets.

use crate::faults::{Fault, Faults};
use crate::state::user_of_client;
use mimi_mls::hub_view::{Accepted, CommitSummary, HubView, Refused};
use mimi_mls::room::participant_list;
use mimi_mls::SimClient;
use mimi_wire::common::{Credential, IdentifierUri, PROTOCOL_MLS10};
use mimi_wire::fields::{Opaque, Since, Text};
use mimi_wire::messages::common_mls::{ExternalSender, HpkeCiphertext, RatchetTreeOption};
use mimi_wire::messages::group_info::*;
use mimi_wire::messages::notify::{FanoutMessage, FanoutRest};
use mimi_wire::messages::room_state::{
    RoleData, UserRolePair, CAN_ADD_PARTICIPANT, CAN_OPEN_JOIN, CAN_SEND_MESSAGE,
};
use mimi_wire::messages::submit::*;
use mimi_wire::messages::update::*;
use mimi_wire::mls_objects::{
    framed, unframed, GroupInfo, MlsMessage, WIRE_FORMAT_GROUP_INFO, WIRE_FORMAT_WELCOME,
};
use mimi_wire::{decode_exact, Encode};
use std::collections::{BTreeMap, BTreeSet};

/// Room policy the hub enforces beyond MLS (POL-03 §5).
#[derive(Debug, Clone, Default)]
pub struct RoomPolicy {
    pub max_users: Option<usize>,
    pub max_clients: Option<usize>,
}

/// The role a banned participant has (POL-03 §8.1.3: index 1, named "banned").
const BANNED_ROLE: u32 = 1;

/// No room keeps more pending proposals than this (a bound on memory).
const MAX_PENDING_PROPOSALS: usize = 256;

pub struct HubRoom {
    pub uri: String,
    pub view: HubView,
    /// The GroupInfo of the current epoch, from the last committer (POL-03 §7).
    pub group_info: Vec<u8>,
    /// Proposals accepted in the current epoch, with their acceptance times (P-06 §5.6, -06).
    pub pending_proposals: Vec<PendingProposal>,
    pub policy: RoomPolicy,
    /// Users removed from the room; they may not come back by external join.
    pub removed_users: BTreeSet<String>,
    pub franking_key: [u8; 32],
    /// Every provider that ever had members (for the fault that keeps notifying them).
    pub ever_domains: BTreeSet<String>,
    /// Every user that was ever on the participant list, with the last role it had there
    /// (for the fault that never forgets them).
    pub ever_participants: BTreeMap<String, u32>,
    last_timestamp: u64,
}

/// A message the hub accepted, to deliver to these providers (possibly including itself).
#[derive(Debug, Clone)]
pub struct Fanout {
    pub room: String,
    pub message: FanoutMessage,
    pub to: BTreeSet<String>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn domain_of(uri: &str) -> String {
    crate::endpoints::uri_domain(uri).unwrap_or("").to_string()
}

/// What the hub decided about an update, with what to fan out.
pub struct UpdateDecision {
    pub response: UpdateRoomResponse,
    pub fanout: Vec<Fanout>,
}

fn refused(code: UpdateResponseCode, outcome: UpdateOutcome, why: String) -> UpdateDecision {
    UpdateDecision {
        response: UpdateRoomResponse {
            response_code: code,
            error_description: Text(why),
            outcome,
        },
        fanout: vec![],
    }
}

fn not_allowed(why: impl Into<String>) -> UpdateDecision {
    refused(
        UpdateResponseCode::notAllowed,
        UpdateOutcome::Other,
        why.into(),
    )
}

/// Room policy on roles (POL-03 §3, §8): a roles_list update comes alone and gives no
/// participant role canOpenJoin; only a role with canAddParticipant adds other users; every
/// participant's role exists.
fn check_roles(
    summary: &CommitSummary<'_>,
    committer: &str,
    roles_before: &Option<RoleData>,
    list_before: &[UserRolePair],
    list_after: &[UserRolePair],
    faults: &Faults,
) -> Result<(), String> {
    let roles_after = mimi_mls::room::roles_list(summary.new_context.extensions());
    if &roles_after != roles_before {
        // The fault reads POL-03 §3 as forbidding additions only.
        let changed = if faults.on(Fault::RoleUpdateWithRemovalAccepted) {
            list_after.iter().any(|p| !list_before.contains(p))
        } else {
            list_after != list_before
        };
        if changed && !faults.on(Fault::RoleUpdateMixedAccepted) {
            return Err(
                "a roles_list update may not come with participant-list changes (POL-03 §3)".into(),
            );
        }
        let opens = roles_after
            .iter()
            .flat_map(|r| &r.roles)
            .filter(|r| match faults.on(Fault::OpenJoinCheckedOnRoleTwoOnly) {
                true => r.role_index == 2,
                false => r.role_index != 0,
            })
            .any(|r| r.role_capabilities.contains(&CAN_OPEN_JOIN));
        if opens && !faults.on(Fault::OpenJoinRoleAccepted) {
            return Err("only role 0 may have canOpenJoin (POL-03 §8.1)".into());
        }
    }
    let Some(roles) = roles_before else {
        return Ok(());
    };
    let user = user_of_client(committer);
    let role = list_before
        .iter()
        .find(|p| p.user.0 == user.as_bytes())
        .map(|p| p.role_index);
    let adds_others = summary
        .added
        .iter()
        .any(|a| user_of_client(&a.identity) != user);
    if adds_others
        && !role.is_some_and(|r| roles.allows(r, CAN_ADD_PARTICIPANT))
        && !faults.on(Fault::AddRoleNotChecked)
    {
        return Err(format!(
            "{user}'s role has no canAddParticipant (POL-03 §8.1)"
        ));
    }
    let roles = roles_after.as_ref().unwrap_or(roles);
    if let Some(p) = list_after
        .iter()
        .find(|p| roles.role(p.role_index).is_none())
    {
        if !faults.on(Fault::ParticipantListEntriesUnchecked) {
            return Err(format!(
                "role {} of {} is not in the roles_list (P-06 §7.2)",
                p.role_index,
                String::from_utf8_lossy(&p.user.0)
            ));
        }
    }
    Ok(())
}

impl HubRoom {
    pub fn new(
        uri: String,
        group_info: Vec<u8>,
        ratchet_tree: &[u8],
        policy: RoomPolicy,
    ) -> Result<Self, String> {
        let view = HubView::from_group_info(&group_info, ratchet_tree)?;
        let mut franking_key = [0u8; 32];
        franking_key.copy_from_slice(&mimi_mls::random_bytes(32));
        Ok(Self {
            uri,
            view,
            group_info,
            pending_proposals: vec![],
            policy,
            removed_users: BTreeSet::new(),
            franking_key,
            ever_domains: BTreeSet::new(),
            ever_participants: BTreeMap::new(),
            last_timestamp: 0,
        })
    }

    /// An acceptance time, strictly increasing within the room so that order is visible.
    fn stamp(&mut self, faults: &Faults) -> u64 {
        self.last_timestamp = now_ms().max(self.last_timestamp + 1);
        if faults.on(Fault::TimestampsInSeconds) {
            return self.last_timestamp / 1000;
        }
        self.last_timestamp
    }

    /// The users on the participant list (P-06 §7.5).
    pub fn participants(&self) -> Vec<String> {
        participant_list(self.view.group_context().extensions())
            .participants
            .iter()
            .map(|p| String::from_utf8_lossy(&p.user.0).into_owned())
            .collect()
    }

    /// Providers other than the hub with members in the group (its followers).
    pub fn member_domains(&self) -> BTreeSet<String> {
        self.view.members().iter().map(|m| domain_of(m)).collect()
    }

    /// Users with at least one member client.
    pub fn active_users(&self) -> BTreeSet<String> {
        self.view
            .members()
            .iter()
            .map(|m| user_of_client(m))
            .collect()
    }

    /// `update` (P-06 §5.3) from the provider `from`.
    pub fn update(
        &mut self,
        bundle: &HandshakeBundle,
        from: &str,
        faults: &Faults,
    ) -> UpdateDecision {
        let message = &bundle.proposal_or_commit;
        let recipients_before = self.member_domains();
        let participants_before: BTreeSet<String> = self.participants().into_iter().collect();
        let policy = self.policy.clone();
        let removed_users = self.removed_users.clone();
        let roles_before = mimi_mls::room::roles_list(self.view.group_context().extensions());
        let list_before = participant_list(self.view.group_context().extensions()).participants;
        let check_policy = |summary: &CommitSummary<'_>| -> Result<(), String> {
            let committer = summary
                .joined
                .clone()
                .or_else(|| summary.committer.clone())
                .unwrap_or_default();
            if domain_of(&committer) != from {
                return Err(format!(
                    "{committer} is not a client of {from}, which sent the commit (P-06 §4.1)"
                ));
            }
            if !summary.omitted_proposals.is_empty() && !faults.on(Fault::PendingProposalsOptional)
            {
                return Err(format!(
                    "the commit leaves out {} proposal(s) the hub accepted in this epoch (P-06 §3.5)",
                    summary.omitted_proposals.len()
                ));
            }
            let list = participant_list(summary.new_context.extensions()).participants;
            // Each user once, with one role (P-06 §7.5); in any order, since updates append.
            let users: BTreeSet<&[u8]> = list.iter().map(|p| p.user.0.as_slice()).collect();
            if users.len() != list.len() && !faults.on(Fault::ParticipantListEntriesUnchecked) {
                return Err("the participant list names a user twice (P-06 §7.5)".into());
            }
            check_roles(
                summary,
                &committer,
                &roles_before,
                &list_before,
                &list,
                faults,
            )?;
            let listed: BTreeSet<String> = list
                .iter()
                .map(|p| String::from_utf8_lossy(&p.user.0).into_owned())
                .collect();
            if !faults.on(Fault::ParticipantListNotChecked) {
                // The fault looks at the first client the commit adds, not the others.
                let unchecked: Vec<&str> = match faults.on(Fault::ParticipantListFirstAddOnly) {
                    true => summary
                        .added
                        .iter()
                        .skip(1)
                        .map(|a| a.identity.as_str())
                        .collect(),
                    false => vec![],
                };
                for member in summary
                    .members_after
                    .iter()
                    .filter(|m| !unchecked.contains(&m.as_str()))
                {
                    let user = user_of_client(member);
                    if !listed.contains(&user) {
                        return Err(format!(
                            "{member} would be a member but {user} is not on the participant list (P-06 §7.1)"
                        ));
                    }
                }
            }
            if let Some(joined) = &summary.joined {
                let user = user_of_client(joined);
                if !participants_before.contains(&user) || removed_users.contains(&user) {
                    return Err(format!(
                        "{user} is not a participant and may not join by external commit (P-06 §3.6)"
                    ));
                }
            }
            // POL-03 §5: max_users bounds the participant list's entries that are not banned
            // (role 1); the fault counts the users with clients in the group instead.
            let users = if faults.on(Fault::MaxUsersCountsMembers) {
                summary
                    .members_after
                    .iter()
                    .map(|m| user_of_client(m))
                    .collect::<BTreeSet<String>>()
                    .len()
            } else {
                list.iter().filter(|p| p.role_index != BANNED_ROLE).count()
            };
            // The fault leaves the committer out of the count.
            let users = if faults.on(Fault::MaxUsersOffByOne) {
                users.saturating_sub(1)
            } else {
                users
            };
            if let Some(max) = policy
                .max_users
                .filter(|_| !faults.on(Fault::MaxUsersNotEnforced))
            {
                if users > max {
                    return Err(format!(
                        "the room allows at most {max} users; the commit makes {users} (POL-03 §5)"
                    ));
                }
            }
            if let Some(max) = policy
                .max_clients
                .filter(|_| !faults.on(Fault::MaxClientsNotEnforced))
            {
                if summary.members_after.len() > max {
                    return Err(format!(
                        "the room allows at most {max} clients; the commit makes {} (POL-03 §5)",
                        summary.members_after.len()
                    ));
                }
            }
            Ok(())
        };
        // The fault refuses a handshake from an epoch ahead as its MLS library does, as
        // unprocessable, instead of telling the sender the room's epoch.
        if faults.on(Fault::EpochAheadNotAllowed)
            && message.epoch().is_some_and(|e| e > self.view.epoch())
        {
            return not_allowed("the message cannot be processed");
        }
        let unchecked_by_fault = (faults.on(Fault::EpochNotChecked)
            && message.epoch() != Some(self.view.epoch()))
            || (faults.on(Fault::EncryptedHandshakeAccepted)
                && message.wire_format() == mimi_wire::mls_objects::WIRE_FORMAT_PRIVATE_MESSAGE);
        let checked = if unchecked_by_fault {
            // The faults accept a handshake of another epoch, or one it cannot read,
            // without processing it.
            Ok(if message.content_type() == Some(CONTENT_TYPE_COMMIT) {
                Accepted::Commit {
                    epoch: self.view.epoch(),
                    added: vec![],
                    joined: None,
                    removed: vec![],
                }
            } else {
                Accepted::Proposal
            })
        } else {
            self.view.check_with_policy(&message.bytes, check_policy)
        };
        let accepted = match checked {
            Ok(a) => a,
            Err(Refused::WrongEpoch { current, got }) => {
                return refused(
                    UpdateResponseCode::wrongEpoch,
                    UpdateOutcome::WrongEpoch {
                        current_epoch: if faults.on(Fault::WrongEpochEchoed) {
                            got
                        } else {
                            current
                        },
                    },
                    format!("the message is for epoch {got}; the room is at {current}"),
                )
            }
            Err(Refused::Unreadable(why)) => return not_allowed(why),
            Err(Refused::NotAllowed(why)) => return not_allowed(why),
            Err(Refused::Invalid(why)) if message.content_type() == Some(CONTENT_TYPE_PROPOSAL) => {
                return refused(
                    UpdateResponseCode::invalidProposal,
                    UpdateOutcome::InvalidProposal {
                        invalid_proposals: if faults.on(Fault::InvalidProposalUnnamed) {
                            vec![]
                        } else {
                            vec![Opaque(if faults.on(Fault::InvalidProposalRefUnlabelled) {
                                use sha2::Digest;
                                sha2::Sha256::digest(&message.bytes).to_vec()
                            } else {
                                mimi_mls::member::proposal_ref(
                                    &message.bytes,
                                    self.view.ciphersuite(),
                                )
                            })]
                        },
                    },
                    why,
                )
            }
            Err(Refused::Invalid(why)) => return not_allowed(format!("invalid handshake: {why}")),
        };
        let timestamp = self.stamp(faults);
        let mut fanout = vec![];
        match (&accepted, &bundle.rest) {
            (
                Accepted::Commit { added, removed, .. },
                BundleRest::Commit {
                    welcome,
                    group_info_option,
                    ..
                },
            ) => {
                // The fault keeps the GroupInfo of the last commit that added a member.
                let keep = faults.on(Fault::GroupInfoRefreshedOnAddOnly) && added.is_empty();
                if let (GroupInfoOption::Full(g), false) = (group_info_option.as_ref(), keep) {
                    self.group_info = framed(WIRE_FORMAT_GROUP_INFO, &g.bytes);
                }
                self.ever_participants.extend(
                    participant_list(self.view.group_context().extensions())
                        .participants
                        .iter()
                        .map(|p| {
                            (
                                String::from_utf8_lossy(&p.user.0).into_owned(),
                                p.role_index,
                            )
                        }),
                );
                self.pending_proposals.clear();
                self.ever_domains.extend(self.member_domains());
                for user in removed.iter().map(|c| user_of_client(c)) {
                    if !self.active_users().contains(&user) {
                        self.removed_users.insert(user);
                    }
                }
                // The commit goes to every provider that had members, the removed ones too
                // (P-06 §5.5); then a Welcome to those whose KeyPackages it names.
                // The fault stamps the commit again when it fans it out.
                let commit_timestamp = if faults.on(Fault::CommitFanoutRestamped) {
                    self.stamp(faults)
                } else {
                    timestamp
                };
                fanout.push(Fanout {
                    room: self.uri.clone(),
                    message: FanoutMessage {
                        timestamp: fanned_out(commit_timestamp, faults),
                        message: message.clone(),
                        rest: FanoutRest::Commit {
                            external_proposals: vec![],
                        },
                    },
                    to: recipients_before,
                });
                if let Some(welcome) = welcome {
                    // On notify a Welcome travels as an MLSMessage (P-06 §5.5).
                    let welcome_message = framed(WIRE_FORMAT_WELCOME, &welcome.bytes);
                    let refs =
                        mimi_mls::room::welcome_new_members(&welcome_message).unwrap_or_default();
                    let to: BTreeSet<String> = if faults.on(Fault::WelcomeToEveryone) {
                        self.member_domains()
                    } else {
                        added
                            .iter()
                            .filter(|a| refs.contains(&a.key_package_ref))
                            .map(|a| domain_of(&a.identity))
                            .collect()
                    };
                    if let Ok(message) = decode_exact::<MlsMessage>(&welcome_message) {
                        fanout.push(Fanout {
                            room: self.uri.clone(),
                            message: FanoutMessage {
                                timestamp: fanned_out(timestamp, faults),
                                message,
                                rest: FanoutRest::Welcome {
                                    ratchet_tree_option: RatchetTreeOption::Full(
                                        if faults.on(Fault::WelcomeWithoutTree) {
                                            vec![]
                                        } else {
                                            self.view.ratchet_tree()
                                        },
                                    ),
                                },
                            },
                            to,
                        });
                    }
                }
            }
            (Accepted::Proposal, BundleRest::Proposal { more_proposals }) => {
                if self.pending_proposals.len() < MAX_PENDING_PROPOSALS {
                    self.pending_proposals.push(PendingProposal {
                        proposal: message.clone(),
                        hub_accepted_time: timestamp,
                    });
                }
                fanout.push(Fanout {
                    room: self.uri.clone(),
                    message: FanoutMessage {
                        timestamp: fanned_out(timestamp, faults),
                        message: message.clone(),
                        rest: FanoutRest::Proposal {
                            more_proposals: if faults.on(Fault::MoreProposalsDropped) {
                                vec![]
                            } else if faults.on(Fault::MoreProposalsFirstOnly) {
                                more_proposals.iter().take(1).cloned().collect()
                            } else {
                                more_proposals.clone()
                            },
                        },
                    },
                    to: recipients_before,
                });
            }
            _ => return not_allowed("the bundle's form does not match its message's content type"),
        }
        UpdateDecision {
            response: UpdateRoomResponse {
                response_code: UpdateResponseCode::success,
                error_description: Text::default(),
                outcome: UpdateOutcome::Success {
                    accepted_timestamp: timestamp,
                },
            },
            fanout,
        }
    }

    /// `submitMessage` (P-06 §5.4) from the provider `from`.
    pub fn submit(
        &mut self,
        request: &SubmitMessageRequest,
        from: &str,
        hub: &SimClient,
        faults: &Faults,
    ) -> (SubmitMessageResponse, Vec<Fanout>) {
        let answer = |code, outcome| SubmitMessageResponse {
            protocol: PROTOCOL_MLS10,
            status_code: code,
            outcome,
        };
        let not_allowed = (
            answer(SubmitResponseCode::notAllowed, SubmitOutcome::Other),
            vec![],
        );
        let message = &request.app_message;
        let private_application = message.wire_format() == 2 && message.content_type() == Some(1);
        if !private_application && !faults.on(Fault::PlaintextApplicationAccepted) {
            return not_allowed;
        }
        let sender = &request.sending_uri.0;
        // An active participant: on the participant list, with a client in the group. The
        // faults take any participant, or anyone the room ever had.
        let active = if faults.on(Fault::RemovedSenderStillKnown) {
            self.ever_participants.contains_key(sender) || self.participants().contains(sender)
        } else {
            (faults.on(Fault::InactiveSenderAccepted) || self.active_users().contains(sender))
                && self.participants().contains(sender)
        };
        let of_sender = domain_of(sender) == from || faults.on(Fault::SenderDomainNotCompared);
        if (!active || !of_sender) && !faults.on(Fault::SenderNotChecked) {
            return not_allowed;
        }
        // Where the room has roles, the sender's must allow sending (POL-03 §8.3).
        let extensions = self.view.group_context().extensions();
        if let Some(roles) = mimi_mls::room::roles_list(extensions) {
            // The faults take the role of the sending provider's first participant, or the
            // last role a user ever had.
            let role = participant_list(extensions)
                .participants
                .iter()
                .find(|p| match faults.on(Fault::SendRoleOfProvider) {
                    true => domain_of(&String::from_utf8_lossy(&p.user.0)) == from,
                    false => p.user.0 == sender.as_bytes(),
                })
                .map(|p| p.role_index)
                .or_else(|| {
                    faults
                        .on(Fault::RemovedSenderStillKnown)
                        .then(|| self.ever_participants.get(sender).copied())
                        .flatten()
                });
            if !role.is_some_and(|r| roles.allows(r, CAN_SEND_MESSAGE))
                && !faults.on(Fault::SendRoleNotChecked)
            {
                return not_allowed;
            }
        }
        let current = self.view.epoch();
        match message.epoch() {
            Some(e) if e < current && !faults.on(Fault::EpochNotChecked) => {
                return (
                    answer(
                        SubmitResponseCode::epochTooOld,
                        SubmitOutcome::EpochTooOld {
                            current_epoch: if faults.on(Fault::EpochTooOldEchoed) {
                                e
                            } else {
                                current
                            },
                        },
                    ),
                    vec![],
                )
            }
            // The fault refuses only the epochs behind the room's.
            Some(e)
                if e > current
                    && !faults.on(Fault::EpochNotChecked)
                    && !faults.on(Fault::SubmitEpochAheadAccepted) =>
            {
                return not_allowed
            }
            _ => {}
        }
        let timestamp = self.stamp(faults);
        let frank = message
            .private_authenticated_data()
            .and_then(|aad| franking_tag_in_safe_aad(&aad))
            .filter(|_| !faults.on(Fault::NoFrank))
            .map(|tag| self.frank(&tag, sender, timestamp, hub, faults));
        let mut to = self.member_domains();
        if faults.on(Fault::RemovedProviderStillNotified) {
            to.extend(self.ever_domains.iter().cloned());
        }
        if faults.on(Fault::FanoutFirstFollowerOnly) {
            let hub = domain_of(&self.uri);
            let first = to.iter().find(|d| **d != hub).cloned();
            to.retain(|d| *d == hub || Some(d) == first.as_ref());
        }
        let fanout = Fanout {
            room: self.uri.clone(),
            message: FanoutMessage {
                timestamp: fanned_out(timestamp, faults),
                message: message.clone(),
                rest: FanoutRest::Application {
                    frank: frank
                        .clone()
                        .filter(|_| !faults.on(Fault::FanoutFrankDropped)),
                },
            },
            to,
        };
        (
            answer(
                SubmitResponseCode::accepted,
                SubmitOutcome::Accepted {
                    accepted_timestamp: timestamp,
                    frank,
                },
            ),
            vec![fanout],
        )
    }

    /// The hub's frank (P-06 §5.4.1.2).
    fn frank(
        &self,
        tag: &[u8; 32],
        sender: &str,
        timestamp: u64,
        hub: &SimClient,
        faults: &Faults,
    ) -> Frank {
        use hmac::{Mac, SimpleHmac};
        let room = if faults.on(Fault::FrankBadSignature) {
            format!("{}-other", self.uri)
        } else {
            self.uri.clone()
        };
        let context = ServerFrankingContext {
            sender_uri: IdentifierUri(sender.to_string()),
            room_uri: IdentifierUri(room),
            accepted_timestamp: timestamp,
        };
        let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&self.franking_key)
            .expect("HMAC takes any key length");
        mac.update(tag);
        mac.update(&context.to_bytes());
        let server_frank: [u8; 32] = mac.finalize().into_bytes().into();
        // The fault names its own default suite (P-256), whatever the group's.
        let suite = if faults.on(Fault::FrankSuiteHardcoded) {
            2
        } else {
            u16::from(self.view.ciphersuite())
        };
        let signature = hub.sign_with_label(
            FRANKING_INTEGRITY_LABEL,
            &franking_integrity_tbs(&server_frank, suite, &context),
        );
        Frank {
            server_frank,
            franking_signature_ciphersuite: Since(Some(suite)),
            franking_integrity_signature: Opaque(signature),
        }
    }

    /// `groupInfo` (P-06 §5.6) for a requester of the provider `from`.
    pub fn group_info(
        &self,
        request: &GroupInfoRequest,
        from: &str,
        hub: &SimClient,
        faults: &Faults,
    ) -> GroupInfoResponse {
        let refuse = |status| GroupInfoResponse::refusal(&self.uri, status);
        let requester = credential_identity(&request.requesting_credential);
        let user = user_of_client(&requester);
        let participants = self.participants();
        // The fault authorises the provider, not the user: any client of a provider that has
        // a participant in the room.
        let listed = participants.contains(&user)
            || (faults.on(Fault::GroupInfoToProvider)
                && participants.iter().any(|p| domain_of(p) == from));
        let authorised = faults.on(Fault::GroupInfoToAnyone)
            || (domain_of(&requester) == from && listed && !self.removed_users.contains(&user));
        if !authorised {
            return refuse(GroupInfoCode::notAuthorized);
        }
        let Ok(group_info) = decode_exact::<GroupInfo>(unframed(&self.group_info)) else {
            return refuse(GroupInfoCode::noSuchRoom);
        };
        let tbe = GroupInfoRatchetTreeTbe {
            group_info,
            ratchet_tree_option: RatchetTreeOption::Full(self.view.ratchet_tree()),
            pending_proposals: Since(Some(self.pending_proposals.clone())),
        };
        let suite = self.view.ciphersuite();
        // The fault signs with a GroupInfo service key of its own, which it names as
        // hub_sender, though the group's external_senders do not hold it.
        let service = faults
            .on(Fault::GroupInfoSignerNotExternalSender)
            .then(|| SimClient::new(format!("{}/group-info", hub.uri), suite));
        let sender = service.as_ref().unwrap_or(hub);
        let Ok((kem_output, ciphertext)) = mimi_mls::labels::encrypt_with_label(
            suite,
            &request.group_info_public_key.0,
            GROUP_INFO_ENCRYPTION_LABEL,
            self.uri.as_bytes(),
            &tbe.to_bytes(),
        ) else {
            return refuse(GroupInfoCode::notAuthorized);
        };
        let mut response = GroupInfoResponse {
            version: PROTOCOL_MLS10,
            room_id: Opaque(self.uri.clone().into_bytes()),
            status: GroupInfoCode::success,
            success: Some(GroupInfoSuccess {
                cipher_suite: u16::from(suite),
                hub_sender: hub_sender(sender),
                encrypted_groupinfo_and_tree: HpkeCiphertext {
                    kem_output: Opaque(kem_output),
                    ciphertext: Opaque(ciphertext),
                },
                signature: Opaque::default(),
            }),
        };
        let signer = if faults.on(Fault::GroupInfoBadSignature) {
            &SimClient::new(hub.uri.clone(), suite)
        } else {
            sender
        };
        let signature = signer.sign_with_label(GROUP_INFO_RESPONSE_LABEL, &response.to_be_signed());
        if let Some(s) = response.success.as_mut() {
            s.signature = Opaque(signature);
        }
        response
    }
}

/// The hub as an MLS external sender (P-06 §7.4).
pub fn hub_sender(hub: &SimClient) -> ExternalSender {
    ExternalSender {
        signature_key: Opaque(hub.signature_key().to_vec()),
        credential: Credential::Basic(hub.uri.clone().into_bytes()),
    }
}

/// The identity of a basic credential (a client URI), or empty.
pub fn credential_identity(credential: &Credential) -> String {
    match credential {
        Credential::Basic(identity) => String::from_utf8_lossy(identity).into_owned(),
        Credential::X509(_) => String::new(),
    }
}

/// The timestamp a fanned-out message carries: its acceptance time, or (the fault) that time as
/// a store with a seconds column keeps it.
fn fanned_out(timestamp: u64, faults: &Faults) -> u64 {
    if faults.on(Fault::FanoutTimestampTruncated) {
        timestamp / 1000 * 1000
    } else {
        timestamp
    }
}
