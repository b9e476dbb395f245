//! The message types by name, so that a case, a transcript or `decode` can say "this body is a
//! KeyMaterialResponse" and get it decoded and rendered. A new message is one line here.

use crate::codec::{decode_exact, Decode, DecodeError};
use crate::messages::key_material::{KeyMaterialRequest, KeyMaterialResponse};
use crate::render::Render;
use serde_json::Value;

pub struct MessageType {
    pub name: &'static str,
    pub decode: fn(&[u8]) -> Result<Value, DecodeError>,
    /// RFC 9535 paths of fields that change on every run (signatures, random keys, refs,
    /// timestamps): snapshots redact them.
    pub volatile: &'static [&'static str],
}

fn render_exact<T: Decode + Render>(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode_exact::<T>(bytes).map(|m| m.render())
}

const KEY_PACKAGE_VOLATILE: &[&str] = &[
    "$.clients[*].keyPackage.ref",
    "$.clients[*].keyPackage.init_key",
    "$.clients[*].keyPackage.leaf_node.signature_key",
    "$.clients[*].keyPackage.leaf_node.lifetime",
];

pub static MESSAGES: &[MessageType] = &[
    MessageType {
        name: "KeyMaterialRequest",
        decode: render_exact::<KeyMaterialRequest>,
        volatile: &[
            "$.requesterSignatureKey",
            "$.key_material_request_signature",
        ],
    },
    MessageType {
        name: "KeyMaterialResponse",
        decode: render_exact::<KeyMaterialResponse>,
        volatile: KEY_PACKAGE_VOLATILE,
    },
];

pub fn message_type(name: &str) -> Option<&'static MessageType> {
    MESSAGES.iter().find(|m| m.name == name)
}

pub fn message_names() -> Vec<&'static str> {
    MESSAGES.iter().map(|m| m.name).collect()
}

/// The message type of each endpoint's request and successful response body (P-06 §5), for
/// decoding and rendering exchanges. `json` is the directory's JSON document.
pub fn endpoint_types(endpoint: &str) -> (Option<&'static str>, Option<&'static str>) {
    match endpoint {
        "directory" => (None, Some("json")),
        "keyMaterial" => (Some("KeyMaterialRequest"), Some("KeyMaterialResponse")),
        _ => (None, None),
    }
}

/// Decodes a body as the named type (`json` for JSON documents) and renders it.
pub fn decode_as(name: &str, bytes: &[u8]) -> Result<Value, String> {
    if name == "json" {
        return serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"));
    }
    let message = message_type(name).ok_or_else(|| format!("unknown message type {name:?}"))?;
    (message.decode)(bytes).map_err(|e| format!("not a valid {name}: {e}"))
}

/// The paths snapshots redact for the named type.
pub fn volatile_paths(name: &str) -> &'static [&'static str] {
    message_type(name).map(|m| m.volatile).unwrap_or(&[])
}
