//! `private-message: true`: an MLSMessage that is a PrivateMessage of content type application,
//! so a provider relaying it cannot read it (P-06 §4.2, §5.4; RFC 9420 §6).

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "private-message",
    check_arg,
    apply,
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Bool(true) => Ok(()),
        _ => Err("write `private-message: true`".into()),
    }
}

fn apply(actual: &Value, _: &Value) -> Result<(), String> {
    let wire_format = actual.get("wire_format").and_then(Value::as_str);
    let content_type = actual.get("content_type").and_then(Value::as_str);
    match (wire_format, content_type) {
        (Some("private_message"), Some("application")) => Ok(()),
        (Some(w), c) => Err(format!(
            "expected a PrivateMessage carrying application data, got a {w}{}",
            c.map(|c| format!(" ({c})")).unwrap_or_default()
        )),
        _ => Err(format!("expected an MLSMessage, got {}", show(actual))),
    }
}
