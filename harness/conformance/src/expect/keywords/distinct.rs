//! `distinct: true`: no two items of the actual list are equal (a KeyPackage handed out to
//! several claims, a message ID used twice).

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "distinct",
    check_arg,
    apply,
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Bool(true) => Ok(()),
        _ => Err("write `distinct: true`".into()),
    }
}

fn apply(actual: &Value, _: &Value) -> Result<(), String> {
    let Value::Array(items) = actual else {
        return Err(format!("expected a list, got {}", show(actual)));
    };
    for (i, item) in items.iter().enumerate() {
        if let Some(j) = items[i + 1..]
            .iter()
            .position(|other| super::equals::same(item, other))
        {
            return Err(format!(
                "expected no item twice, got {} at {i} and at {}",
                show(item),
                i + 1 + j
            ));
        }
    }
    Ok(())
}
