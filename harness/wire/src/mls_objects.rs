//! MLS objects (RFC 9420) as they sit inside MIMI bodies: parsed with openmls, kept byte-exact.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::ciphersuite_name;
use crate::render::{hex_short, Render};
use openmls::prelude::MlsMessageIn;
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
                    "credentials": caps.credentials().iter().map(|c| u16::from(*c)).collect::<Vec<_>>(),
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

/// An MLS object as it sits in a MIMI body: its exact bytes, and openmls's parse of them.
#[derive(Debug, Clone)]
pub struct Mls<T> {
    pub bytes: Vec<u8>,
    pub parsed: T,
}

impl<T> PartialEq for Mls<T> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

/// What the harness shows of an MLS object it cannot decrypt.
pub trait MlsKind: tls_codec::Deserialize {
    const NAME: &'static str;
    fn show(&self) -> Value;
}

impl<T: MlsKind> Decode for Mls<T> {
    const NAME: &'static str = T::NAME;
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let parsed = r.mls::<T>(T::NAME)?;
        Ok(Self {
            bytes: r.since(start).to_vec(),
            parsed,
        })
    }
}

impl<T> Encode for Mls<T> {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.bytes)
    }
}

impl<T: MlsKind> Render for Mls<T> {
    fn render(&self) -> Value {
        self.parsed.show()
    }
}

pub type MlsMessage = Mls<openmls::prelude::MlsMessageIn>;
pub type Welcome = Mls<openmls::prelude::Welcome>;
pub type GroupInfo = Mls<openmls::prelude::group_info::VerifiableGroupInfo>;

pub const WIRE_FORMAT_PRIVATE_MESSAGE: u16 = 2;
pub const WIRE_FORMAT_WELCOME: u16 = 3;
pub const WIRE_FORMAT_GROUP_INFO: u16 = 4;

/// A Welcome, GroupInfo or KeyPackage as an MLSMessage: `version` mls10, the wire format, then
/// the object (RFC 9420 §6).
pub fn framed(wire_format: u16, object: &[u8]) -> Vec<u8> {
    [&1u16.to_be_bytes()[..], &wire_format.to_be_bytes(), object].concat()
}

/// The object inside an MLSMessage (what follows its version and wire format).
pub fn unframed(message: &[u8]) -> &[u8] {
    message.get(4..).unwrap_or_default()
}

/// RFC 9420 §6 wire formats.
pub const WIRE_FORMATS: &[&str] = &[
    "reserved",
    "public_message",
    "private_message",
    "welcome",
    "group_info",
    "key_package",
];
/// RFC 9420 §6 content types.
pub const CONTENT_TYPES: &[&str] = &["reserved", "application", "proposal", "commit"];

fn content_type_number(ct: openmls::prelude::ContentType) -> u8 {
    use openmls::prelude::ContentType;
    match ct {
        ContentType::Application => 1,
        ContentType::Proposal => 2,
        ContentType::Commit => 3,
    }
}

