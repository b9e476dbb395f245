//! `none-of: [A, B]` or `none-of: "{{ captured }}"`: the actual value equals none of them
//! (a captured list, e.g. the KeyPackage refs of an earlier claim, works as the list).

use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "none-of",
    check_arg: super::list,
    apply,
};

/// A list argument as a list; a single value as a list of one.
pub fn as_list(arg: &Value) -> Vec<Value> {
    match arg {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn apply(actual: &Value, forbidden: &Value) -> Result<(), String> {
    match as_list(forbidden)
        .iter()
        .find(|v| super::equals::same(actual, v))
    {
        None => Ok(()),
        Some(hit) => Err(format!("expected none of {forbidden}, got {}", show(hit))),
    }
}
