//! Request bodies: a typed MIMI message given by the fields that matter, the rest filled in
//! (signatures computed, keys from a named simulated client), or raw bytes for negative cases.

use crate::case::model::{
    Body, ConsentEntryBody, ConsentOperationName, IdentifierRequestBody, KeyMaterialRequestBody,
    SignatureChoice,
};
use crate::yaml::{Located, Pos};
use mimi_mls::SimClient;
use mimi_wire::common::{Credential, IdentifierUri, RequiredCapabilities, PROTOCOL_MLS10};
use mimi_wire::messages::key_material::{KeyMaterialRequest, KEY_MATERIAL_REQUEST_LABEL};
use mimi_wire::Encode;
use std::collections::{BTreeMap, HashMap};

pub struct BuildContext<'a> {
    pub vars: &'a minijinja::Value,
    pub clients: &'a HashMap<String, &'a SimClient>,
    /// The step's path variables, filled in.
    pub path: &'a BTreeMap<String, String>,
    /// The requester the target's test users granted consent to (the profile's
    /// `consent.requester`): claims name it as requestingUser unless the body says otherwise.
    pub consent_requester: Option<&'a str>,
}

impl BuildContext<'_> {
    /// A client of the case by name, or the case's only client (the loader made sure there is
    /// one when a body names none).
    fn client(&self, name: Option<&str>, at: Pos) -> Located<&SimClient> {
        match name {
            Some(name) => self.clients.get(name).copied(),
            None => self.clients.values().next().copied(),
        }
        .ok_or((at, "the case has no such client".to_string()))
    }
}

/// Builds the body's bytes, and names the message type when it is typed.
pub fn build(body: &Body, ctx: &BuildContext) -> Located<(Vec<u8>, Option<&'static str>)> {
    match body {
        Body::Raw(_, bytes) => Ok((bytes.get(ctx.vars)?, None)),
        Body::KeyMaterialRequest(b) => {
            key_material_request(b, ctx).map(|m| (m, Some("KeyMaterialRequest")))
        }
        Body::ConsentEntry(b) => consent_entry(b, ctx).map(|m| (m, Some("ConsentEntry"))),
        Body::IdentifierRequest(b) => {
            identifier_request(b, ctx).map(|m| (m, Some("IdentifierRequest")))
        }
    }
}

fn key_material_request(b: &KeyMaterialRequestBody, ctx: &BuildContext) -> Located<Vec<u8>> {
    let requester = ctx.client(b.requester.as_deref(), b.pos)?;
    let (requester_user, requester_client) = match ctx.consent_requester {
        // The client signs; its credential names a client of the consented requester.
        Some(user) => (
            user.to_string(),
            format!("{}/1", user.replacen("/u/", "/d/", 1)),
        ),
        None => (
            mimi_mls::member::user_of_client(&requester.uri),
            requester.uri.clone(),
        ),
    };
    let target_user = match &b.target_user {
        Some(t) => t.get(ctx.vars)?,
        None => ctx.path.get("targetUser").cloned().unwrap_or_default(),
    };
    let fill = |f: &Option<crate::template::Field<String>>| {
        f.as_ref().map(|f| f.get(ctx.vars)).transpose()
    };
    let acceptable_ciphersuites = match &b.acceptable_ciphersuites {
        Some(f) => f.get(ctx.vars)?,
        None => vec![u16::from(requester.ciphersuite)],
    };
    let required_capabilities = match &b.required_capabilities {
        Some(f) => {
            let c = f.get(ctx.vars)?;
            RequiredCapabilities {
                extension_types: c.extension_types,
                proposal_types: c.proposal_types,
                credential_types: c.credential_types,
            }
        }
        None => RequiredCapabilities::default(),
    };
    let protocol = match &b.protocol {
        Some(f) => f.get(ctx.vars)?,
        None => PROTOCOL_MLS10,
    };
    let mut request = KeyMaterialRequest {
        protocol,
        requesting_user: IdentifierUri(fill(&b.requesting_user)?.unwrap_or(requester_user)),
        target_user: IdentifierUri(target_user),
        room_id: IdentifierUri(fill(&b.room_id)?.unwrap_or_default()),
        acceptable_ciphersuites,
        required_capabilities,
        requester_signature_key: requester.signature_key().to_vec(),
        requester_credential: Credential::Basic(requester_client.into_bytes()),
        signature: Vec::new(),
    };
    request.signature =
        requester.sign_with_label(KEY_MATERIAL_REQUEST_LABEL, &request.to_be_signed());
    match b.signature.as_ref().map(|s| s.get(ctx.vars)).transpose()? {
        None | Some(SignatureChoice::Valid) => {}
        // A signature of the right shape that does not verify.
        Some(SignatureChoice::Corrupt) => request.signature[0] ^= 0xff,
        Some(SignatureChoice::Bytes(bytes)) => request.signature = bytes,
    }
    Ok(request.to_bytes())
}

/// `ConsentEntry`: `keyPackagesOf` names the simulated clients whose fresh KeyPackages a grant
/// carries.
fn consent_entry(b: &ConsentEntryBody, ctx: &BuildContext) -> Located<Vec<u8>> {
    use mimi_wire::messages::consent::{ConsentEntry, ConsentOperation};
    let consent_operation = match b.operation.get(ctx.vars)? {
        ConsentOperationName::Cancel => ConsentOperation::cancel,
        ConsentOperationName::Request => ConsentOperation::request,
        ConsentOperationName::Grant => ConsentOperation::grant,
        ConsentOperationName::Revoke => ConsentOperation::revoke,
    };
    let mut client_key_packages = Vec::new();
    for name in &b.key_packages_of {
        let client = ctx.client(Some(name), b.pos)?;
        client_key_packages.push(client.key_package(openmls::prelude::Lifetime::new(3600)));
    }
    let entry = ConsentEntry {
        consent_operation,
        requester_uri: IdentifierUri(b.requester_uri.get(ctx.vars)?),
        target_uri: IdentifierUri(b.target_uri.get(ctx.vars)?),
        room_id: b
            .room_id
            .as_ref()
            .map(|r| r.get(ctx.vars))
            .transpose()?
            .map(IdentifierUri),
        client_key_packages,
        consent_extensions: mimi_wire::fields::Since(Some(Default::default())),
    };
    Ok(entry.to_bytes())
}

/// `IdentifierRequest`: `query` is a list of `{type, value}` (and `name` for oidcStdClaim and
/// vcardField), all of which must match.
fn identifier_request(b: &IdentifierRequestBody, ctx: &BuildContext) -> Located<Vec<u8>> {
    use mimi_wire::fields::Opaque;
    use mimi_wire::messages::identifier::{IdentifierRequest, QueryElement, SearchIdentifierType};
    let query_elements = b
        .query
        .get(ctx.vars)?
        .into_iter()
        .map(|q| {
            Ok(QueryElement {
                search_type: SearchIdentifierType::from_name(&q.kind)
                    .ok_or((b.pos, format!("{:?} is not a SearchIdentifierType", q.kind)))?,
                field_name: q.name.map(|n| Opaque(n.into_bytes())),
                search_value: Opaque(q.value.into_bytes()),
            })
        })
        .collect::<Located<Vec<_>>>()?;
    Ok(IdentifierRequest {
        query_elements,
        id_request_extensions: mimi_wire::fields::Since(Some(Default::default())),
    }
    .to_bytes())
}
