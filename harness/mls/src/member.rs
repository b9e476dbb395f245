//! A client as a member of MIMI rooms, on whichever provider hosts it: the reference provider's
//! users and the harness's own simulated clients are both this. It publishes KeyPackages,
//! joins from a fanned-out Welcome that names one of them, processes handshakes, and decrypts
//! application messages into deliveries (what link C hands a user), checking on the way what
//! the sender's client had to get right (link D).

use crate::room::Received;
use crate::SimClient;
use mimi_wire::messages::common_mls::RatchetTreeOption;
use mimi_wire::messages::notify::{FanoutMessage, FanoutRest};
use mimi_wire::messages::update::CONTENT_TYPE_COMMIT;
use mimi_wire::messages::update::{BundleRest, GroupInfoOption, HandshakeBundle};
use mimi_wire::mls_objects::{unframed, GroupInfo, KeyPackage};
use mimi_wire::{decode_exact, DecodeError};
use openmls::prelude::{Lifetime, MlsGroup};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// No client keeps more received messages than this.
pub const MAX_INBOX: usize = 1024;

pub struct Member {
    pub sim: SimClient,
    /// Published KeyPackages, oldest first; each is handed out at most once. Only the next
    /// one is minted ahead: the rest of those the client publishes are minted as they are
    /// taken (`unminted`), since a case takes one or two of them and minting costs three
    /// public-key operations.
    pub key_packages: VecDeque<KeyPackage>,
    /// How many more it publishes than it has minted, and their lifetime.
    unminted: usize,
    lifetime_seconds: u64,
    /// Refs of the KeyPackages handed out, to find the client a Welcome is for.
    pub claimed_refs: BTreeSet<Vec<u8>>,
    /// The client's groups, by room URI.
    pub groups: BTreeMap<String, MlsGroup>,
    /// What the client received, oldest first (bounded).
    pub inbox: VecDeque<Delivery>,
    /// How the client computes message IDs (content-08 §3.3 unless a fault says otherwise).
    pub message_id_draft: mimi_wire::content::ContentDraft,
    /// Room → how many fanned-out messages of it reached the client, processed or not: what
    /// shows a duplicate that MLS then refuses.
    pub deliveries: BTreeMap<String, u64>,
}

/// An application message a client received and decrypted.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub room: String,
    pub sender_client: String,
    pub sender_user: String,
    pub content: Vec<u8>,
    /// The hub's acceptance time (FanoutMessage.timestamp).
    pub hub_timestamp: u64,
    /// CONT-08 §3.3 message ID (-08), computed from the content, the sender and the room.
    pub message_id: Vec<u8>,
    /// The FanoutMessage carried a Frank.
    pub franked: bool,
    /// What the sender's client put in the SafeAAD as `frank_aad`, if anything.
    pub franking_tag: Option<Vec<u8>>,
    /// Whether the Frank's `franking_integrity_signature` verifies (P-06 §5.4.1.2–3) with the
    /// room's `franking_signature_key` over this sender, room and hub timestamp.
    pub frank_verifies: Option<Result<(), String>>,
}

