//! Expectations: a path into the decoded body, then matchers. A plain value means equality; a
//! mapping of keywords (`one-of`, `len`, ...) names matchers that must all hold, each keyword in
//! its own file under `keywords/` with its example in cases/README.md.

pub mod keywords;
pub mod path;

use crate::template;
use crate::yaml::Spanned;
use crate::yaml::{Node, Pos};
use serde_json::Value;

/// One assertion keyword.
#[derive(Debug)]
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
    pub keyword: &'static Keyword,
    pub arg: Node,
    /// Where its argument stands.
    pub pos: Pos,
}

impl Matcher {
    pub fn apply(&self, actual: &Value, arg: &Value) -> Result<(), String> {
        (self.keyword.apply)(actual, arg)
    }

    /// `exists: false` is the one matcher that passes when its path selects nothing.
    pub fn accepts_nothing(&self) -> bool {
        self.keyword.name == "exists" && self.arg == Node::Bool(false)
    }
}

/// The matchers on one value: a plain value (equality), or a mapping of one or more keywords,
/// all of which must hold (`{len: 2, contains: x}`).
#[derive(Debug, Clone)]
pub struct Matchers {
    pub pos: Pos,
    pub all: Vec<Matcher>,
}

impl Matchers {
    /// Every problem with the matchers as written, each at its position.
    pub fn parse(node: &Spanned<Node>) -> Result<Self, Vec<(Pos, String)>> {
        let pos = Pos::of(node);
        let Node::Map(entries) = &node.value else {
            return Ok(Self {
                pos,
                all: vec![Matcher {
                    keyword: &keywords::EQUALS,
                    arg: node.value.clone(),
                    pos,
                }],
            });
        };
        let found: Vec<Option<&'static Keyword>> = entries
            .iter()
            .map(|(key, _)| keywords::ALL.iter().find(|k| k.name == key.value))
            .collect();
        if entries.len() > 1 && found.iter().all(Option::is_none) {
            return Err(vec![(
                pos,
                format!(
                    "a matcher is a mapping of keywords ({}); to compare with a mapping, write `equals: {{...}}`",
                    keyword_names()
                ),
            )]);
        }
        if entries.is_empty() {
            return Err(vec![(
                pos,
                format!(
                    "an empty mapping names no matcher; known: {}",
                    keyword_names()
                ),
            )]);
        }
        let mut all = Vec::new();
        let mut errors = Vec::new();
        for ((key, arg), keyword) in entries.iter().zip(found) {
            let Some(keyword) = keyword else {
                errors.push((
                    Pos::of(key),
                    format!(
                        "unknown matcher {:?}; known: {}",
                        key.value,
                        keyword_names()
                    ),
                ));
                continue;
            };
            match (keyword.check_arg)(&arg.value) {
                Ok(()) => all.push(Matcher {
                    keyword,
                    arg: arg.value.clone(),
                    pos: Pos::of(arg),
                }),
                Err(e) => errors.push((Pos::of(arg), format!("{}: {e}", keyword.name))),
            }
        }
        if errors.is_empty() {
            Ok(Self { pos, all })
        } else {
            Err(errors)
        }
    }

    /// Whether the matchers pass when their path selects nothing (`exists: false`).
    pub fn accept_nothing(&self) -> bool {
        self.all.iter().all(Matcher::accepts_nothing)
    }

    /// Applies every matcher to every selected value, with its argument filled in from `vars`;
    /// the first that fails, at its position. Selecting nothing fails, but for `exists: false`.
    pub fn check(&self, actual: &[&Value], vars: &minijinja::Value) -> Result<(), (Pos, String)> {
        self.check_each(actual, vars, &mut |_| {})
    }

    /// `check`, telling `each` what every matcher it got to said (for the records `verify`
    /// evaluates again).
    pub fn check_each(
        &self,
        actual: &[&Value],
        vars: &minijinja::Value,
        each: &mut dyn FnMut(Applied),
    ) -> Result<(), (Pos, String)> {
        if actual.is_empty() {
            let failure =
                (!self.accept_nothing()).then(|| "selects nothing in the response".to_string());
            each(Applied {
                pos: self.pos,
                keyword: self.all.first().map_or("", |m| m.keyword.name),
                argument: None,
                failure: failure.clone(),
            });
            return failure.map_or(Ok(()), |e| Err((self.pos, e)));
        }
        for matcher in &self.all {
            let mut applied = Applied {
                pos: matcher.pos,
                keyword: matcher.keyword.name,
                argument: None,
                failure: None,
            };
            let held = template::fill_at(&matcher.arg, matcher.pos, vars).and_then(|arg| {
                let held = actual
                    .iter()
                    .try_for_each(|value| matcher.apply(value, &arg))
                    .map_err(|e| (matcher.pos, e));
                applied.argument = Some(arg);
                held
            });
            applied.failure = held.as_ref().err().map(|(_, e)| e.clone());
            each(applied);
            held?;
        }
        Ok(())
    }

    /// Every string in the matchers' arguments, with its position (for checking templates).
    pub fn strings<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        for m in &self.all {
            m.arg.strings(m.pos, out);
        }
    }
}

/// What one matcher said: where it is written, its keyword, its argument as filled in (none
/// when its template could not be, or when nothing was selected), and why it did not hold.
#[derive(Debug, Clone)]
pub struct Applied {
    pub pos: Pos,
    pub keyword: &'static str,
    pub argument: Option<Value>,
    pub failure: Option<String>,
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
