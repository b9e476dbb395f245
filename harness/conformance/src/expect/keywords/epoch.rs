//! `epoch: N` or `epoch: {min: N, max: M}`: the epoch of an MLS Public or Private message, or of
//! a GroupInfo.

use crate::expect::{show, Keyword};
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "epoch",
    check_arg: super::range,
    apply,
};

fn apply(actual: &Value, arg: &Value) -> Result<(), String> {
    let Some(epoch) = actual.get("epoch").and_then(Value::as_u64) else {
        return Err(format!(
            "expected an MLS message with an epoch, got {}",
            show(actual)
        ));
    };
    if super::within(epoch, arg) {
        Ok(())
    } else {
        Err(format!("expected epoch {arg}, got {epoch}"))
    }
}
