//! The hub's view of a room's group (P-06 §5.3): built from a GroupInfo and the ratchet tree
//! (which verifies the GroupInfo's signature), it checks handshake messages the way a hub must,
//! without being a member: epoch, the sender's signature, the proposals a commit carries (the
//! membership and confirmation tags need the group's secrets, which a hub does not have);
//! and it refuses handshakes it cannot read (a PrivateMessage commit).

use openmls::prelude::tls_codec::Deserialize;
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub struct HubView {
    provider: OpenMlsRustCrypto,
    group: PublicGroup,
}

/// A member a commit adds, and the KeyPackage it was added with (the Welcome names it by ref).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedMember {
    pub identity: String,
    pub key_package_ref: Vec<u8>,
}

/// What a commit does, shown to the hub's policy before the hub accepts it.
pub struct CommitSummary<'a> {
    /// Members added by Add proposals.
    pub added: Vec<AddedMember>,
    /// The identity that joined by this (external) commit.
    pub joined: Option<String>,
    /// The identity of the member that sent the commit (None for an external commit).
    pub committer: Option<String>,
    /// Identities of the members removed.
    pub removed: Vec<String>,
    /// The group context the commit opens (with its participant list).
    pub new_context: &'a GroupContext,
    /// The identities that will be members after the commit.
    pub members_after: Vec<String>,
    /// Refs of the proposals the hub holds for this epoch that the commit leaves out.
    pub omitted_proposals: Vec<Vec<u8>>,
}

/// What the hub learned from an accepted handshake message.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A commit, merged: the epoch it opened, and who it added, joined and removed.
    Commit {
        epoch: u64,
        added: Vec<AddedMember>,
        joined: Option<String>,
        removed: Vec<String>,
    },
    /// A proposal, queued for the next commit.
    Proposal,
}

/// Why the hub refuses a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not for the current epoch (`wrongEpoch` carries the current one).
    WrongEpoch { current: u64, got: u64 },
    /// The hub cannot check it: a handshake in a PrivateMessage, or not a handshake at all.
    Unreadable(String),
    /// MLS validation failed (signature, tag, proposal rules).
    Invalid(String),
    /// Valid MLS that the room's policy does not allow.
    NotAllowed(String),
}

fn identity(credential: &Credential) -> String {
    BasicCredential::try_from(credential.clone())
        .map(|c| String::from_utf8_lossy(c.identity()).into_owned())
        .unwrap_or_else(|_| format!("{:?} credential", credential.credential_type()))
}

impl HubView {
    /// A view from a GroupInfo (an MLSMessage) and the tree; fails when the GroupInfo's
    /// signature does not verify against the tree, or the tree is invalid.
    pub fn from_group_info(group_info: &[u8], ratchet_tree: &[u8]) -> Result<Self, String> {
        let message = MlsMessageIn::tls_deserialize_exact(group_info)
            .map_err(|e| format!("reading the GroupInfo: {e:?}"))?;
        let MlsMessageBodyIn::GroupInfo(group_info) = message.extract() else {
            return Err("the message is not a GroupInfo".into());
        };
        let tree = RatchetTreeIn::tls_deserialize_exact(ratchet_tree)
            .map_err(|e| format!("reading the tree: {e:?}"))?;
        let provider = OpenMlsRustCrypto::default();
        let (group, _) = PublicGroup::from_external(
            provider.crypto(),
            provider.storage(),
            tree,
            group_info,
            ProposalStore::default(),
        )
        .map_err(|e| format!("the GroupInfo or tree does not verify: {e:?}"))?;
        Ok(Self { provider, group })
    }

    pub fn epoch(&self) -> u64 {
        self.group.group_context().epoch().as_u64()
    }

    /// The identities (basic credentials) of the members.
    pub fn members(&self) -> Vec<String> {
        self.group
            .members()
            .map(|m| identity(&m.credential))
            .collect()
    }

    pub fn ciphersuite(&self) -> Ciphersuite {
        self.group.ciphersuite()
    }

    pub fn group_context(&self) -> &GroupContext {
        self.group.group_context()
    }

    /// The ratchet tree, encoded, for joiners.
    pub fn ratchet_tree(&self) -> Vec<u8> {
        use openmls::prelude::tls_codec::Serialize;
        self.group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .expect("a tree encodes")
    }

