//! A MIMI room as an MLS group (P-06 §7), from a simulated client's side: created with the hub
//! among its external senders (§7.4), the participant list in the app-data dictionary (§7.5),
//! the app-data dictionary required of every member; members added with a Welcome; application
//! messages carrying MIMI content, with the franking tag in the SafeAAD (§5.4.1); external joins
//! from a GroupInfo (§3.6).

use crate::client::SimClient;
use mimi_wire::codec::Encode;
use mimi_wire::messages::room_state::{
    ParticipantListData, COMPONENT_FRANK_AAD, COMPONENT_PARTICIPANT_LIST,
};
use mimi_wire::mls_objects::KeyPackage;
use openmls::prelude::tls_codec::{Deserialize, Serialize};
use openmls::prelude::*;

/// The hub, as the room's first external sender.
pub struct HubSender {
    pub signature_key: Vec<u8>,
    pub credential: Credential,
}

/// What a commit that adds members produces.
pub struct AddOutcome {
    pub commit: Vec<u8>,
    pub welcome: Vec<u8>,
    /// The ratchet tree after the commit (the Welcome omits it: P-06 §5.3).
    pub ratchet_tree: Vec<u8>,
}

/// What a member learns from a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    Application {
        content: Vec<u8>,
        sender: Vec<u8>,
        aad: Vec<u8>,
    },
    /// A commit, merged: the group is at this epoch now.
    Commit {
        epoch: u64,
    },
    Proposal,
}

fn err(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what}: {e:?}")
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        // Application messages are PrivateMessages; handshakes are PublicMessages so that the
        // hub can check them (P-06 §4.2, §5.3).
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

/// `SafeAAD` (draft-ietf-mls-extensions) holding only `frank_aad`.
pub fn safe_aad_with_franking_tag(tag: &[u8; 32]) -> Vec<u8> {
    let mut items = mimi_wire::codec::Writer::default();
    items.u16(COMPONENT_FRANK_AAD);
    items.opaque(tag);
    let mut aad = mimi_wire::codec::Writer::default();
    aad.opaque(&items.into_bytes());
    aad.into_bytes()
}

