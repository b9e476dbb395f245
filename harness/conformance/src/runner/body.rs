//! Request bodies: a typed MIMI message given by the fields that matter, the rest filled in
//! (signatures computed, keys from a named simulated client), or raw bytes for negative cases.

use crate::case::node::{Located, Node, Pos};
use crate::case::template;
use base64::Engine;
use mimi_mls::SimClient;
use mimi_wire::common::{Credential, IdentifierUri, RequiredCapabilities, PROTOCOL_MLS10};
use mimi_wire::messages::key_material::{KeyMaterialRequest, KEY_MATERIAL_REQUEST_LABEL};
use mimi_wire::Encode;
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};

type Fields = [(Spanned<String>, Spanned<Node>)];

/// A typed body: its message name and known fields, and how to build it.
pub struct Builder {
    pub message: &'static str,
    pub fields: &'static [&'static str],
    build: fn(&Fields, &BuildContext) -> Located<Vec<u8>>,
}

pub static BUILDERS: &[Builder] = &[
    Builder {
        message: "KeyMaterialRequest",
        fields: &[
            "protocol",
            "requestingUser",
            "targetUser",
            "roomId",
            "acceptableCiphersuites",
            "requiredCapabilities",
            "requester",
            "signature",
        ],
        build: key_material_request,
    },
    Builder {
        message: "ConsentEntry",
        fields: &[
            "consentOperation",
            "requesterUri",
            "targetUri",
            "roomId",
            "keyPackagesOf",
        ],
        build: consent_entry,
    },
    Builder {
        message: "IdentifierRequest",
        fields: &["query"],
        build: identifier_request,
    },
];

pub struct BuildContext<'a> {
    pub vars: &'a minijinja::Value,
    pub clients: &'a HashMap<String, &'a SimClient>,
    pub path: &'a BTreeMap<String, String>,
    /// The requester the target's test users granted consent to (the profile's
    /// `consent.requester`): claims name it as requestingUser unless the body says otherwise.
    pub consent_requester: Option<&'a str>,
}

impl BuildContext<'_> {
    fn fill(&self, node: &Spanned<Node>) -> Located<Value> {
        template::fill(&node.value, self.vars).map_err(|e| (Pos::of(node), e))
    }

    fn client(&self, name: Option<(&str, Pos)>, at: Pos) -> Located<&SimClient> {
        match name {
            Some((name, pos)) => self
                .clients
                .get(name)
                .copied()
                .ok_or_else(|| (pos, format!("{name:?} is not a client of this case"))),
            None if self.clients.len() == 1 => Ok(*self.clients.values().next().expect("one")),
            None => Err((
                at,
                "name the signing client with `requester:` (the case has several or none)".into(),
            )),
        }
    }
}

/// Checks a body as written: its form, its message type and field names.
pub fn check(body: &Spanned<Node>) -> Located<()> {
    let Node::Map(entries) = &body.value else {
        return Err((
            Pos::of(body),
            "a body is {<MessageType>: {fields}}, {hex: ...} or {base64: ...}".into(),
        ));
    };
    let [(kind, content)] = entries.as_slice() else {
        return Err((
            Pos::of(body),
            "a body has exactly one key: a message type, hex or base64".into(),
        ));
    };
    match kind.value.as_str() {
        "hex" | "base64" => match &content.value {
            Node::Str(s) if template::is_template(s) => Ok(()),
            Node::Str(s) => raw(&kind.value, s)
                .map(drop)
                .map_err(|e| (Pos::of(content), e)),
            other => Err((
                Pos::of(content),
                format!("{} needs a string, not {}", kind.value, other.kind()),
            )),
        },
        name => {
            let builder = builder(name).ok_or_else(|| {
                (
                    Pos::of(kind),
                    format!(
                        "no typed body {name:?}; known: {} (or hex, base64)",
                        BUILDERS
                            .iter()
                            .map(|b| b.message)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let Node::Map(fields) = &content.value else {
                return Err((
                    Pos::of(content),
                    format!("{name} needs a mapping of its fields"),
                ));
            };
            for (field, _) in fields {
                if !builder.fields.contains(&field.value.as_str()) {
                    return Err((
                        Pos::of(field),
                        format!(
                            "{name} has no field {:?}; known: {}",
                            field.value,
                            builder.fields.join(", ")
                        ),
                    ));
                }
            }
            Ok(())
        }
    }
}

fn builder(name: &str) -> Option<&'static Builder> {
    BUILDERS.iter().find(|b| b.message == name)
}

fn raw(kind: &str, text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.split_whitespace().collect();
    match kind {
        "hex" => hex::decode(&compact).map_err(|e| format!("not hex: {e}")),
        _ => base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| format!("not base64: {e}")),
    }
}

/// Builds the body's bytes, and names the message type when it is typed.
pub fn build(body: &Spanned<Node>, ctx: &BuildContext) -> Located<(Vec<u8>, Option<&'static str>)> {
    let Node::Map(entries) = &body.value else {
        unreachable!("checked at load")
    };
    let (kind, content) = &entries[0];
    match kind.value.as_str() {
        "hex" | "base64" => {
            let text = ctx.fill(content)?;
            let text = text.as_str().unwrap_or_default();
            raw(&kind.value, text)
                .map(|b| (b, None))
                .map_err(|e| (Pos::of(content), e))
        }
        name => {
            let builder = builder(name).expect("checked at load");
            let Node::Map(fields) = &content.value else {
                unreachable!("checked at load")
            };
            (builder.build)(fields, ctx).map(|b| (b, Some(builder.message)))
        }
    }
}

fn field<'f>(fields: &'f Fields, name: &str) -> Option<&'f Spanned<Node>> {
    fields.iter().find(|(k, _)| k.value == name).map(|(_, v)| v)
}

