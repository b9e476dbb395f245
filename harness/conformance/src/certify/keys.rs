//! Ed25519 keys in the formats every tool reads: the private key as PKCS#8 PEM (`PRIVATE KEY`),
//! the public key as SubjectPublicKeyInfo PEM (`PUBLIC KEY`), both per RFC 8410, so OpenSSL and
//! python-cryptography load them as they are.

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

/// An Ed25519 SubjectPublicKeyInfo (RFC 8410 §4) is this DER prefix, then the 32-byte key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// (Its Debug shows the public key only.)
#[derive(Debug)]
pub struct SigningKey(Ed25519KeyPair);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

/// PKCS#8 v1 of an Ed25519 key (RFC 8410 §7): this DER prefix, then the 32-byte seed.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A new key pair: the private key's PEM and the public key's. The private key is written as
/// PKCS#8 v1, as OpenSSL writes it: OpenSSL 3.0 does not read ring's v2 (with the public key).
pub fn generate() -> Result<(String, String), String> {
    let rng = ring::rand::SystemRandom::new();
    let v2 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| "the system's random number generator failed".to_string())?;
    // ring's v2 document has the same first fields, with version 1: the seed is at 16..48.
    let seed = v2
        .as_ref()
        .get(16..48)
        .ok_or("ring wrote an unexpected PKCS#8")?;
    let v1 = [&PKCS8_V1_PREFIX[..], seed].concat();
    let key = SigningKey::from_pkcs8(&v1)?;
    if key.public().0
        != *Ed25519KeyPair::from_pkcs8(v2.as_ref())
            .map_err(|e| e.to_string())?
            .public_key()
            .as_ref()
    {
        return Err("the PKCS#8 v1 key is not the one generated".into());
    }
    Ok((pem_encode("PRIVATE KEY", &v1), key.public().to_pem()))
}

impl SigningKey {
    pub fn from_pem(text: &str) -> Result<Self, String> {
        Self::from_pkcs8(&pem_decode("PRIVATE KEY", text)?)
    }

    /// PKCS#8 v1 (OpenSSL's) or v2 (with the public key, ring's).
    fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(Self)
            .map_err(|e| format!("not an Ed25519 private key in PKCS#8: {e}"))
    }

    pub fn public(&self) -> PublicKey {
        let mut key = [0; 32];
        key.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(key)
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }
}

impl PublicKey {
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let der = pem_decode("PUBLIC KEY", text)?;
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(key) if key.len() == 32 => {
                let mut out = [0; 32];
                out.copy_from_slice(key);
                Ok(Self(out))
            }
            _ => Err("not an Ed25519 public key (SubjectPublicKeyInfo, RFC 8410)".into()),
        }
    }

    pub fn spki_der(&self) -> Vec<u8> {
        [&SPKI_PREFIX[..], &self.0].concat()
    }

    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der())
    }

    /// The DSSE keyid: the SHA-256 of the SubjectPublicKeyInfo DER, in hex
    /// (`openssl pkey -pubin -in KEY.pub -outform DER | sha256sum`).
    pub fn keyid(&self) -> String {
        super::sha256_hex(&self.spki_der())
    }

    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn pem_decode(label: &str, text: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or_else(|| {
        // The commonest mistake: the other half of the key pair.
        let (other, wanted) = match label {
            "PUBLIC KEY" => (
                "PRIVATE KEY",
                "verify takes the public key (keygen's PREFIX.pub)",
            ),
            _ => (
                "PUBLIC KEY",
                "certify signs with the private key (keygen's PREFIX.key)",
            ),
        };
        if text.contains(&format!("-----BEGIN {other}-----")) {
            format!(
                "this is a {}, not a {label}: {wanted}",
                other.to_lowercase()
            )
        } else {
            format!("no {begin} block (a PEM file is expected)")
        }
    })?;
    let rest = &text[start + begin.len()..];
    let stop = rest.find(&end).ok_or_else(|| format!("no {end} line"))?;
    let body: String = rest[..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the {label} block is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_sign() {
        let (private, public) = generate().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let key = SigningKey::from_pem(&private).unwrap();
        let public = PublicKey::from_pem(&public).unwrap();
        assert_eq!(key.public(), public);
        let signature = key.sign(b"message");
        assert!(public.verifies(b"message", &signature));
        assert!(!public.verifies(b"messagf", &signature));
        assert_eq!(public.keyid().len(), 64);
    }

    #[test]
    fn the_wrong_half_of_a_key_pair_is_named() {
        let (private, public) = generate().unwrap();
        let e = PublicKey::from_pem(&private).unwrap_err();
        assert!(e.contains("this is a private key, not a PUBLIC KEY"), "{e}");
        let e = SigningKey::from_pem(&public).unwrap_err();
        assert!(e.contains("this is a public key, not a PRIVATE KEY"), "{e}");
        let e = PublicKey::from_pem("hello").unwrap_err();
        assert!(e.contains("no -----BEGIN PUBLIC KEY----- block"), "{e}");
    }

    /// OpenSSL's `genpkey -algorithm ed25519` writes PKCS#8 v1 (no public key): RFC 8410's
    /// example key reads too.
    #[test]
    fn reads_a_pkcs8_v1_key_and_refuses_other_keys() {
        let v1 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pem(v1).unwrap();
        let expected = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert_eq!(key.public().to_pem(), expected);
        assert!(SigningKey::from_pem("nothing").unwrap_err().contains("PEM"));
        assert!(PublicKey::from_pem(v1).unwrap_err().contains("PUBLIC KEY"));
    }
}
