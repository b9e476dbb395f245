//! The in-toto Statement (v1) a bundle signs, with the test-result predicate (v0.1). The
//! predicate's own fields say which cases passed, warned and failed and with what
//! configuration; the MIMI outcome is its extension field `mimiConformance`, as the in-toto
//! parsing rules allow (consumers ignore fields they do not know; it changes the meaning of
//! no other field).

use super::outcome::{MimiOutcome, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const TEST_RESULT_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: TestResult,
}

/// An in-toto ResourceDescriptor, with the fields this harness uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    pub name: String,
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ResourceDescriptor {
    pub fn sha256(name: &str, hex: String, media_type: Option<&str>) -> Self {
        Self {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), hex)]),
            media_type: media_type.map(str::to_string),
            annotations: BTreeMap::new(),
        }
    }

    pub fn annotated(mut self, key: &str, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    pub fn sha256_hex(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// `pass` when every case in scope passed with no warning (the predicate wants warnedTests
    /// and failedTests empty for a pass), otherwise `fail`; see `mimiConformance.result`.
    pub result: String,
    pub configuration: Vec<ResourceDescriptor>,
    pub passed_tests: Vec<String>,
    pub warned_tests: Vec<String>,
    pub failed_tests: Vec<String>,
    pub mimi_conformance: MimiOutcome,
}

impl TestResult {
    pub fn of(outcome: &Outcome, configuration: Vec<ResourceDescriptor>) -> Self {
        let clean = outcome.warned.is_empty() && outcome.failed.is_empty();
        Self {
            result: if clean { "pass" } else { "fail" }.into(),
            configuration,
            passed_tests: outcome.passed.clone(),
            warned_tests: outcome.warned.clone(),
            failed_tests: outcome.failed.clone(),
            mimi_conformance: outcome.mimi.clone(),
        }
    }

    /// The fields in which `self` and `other` differ, by name.
    pub fn differences(&self, other: &TestResult) -> Vec<String> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let mut out = Vec::new();
        diff("predicate", &a, &b, &mut out);
        out
    }
}

fn diff(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                diff(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!(
            "{path}: the statement says {a}, the evidence gives {b}"
        )),
        _ => {}
    }
}