fn string(ctx: &BuildContext, fields: &Fields, name: &str) -> Located<Option<String>> {
    let Some(node) = field(fields, name) else {
        return Ok(None);
    };
    match ctx.fill(node)? {
        Value::String(s) => Ok(Some(s)),
        other => Err((Pos::of(node), format!("{name} is a string, not {other}"))),
    }
}

fn u16_list(value: &Value) -> Option<Vec<u16>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_u64().and_then(|n| u16::try_from(n).ok()))
        .collect()
}

fn key_material_request(fields: &Fields, ctx: &BuildContext) -> Located<Vec<u8>> {
    let at = fields.first().map(|(k, _)| Pos::of(k)).unwrap_or_default();
    let requester_name = field(fields, "requester")
        .map(|n| match &n.value {
            Node::Str(s) => Ok((s.as_str(), Pos::of(n))),
            other => Err((
                Pos::of(n),
                format!("requester names a client, not {}", other.kind()),
            )),
        })
        .transpose()?;
    let requester = ctx.client(requester_name, at)?;
    let (requester_user, requester_client) = match ctx.consent_requester {
        // The client signs; its credential names a client of the consented requester.
        Some(user) => (
            user.to_string(),
            format!("{}/1", user.replacen("/u/", "/d/", 1)),
        ),
        None => (
            requester
                .uri
                .rsplit_once('/')
                .map(|(device_and_user, _)| device_and_user.replacen("/d/", "/u/", 1))
                .unwrap_or_default(),
            requester.uri.clone(),
        ),
    };
    let target_user = match string(ctx, fields, "targetUser")? {
        Some(t) => t,
        None => ctx.path.get("targetUser").cloned().ok_or((
            at,
            "targetUser is needed (in the body or the path)".to_string(),
        ))?,
    };
    let acceptable_ciphersuites = match field(fields, "acceptableCiphersuites") {
        Some(node) => u16_list(&ctx.fill(node)?).ok_or((
            Pos::of(node),
            "acceptableCiphersuites is a list of suite numbers".to_string(),
        ))?,
        None => vec![u16::from(requester.ciphersuite)],
    };
    let required_capabilities = match field(fields, "requiredCapabilities") {
        Some(node) => {
            let v = ctx.fill(node)?;
            let list = |k: &str| -> Located<Vec<u16>> {
                match v.get(k) {
                    None => Ok(Vec::new()),
                    Some(l) => u16_list(l).ok_or((
                        Pos::of(node),
                        format!("requiredCapabilities.{k} is a list of numbers"),
                    )),
                }
            };
            RequiredCapabilities {
                extension_types: list("extension_types")?,
                proposal_types: list("proposal_types")?,
                credential_types: list("credential_types")?,
            }
        }
        None => RequiredCapabilities::default(),
    };
    let protocol = match field(fields, "protocol") {
        Some(node) => ctx
            .fill(node)?
            .as_u64()
            .and_then(|p| u8::try_from(p).ok())
            .ok_or((
                Pos::of(node),
                "protocol is a number from 0 to 255".to_string(),
            ))?,
        None => PROTOCOL_MLS10,
    };
    let mut request = KeyMaterialRequest {
        protocol,
        requesting_user: IdentifierUri(
            string(ctx, fields, "requestingUser")?.unwrap_or(requester_user),
        ),
        target_user: IdentifierUri(target_user),
        room_id: IdentifierUri(string(ctx, fields, "roomId")?.unwrap_or_default()),
        acceptable_ciphersuites,
        required_capabilities,
        requester_signature_key: requester.signature_key().to_vec(),
        requester_credential: Credential::Basic(requester_client.into_bytes()),
        signature: Vec::new(),
    };
    request.signature =
        requester.sign_with_label(KEY_MATERIAL_REQUEST_LABEL, &request.to_be_signed());
    match field(fields, "signature") {
        None => {}
        Some(node) => match ctx.fill(node)? {
            Value::String(s) if s == "valid" => {}
            // A signature of the right shape that does not verify.
            Value::String(s) if s == "corrupt" => request.signature[0] ^= 0xff,
            Value::String(s) => {
                request.signature = hex::decode(&s).map_err(|_| {
                    (
                        Pos::of(node),
                        "signature is valid, corrupt or hex".to_string(),
                    )
                })?
            }
            _ => return Err((Pos::of(node), "signature is valid, corrupt or hex".into())),
        },
    }
    Ok(request.to_bytes())
}

