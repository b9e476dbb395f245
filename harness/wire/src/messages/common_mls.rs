//! MLS-side structures that MIMI messages embed: ratchet-tree options and partial GroupInfo
//! (draft-mahy-mls-ratchet-tree-options), extensions, HPKE ciphertexts, external senders.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::Credential;
use crate::fields::Opaque;
use crate::render::{hex_short, Render};
use crate::{wire_enum, wire_struct};
use serde_json::{json, Value};

wire_enum!(
    /// RatchetTreeRepresentation (RTO-03).
    RatchetTreeRepresentation: u8 { full = 1, httpsUri = 2, outOfBand = 3, distributionService = 4 }
);

/// `RatchetTreeOption`: how a receiver gets the ratchet tree.
#[derive(Debug, Clone, PartialEq)]
pub enum RatchetTreeOption {
    /// `optional<Node> ratchet_tree<V>`, kept as the vector's bytes.
    Full(Vec<u8>),
    HttpsUri {
        url: Vec<u8>,
        tree_signature: Vec<u8>,
    },
    OutOfBand {
        tree_signature: Vec<u8>,
    },
    DistributionService,
}

impl Decode for RatchetTreeOption {
    const NAME: &'static str = "RatchetTreeOption";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("representation")? {
            1 => Ok(Self::Full(r.opaque("ratchet_tree")?)),
            2 => Ok(Self::HttpsUri {
                url: r.opaque("ratchet_tree_url")?,
                tree_signature: r.opaque("tree_signature")?,
            }),
            3 => Ok(Self::OutOfBand {
                tree_signature: r.opaque("tree_signature")?,
            }),
            4 => Ok(Self::DistributionService),
            other => Err(r.error(
                "representation",
                format!(
                    "{other} is not full(1), httpsUri(2), outOfBand(3) or distributionService(4)"
                ),
            )),
        }
    }
}

impl Encode for RatchetTreeOption {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Full(tree) => {
                w.u8(1);
                w.opaque(tree)
            }
            Self::HttpsUri {
                url,
                tree_signature,
            } => {
                w.u8(2);
                w.opaque(url);
                w.opaque(tree_signature)
            }
            Self::OutOfBand { tree_signature } => {
                w.u8(3);
                w.opaque(tree_signature)
            }
            Self::DistributionService => w.u8(4),
        }
    }
}

impl Render for RatchetTreeOption {
    fn render(&self) -> Value {
        match self {
            Self::Full(tree) => json!({"representation": "full", "ratchet_tree": hex_short(tree)}),
            Self::HttpsUri {
                url,
                tree_signature,
            } => json!({
                "representation": "httpsUri",
                "ratchet_tree_url": String::from_utf8_lossy(url),
                "tree_signature": hex_short(tree_signature),
            }),
            Self::OutOfBand { tree_signature } => {
                json!({"representation": "outOfBand", "tree_signature": hex_short(tree_signature)})
            }
            Self::DistributionService => json!({"representation": "distributionService"}),
        }
    }
}

wire_struct!(
    /// RFC 9420 `Extension`.
    Extension {
        extension_type: u16 = "extension_type",
        extension_data: Opaque = "extension_data",
    }
);

wire_enum!(
    /// RatchetTreePresence (RTO-03).
    RatchetTreePresence: u8 { no_ratchet_tree = 0, present = 1, removed = 2, added = 3 }
);

wire_struct!(
    /// `PartialGroupInfo` (RTO-03): a GroupInfo the hub completes from its own view.
    PartialGroupInfo {
        ratchet_tree_presence: RatchetTreePresence = "ratchet_tree_presence",
        group_info_extensions: Vec<Extension> = "group_info_extensions",
        signature: Opaque = "signature",
    }
);

wire_struct!(
    /// RFC 9420 `HPKECiphertext`.
    #[derive(Default)]
    HpkeCiphertext {
        kem_output: Opaque = "kem_output",
        ciphertext: Opaque = "ciphertext",
    }
);

wire_struct!(
    /// RFC 9420 §12.1.8.1 `ExternalSender`.
    ExternalSender {
        signature_key: Opaque = "signature_key",
        credential: Credential = "credential",
    }
);
