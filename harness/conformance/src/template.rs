//! `{{ name }}` variables in case values (minijinja, strict: an undefined variable is an error).
//! A value that is one whole expression keeps the variable's type, so a captured list can be
//! the argument of `none-of`; anything else renders as text.

use crate::yaml::Spanned;
use crate::yaml::{Node, Pos};
use minijinja::{Environment, State, UndefinedBehavior};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

/// Names every case can use: `run` (a nonce of this run of the case, for names that must be
/// new on a long-running provider), and the functions below.
pub const BUILT_IN: &[&str] = &["run", "message_id", "now_ms", "fixture_b64", "fixture_hex"];

/// The context variable that holds the fixtures folder of the case's cases folder, for the
/// `fixture_*` functions. Its name is no identifier, so no case can shadow or read it.
pub const FIXTURES_VAR: &str = "fixtures folder";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // minijinja's default is debug_assertions: without this, a release build names no
        // undefined variable in its errors (`undefined value (in <string>:1)`).
        env.set_debug(true);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_function("message_id", message_id);
        env.add_function("now_ms", now_ms);
        env.add_function("fixture_b64", fixture_b64);
        env.add_function("fixture_hex", fixture_hex);
        env
    })
}

fn invalid(why: String) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, why)
}

/// `message_id(content, sender, room)`: the MIMI content's message ID (content-08 §3.3) as hex,
/// from the content (base64), the sender's user URI and the room URI.
fn message_id(content: String, sender: String, room: String) -> Result<String, minijinja::Error> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content.as_bytes())
        .map_err(|e| invalid(format!("message_id: the content is not base64: {e}")))?;
    let decoded = mimi_wire::content::decode(&bytes)
        .map_err(|e| invalid(format!("message_id: the content is not MIMI content: {e}")))?;
    Ok(hex::encode(mimi_wire::content::message_id(
        &bytes,
        &decoded.salt,
        &sender,
        &room,
        mimi_wire::content::ContentDraft::D08,
    )))
}

/// `now_ms()`: milliseconds since the UNIX epoch, for checks of timestamps a provider sets.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn fixture_bytes(state: &State, path: &str) -> Result<Vec<u8>, minijinja::Error> {
    let folder = state
        .lookup(FIXTURES_VAR)
        .and_then(|v| v.as_str().map(PathBuf::from))
        .ok_or_else(|| invalid("the fixtures folder is unknown here".into()))?;
    read_fixture(&folder, path).map_err(invalid)
}

/// `fixture_b64("vectors/mimi-content/original.cbor")`: a file of the fixtures folder, base64.
fn fixture_b64(state: &State, path: String) -> Result<String, minijinja::Error> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.encode(fixture_bytes(state, &path)?))
}

/// `fixture_hex("...")`: a file of the fixtures folder, hex.
fn fixture_hex(state: &State, path: String) -> Result<String, minijinja::Error> {
    Ok(hex::encode(fixture_bytes(state, &path)?))
}

/// A file below the fixtures folder; paths that leave it are refused.
pub fn read_fixture(folder: &Path, path: &str) -> Result<Vec<u8>, String> {
    let relative = Path::new(path);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "fixture {path:?}: give a path below the fixtures folder, without `..`"
        ));
    }
    std::fs::read(folder.join(relative))
        .map_err(|e| format!("fixture {path:?} in {}: {e}", folder.display()))
}

/// The fixture paths a template names literally (`fixture_b64("...")`), for checking at load.
pub fn fixture_paths(s: &str) -> Vec<&str> {
    static CALL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"fixture_(?:b64|hex)\(\s*["']([^"']*)["']\s*\)"#).expect("a regex")
    });
    if !s.contains("fixture_") {
        return Vec::new();
    }
    CALL.captures_iter(s)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect()
}

pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// `{{ expr }}` and nothing else.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// The top-level variables a string's template uses, sorted. Cases repeat the same templates
/// (`{{ target.domain }}`) file after file, and compiling them took 4% of loading `bench`'s
/// cases, so each distinct string is compiled for this once per process (the cache is as large
/// as the loaded cases' templates, as `compiled`'s is).
pub fn names_used(s: &str) -> Result<Arc<[String]>, String> {
    type Cache = HashMap<String, Result<Arc<[String]>, String>>;
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Default::default);
    if !is_template(s) {
        return Ok(Arc::from([]));
    }
    if let Some(found) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(s) {
        return found.clone();
    }
    // Compiled outside the lock, so that the other loading threads need not wait for it.
    let names = undeclared(s).map(Arc::from);
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(s.to_string(), names.clone());
    names
}

fn undeclared(s: &str) -> Result<Vec<String>, String> {
    let names = match whole_expression(s) {
        Some(expr) => env()
            .compile_expression(expr)
            .map_err(|e| e.to_string())?
            .undeclared_variables(false),
        None => env()
            .template_from_str(s)
            .map_err(|e| e.to_string())?
            .undeclared_variables(false),
    };
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    Ok(names)
}

/// The test users of provider roles a string names (`{{ target.users.bob }}` → bob): a case
/// declares them in `needs`, so that a profile without them makes it unsupported.
pub fn test_users(s: &str) -> Vec<&str> {
    static USED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\b\w+\.users\.(\w+)").expect("a valid regex")
    });
    if !s.contains(".users.") {
        return Vec::new();
    }
    USED.captures_iter(s)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect()
}

/// A case string compiled: one whole expression, or a template rendered as text.
enum Compiled {
    Expression {
        expr: String,
        compiled: minijinja::Expression<'static, 'static>,
    },
    Template(minijinja::Template<'static, 'static>),
}

/// The string compiled, or why it does not compile. A step fills in the same strings every time
/// it runs (a `bench` case thousands of times), and compiling them was most of the cost, so each
/// distinct string is compiled once per process. The strings are the cases' own, so the cache
/// is as large as the loaded cases' templates; a template's text is kept for as long as its
/// compiled form, which borrows it (minijinja has no owned template outside an environment).
fn compiled(s: &str) -> Arc<Result<Compiled, String>> {
    type Cache = HashMap<String, Arc<Result<Compiled, String>>>;
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(s) {
        return found.clone();
    }
    let compiled = match whole_expression(s) {
        Some(expr) => env()
            .compile_expression_owned(expr.to_string())
            .map(|compiled| Compiled::Expression {
                expr: expr.to_string(),
                compiled,
            }),
        None => {
            let source: &'static str = Box::leak(s.into());
            env().template_from_str(source).map(Compiled::Template)
        }
    };
    let compiled = Arc::new(compiled.map_err(|e| describe(&e)));
    cache.insert(s.to_string(), compiled.clone());
    compiled
}

pub fn fill_str(s: &str, ctx: &minijinja::Value) -> Result<Value, String> {
    if !is_template(s) {
        return Ok(Value::String(s.to_string()));
    }
    match &*compiled(s) {
        Err(e) => Err(e.clone()),
        Ok(Compiled::Expression { expr, compiled }) => {
            let value = compiled.eval(ctx).map_err(|e| describe(&e))?;
            if value.is_undefined() {
                return Err(format!("{{{{ {expr} }}}} is undefined"));
            }
            serde_json::to_value(&value).map_err(|e| e.to_string())
        }
        Ok(Compiled::Template(template)) => template
            .render(ctx)
            .map(Value::String)
            .map_err(|e| describe(&e)),
    }
}

/// Every string of the node filled in; an error names the position of the string that failed.
pub fn fill_at(node: &Node, at: Pos, ctx: &minijinja::Value) -> Result<Value, (Pos, String)> {
    Ok(match node {
        Node::Str(s) => fill_str(s, ctx).map_err(|e| (at, e))?,
        Node::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| fill_at(&i.value, Pos::of(i), ctx))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| Ok((k.value.clone(), fill_at(&v.value, Pos::of(v), ctx)?)))
                .collect::<Result<_, (Pos, String)>>()?,
        ),
        other => other.to_json(),
    })
}