fn required_string(ctx: &BuildContext, fields: &Fields, name: &str, at: Pos) -> Located<String> {
    string(ctx, fields, name)?.ok_or((at, format!("{name} is needed")))
}

/// `ConsentEntry`: `keyPackagesOf` names the simulated clients whose fresh KeyPackages a grant
/// carries.
fn consent_entry(fields: &Fields, ctx: &BuildContext) -> Located<Vec<u8>> {
    use mimi_wire::messages::consent::{ConsentEntry, ConsentOperation};
    let at = fields.first().map(|(k, _)| Pos::of(k)).unwrap_or_default();
    let operation_name = required_string(ctx, fields, "consentOperation", at)?;
    let consent_operation = ConsentOperation::from_name(&operation_name).ok_or_else(|| {
        let pos = field(fields, "consentOperation").map(Pos::of).unwrap_or(at);
        (
            pos,
            format!("consentOperation {operation_name:?} is not cancel, request, grant or revoke"),
        )
    })?;
    let mut client_key_packages = Vec::new();
    if let Some(node) = field(fields, "keyPackagesOf") {
        let Node::Seq(names) = &node.value else {
            return Err((
                Pos::of(node),
                "keyPackagesOf is a list of client names".into(),
            ));
        };
        for name in names {
            let Node::Str(n) = &name.value else {
                return Err((Pos::of(name), "a client name".into()));
            };
            let client = ctx.client(Some((n, Pos::of(name))), at)?;
            client_key_packages.push(client.key_package(openmls::prelude::Lifetime::new(3600)));
        }
    }
    let entry = ConsentEntry {
        consent_operation,
        requester_uri: IdentifierUri(required_string(ctx, fields, "requesterUri", at)?),
        target_uri: IdentifierUri(required_string(ctx, fields, "targetUri", at)?),
        room_id: string(ctx, fields, "roomId")?.map(IdentifierUri),
        client_key_packages,
        consent_extensions: mimi_wire::fields::Since(Some(Default::default())),
    };
    Ok(entry.to_bytes())
}

/// `IdentifierRequest`: `query` is a list of `{type, value}` (and `name` for oidcStdClaim and
/// vcardField), all of which must match.
fn identifier_request(fields: &Fields, ctx: &BuildContext) -> Located<Vec<u8>> {
    use mimi_wire::fields::Opaque;
    use mimi_wire::messages::identifier::{IdentifierRequest, QueryElement, SearchIdentifierType};
    let node = field(fields, "query").ok_or((Pos::default(), "query is needed".to_string()))?;
    let Value::Array(items) = ctx.fill(node)? else {
        return Err((Pos::of(node), "query is a list of {type, value}".into()));
    };
    let query_elements = items
        .iter()
        .map(|item| {
            let text = |k: &str| item.get(k).and_then(Value::as_str);
            let kind =
                text("type").ok_or((Pos::of(node), "each query element has a type".to_string()))?;
            let search_type = SearchIdentifierType::from_name(kind).ok_or((
                Pos::of(node),
                format!("{kind:?} is not a SearchIdentifierType"),
            ))?;
            Ok(QueryElement {
                search_type,
                field_name: text("name").map(|n| Opaque(n.as_bytes().to_vec())),
                search_value: Opaque(text("value").unwrap_or_default().as_bytes().to_vec()),
            })
        })
        .collect::<Located<Vec<_>>>()?;
    Ok(IdentifierRequest {
        query_elements,
        id_request_extensions: mimi_wire::fields::Since(Some(Default::default())),
    }
    .to_bytes())
}
