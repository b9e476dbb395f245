//! `keyMaterial` (P-06 §5.2): claim KeyPackages of a user at its provider.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::common::{
    ciphersuite_name, protocol_name, read_mls10, Capabilities, Credential, IdentifierUri,
    RequiredCapabilities,
};
use crate::mls_objects::KeyPackage;
use crate::render::{enum_name, hex_short, Render};
use serde_json::{json, Value};

/// The label of `SignWithLabel` over `KeyMaterialRequestTBS` (added in -04).
pub const KEY_MATERIAL_REQUEST_LABEL: &str = "KeyMaterialRequestTBS";

#[derive(Debug, Clone, PartialEq)]
pub struct KeyMaterialRequest {
    pub protocol: u8,
    pub requesting_user: IdentifierUri,
    pub target_user: IdentifierUri,
    /// Empty when the claim is not for a room.
    pub room_id: IdentifierUri,
    pub acceptable_ciphersuites: Vec<u16>,
    pub required_capabilities: RequiredCapabilities,
    pub requester_signature_key: Vec<u8>,
    pub requester_credential: Credential,
    pub signature: Vec<u8>,
}

impl KeyMaterialRequest {
    /// `KeyMaterialRequestTBS`: the request without its signature.
    pub fn to_be_signed(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode_tbs(&mut w);
        w.into_bytes()
    }

    fn encode_tbs(&self, w: &mut Writer) {
        w.u8(self.protocol);
        w.write(&self.requesting_user);
        w.write(&self.target_user);
        w.write(&self.room_id);
        w.vector(&self.acceptable_ciphersuites, |w, cs| w.u16(*cs));
        w.write(&self.required_capabilities);
        w.opaque(&self.requester_signature_key);
        w.write(&self.requester_credential);
    }
}

impl Decode for KeyMaterialRequest {
    const NAME: &'static str = "KeyMaterialRequest";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol = read_mls10(r, "protocol")?;
        let requesting_user = r.read()?;
        let target_user = r.read()?;
        let room_id = r.read()?;
        Ok(Self {
            protocol,
            requesting_user,
            target_user,
            room_id,
            acceptable_ciphersuites: r
                .vector("acceptableCiphersuites", |r| r.u16("cipher_suite"))?,
            required_capabilities: r.read()?,
            requester_signature_key: r.opaque("requesterSignatureKey")?,
            requester_credential: r.read()?,
            signature: r.opaque("key_material_request_signature")?,
        })
    }
}

impl Encode for KeyMaterialRequest {
    fn encode(&self, w: &mut Writer) {
        self.encode_tbs(w);
        w.opaque(&self.signature);
    }
}

impl Render for KeyMaterialRequest {
    fn render(&self) -> Value {
        json!({
            "protocol": protocol_name(self.protocol),
            "requestingUser": self.requesting_user.render(),
            "targetUser": self.target_user.render(),
            "roomId": self.room_id.render(),
            "acceptableCiphersuites": self.acceptable_ciphersuites.iter().map(|c| ciphersuite_name(*c)).collect::<Vec<_>>(),
            "requiredCapabilities": self.required_capabilities.render(),
            "requesterSignatureKey": hex_short(&self.requester_signature_key),
            "requesterCredential": self.requester_credential.render(),
            "key_material_request_signature": hex_short(&self.signature),
        })
    }
}

pub const USER_CODES: &[&str] = &[
    "success",
    "partialSuccess",
    "incompatibleProtocol",
    "noCompatibleMaterial",
    "userUnknown",
    "noConsent",
    "noConsentForThisRoom",
    "userDeleted",
];
pub const CLIENT_CODES: &[&str] = &["success", "keyMaterialExhausted", "nothingCompatible"];

pub const USER_SUCCESS: u8 = 0;
pub const USER_PARTIAL_SUCCESS: u8 = 1;
pub const USER_NO_COMPATIBLE_MATERIAL: u8 = 3;
pub const USER_UNKNOWN: u8 = 4;
pub const USER_NO_CONSENT: u8 = 5;
pub const USER_NO_CONSENT_FOR_THIS_ROOM: u8 = 6;
pub const CLIENT_SUCCESS: u8 = 0;
pub const CLIENT_EXHAUSTED: u8 = 1;
pub const CLIENT_NOTHING_COMPATIBLE: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub enum ClientKeyMaterialBody {
    KeyPackage(Box<KeyPackage>),
    NothingCompatible(Option<Capabilities>),
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientKeyMaterial {
    pub client_status: u8,
    pub client_uri: IdentifierUri,
    pub body: ClientKeyMaterialBody,
}

impl Decode for ClientKeyMaterial {
    const NAME: &'static str = "ClientKeyMaterial";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let client_status = r.u8("clientStatus")?;
        let client_uri = r.read()?;
        // The enclosing response carries the protocol; only mls10 is defined.
        let body = match client_status {
            CLIENT_SUCCESS => ClientKeyMaterialBody::KeyPackage(Box::new(r.read()?)),
            CLIENT_NOTHING_COMPATIBLE => ClientKeyMaterialBody::NothingCompatible(
                r.optional("clientCapabilities", |r| r.read())?,
            ),
            _ => ClientKeyMaterialBody::Empty,
        };
        Ok(Self {
            client_status,
            client_uri,
            body,
        })
    }
}

