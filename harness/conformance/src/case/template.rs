//! `{{ name }}` variables in case values (minijinja, strict: an undefined variable is an error).
//! A value that is one whole expression keeps the variable's type, so a captured list can be
//! the argument of `none-of`; anything else renders as text.

use super::node::Node;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// Names every case can use: `run` (a nonce of this run of the case, for names that must be
/// new on a long-running provider), and the functions below.
pub const BUILT_IN: &[&str] = &["run", "message_id", "now_ms"];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_function("message_id", message_id);
        env.add_function("now_ms", now_ms);
        env
    })
}

/// `message_id(content, sender, room)`: the MIMI content's message ID (content-08 §3.3) as hex,
/// from the content (base64), the sender's user URI and the room URI.
fn message_id(content: String, sender: String, room: String) -> Result<String, minijinja::Error> {
    use base64::Engine;
    let invalid = |why: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, why);
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

pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// `{{ expr }}` and nothing else.
fn whole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// The top-level variables a string uses that are not in `known`.
pub fn unknown_names(s: &str, known: &BTreeSet<String>) -> Result<Vec<String>, String> {
    if !is_template(s) {
        return Ok(Vec::new());
    }
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
    let mut unknown: Vec<String> = names.into_iter().filter(|n| !known.contains(n)).collect();
    unknown.sort();
    Ok(unknown)
}

pub fn fill_str(s: &str, ctx: &minijinja::Value) -> Result<Value, String> {
    if !is_template(s) {
        return Ok(Value::String(s.to_string()));
    }
    if let Some(expr) = whole_expression(s) {
        let value = env()
            .compile_expression(expr)
            .and_then(|e| e.eval(ctx))
            .map_err(|e| describe(&e))?;
        if value.is_undefined() {
            return Err(format!("{{{{ {expr} }}}} is undefined"));
        }
        return serde_json::to_value(&value).map_err(|e| e.to_string());
    }
    env()
        .render_str(s, ctx)
        .map(Value::String)
        .map_err(|e| describe(&e))
}

/// Every string of the node filled in.
pub fn fill(node: &Node, ctx: &minijinja::Value) -> Result<Value, String> {
    Ok(match node {
        Node::Str(s) => fill_str(s, ctx)?,
        Node::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| fill(&i.value, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| Ok((k.value.clone(), fill(&v.value, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.to_json(),
    })
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.to_string(),
    }
}
