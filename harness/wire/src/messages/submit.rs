//! `submitMessage` (P-06 §5.4) and franking (§5.4.1).

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::{protocol_name, read_mls10, IdentifierUri};
use crate::fields::{Field, Opaque, Since};
use crate::mls_objects::MlsMessage;
use crate::render::{hex_short, Render};
use crate::{wire_enum, wire_struct};
use serde_json::{json, Value};

/// `Frank`: the hub's stamp. `franking_signature_ciphersuite` exists from -05 on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frank {
    pub server_frank: [u8; 32],
    pub franking_signature_ciphersuite: Since<5, u16>,
    pub franking_integrity_signature: Opaque,
}

impl Decode for Frank {
    const NAME: &'static str = "Frank";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            server_frank: r.array("server_frank")?,
            franking_signature_ciphersuite: Field::read(r, "franking_signature_ciphersuite")?,
            franking_integrity_signature: Field::read(r, "franking_integrity_signature")?,
        })
    }
}

impl Encode for Frank {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.server_frank);
        self.franking_signature_ciphersuite.write(w);
        self.franking_integrity_signature.write(w);
    }
}

impl Render for Frank {
    fn render(&self) -> Value {
        json!({
            "server_frank": hex_short(&self.server_frank),
            "franking_signature_ciphersuite": self.franking_signature_ciphersuite.show(),
            "franking_integrity_signature": self.franking_integrity_signature.show(),
        })
    }
}

wire_struct!(
    /// `ServerFrankingContext`, hashed into the server frank.
    ServerFrankingContext {
        sender_uri: IdentifierUri = "sender_uri",
        room_uri: IdentifierUri = "room_uri",
        accepted_timestamp: u64 = "accepted_timestamp",
    }
);

/// `SubmitMessageRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitMessageRequest {
    pub protocol: u8,
    pub app_message: MlsMessage,
    pub sending_uri: IdentifierUri,
}

impl Decode for SubmitMessageRequest {
    const NAME: &'static str = "SubmitMessageRequest";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol = read_mls10(r, "protocol")?;
        Ok(Self {
            protocol,
            app_message: r.read()?,
            sending_uri: r.read()?,
        })
    }
}

impl Encode for SubmitMessageRequest {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.protocol);
        w.write(&self.app_message);
        w.write(&self.sending_uri);
    }
}

impl Render for SubmitMessageRequest {
    fn render(&self) -> Value {
        json!({
            "protocol": protocol_name(self.protocol),
            "appMessage": self.app_message.render(),
            "sendingUri": self.sending_uri.render(),
        })
    }
}

wire_enum!(
    /// SubmitResponseCode (the draft's select says `success` for `accepted`: §9 item 8).
    SubmitResponseCode: u8 { accepted = 0, notAllowed = 1, epochTooOld = 2 }
);

/// `SubmitMessageResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitMessageResponse {
    pub protocol: u8,
    pub status_code: SubmitResponseCode,
    pub outcome: SubmitOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SubmitOutcome {
    Accepted {
        accepted_timestamp: u64,
        frank: Option<Frank>,
    },
    EpochTooOld {
        current_epoch: u64,
    },
    Other,
}

impl Decode for SubmitMessageResponse {
    const NAME: &'static str = "SubmitMessageResponse";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol = r.u8("protocol")?;
        let status_code = SubmitResponseCode::read(r, "statusCode")?;
        let outcome = match status_code {
            SubmitResponseCode::accepted => SubmitOutcome::Accepted {
                accepted_timestamp: r.u64("accepted_timestamp")?,
                frank: Field::read(r, "frank")?,
            },
            SubmitResponseCode::epochTooOld => SubmitOutcome::EpochTooOld {
                current_epoch: r.u64("currentEpoch")?,
            },
            _ => SubmitOutcome::Other,
        };
        Ok(Self {
            protocol,
            status_code,
            outcome,
        })
    }
}

impl Encode for SubmitMessageResponse {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.protocol);
        self.status_code.write(w);
        match &self.outcome {
            SubmitOutcome::Accepted {
                accepted_timestamp,
                frank,
            } => {
                w.u64(*accepted_timestamp);
                frank.write(w);
            }
            SubmitOutcome::EpochTooOld { current_epoch } => w.u64(*current_epoch),
            SubmitOutcome::Other => {}
        }
    }
}

impl Render for SubmitMessageResponse {
    fn render(&self) -> Value {
        let mut v = json!({"protocol": protocol_name(self.protocol), "statusCode": self.status_code.show()});
        match &self.outcome {
            SubmitOutcome::Accepted {
                accepted_timestamp,
                frank,
            } => {
                v["accepted_timestamp"] = json!(accepted_timestamp);
                v["frank"] = frank.show();
            }
            SubmitOutcome::EpochTooOld { current_epoch } => {
                v["currentEpoch"] = json!(current_epoch)
            }
            SubmitOutcome::Other => {}
        }
        v
    }
}

/// `FrankingIntegrityTBS` (P-06 §5.4.1.2, -05 on): what the hub signs with label
/// "FrankingIntegrityTBS".
pub fn franking_integrity_tbs(
    server_frank: &[u8; 32],
    franking_signature_ciphersuite: u16,
    context: &ServerFrankingContext,
) -> Vec<u8> {
    let mut w = Writer::default();
    w.raw(server_frank);
    w.u16(franking_signature_ciphersuite);
    w.write(context);
    w.into_bytes()
}

pub const FRANKING_INTEGRITY_LABEL: &str = "FrankingIntegrityTBS";

/// The `frank_aad` item (0x0020) of a SafeAAD (`SafeAADItem aad_items<V>`), when present.
pub fn franking_tag_in_safe_aad(aad: &[u8]) -> Option<[u8; 32]> {
    let mut r = Reader::new(aad);
    let items = r.opaque("aad_items").ok()?;
    let mut items = Reader::new(&items);
    while items.remaining() > 0 {
        let id = items.u16("component_id").ok()?;
        let data = items.opaque("aad_item_data").ok()?;
        if id == super::room_state::COMPONENT_FRANK_AAD {
            return data.try_into().ok();
        }
    }
    None
}
