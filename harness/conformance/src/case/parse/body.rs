//! Request bodies: raw bytes, or a typed message by the fields that matter, each field checked
//! (and converted, when written literally) at load.

use super::*;

impl<'a> Parser<'a> {
    pub(super) fn body(
        &mut self,
        frame: &Frame,
        node: &Spanned<Node>,
        names: &Names,
        path: &[(String, Template)],
    ) -> Option<Body> {
        let Node::Map(entries) = &node.value else {
            self.error(
                frame,
                Pos::of(node),
                "a body is {<MessageType>: {fields}}, {hex: ...} or {base64: ...}",
            );
            return None;
        };
        let [(kind, content)] = entries.as_slice() else {
            self.error(
                frame,
                Pos::of(node),
                "a body has exactly one key: a message type, hex or base64",
            );
            return None;
        };
        match kind.value.as_str() {
            "hex" | "base64" => {
                let encoding = if kind.value == "hex" {
                    RawEncoding::Hex
                } else {
                    RawEncoding::Base64
                };
                if !matches!(content.value, Node::Str(_)) {
                    self.error(
                        frame,
                        Pos::of(content),
                        format!(
                            "{} needs a string, not {}",
                            kind.value,
                            content.value.kind()
                        ),
                    );
                    return None;
                }
                self.check_template(frame, &Template::of(content), names);
                let convert = match encoding {
                    RawEncoding::Hex => raw_hex,
                    RawEncoding::Base64 => raw_base64,
                };
                self.field(frame, content, convert)
                    .map(|f| Body::Raw(encoding, f))
            }
            name => {
                let Some((message, fields)) = TYPED_BODIES.iter().find(|(m, _)| *m == name) else {
                    self.error(
                        frame,
                        Pos::of(kind),
                        format!(
                            "no typed body {name:?}; known: {} (or hex, base64)",
                            TYPED_BODIES
                                .iter()
                                .map(|(m, _)| *m)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    return None;
                };
                let Node::Map(given) = &content.value else {
                    self.error(
                        frame,
                        Pos::of(content),
                        format!("{name} needs a mapping of its fields"),
                    );
                    return None;
                };
                let mut complete = true;
                for (field, value) in given {
                    if !fields.contains(&field.value.as_str()) {
                        complete = false;
                        self.error(
                            frame,
                            Pos::of(field),
                            format!(
                                "{name} has no field {:?}; known: {}",
                                field.value,
                                fields.join(", ")
                            ),
                        );
                    } else {
                        self.check_template(frame, &Template::of(value), names);
                    }
                }
                if !complete {
                    return None;
                }
                let at = Pos::of(kind);
                let keys = Keys(given);
                match *message {
                    "KeyMaterialRequest" => self
                        .key_material_request(frame, at, keys, path)
                        .map(Body::KeyMaterialRequest),
                    "ConsentEntry" => self.consent_entry(frame, at, keys).map(Body::ConsentEntry),
                    _ => self
                        .identifier_request(frame, at, keys)
                        .map(Body::IdentifierRequest),
                }
            }
        }
    }

    pub(super) fn client_name(&mut self, frame: &Frame, node: &Spanned<Node>) -> Option<String> {
        let name = self.string(frame, node, "a client name")?;
        if self.cx.actors.clients.contains_key(&name) {
            Some(name)
        } else {
            self.error(
                frame,
                Pos::of(node),
                format!("{name:?} is not a client of this case"),
            );
            None
        }
    }

    pub(super) fn key_material_request(
        &mut self,
        frame: &Frame,
        at: Pos,
        keys: Keys<'_>,
        path: &[(String, Template)],
    ) -> Option<KeyMaterialRequestBody> {
        let requester = match keys.get("requester") {
            Some(node) => Some(self.client_name(frame, node)?),
            None if self.cx.actors.clients.len() == 1 => None,
            None => {
                self.error(
                    frame,
                    at,
                    "name the signing client with `requester:` (the case has several or none)",
                );
                return None;
            }
        };
        if keys.get("targetUser").is_none() && !path.iter().any(|(k, _)| k == "targetUser") {
            self.error(frame, at, "targetUser is needed (in the body or the path)");
            return None;
        }
        let strings =
            |p: &mut Self, f: &str| keys.get(f).map(|n| p.field(frame, n, template::to_string));
        let requesting_user = strings(self, "requestingUser");
        let target_user = strings(self, "targetUser");
        let room_id = strings(self, "roomId");
        let acceptable_ciphersuites = keys
            .get("acceptableCiphersuites")
            .map(|n| self.field(frame, n, suites));
        let required_capabilities = keys
            .get("requiredCapabilities")
            .map(|n| self.field(frame, n, capabilities));
        let protocol = keys.get("protocol").map(|n| self.field(frame, n, protocol));
        let signature = keys
            .get("signature")
            .map(|n| self.field(frame, n, signature));
        Some(KeyMaterialRequestBody {
            pos: at,
            requester,
            requesting_user: requesting_user.map(|f| f.ok_or(())).transpose().ok()?,
            target_user: target_user.map(|f| f.ok_or(())).transpose().ok()?,
            room_id: room_id.map(|f| f.ok_or(())).transpose().ok()?,
            acceptable_ciphersuites: acceptable_ciphersuites
                .map(|f| f.ok_or(()))
                .transpose()
                .ok()?,
            required_capabilities: required_capabilities
                .map(|f| f.ok_or(()))
                .transpose()
                .ok()?,
            protocol: protocol.map(|f| f.ok_or(())).transpose().ok()?,
            signature: signature.map(|f| f.ok_or(())).transpose().ok()?,
        })
    }

    pub(super) fn consent_entry(
        &mut self,
        frame: &Frame,
        at: Pos,
        keys: Keys<'_>,
    ) -> Option<ConsentEntryBody> {
        let required = |p: &mut Self, f: &str| match keys.get(f) {
            Some(n) => p.field(frame, n, template::to_string),
            None => {
                p.error(frame, at, format!("{f} is needed"));
                None
            }
        };
        let requester_uri = required(self, "requesterUri");
        let target_uri = required(self, "targetUri");
        let operation = match keys.get("consentOperation") {
            Some(n) => self.field(frame, n, consent_operation),
            None => {
                self.error(frame, at, "consentOperation is needed");
                None
            }
        };
        let room_id = match keys.get("roomId") {
            Some(n) => Some(self.field(frame, n, template::to_string)?),
            None => None,
        };
        let mut key_packages_of = Vec::new();
        if let Some(node) = keys.get("keyPackagesOf") {
            let Node::Seq(items) = &node.value else {
                self.error(
                    frame,
                    Pos::of(node),
                    "keyPackagesOf is a list of client names",
                );
                return None;
            };
            for item in items {
                key_packages_of.push(self.client_name(frame, item)?);
            }
        }
        Some(ConsentEntryBody {
            pos: at,
            operation: operation?,
            requester_uri: requester_uri?,
            target_uri: target_uri?,
            room_id,
            key_packages_of,
        })
    }

    pub(super) fn identifier_request(
        &mut self,
        frame: &Frame,
        at: Pos,
        keys: Keys<'_>,
    ) -> Option<IdentifierRequestBody> {
        match keys.get("query") {
            Some(node) => Some(IdentifierRequestBody {
                pos: at,
                query: self.field(frame, node, query)?,
            }),
            None => {
                self.error(frame, at, "query is needed");
                None
            }
        }
    }
}

fn compact(text: &str) -> String {
    text.split_whitespace().collect()
}

fn raw_hex(v: &Value) -> Result<Vec<u8>, String> {
    let text = template::to_string(v)?;
    hex::decode(compact(&text)).map_err(|e| format!("not hex: {e}"))
}

fn raw_base64(v: &Value) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let text = template::to_string(v)?;
    base64::engine::general_purpose::STANDARD
        .decode(compact(&text))
        .map_err(|e| format!("not base64: {e}"))
}

fn u16_list(v: &Value) -> Option<Vec<u16>> {
    v.as_array()?
        .iter()
        .map(|n| n.as_u64().and_then(|n| u16::try_from(n).ok()))
        .collect()
}

fn suites(v: &Value) -> Result<Vec<u16>, String> {
    u16_list(v).ok_or_else(|| "acceptableCiphersuites is a list of suite numbers".into())
}

fn capabilities(v: &Value) -> Result<Capabilities, String> {
    let Value::Object(map) = v else {
        return Err(
            "requiredCapabilities is {extension_types, proposal_types, credential_types}".into(),
        );
    };
    const KEYS: [&str; 3] = ["extension_types", "proposal_types", "credential_types"];
    if let Some(other) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "requiredCapabilities has no {other:?}; its keys: {}",
            KEYS.join(", ")
        ));
    }
    let list = |k: &str| match map.get(k) {
        None => Ok(Vec::new()),
        Some(l) => u16_list(l).ok_or(format!("requiredCapabilities.{k} is a list of numbers")),
    };
    Ok(Capabilities {
        extension_types: list("extension_types")?,
        proposal_types: list("proposal_types")?,
        credential_types: list("credential_types")?,
    })
}

