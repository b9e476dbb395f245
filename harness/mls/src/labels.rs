//! `SignWithLabel` / `VerifyWithLabel` (RFC 9420 §5.1.2), which MIMI uses for its own signed
//! structures (KeyMaterialRequestTBS, GroupInfoRequestTBS, FrankingIntegrityTBS, ...).

use mimi_wire::codec::Writer;
use openmls::prelude::{OpenMlsCrypto, SignatureScheme};
use openmls_rust_crypto::RustCrypto;

/// `struct { opaque label<V> = "MLS 1.0 " + Label; opaque content<V>; } SignContent`.
pub fn sign_content(label: &str, content: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.opaque(format!("MLS 1.0 {label}").as_bytes());
    w.opaque(content);
    w.into_bytes()
}

pub fn verify_with_label(
    scheme: SignatureScheme,
    public_key: &[u8],
    label: &str,
    content: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    RustCrypto::default()
        .verify_signature(scheme, &sign_content(label, content), public_key, signature)
        .map_err(|e| format!("signature does not verify with label {label:?}: {e:?}"))
}
