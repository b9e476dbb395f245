//! DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1): the signature covers the
//! pre-authentication encoding of the payload type and the payload, never the JSON around them.

use super::keys::{PublicKey, SigningKey};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// What an in-toto Statement is carried as.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 (standard, padded) of the payload's bytes.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the Ed25519 signature over `pae(payloadType, payload)`.
    pub sig: String,
}

/// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII
/// decimal of the byte counts.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        Self {
            payload: b64.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                keyid: key.public().keyid(),
                sig: b64.encode(key.sign(&pae(payload_type, payload))),
            }],
        }
    }

    /// The payload, when a signature by `key` verifies over it.
    pub fn verify(&self, key: &PublicKey) -> Result<Vec<u8>, String> {
        let payload = decode_base64(&self.payload)
            .map_err(|e| format!("the envelope's payload is not base64: {e}"))?;
        let message = pae(&self.payload_type, &payload);
        let keyid = key.keyid();
        // A signature may leave its keyid out (DSSE makes it optional): such ones are tried too.
        let candidates: Vec<&Signature> = self
            .signatures
            .iter()
            .filter(|s| s.keyid == keyid || s.keyid.is_empty())
            .collect();
        if candidates.is_empty() {
            let by: Vec<&str> = self.signatures.iter().map(|s| s.keyid.as_str()).collect();
            return Err(format!(
                "the bundle is not signed by the key given (keyid {keyid}); it is signed by {}",
                if by.is_empty() {
                    "nobody".to_string()
                } else {
                    by.join(", ")
                }
            ));
        }
        let verified = candidates.iter().any(|s| {
            decode_base64(&s.sig).is_ok_and(|signature| key.verifies(&message, &signature))
        });
        if verified {
            Ok(payload)
        } else {
            Err(format!(
                "the signature by keyid {keyid} does not verify: the signed statement, its payload \
                 type or the signature itself was changed after signing"
            ))
        }
    }
}

/// DSSE allows standard or URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DSSE specification's example: PAE("http://example.com/HelloWorld", "hello world").
    #[test]
    fn pae_is_the_specifications() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn an_envelope_verifies_with_its_key_only() {
        let (private, _) = super::super::keys::generate().unwrap();
        let key = SigningKey::from_pem(&private).unwrap();
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &key);
        assert_eq!(envelope.verify(&key.public()).unwrap(), b"{}");
        let (other, _) = super::super::keys::generate().unwrap();
        let other = SigningKey::from_pem(&other).unwrap().public();
        assert!(envelope
            .verify(&other)
            .unwrap_err()
            .contains("not signed by the key given"));
        let mut changed = envelope.clone();
        changed.payload_type = "text/plain".into();
        assert!(changed
            .verify(&key.public())
            .unwrap_err()
            .contains("does not verify"));
    }
}
