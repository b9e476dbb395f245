//! `epoch: N` or `epoch: {min: N, max: M}`: the epoch of an MLS Public or Private message, or of
//! a GroupInfo.

use crate::case::node::Node;
use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "epoch",
    check_arg,
    apply,
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Int(n) if *n >= 0 => Ok(()),
        Node::Str(s) if s.contains("{{") => Ok(()),
        Node::Map(entries)
            if entries.iter().all(|(k, v)| {
                matches!(k.value.as_str(), "min" | "max") && matches!(v.value, Node::Int(_))
            }) =>
        {
            Ok(())
        }
        _ => Err("needs an epoch or {min: N, max: M}".into()),
    }
}

fn apply(actual: &Value, arg: &Value) -> Result<(), String> {
    let Some(epoch) = actual.get("epoch").and_then(Value::as_u64) else {
        return Err(format!(
            "expected an MLS message with an epoch, got {}",
            show(actual)
        ));
    };
    let (min, max) = match arg {
        Value::Object(bounds) => (
            bounds.get("min").and_then(Value::as_u64),
            bounds.get("max").and_then(Value::as_u64),
        ),
        exact => (exact.as_u64(), exact.as_u64()),
    };
    if min.is_some_and(|m| epoch < m) || max.is_some_and(|m| epoch > m) {
        Err(format!("expected epoch {arg}, got {epoch}"))
    } else {
        Ok(())
    }
}
