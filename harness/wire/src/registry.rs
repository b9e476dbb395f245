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
        volatile: &["$.requesterSignatureKey", "$.key_material_request_signature"],
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
