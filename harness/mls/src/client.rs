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
use openmls_traits::signatures::Signer;

/// What a MIMI client supports beyond RFC 9420's defaults: the app-data dictionary that carries
/// room state (P-06 §7.2).
pub fn mimi_capabilities() -> openmls::prelude::Capabilities {
    openmls::prelude::Capabilities::builder()
        .extensions(vec![openmls::prelude::ExtensionType::AppDataDictionary])
        .build()
}

pub struct SimClient {
    /// The client's MIMI URI, carried as the identity of its basic credential.
    pub uri: String,
    pub ciphersuite: Ciphersuite,
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
}

impl SimClient {
    pub fn new(uri: impl Into<String>, ciphersuite: Ciphersuite) -> Self {
        let signer = SignatureKeyPair::new(ciphersuite.signature_algorithm())
            .expect("the suite's signature algorithm is supported");
        Self {
            uri: uri.into(),
            ciphersuite,
            provider: OpenMlsRustCrypto::default(),
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

    use mimi_wire::Render;
}
