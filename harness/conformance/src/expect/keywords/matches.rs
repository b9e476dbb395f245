//! `matches: REGEX`: the actual value is a string matching the regular expression (unanchored;
//! write `^...$` to anchor).

use crate::expect::{show, Keyword};
use crate::yaml::Node;
use serde_json::Value;

pub const KEYWORD: Keyword = Keyword {
    name: "matches",
    check_arg,
    apply,
};

fn check_arg(arg: &Node) -> Result<(), String> {
    match arg {
        Node::Str(re) if re.contains("{{") => Ok(()),
        Node::Str(re) => regex::Regex::new(re).map(drop).map_err(|e| e.to_string()),
        other => Err(format!("needs a regular expression, not {}", other.kind())),
    }
}

fn apply(actual: &Value, pattern: &Value) -> Result<(), String> {
    let pattern = pattern.as_str().unwrap_or_default();
    let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
    match actual.as_str() {
        Some(s) if re.is_match(s) => Ok(()),
        Some(_) => Err(format!(
            "expected a match of /{pattern}/, got {}",
            show(actual)
        )),
        None => Err(format!(
            "expected a string matching /{pattern}/, got {}",
            show(actual)
        )),
    }
}
