//! Expectations: a path into the decoded body, then a matcher. A plain value means equality; a
//! mapping of one keyword (`one-of`, `len`, ...) names a matcher, each in its own file under
//! `keywords/` with its example in cases/README.md.

pub mod keywords;
pub mod path;

use crate::case::node::{Located, Node, Pos};
use serde_json::Value;
use serde_saphyr::Spanned;

/// One assertion keyword.
pub struct Keyword {
    pub name: &'static str,
    /// Checks the keyword's argument as written in the case (before templates are filled in).
    pub check_arg: fn(&Node) -> Result<(), String>,
    /// Applies the matcher to one actual value; the argument has its templates filled in.
    pub apply: fn(actual: &Value, arg: &Value) -> Result<(), String>,
}

/// A matcher as written in a case: a keyword and its argument (still with templates).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub keyword: &'static str,
    pub arg: Node,
    pub pos: Pos,
}

impl Matcher {
    pub fn parse(node: &Spanned<Node>) -> Located<Self> {
        let pos = Pos::of(node);
        match &node.value {
            Node::Map(entries) => {
                let [(key, arg)] = entries.as_slice() else {
                    return Err((
                        pos,
                        format!(
                            "a matcher is a mapping of exactly one keyword ({}); to compare with a mapping, write `equals: {{...}}`",
                            keyword_names()
                        ),
                    ));
                };
                let keyword = keywords::ALL
                    .iter()
                    .find(|k| k.name == key.value)
                    .ok_or_else(|| {
                        (
                            Pos::of(key),
                            format!(
                                "unknown matcher {:?}; known: {}",
                                key.value,
                                keyword_names()
                            ),
                        )
                    })?;
                (keyword.check_arg)(&arg.value)
                    .map_err(|e| (Pos::of(arg), format!("{}: {e}", keyword.name)))?;
                Ok(Self {
                    keyword: keyword.name,
                    arg: arg.value.clone(),
                    pos,
                })
            }
            other => Ok(Self {
                keyword: "equals",
                arg: other.clone(),
                pos,
            }),
        }
    }

    pub fn apply(&self, actual: &Value, arg: &Value) -> Result<(), String> {
        let keyword = keywords::ALL
            .iter()
            .find(|k| k.name == self.keyword)
            .expect("parsed matchers name known keywords");
        (keyword.apply)(actual, arg)
    }

    /// `exists: false` is the one matcher that passes when its path selects nothing.
    pub fn accepts_nothing(&self) -> bool {
        self.keyword == "exists" && self.arg == Node::Bool(false)
    }
}

fn keyword_names() -> String {
    keywords::ALL
        .iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a value is shown in an expected/actual message.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}
