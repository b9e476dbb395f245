//! `valid-key-package: true`: a KeyPackage that passes RFC 9420 §10.1 validation (leaf node and
//! KeyPackage signatures, protocol version, lifetime covering now, init key distinct from the
//! encryption key). The wire layer verifies each KeyPackage as it decodes one and records the
//! outcome in its `verification` field.

use crate::case::node::Node;
use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "valid-key-package",
    check_arg,
    apply,
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Bool(true) => Ok(()),
        _ => Err("write `valid-key-package: true`".into()),
    }
}

fn apply(actual: &Value, _: &Value) -> Result<(), String> {
    match actual.get("verification").and_then(Value::as_str) {
        Some("valid") => Ok(()),
        Some(reason) => Err(format!(
            "expected a valid KeyPackage, got one that fails: {reason}"
        )),
        None => Err(format!("expected a KeyPackage, got {}", show(actual))),
    }
}
