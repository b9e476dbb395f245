//! The message types by name, so that a case, a transcript or `decode` can say "this body is a
//! KeyMaterialResponse" and get it decoded and rendered. A new message is one line here.

use crate::codec::{decode_exact_as, Draft};
use crate::codec::{Decode, DecodeError};
use crate::messages::abuse::AbuseReport;
use crate::messages::common_mls::RatchetTreeOption;
use crate::messages::consent::ConsentEntry;
use crate::messages::group_info::{GroupInfoRatchetTreeTbe, GroupInfoRequest, GroupInfoResponse};
use crate::messages::identifier::{IdentifierRequest, IdentifierResponse};
use crate::messages::key_material::{KeyMaterialRequest, KeyMaterialResponse};
use crate::messages::notify::{FanoutMessage, NotifyBody};
use crate::messages::room_state::{
    AppDataDictionary, ParticipantListData, ParticipantListUpdate, RoleData, RoomMetaData,
};
use crate::messages::submit::{Frank, SubmitMessageRequest, SubmitMessageResponse};
use crate::messages::update::{HandshakeBundle, UpdateRoomResponse};
use crate::mls_objects::{GroupInfo, KeyPackage, MlsMessage, Welcome};
use crate::render::Render;
use serde_json::Value;

pub struct MessageType {
    pub name: &'static str,
    pub decode: fn(&[u8], Draft) -> Result<Value, DecodeError>,
    /// RFC 9535 paths of fields that change on every run (signatures, random keys, refs,
    /// timestamps): snapshots redact them.
    pub volatile: &'static [&'static str],
}

fn render_exact<T: Decode + Render>(bytes: &[u8], draft: Draft) -> Result<Value, DecodeError> {
    decode_exact_as::<T>(bytes, draft).map(|m| m.render())
}

macro_rules! message {
    ($t:ty, $volatile:expr) => {
        MessageType {
            name: <$t as Decode>::NAME,
            decode: render_exact::<$t>,
            volatile: $volatile,
        }
    };
}

const KEY_PACKAGE_VOLATILE: &[&str] = &[
    "$.clients[*].keyPackage.ref",
    "$.clients[*].keyPackage.init_key",
    "$.clients[*].keyPackage.leaf_node.signature_key",
    "$.clients[*].keyPackage.leaf_node.lifetime",
];

pub static MESSAGES: &[MessageType] = &[
    message!(
        KeyMaterialRequest,
        &[
            "$.requesterSignatureKey",
            "$.key_material_request_signature"
        ]
    ),
    message!(KeyMaterialResponse, KEY_PACKAGE_VOLATILE),
    message!(HandshakeBundle, &[]),
    message!(UpdateRoomResponse, &["$.accepted_timestamp"]),
    message!(SubmitMessageRequest, &[]),
    message!(SubmitMessageResponse, &["$.accepted_timestamp", "$.frank"]),
    message!(FanoutMessage, &["$.timestamp", "$.frank"]),
    message!(NotifyBody, &["$[*].timestamp", "$[*].frank"]),
    message!(
        GroupInfoRequest,
        &[
            "$.requestingSignatureKey",
            "$.groupInfoPublicKey",
            "$.signature"
        ]
    ),
    message!(
        GroupInfoResponse,
        &[
            "$.encrypted_groupinfo_and_tree",
            "$.signature",
            "$.hub_sender.signature_key"
        ]
    ),
    message!(GroupInfoRatchetTreeTbe, &[]),
    message!(ConsentEntry, &["$.clientKeyPackages"]),
    message!(IdentifierRequest, &[]),
    message!(IdentifierResponse, &[]),
    message!(AbuseReport, &[]),
    message!(Frank, &["$.server_frank", "$.franking_integrity_signature"]),
    message!(RatchetTreeOption, &[]),
    message!(AppDataDictionary, &[]),
    message!(ParticipantListData, &[]),
    message!(ParticipantListUpdate, &[]),
    message!(RoomMetaData, &[]),
    message!(RoleData, &[]),
    message!(MlsMessage, &[]),
    message!(
        KeyPackage,
        &[
            "$.ref",
            "$.init_key",
            "$.leaf_node.signature_key",
            "$.leaf_node.lifetime"
        ]
    ),
    message!(Welcome, &[]),
    message!(GroupInfo, &[]),
];
pub fn message_type(name: &str) -> Option<&'static MessageType> {
    MESSAGES.iter().find(|m| m.name == name)
}

pub fn message_names() -> Vec<&'static str> {
    MESSAGES.iter().map(|m| m.name).chain([CONTENT]).collect()
}

/// The message type of each endpoint's request and successful response body (P-06 §5), for
/// decoding and rendering exchanges. `Directory` is the directory's endpoint members.
pub fn endpoint_types(endpoint: &str) -> (Option<&'static str>, Option<&'static str>) {
    match endpoint {
        "directory" => (None, Some(DIRECTORY)),
        "keyMaterial" => (Some("KeyMaterialRequest"), Some("KeyMaterialResponse")),
        "update" => (Some("HandshakeBundle"), Some("UpdateRoomResponse")),
        "submitMessage" => (Some("SubmitMessageRequest"), Some("SubmitMessageResponse")),
        "notify" => (Some("NotifyBody"), None),
        "groupInfo" => (Some("GroupInfoRequest"), Some("GroupInfoResponse")),
        "requestConsent" | "updateConsent" => (Some("ConsentEntry"), None),
        "identifierQuery" => (Some("IdentifierRequest"), Some("IdentifierResponse")),
        "reportAbuse" => (Some("AbuseReport"), None),
        _ => (None, None),
    }
}

/// Decodes a body as the named type (`json` for JSON documents, `MimiContent` for the content
/// format) and renders it, for the current draft.
pub fn decode_as(name: &str, bytes: &[u8]) -> Result<Value, String> {
    decode_as_draft(
        name,
        bytes,
        Draft::default(),
        crate::content::ContentDraft::default(),
    )
}

pub fn decode_as_draft(
    name: &str,
    bytes: &[u8],
    draft: Draft,
    content: crate::content::ContentDraft,
) -> Result<Value, String> {
    match name {
        "json" => serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}")),
        DIRECTORY => {
            crate::messages::directory::Directory::parse(bytes).map(|d| d.endpoints_json())
        }
        CONTENT => crate::content::render(bytes, content),
        _ => {
            let message =
                message_type(name).ok_or_else(|| format!("unknown message type {name:?}"))?;
            (message.decode)(bytes, draft).map_err(|e| format!("not a valid {name}: {e}"))
        }
    }
}

/// The name under which a directory is decoded: its endpoint members only (name → URL
/// template), so that a check over every member (`"*"`) sees endpoints, not `meta` and the like.
/// `decode-as: json` shows the whole document.
pub const DIRECTORY: &str = "Directory";

/// The name under which MIMI content (CBOR) is decoded.
pub const CONTENT: &str = "MimiContent";

/// The paths snapshots redact for the named type.
pub fn volatile_paths(name: &str) -> &'static [&'static str] {
    message_type(name).map(|m| m.volatile).unwrap_or(&[])
}