/// Every string of the node filled in.
pub fn fill(node: &Node, ctx: &minijinja::Value) -> Result<Value, String> {
    fill_at(node, Pos::default(), ctx).map_err(|(_, e)| e)
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.to_string(),
    }
}

/// A value as written in a case, which may hold templates; filled in when its step runs.
#[derive(Debug, Clone)]
pub struct Template {
    pub node: Node,
    pub pos: Pos,
}

impl Template {
    pub fn of(node: &Spanned<Node>) -> Self {
        Self {
            node: node.value.clone(),
            pos: Pos::of(node),
        }
    }

    pub fn fill(&self, ctx: &minijinja::Value) -> Result<Value, (Pos, String)> {
        fill_at(&self.node, self.pos, ctx)
    }

    /// Filled in as text: a string as it is, anything else as JSON.
    pub fn text(&self, ctx: &minijinja::Value) -> Result<String, (Pos, String)> {
        Ok(match self.fill(ctx)? {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// Every string in the value with its position.
    pub fn strings<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        self.node.strings(self.pos, out);
    }

    pub fn has_template(&self) -> bool {
        let mut strings = Vec::new();
        self.strings(&mut strings);
        strings.iter().any(|(s, _)| is_template(s))
    }
}

/// A typed value of a case: known at load when written literally, or filled in and converted
/// when its step runs when it holds a template.
#[derive(Debug, Clone)]
pub enum Field<T> {
    Fixed(T),
    Filled {
        template: Template,
        convert: fn(&Value) -> Result<T, String>,
    },
}

impl<T: Clone> Field<T> {
    /// Converts a literal now; a value with templates is converted when filled in.
    pub fn parse(
        node: &Spanned<Node>,
        convert: fn(&Value) -> Result<T, String>,
    ) -> Result<Self, (Pos, String)> {
        let template = Template::of(node);
        if template.has_template() {
            Ok(Field::Filled { template, convert })
        } else {
            convert(&node.value.to_json())
                .map(Field::Fixed)
                .map_err(|e| (Pos::of(node), e))
        }
    }

    pub fn get(&self, ctx: &minijinja::Value) -> Result<T, (Pos, String)> {
        match self {
            Field::Fixed(value) => Ok(value.clone()),
            Field::Filled { template, convert } => {
                convert(&template.fill(ctx)?).map_err(|e| (template.pos, e))
            }
        }
    }

    pub fn template(&self) -> Option<&Template> {
        match self {
            Field::Fixed(_) => None,
            Field::Filled { template, .. } => Some(template),
        }
    }
}

/// A string (numbers and booleans as they read).
pub fn to_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
        other => Err(format!("expected a string, not {other}")),
    }
}

/// A list of strings.
pub fn to_strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items.iter().map(to_string).collect(),
        other => Err(format!("expected a list of strings, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(domain: &str) -> minijinja::Value {
        minijinja::context! { target => minijinja::context! { domain => domain }, n => 3 }
    }

    #[test]
    fn a_compiled_string_fills_in_from_each_context_anew() {
        for _ in 0..2 {
            for domain in ["a.example", "b.example"] {
                let path = fill_str("mimi://{{ target.domain }}/u/nobody", &ctx(domain));
                assert_eq!(path, Ok(format!("mimi://{domain}/u/nobody").into()));
                // A whole expression keeps its type.
                assert_eq!(fill_str("{{ n + 1 }}", &ctx(domain)), Ok(4.into()));
            }
        }
    }

    #[test]
    fn errors_stay_the_same_when_compiled_once() {
        let cases = [
            ("{{ missing }}", "{{ missing }} is undefined"),
            (
                "x {{ target.nope.deeper }}",
                "undefined value: `target.nope` is undefined",
            ),
            (
                "x {{ n + }}",
                "syntax error: unexpected end of variable block",
            ),
        ];
        for (source, wanted) in cases {
            for _ in 0..2 {
                let error = fill_str(source, &ctx("a.example")).unwrap_err();
                assert_eq!(error, wanted, "{source}");
            }
        }
    }
}
