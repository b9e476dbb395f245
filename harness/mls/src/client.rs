//! A simulated MLS client with a MIMI identity: the harness plays users with these, and the
//! reference provider's users are these too.

use crate::labels::sign_content;
use mimi_wire::mls_objects::KeyPackage;
use openmls::prelude::tls_codec::Serialize;
use openmls::prelude::SignatureScheme;
use openmls::prelude::{
    BasicCredential, Ciphersuite, CredentialWithKey, KeyPackage as OpenMlsKeyPackage, Lifetime,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::OpenMlsProvider;

/// What a MIMI client supports beyond RFC 9420's defaults: the app-data dictionary that carries
/// room state (P-06 §7.2).
pub fn mimi_capabilities() -> openmls::prelude::Capabilities {
    openmls::prelude::Capabilities::builder()
        .extensions(vec![openmls::prelude::ExtensionType::AppDataDictionary])
        .build()
}

/// A client's signature key. openmls_basic_credential's `SignatureKeyPair` parses an Ed25519
/// key from its bytes on every signature, which derives the public key again: a scalar
/// multiplication as costly as the signature itself, on every request the harness signs and
/// twice per KeyPackage. So an Ed25519 key is kept parsed; other schemes sign through the pair.
pub struct ClientSigner {
    key: Key,
    public: Vec<u8>,
    /// The last Ed25519 payload signed and its signature. Ed25519 signatures are
    /// deterministic (RFC 8032 §5.1.6), so the same payload again (a step repeated until its
    /// expectations hold, the same request each time) gets the same bytes without signing.
    last: std::sync::Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

enum Key {
    Ed25519(ed25519_dalek::SigningKey),
    Pair(SignatureKeyPair),
}

impl ClientSigner {
    /// A fresh key of `scheme`.
    pub fn new(scheme: SignatureScheme, rand: &impl OpenMlsRand) -> Self {
        if scheme == SignatureScheme::ED25519 {
            let secret = rand
                .random_array()
                .expect("the crypto provider's random source works");
            return Self::ed25519(&secret);
        }
        let pair =
            SignatureKeyPair::new(scheme).expect("the suite's signature algorithm is supported");
        Self {
            public: pair.to_public_vec(),
            key: Key::Pair(pair),
            last: Default::default(),
        }
    }

    /// The Ed25519 key of this secret (RFC 8032 §5.1.5).
    pub fn ed25519(secret: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(secret);
        Self {
            public: key.verifying_key().to_bytes().to_vec(),
            key: Key::Ed25519(key),
            last: Default::default(),
        }
    }

    pub fn public(&self) -> &[u8] {
        &self.public
    }
}

impl Signer for ClientSigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        match &self.key {
            Key::Ed25519(key) => {
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((signed, signature)) = &*last {
                    if signed.as_slice() == payload {
                        return Ok(signature.clone());
                    }
                }
                let signature = ed25519_dalek::Signer::sign(key, payload)
                    .to_bytes()
                    .to_vec();
                *last = Some((payload.to_vec(), signature.clone()));
                Ok(signature)
            }
            Key::Pair(pair) => pair.sign(payload),
        }
    }

    fn signature_scheme(&self) -> SignatureScheme {
        match &self.key {
            Key::Ed25519(_) => SignatureScheme::ED25519,
            Key::Pair(pair) => pair.signature_scheme(),
        }
    }
}

pub struct SimClient {
    /// The client's MIMI URI, carried as the identity of its basic credential.
    pub uri: String,
    pub ciphersuite: Ciphersuite,
    pub provider: OpenMlsRustCrypto,
    pub signer: ClientSigner,
}

