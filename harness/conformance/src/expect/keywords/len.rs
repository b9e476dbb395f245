//! `len: N` or `len: {min: 1}`: the length of a list, string or mapping.

use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "len",
    check_arg: super::range,
    apply,
};

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
    if super::within(len, arg) {
        Ok(())
    } else {
        Err(format!("expected length {arg}, got {len}"))
    }
}
