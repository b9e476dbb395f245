//! Paths into a decoded body: RFC 9535 JSONPath, with the leading `$.` optional
//! (`clients[*].keyPackage` means `$.clients[*].keyPackage`).

use serde_json::Value;
use serde_json_path::JsonPath;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

#[derive(Debug, Clone)]
pub struct BodyPath {
    pub text: String,
    path: JsonPath,
    /// Selects at most one node by its form (no wildcard, slice, filter or descent), so a capture
    /// from it is one value rather than a list.
    pub singular: bool,
}

impl BodyPath {
    /// Cases name the same paths file after file (`body.userStatus`), and parsing them took 2%
    /// of loading `bench`'s cases, so each distinct text is parsed once per process (the cache
    /// is as large as the loaded cases' paths).
    pub fn parse(text: &str) -> Result<Self, String> {
        type Cache = HashMap<String, Result<BodyPath, String>>;
        static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Default::default);
        if let Some(found) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(text) {
            return found.clone();
        }
        let parsed = Self::parse_uncached(text);
        CACHE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(text.to_string(), parsed.clone());
        parsed
    }

    fn parse_uncached(text: &str) -> Result<Self, String> {
        let full = if text.starts_with('$') {
            text.to_string()
        } else if text.starts_with('[') {
            format!("${text}")
        } else {
            format!("$.{text}")
        };
        let path = JsonPath::parse(&full).map_err(|e| format!("invalid path {text:?}: {e}"))?;
        let singular = !full.contains('*')
            && !full.contains("..")
            && !full.contains('?')
            && !full.contains(':');
        Ok(Self {
            text: text.to_string(),
            path,
            singular,
        })
    }

    pub fn select<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        self.path.query(value).all()
    }

    /// The value a capture gets: the node itself for a singular path, else the list of nodes.
    pub fn capture(&self, value: &Value) -> Option<Value> {
        let nodes = self.select(value);
        if self.singular {
            nodes.first().map(|v| (*v).clone())
        } else {
            Some(Value::Array(nodes.into_iter().cloned().collect()))
        }
    }

    /// Replaces every selected node by `replacement` (snapshot redaction).
    pub fn redact(&self, value: &mut Value, replacement: &str) {
        let locations: Vec<String> = self
            .path
            .query_located(value)
            .locations()
            .map(|l| l.to_json_pointer())
            .collect();
        for pointer in locations {
            if let Some(node) = value.pointer_mut(&pointer) {
                *node = Value::String(replacement.to_string());
            }
        }
    }
}