impl SimClient {
    pub fn new(uri: impl Into<String>, ciphersuite: Ciphersuite) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = ClientSigner::new(ciphersuite.signature_algorithm(), provider.rand());
        Self {
            uri: uri.into(),
            ciphersuite,
            provider,
            signer,
        }
    }

    pub fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.uri.clone().into_bytes()).into(),
            signature_key: self.signer.public().into(),
        }
    }

    pub fn signature_key(&self) -> &[u8] {
        self.signer.public()
    }

    pub fn signature_scheme(&self) -> SignatureScheme {
        self.signer.signature_scheme()
    }

    /// A fresh KeyPackage valid from now for `lifetime_seconds` (RFC 9420 §10).
    pub fn key_package(&self, lifetime: Lifetime) -> KeyPackage {
        let bundle = OpenMlsKeyPackage::builder()
            .key_package_lifetime(lifetime)
            .leaf_node_capabilities(mimi_capabilities())
            .build(
                self.ciphersuite,
                &self.provider,
                &self.signer,
                self.credential(),
            )
            .expect("a KeyPackage for a supported suite can be built");
        let bytes = bundle
            .key_package()
            .tls_serialize_detached()
            .expect("a KeyPackage serialises");
        KeyPackage::from_bytes(&bytes).expect("openmls's own KeyPackage decodes")
    }

    /// `SignWithLabel(signature_key, label, content)`.
    pub fn sign_with_label(&self, label: &str, content: &[u8]) -> Vec<u8> {
        self.signer
            .sign(&sign_content(label, content))
            .expect("signing with an in-memory key cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::verify_with_label;
    use openmls::prelude::OpenMlsCrypto;
    use openmls_rust_crypto::RustCrypto;

    #[test]
    fn key_package_verifies_and_carries_the_uri() {
        let alice = SimClient::new("mimi://a.example/d/alice/1", crate::DEFAULT_CIPHERSUITE);
        let kp = alice.key_package(Lifetime::new(3600));
        kp.verify(&RustCrypto::default()).unwrap();
        assert_eq!(
            kp.render()["leaf_node"]["credential"]["basic"],
            "mimi://a.example/d/alice/1"
        );
    }

    #[test]
    fn sign_with_label_verifies_only_with_the_same_label() {
        let alice = SimClient::new("mimi://a.example/d/alice/1", crate::DEFAULT_CIPHERSUITE);
        let sig = alice.sign_with_label("KeyMaterialRequestTBS", b"tbs");
        let (scheme, pk) = (alice.signature_scheme(), alice.signature_key());
        verify_with_label(scheme, pk, "KeyMaterialRequestTBS", b"tbs", &sig).unwrap();
        assert!(verify_with_label(scheme, pk, "GroupInfoRequestTBS", b"tbs", &sig).is_err());
    }

    #[test]
    fn a_payload_signed_again_gets_the_signature_signing_gives() {
        let secret: [u8; 32] = RustCrypto::default().random_array().unwrap();
        let signer = ClientSigner::ed25519(&secret);
        let fresh = ClientSigner::ed25519(&secret);
        let first = signer.sign(b"one").unwrap();
        // Again (kept), after another payload, and from a signer that never signed it.
        assert_eq!(signer.sign(b"one").unwrap(), first);
        let other = signer.sign(b"two").unwrap();
        assert_ne!(other, first);
        assert_eq!(signer.sign(b"one").unwrap(), first);
        assert_eq!(fresh.sign(b"one").unwrap(), first);
        assert_eq!(fresh.sign(b"two").unwrap(), other);
    }

    #[test]
    fn the_parsed_ed25519_key_signs_as_the_key_pair_does() {
        let secret: [u8; 32] = RustCrypto::default().random_array().unwrap();
        let signer = ClientSigner::ed25519(&secret);
        let pair = SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            secret.to_vec(),
            signer.public().to_vec(),
        );
        assert_eq!(signer.signature_scheme(), SignatureScheme::ED25519);
        for payload in [&b""[..], b"KeyMaterialRequestTBS", &[7; 1000]] {
            let signature = signer.sign(payload).unwrap();
            assert_eq!(signature, pair.sign(payload).unwrap());
            let public = signer.public();
            (RustCrypto::default())
                .verify_signature(SignatureScheme::ED25519, payload, public, &signature)
                .unwrap();
        }
    }

    #[test]
    fn other_schemes_sign_through_the_key_pair() {
        let scheme = SignatureScheme::ECDSA_SECP256R1_SHA256;
        let signer = ClientSigner::new(scheme, &RustCrypto::default());
        assert_eq!(signer.signature_scheme(), scheme);
        let signature = signer.sign(b"tbs").unwrap();
        (RustCrypto::default())
            .verify_signature(scheme, b"tbs", signer.public(), &signature)
            .unwrap();
    }

    use mimi_wire::Render;
}
