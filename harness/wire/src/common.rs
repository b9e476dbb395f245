//! Small structures shared by several MIMI messages (P-06 §5 and RFC 9420).

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::render::{hex_short, Render};
use serde_json::{json, Value};

/// `enum { reserved(0), mls10(1), (255) } Protocol`.
pub const PROTOCOL_MLS10: u8 = 1;

/// Reads a `Protocol` byte that must be mls10, the only protocol the drafts define.
pub fn read_mls10(r: &mut Reader<'_>, field: &'static str) -> Result<u8, DecodeError> {
    let start = r.offset();
    match r.u8(field)? {
        PROTOCOL_MLS10 => Ok(PROTOCOL_MLS10),
        other => {
            let mut e = r.error(field, format!("protocol {other} is not mls10(1)"));
            e.offset = start;
            Err(e)
        }
    }
}

pub fn protocol_name(p: u8) -> String {
    match p {
        PROTOCOL_MLS10 => "mls10".into(),
        other => format!("unknown({other})"),
    }
}

/// `struct { opaque uri<V>; } IdentifierUri`, a UTF-8 MIMI URI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentifierUri(pub String);

impl Decode for IdentifierUri {
    const NAME: &'static str = "IdentifierUri";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let bytes = r.opaque("uri")?;
        String::from_utf8(bytes).map(Self).map_err(|_| DecodeError {
            structure: Self::NAME,
            field: "uri",
            offset: start,
            reason: "not valid UTF-8".into(),
        })
    }
}

impl Encode for IdentifierUri {
    fn encode(&self, w: &mut Writer) {
        w.opaque(self.0.as_bytes())
    }
}

impl Render for IdentifierUri {
    fn render(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// A cipher-suite code point (RFC 9420 §17.1), kept raw so that unknown and GREASE values survive.
pub fn ciphersuite_name(cs: u16) -> String {
    let name = match cs {
        1 => "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
        2 => "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
        3 => "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
        4 => "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
        5 => "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
        6 => "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
        7 => "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
        _ => return format!("unknown(0x{cs:04x})"),
    };
    format!("{cs}:{name}")
}

/// RFC 9420 `Credential`: basic (1) holds an identity, x509 (2) a certificate chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Basic(Vec<u8>),
    X509(Vec<Vec<u8>>),
}

impl Decode for Credential {
    const NAME: &'static str = "Credential";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u16("credential_type")? {
            1 => Ok(Self::Basic(r.opaque("identity")?)),
            2 => Ok(Self::X509(
                r.vector("certificates", |r| r.opaque("cert_data"))?,
            )),
            other => Err(r.error(
                "credential_type",
                format!("credential type {other} is not basic(1) or x509(2)"),
            )),
        }
    }
}

impl Encode for Credential {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Basic(identity) => {
                w.u16(1);
                w.opaque(identity)
            }
            Self::X509(chain) => {
                w.u16(2);
                w.vector(chain, |w, c| w.opaque(c))
            }
        }
    }
}

impl Render for Credential {
    fn render(&self) -> Value {
        match self {
            Self::Basic(identity) => json!({"basic": String::from_utf8_lossy(identity)}),
            Self::X509(chain) => {
                json!({"x509": chain.iter().map(|c| hex_short(c)).collect::<Vec<_>>()})
            }
        }
    }
}

/// RFC 9420 `RequiredCapabilities` (§11.1): the types every member must support.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequiredCapabilities {
    pub extension_types: Vec<u16>,
    pub proposal_types: Vec<u16>,
    pub credential_types: Vec<u16>,
}

impl Decode for RequiredCapabilities {
    const NAME: &'static str = "RequiredCapabilities";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            extension_types: r.vector("extension_types", |r| r.u16("extension_type"))?,
            proposal_types: r.vector("proposal_types", |r| r.u16("proposal_type"))?,
            credential_types: r.vector("credential_types", |r| r.u16("credential_type"))?,
        })
    }
}

impl Encode for RequiredCapabilities {
    fn encode(&self, w: &mut Writer) {
        for list in [
            &self.extension_types,
            &self.proposal_types,
            &self.credential_types,
        ] {
            w.vector(list, |w, v| w.u16(*v));
        }
    }
}

impl Render for RequiredCapabilities {
    fn render(&self) -> Value {
        json!({
            "extension_types": self.extension_types,
            "proposal_types": self.proposal_types,
            "credential_types": self.credential_types,
        })
    }
}

/// RFC 9420 `Capabilities` (§7.2) of a leaf node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub versions: Vec<u16>,
    pub cipher_suites: Vec<u16>,
    pub extensions: Vec<u16>,
    pub proposals: Vec<u16>,
    pub credentials: Vec<u16>,
}

impl Decode for Capabilities {
    const NAME: &'static str = "Capabilities";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            versions: r.vector("versions", |r| r.u16("version"))?,
            cipher_suites: r.vector("cipher_suites", |r| r.u16("cipher_suite"))?,
            extensions: r.vector("extensions", |r| r.u16("extension"))?,
            proposals: r.vector("proposals", |r| r.u16("proposal"))?,
            credentials: r.vector("credentials", |r| r.u16("credential"))?,
        })
    }
}

impl Encode for Capabilities {
    fn encode(&self, w: &mut Writer) {
        for list in [
            &self.versions,
            &self.cipher_suites,
            &self.extensions,
            &self.proposals,
            &self.credentials,
        ] {
            w.vector(list, |w, v| w.u16(*v));
        }
    }
}

impl Render for Capabilities {
    fn render(&self) -> Value {
        json!({
            "versions": self.versions,
            "cipher_suites": self.cipher_suites,
            "extensions": self.extensions,
            "proposals": self.proposals,
            "credentials": self.credentials,
        })
    }
}
