//! `valid-key-package: true`: a KeyPackage that passes RFC 9420 §10.1 validation (leaf node and
//! KeyPackage signatures, protocol version, lifetime covering now, init key distinct from the
//! encryption key). The wire layer verifies each KeyPackage as it decodes one and records the
//! outcome in its `verification` field.
//!
//! `valid-key-package: {suites: [1], extensions: [6], proposals: [], credentials: [1]}` also
//! requires one of the acceptable suites and the required capabilities of a claim (P-06 §5.2:
//! `acceptableCiphersuites`, `requiredCapabilities`).

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "valid-key-package",
    check_arg,
    apply,
};

const REQUIREMENTS: &[&str] = &["suites", "extensions", "proposals", "credentials"];

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Bool(true) => Ok(()),
        Node::Map(entries) => entries.iter().try_for_each(|(k, v)| match (&v.value, REQUIREMENTS.contains(&k.value.as_str())) {
            (Node::Seq(_), true) => Ok(()),
            _ => Err(format!("{:?}: the requirements are lists of numbers: {}", k.value, REQUIREMENTS.join(", "))),
        }),
        _ => Err("write `valid-key-package: true` or give the requirements: {suites: [1], extensions: [6]}".into()),
    }
}

fn numbers(v: Option<&Value>) -> Vec<u64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn apply(actual: &Value, requirements: &Value) -> Result<(), String> {
    match actual.get("verification").and_then(Value::as_str) {
        Some("valid") => {}
        Some(reason) => {
            return Err(format!(
                "expected a valid KeyPackage, got one that fails: {reason}"
            ))
        }
        None => return Err(format!("expected a KeyPackage, got {}", show(actual))),
    }
    let suites = numbers(requirements.get("suites"));
    // Rendered as `1:MLS_128_...`.
    let suite = actual["cipher_suite"]
        .as_str()
        .and_then(|s| s.split(':').next())
        .and_then(|n| n.parse::<u64>().ok());
    if !suites.is_empty() && !suite.is_some_and(|s| suites.contains(&s)) {
        return Err(format!(
            "expected a KeyPackage in one of the suites {suites:?}, got {}",
            actual["cipher_suite"]
        ));
    }
    let capabilities = &actual["leaf_node"]["capabilities"];
    for kind in ["extensions", "proposals", "credentials"] {
        let supported = numbers(capabilities.get(kind));
        let missing: Vec<u64> = numbers(requirements.get(kind))
            .into_iter()
            .filter(|r| !supported.contains(r))
            .collect();
        if !missing.is_empty() {
            return Err(format!("expected a KeyPackage whose leaf supports {kind} {missing:?}, it supports {supported:?}"));
        }
    }
    Ok(())
}
