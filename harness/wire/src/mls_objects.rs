//! MLS objects (RFC 9420) as they sit inside MIMI bodies: parsed with openmls, kept byte-exact.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::ciphersuite_name;
use crate::render::{hex_short, Render};
use openmls::prelude::{KeyPackage as OpenMlsKeyPackage, KeyPackageIn, OpenMlsCrypto};
use openmls_rust_crypto::RustCrypto;
use serde_json::{json, Value};

/// A KeyPackage exactly as received: the parsed form for inspection, the bytes for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPackage {
    pub bytes: Vec<u8>,
    pub parsed: KeyPackageIn,
}

impl KeyPackage {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        crate::codec::decode_exact(bytes)
    }

    /// The fields of the KeyPackage without checking its signatures (see `mimi-mls` for that).
    pub fn unchecked(&self) -> OpenMlsKeyPackage {
        self.parsed.clone().into_unchecked()
    }

    /// `KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage)` (RFC 9420 §5.2).
    pub fn reference(&self) -> Option<Vec<u8>> {
        self.unchecked()
            .hash_ref(&RustCrypto::default())
            .ok()
            .map(|r| r.as_slice().to_vec())
    }

    pub fn verify(&self, crypto: &impl OpenMlsCrypto) -> Result<OpenMlsKeyPackage, String> {
        self.parsed
            .clone()
            .validate(crypto, openmls::prelude::ProtocolVersion::Mls10)
            .map_err(|e| e.to_string())
    }
}

impl Decode for KeyPackage {
    const NAME: &'static str = "KeyPackage";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let parsed = r.mls::<KeyPackageIn>("key_package")?;
        Ok(Self {
            bytes: r.since(start).to_vec(),
            parsed,
        })
    }
}

impl Encode for KeyPackage {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.bytes)
    }
}

impl Render for KeyPackage {
    fn render(&self) -> Value {
        let kp = self.unchecked();
        let leaf = kp.leaf_node();
        let credential = leaf.credential();
        let identity = match credential.credential_type() {
            openmls::prelude::CredentialType::Basic => {
                let id = openmls::prelude::BasicCredential::try_from(credential.clone())
                    .map(|c| String::from_utf8_lossy(c.identity()).into_owned())
                    .unwrap_or_default();
                json!({ "basic": id })
            }
            other => json!({ "type": format!("{other:?}") }),
        };
        let lifetime = kp.life_time();
        let caps = leaf.capabilities();
        json!({
            "ref": self.reference().map(hex::encode),
            "cipher_suite": ciphersuite_name(u16::from(kp.ciphersuite())),
            "init_key": hex_short(kp.hpke_init_key().as_slice()),
            "leaf_node": {
                "credential": identity,
                "signature_key": hex_short(leaf.signature_key().as_slice()),
                "lifetime": {
                    "not_before": lifetime.not_before(),
                    "not_after": lifetime.not_after(),
                },
                "capabilities": {
                    "cipher_suites": caps.ciphersuites().iter().map(|c| c.value()).collect::<Vec<_>>(),
                    "extensions": caps.extensions().iter().map(|e| u16::from(*e)).collect::<Vec<_>>(),
                    "proposals": caps.proposals().iter().map(|p| u16::from(*p)).collect::<Vec<_>>(),
                },
            },
            "last_resort": kp.last_resort(),
            "verification": match self.verify(&RustCrypto::default()) {
                Ok(_) => "valid".to_string(),
                Err(e) => e,
            },
            "size": self.bytes.len(),
        })
    }
}