/// Checks a Frank as a receiving client can: the signature, with the key the room's group
/// context publishes (component 0x0021), over the context the hub must have franked.
pub fn verify_frank(
    group: &MlsGroup,
    frank: &mimi_wire::messages::submit::Frank,
    sender_user: &str,
    room: &str,
    timestamp: u64,
) -> Result<(), String> {
    use mimi_wire::messages::room_state::{FrankingAgentData, COMPONENT_FRANKING_SIGNATURE_KEY};
    use mimi_wire::messages::submit::*;
    let agent = group
        .extensions()
        .app_data_dictionary()
        .and_then(|d| d.dictionary().get(&COMPONENT_FRANKING_SIGNATURE_KEY))
        .ok_or("the room publishes no franking_signature_key (component 0x0021)")?;
    let agent = decode_exact::<FrankingAgentData>(agent)
        .map_err(|e| format!("component 0x0021 does not decode: {e}"))?;
    let suite = u16::from(group.ciphersuite());
    let signed_suite = frank.franking_signature_ciphersuite.0.unwrap_or(suite);
    let context = ServerFrankingContext {
        sender_uri: mimi_wire::common::IdentifierUri(sender_user.to_string()),
        room_uri: mimi_wire::common::IdentifierUri(room.to_string()),
        accepted_timestamp: timestamp,
    };
    crate::labels::verify_with_label(
        group.ciphersuite().signature_algorithm(),
        &agent.franking_signature_key.0,
        FRANKING_INTEGRITY_LABEL,
        &franking_integrity_tbs(&frank.server_frank, signed_suite, &context),
        &frank.franking_integrity_signature.0,
    )
    .map_err(|_| {
        format!(
            "franking_integrity_signature does not verify over FrankingIntegrityTBS for sender {sender_user}, room {room}, timestamp {timestamp}"
        )
    })
}

/// `mimi://<domain>/u/<name>` of `mimi://<domain>/d/<name>/<n>`; anything else as it is.
pub fn user_of_client(client: &str) -> String {
    client
        .strip_prefix("mimi://")
        .and_then(|rest| {
            let mut parts = rest.split('/');
            let domain = parts.next()?;
            (parts.next()? == "d").then_some(())?;
            Some(format!("mimi://{domain}/u/{}", parts.next()?))
        })
        .unwrap_or_else(|| client.to_string())
}

pub fn identity(credential: &openmls::prelude::Credential) -> String {
    String::from_utf8_lossy(credential.serialized_content()).into_owned()
}

/// How long the `membership_tag<V>` at the end of a member's PublicMessage is, in bytes.
fn membership_tag_field(suite: openmls::prelude::Ciphersuite) -> usize {
    let tag = suite.hash_length();
    tag + if tag < 64 { 1 } else { 2 }
}

/// Whether an MLSMessage is a PublicMessage from a member (which ends with a membership tag).
fn from_member(message: &[u8]) -> bool {
    use openmls::prelude::tls_codec::Deserialize;
    matches!(
        openmls::prelude::MlsMessageIn::tls_deserialize_exact(message)
            .ok()
            .and_then(|m| m.try_into_protocol_message().ok()),
        Some(openmls::prelude::ProtocolMessage::PublicMessage(m))
            if matches!(m.sender(), openmls::prelude::Sender::Member(_))
    )
}

/// `RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent)` of a proposal sent as a
/// PublicMessage (an MLSMessage; RFC 9420 §5.2): the message without its version and wire
/// format and, for a member sender, without its membership tag.
pub fn proposal_ref(message: &[u8], suite: openmls::prelude::Ciphersuite) -> Vec<u8> {
    let tag_field = if from_member(message) {
        membership_tag_field(suite)
    } else {
        0
    };
    let end = message.len().saturating_sub(tag_field);
    let content = message.get(2..end).unwrap_or_default();
    crate::labels::ref_hash(suite, "MLS 1.0 Proposal Reference", content)
}

/// A member's PublicMessage with the last byte of its signature changed: it no longer verifies,
/// and its ProposalRef is that of what it now says.
pub fn break_signature(message: &mut [u8], suite: openmls::prelude::Ciphersuite) {
    let at = message
        .len()
        .saturating_sub(membership_tag_field(suite) + 1);
    if let Some(byte) = message.get_mut(at) {
        *byte ^= 0xff;
    }
}

