//! `requestConsent` and `updateConsent` (P-06 §5.7).

use super::room_state::AppDataDictionary;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::IdentifierUri;
use crate::fields::{Field, Since};
use crate::mls_objects::KeyPackage;
use crate::render::Render;
use crate::wire_enum;
use serde_json::{json, Value};

wire_enum!(
    /// ConsentOperation.
    ConsentOperation: u8 { cancel = 0, request = 1, grant = 2, revoke = 3 }
);

/// `ConsentEntry`; `RoomId` is undefined in the draft (§9 item 8): read as an IdentifierUri.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentEntry {
    pub consent_operation: ConsentOperation,
    pub requester_uri: IdentifierUri,
    pub target_uri: IdentifierUri,
    pub room_id: Option<IdentifierUri>,
    /// Only for `grant`.
    pub client_key_packages: Vec<KeyPackage>,
    pub consent_extensions: Since<6, AppDataDictionary>,
}

impl Decode for ConsentEntry {
    const NAME: &'static str = "ConsentEntry";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let consent_operation = ConsentOperation::read(r, "consentOperation")?;
        let requester_uri = r.read()?;
        let target_uri = r.read()?;
        let room_id = Field::read(r, "roomId")?;
        let client_key_packages = if consent_operation == ConsentOperation::grant {
            Field::read(r, "clientKeyPackages")?
        } else {
            Vec::new()
        };
        Ok(Self {
            consent_operation,
            requester_uri,
            target_uri,
            room_id,
            client_key_packages,
            consent_extensions: Field::read(r, "consent_extensions")?,
        })
    }
}

impl Encode for ConsentEntry {
    fn encode(&self, w: &mut Writer) {
        self.consent_operation.write(w);
        w.write(&self.requester_uri);
        w.write(&self.target_uri);
        self.room_id.write(w);
        if self.consent_operation == ConsentOperation::grant {
            self.client_key_packages.write(w);
        }
        self.consent_extensions.write(w);
    }
}

impl Render for ConsentEntry {
    fn render(&self) -> Value {
        let mut v = json!({
            "consentOperation": self.consent_operation.show(),
            "requesterUri": self.requester_uri.render(),
            "targetUri": self.target_uri.render(),
            "roomId": self.room_id.show(),
            "consent_extensions": self.consent_extensions.show(),
        });
        if self.consent_operation == ConsentOperation::grant {
            v["clientKeyPackages"] = self.client_key_packages.show();
        }
        v
    }
}
