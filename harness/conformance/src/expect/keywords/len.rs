//! `len: N` or `len: {min: 1}`: the length of a list, string or mapping.

use crate::case::node::Node;
use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "len",
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
        _ => Err("needs a length or {min: N, max: M}".into()),
    }
}

fn apply(actual: &Value, arg: &Value) -> Result<(), String> {
    let len = match actual {
        Value::Array(items) => items.len(),
        Value::String(s) => s.chars().count(),
        Value::Object(map) => map.len(),
        other => {
            return Err(format!(
                "expected something with a length, got {}",
                show(other)
            ))
        }
    } as u64;
    let (min, max) = match arg {
        Value::Object(bounds) => (
            bounds.get("min").and_then(Value::as_u64),
            bounds.get("max").and_then(Value::as_u64),
        ),
        exact => (exact.as_u64(), exact.as_u64()),
    };
    if min.is_some_and(|m| len < m) || max.is_some_and(|m| len > m) {
        Err(format!("expected length {arg}, got {len}"))
    } else {
        Ok(())
    }
}