impl Encode for ClientKeyMaterial {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.client_status);
        w.write(&self.client_uri);
        match &self.body {
            ClientKeyMaterialBody::KeyPackage(kp) => w.write(kp.as_ref()),
            ClientKeyMaterialBody::NothingCompatible(caps) => w.optional(caps, |w, c| w.write(c)),
            ClientKeyMaterialBody::Empty => {}
        }
    }
}

impl Render for ClientKeyMaterial {
    fn render(&self) -> Value {
        let mut v = json!({
            "clientStatus": enum_name(CLIENT_CODES, self.client_status),
            "clientUri": self.client_uri.render(),
        });
        match &self.body {
            ClientKeyMaterialBody::KeyPackage(kp) => v["keyPackage"] = kp.render(),
            ClientKeyMaterialBody::NothingCompatible(caps) => {
                v["clientCapabilities"] = caps.as_ref().map(Render::render).unwrap_or(Value::Null)
            }
            ClientKeyMaterialBody::Empty => {}
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyMaterialResponse {
    pub protocol: u8,
    pub user_status: u8,
    pub user_uri: IdentifierUri,
    pub clients: Vec<ClientKeyMaterial>,
}

impl Decode for KeyMaterialResponse {
    const NAME: &'static str = "KeyMaterialResponse";
    fn decode_fields(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let protocol = r.u8("protocol")?;
        let user_status = r.u8("userStatus")?;
        let user_uri = r.read()?;
        let clients = r.vector("clients", |r| r.read())?;
        Ok(Self {
            protocol,
            user_status,
            user_uri,
            clients,
        })
    }
}

impl Encode for KeyMaterialResponse {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.protocol);
        w.u8(self.user_status);
        w.write(&self.user_uri);
        w.vector(&self.clients, |w, c| w.write(c));
    }
}

impl Render for KeyMaterialResponse {
    fn render(&self) -> Value {
        json!({
            "protocol": protocol_name(self.protocol),
            "userStatus": enum_name(USER_CODES, self.user_status),
            "userUri": self.user_uri.render(),
            "clients": self.clients.iter().map(Render::render).collect::<Vec<_>>(),
        })
    }
}

impl ClientKeyMaterial {
    /// A client's answer to a claim: its KeyPackage, or keyMaterialExhausted when it has none.
    pub fn offering(client_uri: IdentifierUri, key_package: Option<KeyPackage>) -> Self {
        match key_package {
            Some(kp) => Self {
                client_status: CLIENT_SUCCESS,
                client_uri,
                body: ClientKeyMaterialBody::KeyPackage(Box::new(kp)),
            },
            None => Self {
                client_status: CLIENT_EXHAUSTED,
                client_uri,
                body: ClientKeyMaterialBody::Empty,
            },
        }
    }
}

impl KeyMaterialResponse {
    /// The KeyPackages the response hands out.
    pub fn key_packages(self) -> Vec<KeyPackage> {
        self.clients
            .into_iter()
            .filter_map(|c| match c.body {
                ClientKeyMaterialBody::KeyPackage(kp) => Some(*kp),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::common::PROTOCOL_MLS10;

    fn request() -> KeyMaterialRequest {
        KeyMaterialRequest {
            protocol: PROTOCOL_MLS10,
            requesting_user: IdentifierUri("mimi://a.example/u/alice".into()),
            target_user: IdentifierUri("mimi://b.example/u/bob".into()),
            room_id: IdentifierUri::default(),
            acceptable_ciphersuites: vec![1, 3],
            required_capabilities: RequiredCapabilities::default(),
            requester_signature_key: vec![7; 32],
            requester_credential: Credential::Basic(b"mimi://a.example/u/alice".to_vec()),
            signature: vec![9; 64],
        }
    }

    #[test]
    fn request_round_trips() {
        let bytes = request().to_bytes();
        assert_eq!(
            decode_exact::<KeyMaterialRequest>(&bytes).unwrap(),
            request()
        );
    }

    #[test]
    fn every_truncation_is_a_located_error() {
        let bytes = request().to_bytes();
        for cut in 0..bytes.len() {
            let err = decode_exact::<KeyMaterialRequest>(&bytes[..cut]).unwrap_err();
            assert!(err.offset <= cut, "{err} for a body cut at {cut}");
        }
    }

    #[test]
    fn empty_response_round_trips() {
        let resp = KeyMaterialResponse {
            protocol: PROTOCOL_MLS10,
            user_status: USER_UNKNOWN,
            user_uri: IdentifierUri("mimi://b.example/u/nobody".into()),
            clients: vec![],
        };
        let bytes = resp.to_bytes();
        assert_eq!(decode_exact::<KeyMaterialResponse>(&bytes).unwrap(), resp);
        assert_eq!(resp.render()["userStatus"], "userUnknown");
    }
}
