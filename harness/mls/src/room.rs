//! A MIMI room as an MLS group (P-06 §7), from a simulated client's side: created with the hub
//! among its external senders (§7.4), the participant list in the app-data dictionary (§7.5),
//! the app-data dictionary required of every member; members added with a Welcome; application
//! messages carrying MIMI content, with the franking tag in the SafeAAD (§5.4.1); external joins
//! from a GroupInfo (§3.6).

use crate::client::SimClient;
use mimi_wire::codec::Encode;
use mimi_wire::messages::room_state::{
    FrankingAgentData, ParticipantListData, RoleData, COMPONENT_FRANKING_SIGNATURE_KEY,
    COMPONENT_FRANK_AAD, COMPONENT_PARTICIPANT_LIST, COMPONENT_ROLES_LIST,
};
use mimi_wire::mls_objects::KeyPackage;
use openmls::prelude::tls_codec::{Deserialize, Serialize};
use openmls::prelude::*;

/// The hub, as the room's first external sender.
pub struct HubSender {
    pub signature_key: Vec<u8>,
    pub credential: Credential,
}

impl HubSender {
    /// The hub that `hub` signs for: its key, and its URI as a basic credential.
    pub fn of(hub: &SimClient) -> Self {
        Self {
            signature_key: hub.signature_key().to_vec(),
            credential: BasicCredential::new(hub.uri.clone().into_bytes()).into(),
        }
    }
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
        dictionary.insert(COMPONENT_ROLES_LIST, standard_roles().to_bytes());
        // The hub signs franks with its external-sender key (P-06 §5.4.1, component 0x0021).
        let credential = mimi_wire::decode_exact::<mimi_wire::common::Credential>(
            &hub.credential
                .tls_serialize_detached()
                .map_err(|e| err("encoding the hub credential", e))?,
        )
        .map_err(|e| err("the hub credential", e))?;
        dictionary.insert(
            COMPONENT_FRANKING_SIGNATURE_KEY,
            FrankingAgentData {
                franking_signature_key: mimi_wire::fields::Opaque(hub.signature_key.clone()),
                credential,
            }
            .to_bytes(),
        );
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
            ProcessedMessageContent::ProposalMessage(proposal) => {
                // Kept for the next commit, which must cover it (P-06 §3.5).
                group
                    .store_pending_proposal(self.provider.storage(), *proposal)
                    .map_err(|e| err("storing the proposal", e))?;
                Ok(Received::Proposal)
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

/// A commit staged by a member and not yet merged: the member merges it once the hub has
/// accepted it (`confirm_commit`), or drops it (`discard_commit`) (P-06 §5.3).
pub struct StagedCommitParts {
    pub commit: Vec<u8>,
    /// For the new members, when the commit adds any.
    pub welcome: Option<Vec<u8>>,
    /// The GroupInfo of the new epoch, without the tree, for the hub (POL-03 §7).
    pub group_info: Vec<u8>,
}

/// What a commit changes.
#[derive(Default)]
pub struct Changes<'a> {
    pub adds: &'a [KeyPackage],
    pub removes: &'a [u32],
    /// The new participant list (P-06 §7.5), sent as a GroupContextExtensions proposal.
    pub participants: Option<ParticipantListData>,
    /// The new roles_list (POL-03 §3), in the same GroupContextExtensions proposal.
    pub roles: Option<RoleData>,
    /// Leave out the proposals received in this epoch (which a hub must refuse: P-06 §3.5).
    pub omit_pending: bool,
}

/// The roles of a room made by a reference client: 1 `banned` (nothing), 2 `participant`, 3
/// `observer` (may only read).
pub fn standard_roles() -> RoleData {
    use mimi_wire::messages::room_state::*;
    RoleData {
        roles: vec![
            Role::named(1, "banned", &[]),
            Role::named(
                2,
                "participant",
                &[
                    CAN_ADD_PARTICIPANT,
                    CAN_REMOVE_PARTICIPANT,
                    CAN_REMOVE_SELF,
                    CAN_SEND_MESSAGE,
                    CAN_RECEIVE_MESSAGE,
                ],
            ),
            Role::named(3, "observer", &[CAN_RECEIVE_MESSAGE]),
        ],
    }
}

/// The roles_list of a group context, if the room has one.
pub fn roles_list(extensions: &Extensions<GroupContext>) -> Option<RoleData> {
    extensions
        .app_data_dictionary()
        .and_then(|d| d.dictionary().get(&COMPONENT_ROLES_LIST))
        .and_then(|bytes| mimi_wire::decode_exact::<RoleData>(bytes).ok())
}

/// The participant list in a group context (empty when the group has none).
pub fn participant_list(extensions: &Extensions<GroupContext>) -> ParticipantListData {
    extensions
        .app_data_dictionary()
        .and_then(|d| d.dictionary().get(&COMPONENT_PARTICIPANT_LIST))
        .and_then(|bytes| mimi_wire::decode_exact::<ParticipantListData>(bytes).ok())
        .unwrap_or_default()
}

/// The group context's extensions with the participant list and roles replaced, where given.
fn with_room_state(
    extensions: &Extensions<GroupContext>,
    participants: Option<&ParticipantListData>,
    roles: Option<&RoleData>,
) -> Result<Extensions<GroupContext>, String> {
    let mut dictionary = extensions
        .app_data_dictionary()
        .map(|d| d.dictionary().clone())
        .unwrap_or_default();
    if let Some(participants) = participants {
        dictionary.insert(COMPONENT_PARTICIPANT_LIST, participants.to_bytes());
    }
    if let Some(roles) = roles {
        dictionary.insert(COMPONENT_ROLES_LIST, roles.to_bytes());
    }
    let mut replaced: Vec<Extension> = extensions
        .iter()
        .filter(|e| e.extension_type() != ExtensionType::AppDataDictionary)
        .cloned()
        .collect();
    replaced.push(Extension::AppDataDictionary(
        AppDataDictionaryExtension::new(dictionary),
    ));
    Extensions::from_vec(replaced).map_err(|e| err("room extensions", e))
}

impl SimClient {
    /// Stages a commit of these changes and of every pending proposal; the group stays in its
    /// epoch until `confirm_commit`.
    pub fn stage_commit(
        &self,
        group: &mut MlsGroup,
        changes: Changes<'_>,
    ) -> Result<StagedCommitParts, String> {
        let key_packages: Vec<openmls::prelude::KeyPackage> = changes
            .adds
            .iter()
            .map(|kp| kp.verify(self.provider.crypto()))
            .collect::<Result<_, _>>()?;
        let extensions = (changes.participants.is_some() || changes.roles.is_some())
            .then(|| {
                with_room_state(
                    group.extensions(),
                    changes.participants.as_ref(),
                    changes.roles.as_ref(),
                )
            })
            .transpose()?;
        let mut builder = group
            .commit_builder()
            .consume_proposal_store(!changes.omit_pending)
            .propose_adds(key_packages)
            .propose_removals(changes.removes.iter().map(|l| LeafNodeIndex::new(*l)));
        if let Some(extensions) = extensions {
            builder = builder
                .propose_group_context_extensions(extensions)
                .map_err(|e| err("proposing the participant list", e))?;
        }
        let bundle = builder
            .load_psks(self.provider.storage())
            .map_err(|e| err("loading PSKs", e))?
            .create_group_info(true)
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.signer,
                |_| true,
            )
            .map_err(|e| err("building the commit", e))?
            .stage_commit(&self.provider)
            .map_err(|e| err("staging the commit", e))?;
        let welcome = bundle
            .to_welcome_msg()
            .map(|w| w.to_bytes().map_err(|e| err("encoding the Welcome", e)))
            .transpose()?;
        let (commit, _, group_info) = bundle.into_messages();
        let group_info = group_info.ok_or("the commit produced no GroupInfo")?;
        Ok(StagedCommitParts {
            commit: commit
                .to_bytes()
                .map_err(|e| err("encoding the commit", e))?,
            welcome,
            group_info: group_info
                .to_bytes()
                .map_err(|e| err("encoding the GroupInfo", e))?,
        })
    }

