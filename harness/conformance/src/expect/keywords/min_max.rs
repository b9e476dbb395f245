//! `min: N` and `max: N`: the actual number is at least / at most N.

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const MIN: Keyword = Keyword {
    name: "min",
    check_arg,
    apply: |actual, bound| compare(actual, bound, "at least", |a, b| a >= b),
};

pub const MAX: Keyword = Keyword {
    name: "max",
    check_arg,
    apply: |actual, bound| compare(actual, bound, "at most", |a, b| a <= b),
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Int(_) | Node::Float(_) => Ok(()),
        Node::Str(s) if s.contains("{{") => Ok(()),
        other => Err(format!("needs a number, not {}", other.kind())),
    }
}

fn compare(
    actual: &Value,
    bound: &Value,
    words: &str,
    ok: fn(f64, f64) -> bool,
) -> Result<(), String> {
    match (actual.as_f64(), bound.as_f64()) {
        (Some(a), Some(b)) if ok(a, b) => Ok(()),
        (Some(_), Some(_)) => Err(format!("expected {words} {bound}, got {}", show(actual))),
        _ => Err(format!(
            "expected a number {words} {bound}, got {}",
            show(actual)
        )),
    }
}