/// The HandshakeBundle of a staged commit: the GroupInfo in full, the tree left to the hub
/// (P-06 §5.3).
pub fn commit_bundle(
    commit: &[u8],
    welcome: Option<&[u8]>,
    group_info: &[u8],
) -> Result<HandshakeBundle, String> {
    let internal = |what: &str, e: DecodeError| format!("our own {what} does not decode: {e}");
    Ok(HandshakeBundle {
        proposal_or_commit: decode_exact(commit).map_err(|e| internal("commit", e))?,
        rest: BundleRest::Commit {
            welcome: welcome
                .map(|w| decode_exact(unframed(w)).map(Box::new))
                .transpose()
                .map_err(|e| internal("Welcome", e))?,
            group_info_option: Box::new(GroupInfoOption::Full(
                decode_exact::<GroupInfo>(unframed(group_info))
                    .map_err(|e| internal("GroupInfo", e))?,
            )),
            ratchet_tree_option: RatchetTreeOption::DistributionService,
        },
    })
}

/// The HandshakeBundle of a proposal.
pub fn proposal_bundle(
    proposal: &[u8],
    more_proposals: Vec<Vec<u8>>,
) -> Result<HandshakeBundle, String> {
    Ok(HandshakeBundle {
        proposal_or_commit: decode_exact(proposal)
            .map_err(|e| format!("our own proposal does not decode: {e}"))?,
        rest: BundleRest::Proposal {
            more_proposals: more_proposals
                .iter()
                .map(|p| decode_exact(p))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("a further proposal does not decode: {e}"))?,
        },
    })
}

impl Member {
    /// A client that publishes `key_packages` KeyPackages of this lifetime.
    pub fn new(sim: SimClient, key_packages: usize, lifetime_seconds: u64) -> Self {
        let mut member = Self {
            sim,
            key_packages: VecDeque::new(),
            unminted: key_packages,
            lifetime_seconds,
            claimed_refs: BTreeSet::new(),
            groups: BTreeMap::new(),
            inbox: VecDeque::new(),
            message_id_draft: mimi_wire::content::ContentDraft::D08,
            deliveries: BTreeMap::new(),
        };
        member.mint_next();
        member
    }

    /// Mints the next published KeyPackage if none is minted and some remain.
    fn mint_next(&mut self) {
        if self.key_packages.is_empty() && self.unminted > 0 {
            self.unminted -= 1;
            let kp = self.sim.key_package(Lifetime::new(self.lifetime_seconds));
            self.key_packages.push_back(kp);
        }
    }

    /// Hands out the oldest published KeyPackage, once.
    pub fn claim_key_package(&mut self) -> Option<KeyPackage> {
        self.take(0)
    }

    /// Takes a published KeyPackage someone else handed out (by its bytes), if it is still
    /// published.
    pub fn take_key_package(&mut self, bytes: &[u8]) {
        if let Some(i) = self.key_packages.iter().position(|k| k.bytes == bytes) {
            self.take(i);
        }
    }

    /// Takes the `i`th published KeyPackage, noting its ref for the Welcome that names it.
    fn take(&mut self, i: usize) -> Option<KeyPackage> {
        let kp = self.key_packages.remove(i)?;
        if let Some(r) = kp.reference() {
            self.claimed_refs.insert(r);
        }
        self.mint_next();
        Some(kp)
    }

    fn receive(&mut self, delivery: Delivery) {
        if self.inbox.len() == MAX_INBOX {
            self.inbox.pop_front();
        }
        self.inbox.push_back(delivery);
    }

    /// Takes a fanned-out message of `room`: joins from a Welcome that names one of this
    /// client's KeyPackages, merges commits, decrypts application messages into the inbox.
    pub fn deliver(&mut self, room: &str, fanout: &FanoutMessage) -> Result<(), String> {
        let message = &fanout.message;
        match &fanout.rest {
            FanoutRest::Welcome {
                ratchet_tree_option,
            } => {
                let refs = crate::room::welcome_new_members(&message.bytes).unwrap_or_default();
                let mine = refs.iter().any(|r| self.claimed_refs.contains(r));
                if !mine || self.groups.contains_key(room) {
                    return Ok(());
                }
                let RatchetTreeOption::Full(tree) = ratchet_tree_option else {
                    return Err("a Welcome without a full ratchet tree".into());
                };
                let group = self.sim.join_from_welcome(&message.bytes, tree)?;
                self.groups.insert(room.to_string(), group);
                *self.deliveries.entry(room.to_string()).or_default() += 1;
                Ok(())
            }
            FanoutRest::Application { frank } => self.process(room, fanout, frank.as_ref()),
            _ => self.process(room, fanout, None),
        }
    }

