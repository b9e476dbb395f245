//! The bundle: one JSON file holding the DSSE envelope (the signed in-toto Statement) and the
//! members it is about, each as base64 of its exact bytes: the run's `results.json` and
//! `evidence.json`, as its reports folder held them. The Statement's subjects name each member
//! with its SHA-256, so the signature covers the members through their digests.

use super::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::keys::{PublicKey, SigningKey};
use super::statement::Statement;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const MEDIA_TYPE: &str = "application/vnd.mimi-conformance.bundle.v1+json";

/// The members' names: the files of the reports folder they were read from.
pub const RESULTS: &str = "results.json";
pub const EVIDENCE: &str = super::evidence::FILE;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "dsseEnvelope")]
    pub envelope: Envelope,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Base64 (standard) of the member's bytes.
    pub content: String,
}

impl Member {
    pub fn new(name: &str, media_type: &str, bytes: &[u8]) -> Self {
        Self {
            name: name.into(),
            media_type: media_type.into(),
            content: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.content)
            .map_err(|e| format!("member {} is not base64: {e}", self.name))
    }
}

impl Bundle {
    pub fn sign(statement: &Statement, members: Vec<Member>, key: &SigningKey) -> Self {
        let payload = serde_json::to_vec(statement).expect("a statement serialises");
        Self {
            media_type: MEDIA_TYPE.into(),
            envelope: Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &payload, key),
            members,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let bundle: Bundle = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a mimi-conformance bundle (JSON): {e}"))?;
        if bundle.media_type != MEDIA_TYPE {
            return Err(format!(
                "the bundle's mediaType is {:?}; this verifier reads {MEDIA_TYPE}",
                bundle.media_type
            ));
        }
        Ok(bundle)
    }

    /// The signed Statement, when the envelope's signature by `key` verifies.
    pub fn statement(&self, key: &PublicKey) -> Result<Statement, String> {
        let payload = self.envelope.verify(key)?;
        if self.envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(format!(
                "the envelope carries {:?}, not an in-toto statement",
                self.envelope.payload_type
            ));
        }
        serde_json::from_slice(&payload)
            .map_err(|e| format!("the signed payload is not an in-toto Statement: {e}"))
    }

    /// The unsigned Statement, for re-signing in tests.
    pub fn unverified_statement(&self) -> Result<Statement, String> {
        let payload = base64::engine::general_purpose::STANDARD
            .decode(&self.envelope.payload)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&payload).map_err(|e| e.to_string())
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}