impl Mls<openmls::prelude::MlsMessageIn> {
    /// The wire format (RFC 9420 §6): 1 public, 2 private, 3 welcome, 4 group_info, 5 key_package.
    pub fn wire_format(&self) -> u16 {
        self.bytes
            .get(2..4)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// The content type of a Public or Private message (in the clear in both).
    pub fn content_type(&self) -> Option<u8> {
        self.parsed
            .clone()
            .try_into_protocol_message()
            .ok()
            .map(|m| content_type_number(m.content_type()))
    }

    /// The `authenticated_data` of a PrivateMessage, which travels in the clear (RFC 9420 §6.3).
    pub fn private_authenticated_data(&self) -> Option<Vec<u8>> {
        if self.wire_format() != 2 {
            return None;
        }
        let mut r = Reader::new(self.bytes.get(4..)?);
        r.opaque("group_id").ok()?;
        r.u64("epoch").ok()?;
        r.u8("content_type").ok()?;
        r.opaque("authenticated_data").ok()
    }

    pub fn epoch(&self) -> Option<u64> {
        self.parsed
            .clone()
            .try_into_protocol_message()
            .ok()
            .map(|m| m.epoch().as_u64())
    }
}

impl MlsKind for openmls::prelude::MlsMessageIn {
    const NAME: &'static str = "MLSMessage";
    fn show(&self) -> Value {
        use openmls::prelude::{MlsMessageBodyIn, ProtocolMessage, Sender};
        let wire_format = crate::render::enum_name(WIRE_FORMATS, wire_format_number(self));
        let mut v = match self.clone().extract() {
            MlsMessageBodyIn::PublicMessage(pm) => {
                let sender = match pm.sender() {
                    Sender::Member(i) => json!({"member": i.u32()}),
                    Sender::External(_) => json!("external"),
                    Sender::NewMemberProposal => json!("new_member_proposal"),
                    Sender::NewMemberCommit => json!("new_member_commit"),
                };
                let message = ProtocolMessage::from(pm);
                json!({
                    "group_id": hex_short(message.group_id().as_slice()),
                    "epoch": message.epoch().as_u64(),
                    "content_type": crate::render::enum_name(CONTENT_TYPES, content_type_number(message.content_type())),
                    "sender": sender,
                })
            }
            MlsMessageBodyIn::PrivateMessage(pm) => {
                let message = ProtocolMessage::from(pm);
                json!({
                    "group_id": hex_short(message.group_id().as_slice()),
                    "epoch": message.epoch().as_u64(),
                    "content_type": crate::render::enum_name(CONTENT_TYPES, content_type_number(message.content_type())),
                    "ciphertext": "(encrypted to the group)",
                })
            }
            MlsMessageBodyIn::Welcome(w) => w.show(),
            MlsMessageBodyIn::GroupInfo(g) => g.show(),
            MlsMessageBodyIn::KeyPackage(kp) => {
                use tls_codec::Serialize;
                let bytes = kp.tls_serialize_detached().unwrap_or_default();
                KeyPackage { bytes, parsed: kp }.render()
            }
            #[allow(unreachable_patterns)]
            _ => json!({}),
        };
        v["wire_format"] = wire_format;
        v
    }
}

fn wire_format_number(m: &MlsMessageIn) -> u8 {
    use openmls::prelude::WireFormat;
    match m.wire_format() {
        WireFormat::PublicMessage => 1,
        WireFormat::PrivateMessage => 2,
        WireFormat::Welcome => 3,
        WireFormat::GroupInfo => 4,
        WireFormat::KeyPackage => 5,
    }
}

impl MlsKind for openmls::prelude::Welcome {
    const NAME: &'static str = "Welcome";
    fn show(&self) -> Value {
        json!({
            "cipher_suite": ciphersuite_name(u16::from(self.ciphersuite())),
            "new_members": self.secrets().iter().map(|s| hex::encode(s.new_member().as_slice())).collect::<Vec<_>>(),
        })
    }
}

impl MlsKind for openmls::prelude::group_info::VerifiableGroupInfo {
    const NAME: &'static str = "GroupInfo";
    fn show(&self) -> Value {
        let context = self.group_context();
        json!({
            "group_id": hex_short(context.group_id().as_slice()),
            "epoch": context.epoch().as_u64(),
            "cipher_suite": ciphersuite_name(u16::from(context.ciphersuite())),
            "extensions": self.extensions().iter().map(|e| u16::from(e.extension_type())).collect::<Vec<_>>(),
            "group_context_extensions": context.extensions().iter().map(|e| u16::from(e.extension_type())).collect::<Vec<_>>(),
            "participants": participants(context.extensions()),
        })
    }
}

/// The participant list (P-06 §7.5) in a group context's app-data dictionary: each user with its
/// role index, or null when the group has none.
fn participants(
    extensions: &openmls::prelude::Extensions<openmls::prelude::GroupContext>,
) -> Value {
    use crate::messages::room_state::{ParticipantListData, COMPONENT_PARTICIPANT_LIST};
    let data = extensions.iter().find_map(|e| match e {
        openmls::prelude::Extension::AppDataDictionary(d) => d
            .dictionary()
            .get(&COMPONENT_PARTICIPANT_LIST)
            .map(<[u8]>::to_vec),
        _ => None,
    });
    match data.map(|d| crate::codec::decode_exact::<ParticipantListData>(&d)) {
        None => Value::Null,
        Some(Ok(list)) => list
            .participants
            .iter()
            .map(
                |p| json!({"user": String::from_utf8_lossy(&p.user.0), "role_index": p.role_index}),
            )
            .collect(),
        Some(Err(e)) => json!(format!("invalid participant list: {e}")),
    }
}
