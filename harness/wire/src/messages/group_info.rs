//! `groupInfo` (P-06 §5.6): a would-be joiner asks the hub for the GroupInfo and tree, which
//! come back HPKE-encrypted to it and signed by the hub.

use super::common_mls::{ExternalSender, HpkeCiphertext, RatchetTreeOption};
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::{ciphersuite_name, protocol_name, read_mls10, Credential, PROTOCOL_MLS10};
use crate::fields::{Field, Opaque, Since};
use crate::mls_objects::{GroupInfo, MlsMessage};
use crate::render::{hex_short, Render};
use crate::{wire_enum, wire_struct};
use serde_json::{json, Value};

pub const GROUP_INFO_REQUEST_LABEL: &str = "GroupInfoRequestTBS";
pub const GROUP_INFO_RESPONSE_LABEL: &str = "GroupInfoResponseTBS";
pub const GROUP_INFO_ENCRYPTION_LABEL: &str = "GroupInfo and ratchet_tree encryption";

/// How `joiningCode` is encoded in `GroupInfoRequestTBS`: the draft's TBS says
/// `optional opaque joiningCode<V>` while the request has plain `opaque joiningCode<V>`
/// (reference §9 item 8). Providers may reasonably differ, so both are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoiningCodeInTbs {
    /// As the TBS is written: a presence byte (present when the code is not empty), then the code.
    #[default]
    Optional,
    /// As the request is written: the code as `opaque<V>`.
    Plain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfoRequest {
    pub protocol: u8,
    pub cipher_suite: u16,
    pub requesting_signature_key: Opaque,
    pub requesting_credential: Credential,
    pub group_info_public_key: Opaque,
    pub joining_code: Opaque,
    pub signature: Opaque,
}

impl GroupInfoRequest {
    pub fn to_be_signed(&self, joining_code: JoiningCodeInTbs) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(self.protocol);
        w.u16(self.cipher_suite);
        self.requesting_signature_key.write(&mut w);
        w.write(&self.requesting_credential);
        self.group_info_public_key.write(&mut w);
        match joining_code {
            JoiningCodeInTbs::Optional => {
                let code = (!self.joining_code.0.is_empty()).then(|| self.joining_code.clone());
                code.write(&mut w)
            }
            JoiningCodeInTbs::Plain => self.joining_code.write(&mut w),
        }
        w.into_bytes()
    }
}

impl Decode for GroupInfoRequest {
    const NAME: &'static str = "GroupInfoRequest";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol = read_mls10(r, "protocol")?;
        Ok(Self {
            protocol,
            cipher_suite: r.u16("cipher_suite")?,
            requesting_signature_key: Field::read(r, "requestingSignatureKey")?,
            requesting_credential: r.read()?,
            group_info_public_key: Field::read(r, "groupInfoPublicKey")?,
            joining_code: Field::read(r, "joiningCode")?,
            signature: Field::read(r, "signature")?,
        })
    }
}

impl Encode for GroupInfoRequest {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.protocol);
        w.u16(self.cipher_suite);
        self.requesting_signature_key.write(w);
        w.write(&self.requesting_credential);
        self.group_info_public_key.write(w);
        self.joining_code.write(w);
        self.signature.write(w);
    }
}

impl Render for GroupInfoRequest {
    fn render(&self) -> Value {
        json!({
            "protocol": protocol_name(self.protocol),
            "cipher_suite": ciphersuite_name(self.cipher_suite),
            "requestingSignatureKey": self.requesting_signature_key.show(),
            "requestingCredential": self.requesting_credential.render(),
            "groupInfoPublicKey": self.group_info_public_key.show(),
            "joiningCode": String::from_utf8_lossy(&self.joining_code.0),
            "signature": self.signature.show(),
        })
    }
}

wire_enum!(
    /// GroupInfoCode.
    GroupInfoCode: u8 { reserved = 0, success = 1, notAuthorized = 2, noSuchRoom = 3 }
);

#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfoSuccess {
    pub cipher_suite: u16,
    pub hub_sender: ExternalSender,
    pub encrypted_groupinfo_and_tree: HpkeCiphertext,
    pub signature: Opaque,
}

/// `GroupInfoResponse` (its protocol field is named `version` in the draft: §9 item 7).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfoResponse {
    pub version: u8,
    pub room_id: Opaque,
    pub status: GroupInfoCode,
    pub success: Option<GroupInfoSuccess>,
}

impl GroupInfoResponse {
    /// A response with a non-success status (no payload, no signature).
    pub fn refusal(room_id: &str, status: GroupInfoCode) -> Self {
        Self {
            version: PROTOCOL_MLS10,
            room_id: Opaque(room_id.as_bytes().to_vec()),
            status,
            success: None,
        }
    }

    /// `GroupInfoResponseTBS`: everything before the signature.
    pub fn to_be_signed(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode_fields(&mut w, false);
        w.into_bytes()
    }

    fn encode_fields(&self, w: &mut Writer, with_signature: bool) {
        w.u8(self.version);
        self.room_id.write(w);
        self.status.write(w);
        if let Some(s) = &self.success {
            w.u16(s.cipher_suite);
            w.write(&s.hub_sender);
            w.write(&s.encrypted_groupinfo_and_tree);
            if with_signature {
                s.signature.write(w);
            }
        }
    }
}

impl Decode for GroupInfoResponse {
    const NAME: &'static str = "GroupInfoResponse";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("version")?;
        let room_id = Field::read(r, "room_id")?;
        let status = GroupInfoCode::read(r, "status")?;
        let success = if status == GroupInfoCode::success && version == PROTOCOL_MLS10 {
            Some(GroupInfoSuccess {
                cipher_suite: r.u16("cipher_suite")?,
                hub_sender: r.read()?,
                encrypted_groupinfo_and_tree: r.read()?,
                signature: Field::read(r, "signature")?,
            })
        } else {
            None
        };
        Ok(Self {
            version,
            room_id,
            status,
            success,
        })
    }
}

impl Encode for GroupInfoResponse {
    fn encode(&self, w: &mut Writer) {
        self.encode_fields(w, true)
    }
}

impl Render for GroupInfoResponse {
    fn render(&self) -> Value {
        let mut v = json!({
            "version": protocol_name(self.version),
            "room_id": String::from_utf8_lossy(&self.room_id.0),
            "status": self.status.show(),
        });
        if let Some(s) = &self.success {
            v["cipher_suite"] = json!(ciphersuite_name(s.cipher_suite));
            v["hub_sender"] = s.hub_sender.render();
            v["encrypted_groupinfo_and_tree"] = s.encrypted_groupinfo_and_tree.render();
            v["signature"] = json!(hex_short(&s.signature.0));
        }
        v
    }
}

wire_struct!(
    /// `PendingProposal` (new in -06).
    PendingProposal {
        proposal: MlsMessage = "proposal",
        hub_accepted_time: u64 = "hub_accepted_time",
    }
);

wire_struct!(
    /// `GroupInfoRatchetTreeTBE`, the plaintext of `encrypted_groupinfo_and_tree`.
    GroupInfoRatchetTreeTbe {
        group_info: GroupInfo = "groupInfo",
        ratchet_tree_option: RatchetTreeOption = "ratchetTreeOption",
        pending_proposals: Since<6, Vec<PendingProposal>> = "pending_proposals",
    }
);
