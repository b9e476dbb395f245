//! `equals: V` (or a plain value): the actual value is exactly V. Numbers compare by value.

use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "equals",
    check_arg: super::any,
    apply,
};

pub fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn apply(actual: &Value, expected: &Value) -> Result<(), String> {
    if same(actual, expected) {
        Ok(())
    } else {
        Err(format!("expected {}, got {}", show(expected), show(actual)))
    }
}