fn protocol(v: &Value) -> Result<u8, String> {
    v.as_u64()
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| "protocol is a number from 0 to 255".into())
}

fn signature(v: &Value) -> Result<SignatureChoice, String> {
    match v.as_str() {
        Some("valid") => Ok(SignatureChoice::Valid),
        Some("corrupt") => Ok(SignatureChoice::Corrupt),
        Some(text) => hex::decode(text)
            .map(SignatureChoice::Bytes)
            .map_err(|_| "signature is valid, corrupt or hex".into()),
        None => Err("signature is valid, corrupt or hex".into()),
    }
}

fn consent_operation(v: &Value) -> Result<ConsentOperationName, String> {
    match v.as_str() {
        Some("cancel") => Ok(ConsentOperationName::Cancel),
        Some("request") => Ok(ConsentOperationName::Request),
        Some("grant") => Ok(ConsentOperationName::Grant),
        Some("revoke") => Ok(ConsentOperationName::Revoke),
        _ => Err(format!(
            "consentOperation {v} is not cancel, request, grant or revoke"
        )),
    }
}

fn query(v: &Value) -> Result<Vec<QueryElement>, String> {
    let Value::Array(items) = v else {
        return Err("query is a list of {type, value}".into());
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(map) = item else {
                return Err("each query element is {type, value} (and name)".to_string());
            };
            if let Some(other) = map
                .keys()
                .find(|k| !["type", "value", "name"].contains(&k.as_str()))
            {
                return Err(format!(
                    "a query element has no {other:?}; its keys: type, value, name"
                ));
            }
            let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
            let kind = text("type").ok_or("each query element has a type")?;
            if mimi_wire::messages::identifier::SearchIdentifierType::from_name(&kind).is_none() {
                return Err(format!("{kind:?} is not a SearchIdentifierType"));
            }
            Ok(QueryElement {
                kind,
                value: text("value").unwrap_or_default(),
                name: text("name"),
            })
        })
        .collect()
}