    /// Checks a handshake message with no room policy beyond MLS.
    pub fn check(&mut self, message: &[u8]) -> Result<Accepted, Refused> {
        self.check_with_policy(message, |_| Ok(()))
    }

    /// Checks a handshake message; a commit must also pass `policy`; an accepted commit is
    /// merged into the view.
    pub fn check_with_policy(
        &mut self,
        message: &[u8],
        policy: impl FnOnce(&CommitSummary<'_>) -> Result<(), String>,
    ) -> Result<Accepted, Refused> {
        let message = MlsMessageIn::tls_deserialize_exact(message)
            .map_err(|e| Refused::Unreadable(format!("not an MLSMessage: {e:?}")))?;
        let protocol = message
            .try_into_protocol_message()
            .map_err(|e| Refused::Unreadable(format!("not a Public or Private message: {e:?}")))?;
        if matches!(protocol, ProtocolMessage::PrivateMessage(_)) {
            return Err(Refused::Unreadable(
                "a PrivateMessage: the hub cannot check what it cannot read".into(),
            ));
        }
        if protocol.content_type() == ContentType::Application {
            return Err(Refused::Unreadable(
                "an application message is not a handshake".into(),
            ));
        }
        let sender = match &protocol {
            ProtocolMessage::PublicMessage(m) => Some(m.sender().clone()),
            _ => None,
        };
        let external = matches!(sender, Some(Sender::NewMemberCommit));
        let committer = match sender {
            Some(Sender::Member(leaf)) => self.group.leaf(leaf).map(|n| identity(n.credential())),
            _ => None,
        };
        let got = protocol.epoch().as_u64();
        if got != self.epoch() {
            return Err(Refused::WrongEpoch {
                current: self.epoch(),
                got,
            });
        }
        let processed = self
            .group
            .process_message(self.provider.crypto(), protocol)
            .map_err(|e| Refused::Invalid(format!("{e:?}")))?;
        match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let crypto = self.provider.crypto();
                let added: Vec<AddedMember> = staged
                    .add_proposals()
                    .map(|p| {
                        let kp = p.add_proposal().key_package();
                        AddedMember {
                            identity: identity(kp.leaf_node().credential()),
                            key_package_ref: kp
                                .hash_ref(crypto)
                                .map(|r| r.as_slice().to_vec())
                                .unwrap_or_default(),
                        }
                    })
                    .collect();
                let removed_leaves: Vec<LeafNodeIndex> = staged
                    .remove_proposals()
                    .map(|p| p.remove_proposal().removed())
                    .collect();
                let removed: Vec<String> = removed_leaves
                    .iter()
                    .filter_map(|l| self.group.leaf(*l).map(|n| identity(n.credential())))
                    .collect();
                let joined = external
                    .then(|| {
                        staged
                            .update_path_leaf_node()
                            .map(|n| identity(n.credential()))
                    })
                    .flatten();
                let members_after = self
                    .group
                    .members()
                    .filter(|m| !removed_leaves.contains(&m.index))
                    .map(|m| identity(&m.credential))
                    .chain(added.iter().map(|a| a.identity.clone()))
                    .chain(joined.clone())
                    .collect();
                let covered: Vec<Vec<u8>> = staged
                    .queued_proposals()
                    .map(|q| q.proposal_reference_ref().as_slice().to_vec())
                    .collect();
                let omitted_proposals = self
                    .group
                    .queued_proposals(self.provider.storage())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(r, _)| r.as_slice().to_vec())
                    .filter(|r| !covered.contains(r))
                    .collect();
                policy(&CommitSummary {
                    added: added.clone(),
                    joined: joined.clone(),
                    committer,
                    removed: removed.clone(),
                    new_context: staged.group_context(),
                    members_after,
                    omitted_proposals,
                })
                .map_err(Refused::NotAllowed)?;
                self.group
                    .merge_commit(self.provider.storage(), *staged)
                    .map_err(|e| Refused::Invalid(format!("merging: {e:?}")))?;
                Ok(Accepted::Commit {
                    epoch: self.epoch(),
                    added,
                    joined,
                    removed,
                })
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                self.group
                    .add_proposal(self.provider.storage(), *proposal)
                    .map_err(|e| Refused::Invalid(format!("queueing: {e:?}")))?;
                Ok(Accepted::Proposal)
            }
            _ => Ok(Accepted::Proposal),
        }
    }
}
