//! `one-of: [A, B]`: the actual value equals one of the listed values.

use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "one-of",
    check_arg: super::list,
    apply,
};

fn apply(actual: &Value, allowed: &Value) -> Result<(), String> {
    let allowed = super::none_of::as_list(allowed);
    if allowed.iter().any(|v| super::equals::same(actual, v)) {
        Ok(())
    } else {
        Err(format!(
            "expected one of {}, got {}",
            Value::Array(allowed),
            show(actual)
        ))
    }
}
