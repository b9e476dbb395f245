//! The directory (P-06 §5.1): a JSON document mapping endpoint names to https URL templates.

use std::collections::BTreeMap;

/// The directory path, fixed by the draft.
pub const DIRECTORY_PATH: &str = "/.well-known/mimi-protocol-directory";

/// The endpoint keys the draft's example lists (P-06 §5.1).
pub const ENDPOINTS: &[&str] = &[
    "keyMaterial",
    "update",
    "notify",
    "submitMessage",
    "groupInfo",
    "requestConsent",
    "updateConsent",
    "identifierQuery",
    "reportAbuse",
    "proxyDownload",
];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Directory {
    /// Endpoint name → URL template: every member whose value is a string.
    pub endpoints: BTreeMap<String, String>,
    /// Members that are not endpoint URLs (objects, arrays, numbers, ...): kept, not interpreted.
    /// P-06 §5.1 models the directory on ACME's (RFC 8555 §7.1.1), which carries `meta`, and
    /// forbids nothing beside the endpoints' URLs.
    pub others: BTreeMap<String, serde_json::Value>,
}

impl Directory {
    /// Reads a directory: a JSON object (RFC 8259 §4: unordered; its members' order means
    /// nothing). Members whose value is not a string are accepted and set aside in `others`.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the directory is not JSON: {e}"))?;
        let serde_json::Value::Object(object) = value else {
            return Err(
                "the directory is not a JSON object of endpoint name to URL template".into(),
            );
        };
        let mut directory = Self::default();
        for (name, value) in object {
            match value {
                serde_json::Value::String(url) => {
                    directory.endpoints.insert(name, url);
                }
                other => {
                    directory.others.insert(name, other);
                }
            }
        }
        Ok(directory)
    }

    /// Every member, endpoints first, each group by name.
    pub fn members(&self) -> Vec<(String, serde_json::Value)> {
        self.endpoints
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .chain(self.others.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }

    /// The JSON document, members in `members()` order.
    pub fn to_json(&self) -> Vec<u8> {
        json_object(&self.members())
    }

    /// The endpoint members only, as a JSON object: what cases see of a directory.
    pub fn endpoints_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.endpoints
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }

    /// What is worth knowing about a directory that a strict reader would stumble on, for
    /// transcripts: the members set aside as not endpoint URLs.
    pub fn note(&self) -> Option<String> {
        (!self.others.is_empty()).then(|| {
            let kinds: Vec<String> = self
                .others
                .iter()
                .map(|(name, value)| format!("{name} ({})", json_kind(value)))
                .collect();
            format!(
                "members that are not endpoint URLs, accepted and not interpreted (P-06 §5.1 models the directory on ACME's, RFC 8555 §7.1.1, which carries `meta`): {}",
                kinds.join(", ")
            )
        })
    }
    /// The endpoint's URL with every `{var}` replaced by its percent-encoded value.
    pub fn url(&self, endpoint: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let template = self.endpoints.get(endpoint).ok_or_else(|| {
            format!(
                "the provider's directory has no {endpoint:?} endpoint (it lists: {})",
                self.endpoints
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        expand_template(template, vars)
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A JSON object with its members in the order given (serde_json's map sorts them).
pub fn json_object(members: &[(String, serde_json::Value)]) -> Vec<u8> {
    let body: Vec<String> = members
        .iter()
        .map(|(name, value)| {
            format!(
                "  {}: {}",
                serde_json::Value::String(name.clone()),
                serde_json::to_string(value).expect("a JSON value serialises")
            )
        })
        .collect();
    format!("{{\n{}\n}}", body.join(",\n")).into_bytes()
}

/// Characters kept as they are in a path variable: RFC 3986 unreserved.
const PATH_VARIABLE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn expand_template(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in URL template {template:?}"))?;
        let name = &rest[open + 1..open + close];
        let value = vars.get(name).ok_or_else(|| {
            format!("URL template {template:?} needs the path variable {name:?}, which the step does not give")
        })?;
        out.extend(percent_encoding::utf8_percent_encode(value, PATH_VARIABLE));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_percent_encodes_a_user_uri() {
        let vars = BTreeMap::from([(
            "targetUser".to_string(),
            "mimi://b.example/u/bob".to_string(),
        )]);
        let url = expand_template("https://b.example/v1/keyMaterial/{targetUser}", &vars).unwrap();
        assert_eq!(
            url,
            "https://b.example/v1/keyMaterial/mimi%3A%2F%2Fb.example%2Fu%2Fbob"
        );
    }

    #[test]
    fn unused_variables_are_ignored_so_either_spelling_resolves() {
        let vars = BTreeMap::from([
            ("targetDomain".to_string(), "b.example".to_string()),
            (
                "targetUser".to_string(),
                "mimi://b.example/u/bob".to_string(),
            ),
        ]);
        assert_eq!(
            expand_template("https://b/requestConsent/{targetDomain}", &vars).unwrap(),
            "https://b/requestConsent/b.example"
        );
        assert_eq!(
            expand_template("https://b/requestConsent/{targetUser}", &vars).unwrap(),
            "https://b/requestConsent/mimi%3A%2F%2Fb.example%2Fu%2Fbob"
        );
    }

    #[test]
    fn members_that_are_not_urls_are_set_aside_not_refused() {
        // P-06 §5.1: "Like the ACME protocol (See Section 7.1.1 of [RFC8555]), the MIMI protocol
        // uses a directory document"; ACME's carries `meta`, an object.
        let d = Directory::parse(
            br#"{"meta": {"website": "https://x"}, "drafts": ["06"], "max": 3,
                 "keyMaterial": "https://x/k/{targetUser}"}"#,
        )
        .unwrap();
        assert_eq!(d.endpoints.len(), 1);
        assert_eq!(d.others.len(), 3);
        let note = d.note().unwrap();
        assert!(
            note.contains("meta (object)") && note.contains("drafts (array)"),
            "{note}"
        );
        assert_eq!(Directory::parse(&d.to_json()).unwrap(), d);
        assert_eq!(
            d.endpoints_json(),
            serde_json::json!({"keyMaterial": "https://x/k/{targetUser}"})
        );
    }

    #[test]
    fn member_order_means_nothing() {
        // RFC 8259 §4: "An object is an unordered collection of zero or more name/value pairs".
        let a = Directory::parse(
            br#"{"update": "https://x/u/{roomId}", "notify": "https://x/n/{roomId}"}"#,
        );
        let b = Directory::parse(
            br#"{"notify": "https://x/n/{roomId}", "update": "https://x/u/{roomId}"}"#,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn what_is_not_a_json_object_is_refused() {
        // P-06 §5.1: "The response is a JSON document with URIs for each type of endpoint."
        assert!(Directory::parse(b"[1, 2]")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(Directory::parse(b"keyMaterial=https://x")
            .unwrap_err()
            .contains("not JSON"));
    }

    #[test]
    fn missing_variable_is_named() {
        let err = expand_template("https://x/{roomId}", &BTreeMap::new()).unwrap_err();
        assert!(err.contains("roomId"), "{err}");
    }
}