    fn process(
        &mut self,
        room: &str,
        fanout: &FanoutMessage,
        frank: Option<&mimi_wire::messages::submit::Frank>,
    ) -> Result<(), String> {
        let Some(group) = self.groups.get_mut(room) else {
            return Ok(());
        };
        *self.deliveries.entry(room.to_string()).or_default() += 1;
        let message = &fanout.message;
        if message.epoch() != Some(group.epoch().as_u64()) {
            // Our own commit, merged already; or a message of an epoch we are not in.
            return Ok(());
        }
        if let Ok(openmls::prelude::ProtocolMessage::PublicMessage(m)) =
            message.parsed.clone().try_into_protocol_message()
        {
            if matches!(m.sender(), openmls::prelude::Sender::Member(leaf) if *leaf == group.own_leaf_index())
            {
                if message.content_type() == Some(CONTENT_TYPE_COMMIT)
                    && group.pending_commit().is_some()
                {
                    // Our own commit, accepted: the hub's fan-out came before its response.
                    self.sim.confirm_commit(group)?;
                }
                return Ok(());
            }
        }
        match self.sim.receive(group, &message.bytes) {
            Ok(Received::Application {
                content,
                sender,
                aad,
            }) => {
                let sender_client = String::from_utf8_lossy(&sender).into_owned();
                let sender_user = user_of_client(&sender_client);
                let message_id = mimi_wire::content::decode(&content)
                    .map(|c| {
                        mimi_wire::content::message_id(
                            &content,
                            &c.salt,
                            &sender_user,
                            room,
                            self.message_id_draft,
                        )
                    })
                    .unwrap_or_default();
                let franking_tag =
                    mimi_wire::messages::submit::franking_tag_in_safe_aad(&aad).map(|t| t.to_vec());
                let frank_verifies =
                    frank.map(|f| verify_frank(group, f, &sender_user, room, fanout.timestamp));
                self.receive(Delivery {
                    room: room.to_string(),
                    sender_client,
                    sender_user,
                    content,
                    hub_timestamp: fanout.timestamp,
                    message_id,
                    franked: frank.is_some(),
                    franking_tag,
                    frank_verifies,
                });
                Ok(())
            }
            Ok(Received::Commit { .. }) => {
                if !group.is_active() {
                    self.groups.remove(room);
                }
                Ok(())
            }
            Ok(Received::Proposal) => Ok(()),
            Err(e) if e.contains("CannotDecryptOwnMessage") => Ok(()),
            Err(e) => Err(format!("cannot process a message of {room}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::HubSender;

    /// The harness computes the ref a hub must name; openmls, which keeps the client's own
    /// proposals by ref, checks that computation.
    #[test]
    fn proposal_ref_is_the_ref_openmls_keeps() {
        let hub = SimClient::new("mimi://hub.example", crate::DEFAULT_CIPHERSUITE);
        let alice = SimClient::new("mimi://a.example/d/alice/1", crate::DEFAULT_CIPHERSUITE);
        let sender = HubSender::of(&hub);
        let mut group = alice
            .create_room(b"mimi://hub.example/r/refs", &sender, &Default::default())
            .unwrap();
        let proposal = alice.propose_self_update(&mut group).unwrap();
        let kept = group
            .pending_proposals()
            .map(|p| p.proposal_reference_ref().as_slice().to_vec())
            .collect::<Vec<_>>();
        assert_eq!(kept, vec![proposal_ref(&proposal, group.ciphersuite())]);
        let mut broken = proposal.clone();
        break_signature(&mut broken, group.ciphersuite());
        assert_ne!(proposal_ref(&broken, group.ciphersuite()), kept[0]);
    }
}
