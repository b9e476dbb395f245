//! `exists: true|false`: the path selects something, or nothing. Every other matcher fails when
//! its path selects nothing; `exists: false` is how a case says a field must be absent.

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "exists",
    check_arg,
    apply,
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Bool(_) => Ok(()),
        other => Err(format!("needs true or false, not {}", other.kind())),
    }
}

/// Called once per selected node, so there is something: right for `true`, wrong for `false`.
fn apply(actual: &Value, wanted: &Value) -> Result<(), String> {
    if wanted == &Value::Bool(true) {
        Ok(())
    } else {
        Err(format!("expected nothing here, got {}", show(actual)))
    }
}
