//! `mls-sender: member | external | new_member_proposal | new_member_commit`: who sent a
//! PublicMessage (RFC 9420 §6.1); hub-originated proposals come from `external` (P-06 §7.4).

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "mls-sender",
    check_arg,
    apply,
};

const KINDS: &[&str] = &[
    "member",
    "external",
    "new_member_proposal",
    "new_member_commit",
];

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Str(s) if KINDS.contains(&s.as_str()) => Ok(()),
        _ => Err(format!("needs one of {}", KINDS.join(", "))),
    }
}

fn apply(actual: &Value, wanted: &Value) -> Result<(), String> {
    let kind = match actual.get("sender") {
        Some(Value::Object(o)) if o.contains_key("member") => "member",
        Some(Value::String(s)) => s.as_str(),
        _ => {
            return Err(format!(
                "expected a PublicMessage with a sender, got {}",
                show(actual)
            ))
        }
    };
    if Some(kind) == wanted.as_str() {
        Ok(())
    } else {
        Err(format!("expected sender {wanted}, got {kind}"))
    }
}
