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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directory {
    pub endpoints: BTreeMap<String, String>,
}

impl Directory {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the directory is not JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or("the directory is not a JSON object of endpoint name to URL template")?;
        let mut endpoints = BTreeMap::new();
        for (name, url) in object {
            let url = url
                .as_str()
                .ok_or_else(|| format!("directory entry {name:?} is not a string"))?;
            endpoints.insert(name.clone(), url.to_string());
        }
        Ok(Self { endpoints })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.endpoints).expect("a map of strings serialises")
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
    fn missing_variable_is_named() {
        let err = expand_template("https://x/{roomId}", &BTreeMap::new()).unwrap_err();
        assert!(err.contains("roomId"), "{err}");
    }
}
