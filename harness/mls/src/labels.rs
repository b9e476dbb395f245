//! `SignWithLabel` / `VerifyWithLabel` (RFC 9420 §5.1.2), which MIMI uses for its own signed
//! structures (KeyMaterialRequestTBS, GroupInfoRequestTBS, FrankingIntegrityTBS, ...).

use mimi_wire::codec::Writer;
use openmls::prelude::{OpenMlsCrypto, SignatureScheme};
use openmls_rust_crypto::RustCrypto;

/// `struct { opaque label<V> = "MLS 1.0 " + Label; opaque content<V>; } SignContent`, which is
/// also `EncryptContext` (RFC 9420 §5.1.3).
pub fn sign_content(label: &str, content: &[u8]) -> Vec<u8> {
    labeled(format!("MLS 1.0 {label}").as_bytes(), content)
}

/// `struct { opaque label<V>; opaque value<V>; }`, the label taken as it is.
fn labeled(label: &[u8], value: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.opaque(label);
    w.opaque(value);
    w.into_bytes()
}

/// `RefHash(label, value) = Hash(RefHashInput{label, value})` (RFC 9420 §5.2); the callers'
/// labels carry their "MLS 1.0 " prefix themselves.
pub fn ref_hash(ciphersuite: openmls::prelude::Ciphersuite, label: &str, value: &[u8]) -> Vec<u8> {
    RustCrypto::default()
        .hash(
            ciphersuite.hash_algorithm(),
            &labeled(label.as_bytes(), value),
        )
        .unwrap_or_default()
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

/// `EncryptWithLabel(public_key, label, context, plaintext)` (RFC 9420 §5.1.3): HPKE SealBase
/// with `info = EncryptContext{"MLS 1.0 " + label, context}` and an empty aad.
pub fn encrypt_with_label(
    ciphersuite: openmls::prelude::Ciphersuite,
    public_key: &[u8],
    label: &str,
    context: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let sealed = RustCrypto::default()
        .hpke_seal(
            ciphersuite.hpke_config(),
            public_key,
            &sign_content(label, context),
            &[],
            plaintext,
        )
        .map_err(|e| format!("HPKE seal: {e:?}"))?;
    Ok((
        sealed.kem_output.as_slice().to_vec(),
        sealed.ciphertext.as_slice().to_vec(),
    ))
}

/// `DecryptWithLabel`, the inverse of `encrypt_with_label`.
pub fn decrypt_with_label(
    ciphersuite: openmls::prelude::Ciphersuite,
    private_key: &[u8],
    label: &str,
    context: &[u8],
    kem_output: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, String> {
    let input = openmls_traits::types::HpkeCiphertext {
        kem_output: kem_output.to_vec().into(),
        ciphertext: ciphertext.to_vec().into(),
    };
    RustCrypto::default()
        .hpke_open(
            ciphersuite.hpke_config(),
            &input,
            private_key,
            &sign_content(label, context),
            &[],
        )
        .map_err(|e| format!("the payload does not decrypt with label {label:?}: {e:?}"))
}

/// A fresh HPKE key pair of the suite: `(private, public)`.
pub fn hpke_key_pair(ciphersuite: openmls::prelude::Ciphersuite) -> (Vec<u8>, Vec<u8>) {
    use openmls_traits::random::OpenMlsRand;
    let crypto = RustCrypto::default();
    let ikm: Vec<u8> = crypto.random_vec(32).expect("the system RNG works");
    let pair = crypto
        .derive_hpke_keypair(ciphersuite.hpke_config(), &ikm)
        .expect("the suite's KEM derives keys");
    (pair.private.to_vec(), pair.public)
}

/// Whether a KeyMaterialRequest's `key_material_request_signature` verifies with its
/// `requesterSignatureKey` over KeyMaterialRequestTBS (P-06 §5.2). The draft does not say which
/// signature scheme the requester's key uses, and the request carries no suite of its own
/// (acceptableCiphersuites is about the target's KeyPackages): the scheme is inferred from the
/// public key's encoding length.
pub fn verify_key_material_request(
    request: &mimi_wire::messages::key_material::KeyMaterialRequest,
) -> Result<(), String> {
    let scheme = match request.requester_signature_key.len() {
        32 => SignatureScheme::ED25519,
        57 => SignatureScheme::ED448,
        65 => SignatureScheme::ECDSA_SECP256R1_SHA256,
        97 => SignatureScheme::ECDSA_SECP384R1_SHA384,
        133 => SignatureScheme::ECDSA_SECP521R1_SHA512,
        n => {
            return Err(format!(
                "requesterSignatureKey of {n} bytes is no known signature key encoding"
            ))
        }
    };
    verify_with_label(
        scheme,
        &request.requester_signature_key,
        mimi_wire::messages::key_material::KEY_MATERIAL_REQUEST_LABEL,
        &request.to_be_signed(),
        &request.signature,
    )
}
