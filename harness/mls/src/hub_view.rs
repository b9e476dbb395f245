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

/// What the hub learned from an accepted handshake message.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A commit, merged: the epoch it opened, and the identities it added and removed.
    Commit {
        epoch: u64,
        added: Vec<String>,
        removed: Vec<u32>,
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

    /// Checks a handshake message; an accepted commit is merged into the view.
    pub fn check(&mut self, message: &[u8]) -> Result<Accepted, Refused> {
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
                let added = staged
                    .add_proposals()
                    .map(|p| identity(p.add_proposal().key_package().leaf_node().credential()))
                    .collect();
                let removed = staged
                    .remove_proposals()
                    .map(|p| p.remove_proposal().removed().u32())
                    .collect();
                self.group
                    .merge_commit(self.provider.storage(), *staged)
                    .map_err(|e| Refused::Invalid(format!("merging: {e:?}")))?;
                Ok(Accepted::Commit {
                    epoch: self.epoch(),
                    added,
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
