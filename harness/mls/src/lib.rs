//! Simulated MLS clients for MIMI (openmls), and the MLS checks the harness makes on what
//! providers send.

pub mod client;
pub mod hub_view;
pub mod labels;
pub mod member;
pub mod room;

pub use client::SimClient;
pub use openmls::prelude::Ciphersuite;

/// The suite the harness and the reference provider use unless told otherwise.
pub const DEFAULT_CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// `n` bytes from the system's cryptographic RNG (keys, tokens).
pub fn random_bytes(n: usize) -> Vec<u8> {
    use openmls_traits::random::OpenMlsRand;
    openmls_rust_crypto::RustCrypto::default()
        .random_vec(n)
        .expect("the system RNG works")
}