impl SimClient {
    /// Creates the room's group with this client as its first member.
    pub fn create_room(
        &self,
        group_id: &[u8],
        hub: &HubSender,
        participants: &ParticipantListData,
    ) -> Result<MlsGroup, String> {
        let mut dictionary = AppDataDictionary::new();
        dictionary.insert(COMPONENT_PARTICIPANT_LIST, participants.to_bytes());
        let extensions = Extensions::from_vec(vec![
            Extension::ExternalSenders(vec![ExternalSender::new(
                hub.signature_key.clone().into(),
                hub.credential.clone(),
            )]),
            Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
                &[ExtensionType::AppDataDictionary],
                &[],
                &[],
            )),
            Extension::AppDataDictionary(AppDataDictionaryExtension::new(dictionary)),
        ])
        .map_err(|e| err("room extensions", e))?;
        MlsGroup::builder()
            .with_group_id(GroupId::from_slice(group_id))
            .ciphersuite(self.ciphersuite)
            .with_capabilities(crate::client::mimi_capabilities())
            .with_group_context_extensions(extensions)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build(&self.provider, &self.signer, self.credential())
            .map_err(|e| err("creating the room's group", e))
    }

    /// Adds members by their KeyPackages; the commit is merged at once.
    pub fn add(
        &self,
        group: &mut MlsGroup,
        key_packages: &[KeyPackage],
    ) -> Result<AddOutcome, String> {
        let key_packages: Vec<openmls::prelude::KeyPackage> = key_packages
            .iter()
            .map(|kp| kp.verify(self.provider.crypto()))
            .collect::<Result<_, _>>()?;
        let (commit, welcome, _) = group
            .add_members(&self.provider, &self.signer, &key_packages)
            .map_err(|e| err("adding members", e))?;
        group
            .merge_pending_commit(&self.provider)
            .map_err(|e| err("merging the add", e))?;
        Ok(AddOutcome {
            commit: commit
                .to_bytes()
                .map_err(|e| err("encoding the commit", e))?,
            welcome: welcome
                .to_bytes()
                .map_err(|e| err("encoding the Welcome", e))?,
            ratchet_tree: group
                .export_ratchet_tree()
                .tls_serialize_detached()
                .map_err(|e| err("encoding the tree", e))?,
        })
    }

    /// Joins from a Welcome (an MLSMessage) with the tree sent beside it.
    pub fn join_from_welcome(
        &self,
        welcome: &[u8],
        ratchet_tree: &[u8],
    ) -> Result<MlsGroup, String> {
        let message = MlsMessageIn::tls_deserialize_exact(welcome)
            .map_err(|e| err("reading the Welcome", e))?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err("the message is not a Welcome".into());
        };
        let tree = RatchetTreeIn::tls_deserialize_exact(ratchet_tree)
            .map_err(|e| err("reading the tree", e))?;
        StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, Some(tree))
            .map_err(|e| err("processing the Welcome", e))?
            .into_group(&self.provider)
            .map_err(|e| err("joining", e))
    }

    /// An application message (PrivateMessage) carrying `content`; with a franking tag, the
    /// tag goes into the SafeAAD as `frank_aad`.
    pub fn send(
        &self,
        group: &mut MlsGroup,
        content: &[u8],
        franking_tag: Option<&[u8; 32]>,
    ) -> Result<Vec<u8>, String> {
        group.set_aad(
            franking_tag
                .map(safe_aad_with_franking_tag)
                .unwrap_or_default(),
        );
        let message = group
            .create_message(&self.provider, &self.signer, content)
            .map_err(|e| err("creating the application message", e))?;
        message
            .to_bytes()
            .map_err(|e| err("encoding the message", e))
    }

    /// Processes a message for the group; commits are merged.
    pub fn receive(&self, group: &mut MlsGroup, message: &[u8]) -> Result<Received, String> {
        let message = MlsMessageIn::tls_deserialize_exact(message)
            .map_err(|e| err("reading the message", e))?;
        let protocol = message
            .try_into_protocol_message()
            .map_err(|e| err("not a protocol message", e))?;
        let processed = group
            .process_message(&self.provider, protocol)
            .map_err(|e| err("processing the message", e))?;
        let sender = processed.credential().serialized_content().to_vec();
        let aad = processed.aad().to_vec();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Ok(Received::Application {
                content: m.into_bytes(),
                sender,
                aad,
            }),
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(|e| err("merging the commit", e))?;
                Ok(Received::Commit {
                    epoch: group.epoch().as_u64(),
                })
            }
            _ => Ok(Received::Proposal),
        }
    }

    /// A GroupInfo of the group (an MLSMessage) without the tree, as the hub hands it out.
    pub fn group_info(&self, group: &MlsGroup) -> Result<Vec<u8>, String> {
        group
            .export_group_info(self.provider.crypto(), &self.signer, false)
            .map_err(|e| err("exporting the GroupInfo", e))?
            .to_bytes()
            .map_err(|e| err("encoding the GroupInfo", e))
    }

    /// Joins by external commit from a GroupInfo and the tree; returns the group and the commit.
    pub fn join_external(
        &self,
        group_info: &[u8],
        ratchet_tree: &[u8],
    ) -> Result<(MlsGroup, Vec<u8>), String> {
        let message = MlsMessageIn::tls_deserialize_exact(group_info)
            .map_err(|e| err("reading the GroupInfo", e))?;
        let MlsMessageBodyIn::GroupInfo(group_info) = message.extract() else {
            return Err("the message is not a GroupInfo".into());
        };
        let tree = RatchetTreeIn::tls_deserialize_exact(ratchet_tree)
            .map_err(|e| err("reading the tree", e))?;
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_ratchet_tree(tree)
            .with_config(join_config())
            .build_group(&self.provider, group_info, self.credential())
            .map_err(|e| err("starting the external commit", e))?
            .leaf_node_parameters(
                LeafNodeParameters::builder()
                    .with_capabilities(crate::client::mimi_capabilities())
                    .build(),
            )
            .load_psks(self.provider.storage())
            .map_err(|e| err("loading PSKs", e))?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.signer,
                |_| true,
            )
            .map_err(|e| err("building the external commit", e))?
            .finalize(&self.provider)
            .map_err(|e| err("finishing the external commit", e))?;
        let (commit, _, _) = bundle.into_contents();
        Ok((
            group,
            commit
                .to_bytes()
                .map_err(|e| err("encoding the commit", e))?,
        ))
    }
}

/// The ratchet tree of a group, encoded, for joiners.
pub fn ratchet_tree(group: &MlsGroup) -> Vec<u8> {
    group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .expect("a tree encodes")
}

/// `franking_tag = HMAC_SHA256(salt, application_data)` (P-06 §5.4.1.1), where the salt is the
/// MIMI content's own.
pub fn franking_tag(content: &[u8]) -> Result<[u8; 32], String> {
    use hmac::{Mac, SimpleHmac};
    let salt = mimi_wire::content::decode(content)?.salt;
    let mut mac =
        SimpleHmac::<sha2::Sha256>::new_from_slice(&salt).map_err(|e| err("HMAC key", e))?;
    mac.update(content);
    Ok(mac.finalize().into_bytes().into())
}

impl SimClient {
    /// Removes the members at these leaf indexes; the commit is merged at once.
    pub fn remove(&self, group: &mut MlsGroup, leaves: &[u32]) -> Result<Vec<u8>, String> {
        let leaves: Vec<LeafNodeIndex> = leaves.iter().map(|l| LeafNodeIndex::new(*l)).collect();
        let (commit, _, _) = group
            .remove_members(&self.provider, &self.signer, &leaves)
            .map_err(|e| err("removing members", e))?;
        group
            .merge_pending_commit(&self.provider)
            .map_err(|e| err("merging the removal", e))?;
        commit.to_bytes().map_err(|e| err("encoding the commit", e))
    }
}
