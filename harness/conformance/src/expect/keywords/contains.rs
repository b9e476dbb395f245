//! `contains: V`: the actual list has an element equal to V, or the actual string contains V.

use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "contains",
    check_arg: super::any,
    apply,
};

fn apply(actual: &Value, needle: &Value) -> Result<(), String> {
    let found = match (actual, needle) {
        (Value::Array(items), _) => items.iter().any(|v| super::equals::same(v, needle)),
        (Value::String(s), Value::String(n)) => s.contains(n.as_str()),
        _ => false,
    };
    if found {
        Ok(())
    } else {
        Err(format!(
            "expected {} to contain {}",
            show(actual),
            show(needle)
        ))
    }
}