    /// Merges the staged commit: the hub accepted it.
    pub fn confirm_commit(&self, group: &mut MlsGroup) -> Result<(), String> {
        group
            .merge_pending_commit(&self.provider)
            .map_err(|e| err("merging the commit", e))
    }

    /// Drops the staged commit: the hub refused it.
    pub fn discard_commit(&self, group: &mut MlsGroup) {
        // Clearing only fails when the storage does, which is in memory.
        let _ = group.clear_pending_commit(self.provider.storage());
    }

    /// A proposal to update this client's own leaf (a PublicMessage).
    pub fn propose_self_update(&self, group: &mut MlsGroup) -> Result<Vec<u8>, String> {
        let (message, _) = group
            .propose_self_update(&self.provider, &self.signer, LeafNodeParameters::default())
            .map_err(|e| err("proposing an update", e))?;
        message
            .to_bytes()
            .map_err(|e| err("encoding the proposal", e))
    }

    /// Whether this client's handshakes go out as PrivateMessages, which a MIMI hub cannot
    /// check and must refuse (P-06 §4.2); only the harness turns this on, to see that refusal.
    pub fn encrypt_handshakes(&self, group: &mut MlsGroup, encrypted: bool) -> Result<(), String> {
        let policy = if encrypted {
            PURE_CIPHERTEXT_WIRE_FORMAT_POLICY
        } else {
            MIXED_PLAINTEXT_WIRE_FORMAT_POLICY
        };
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(policy)
            .build();
        group
            .set_configuration(self.provider.storage(), &config)
            .map_err(|e| err("setting the wire format", e))
    }

    /// A proposal to remove this client from the group (a PublicMessage), for a later commit.
    pub fn propose_leave(&self, group: &mut MlsGroup) -> Result<Vec<u8>, String> {
        group
            .leave_group(&self.provider, &self.signer)
            .map_err(|e| err("proposing to leave", e))?
            .to_bytes()
            .map_err(|e| err("encoding the proposal", e))
    }
}

/// The KeyPackageRefs a Welcome (an MLSMessage) is encrypted to, in the clear in
/// `secrets[].new_member`: how a hub routes it (P-06 §4.3.1).
pub fn welcome_new_members(welcome: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let message =
        MlsMessageIn::tls_deserialize_exact(welcome).map_err(|e| err("reading the Welcome", e))?;
    let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
        return Err("the message is not a Welcome".into());
    };
    Ok(welcome
        .secrets()
        .iter()
        .map(|s| s.new_member().as_slice().to_vec())
        .collect())
}
