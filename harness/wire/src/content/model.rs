//! The MIMI content format (draft-ietf-mimi-content §4, CDDL in its appendix A) as types, read
//! from and written to CBOR values. Structure errors name the field's path.

use ciborium::value::{Integer, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct MimiContent {
    pub salt: Vec<u8>,
    pub replaces: Option<Vec<u8>>,
    pub topic_id: Vec<u8>,
    pub expires: Option<Expires>,
    pub in_reply_to: Option<Vec<u8>>,
    /// `{int/tstr => any}`; 1 is senderUri, 2 roomUri (§4.3).
    pub extensions: Vec<(Value, Value)>,
    pub body: NestedPart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expires {
    pub relative: bool,
    pub time: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedPart {
    pub disposition: u64,
    pub language: String,
    pub part: Part,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Cardinality 0.
    Null,
    /// Cardinality 1.
    Single {
        content_type: String,
        content: Vec<u8>,
    },
    /// Cardinality 2.
    External(ExternalPart),
    /// Cardinality 3.
    Multi {
        semantics: u64,
        parts: Vec<NestedPart>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExternalPart {
    pub content_type: String,
    pub url: String,
    pub expires: u64,
    pub size: u64,
    pub enc_alg: u64,
    pub key: Vec<u8>,
    pub nonce: Vec<u8>,
    pub aad: Vec<u8>,
    pub hash_alg: u64,
    pub content_hash: Vec<u8>,
    pub description: String,
    pub filename: String,
}

pub const EXTENSION_SENDER_URI: i64 = 1;
pub const EXTENSION_ROOM_URI: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    /// Where in the content: `body.parts[1].contentType`.
    pub path: String,
    pub reason: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MIMI content {}: {}", self.path, self.reason)
    }
}

fn err(path: &str, reason: impl Into<String>) -> ContentError {
    ContentError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged item",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown item",
    }
}

fn bytes(v: &Value, path: &str) -> Result<Vec<u8>, ContentError> {
    match v {
        Value::Bytes(b) => Ok(b.clone()),
        other => Err(err(
            path,
            format!("expected a byte string, got {}", describe(other)),
        )),
    }
}

fn text(v: &Value, path: &str) -> Result<String, ContentError> {
    match v {
        Value::Text(t) => Ok(t.clone()),
        other => Err(err(
            path,
            format!("expected a text string, got {}", describe(other)),
        )),
    }
}

fn uint(v: &Value, path: &str) -> Result<u64, ContentError> {
    match v {
        Value::Integer(i) => {
            u64::try_from(i128::from(*i)).map_err(|_| err(path, "expected an unsigned integer"))
        }
        other => Err(err(
            path,
            format!("expected an unsigned integer, got {}", describe(other)),
        )),
    }
}

fn nullable<T>(
    v: &Value,
    path: &str,
    f: impl Fn(&Value, &str) -> Result<T, ContentError>,
) -> Result<Option<T>, ContentError> {
    match v {
        Value::Null => Ok(None),
        other => f(other, path).map(Some),
    }
}

fn array<'v>(
    v: &'v Value,
    path: &str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<&'v [Value], ContentError> {
    match v {
        Value::Array(items) if len.contains(&items.len()) => Ok(items),
        Value::Array(items) => Err(err(
            path,
            format!("expected an array of {len:?} items, got {}", items.len()),
        )),
        other => Err(err(
            path,
            format!("expected an array, got {}", describe(other)),
        )),
    }
}

impl MimiContent {
    pub fn from_value(v: &Value) -> Result<Self, ContentError> {
        let top = array(v, "(top)", 7..=7)?;
        let expires = match &top[3] {
            Value::Null => None,
            e => {
                let pair = array(e, "expires", 2..=2)?;
                let relative = match &pair[0] {
                    Value::Bool(b) => *b,
                    other => {
                        return Err(err(
                            "expires.relative",
                            format!("expected a boolean, got {}", describe(other)),
                        ))
                    }
                };
                Some(Expires {
                    relative,
                    time: uint(&pair[1], "expires.time")?,
                })
            }
        };
        let extensions = match &top[5] {
            Value::Map(entries) => entries.clone(),
            other => {
                return Err(err(
                    "mimiExtensions",
                    format!("expected a map, got {}", describe(other)),
                ))
            }
        };
        Ok(Self {
            salt: bytes(&top[0], "salt")?,
            replaces: nullable(&top[1], "replaces", bytes)?,
            topic_id: bytes(&top[2], "topicId")?,
            expires,
            in_reply_to: nullable(&top[4], "inReplyTo", bytes)?,
            extensions,
            body: NestedPart::from_value(&top[6], "body")?,
        })
    }

    pub fn to_value(&self) -> Value {
        let opt_bytes =
            |b: &Option<Vec<u8>>| b.as_ref().map_or(Value::Null, |b| Value::Bytes(b.clone()));
        let mut extensions = self.extensions.clone();
        // Deterministic CBOR orders map keys by their encoded bytes.
        extensions.sort_by_key(|(k, _)| super::encode_value(k));
        Value::Array(vec![
            Value::Bytes(self.salt.clone()),
            opt_bytes(&self.replaces),
            Value::Bytes(self.topic_id.clone()),
            self.expires.as_ref().map_or(Value::Null, |e| {
                Value::Array(vec![Value::Bool(e.relative), Value::Integer(e.time.into())])
            }),
            opt_bytes(&self.in_reply_to),
            Value::Map(extensions),
            self.body.to_value(),
        ])
    }

    /// The text value of an integer extension key (1 senderUri, 2 roomUri).
    pub fn extension_text(&self, key: i64) -> Option<&str> {
        self.extensions.iter().find_map(|(k, v)| match (k, v) {
            (Value::Integer(i), Value::Text(t)) if i128::from(*i) == i128::from(key) => {
                Some(t.as_str())
            }
            _ => None,
        })
    }
}

impl NestedPart {
    fn from_value(v: &Value, path: &str) -> Result<Self, ContentError> {
        let items = array(v, path, 3..=64)?;
        let at = |field: &str| format!("{path}.{field}");
        let cardinality = uint(&items[2], &at("cardinality"))?;
        let rest = &items[3..];
        let expect = |n: usize| {
            if rest.len() == n {
                Ok(())
            } else {
                Err(err(
                    path,
                    format!(
                        "cardinality {cardinality} has {n} field(s) after it, not {}",
                        rest.len()
                    ),
                ))
            }
        };
        let part = match cardinality {
            0 => {
                expect(0)?;
                Part::Null
            }
            1 => {
                expect(2)?;
                Part::Single {
                    content_type: text(&rest[0], &at("contentType"))?,
                    content: bytes(&rest[1], &at("content"))?,
                }
            }
            2 => {
                expect(12)?;
                Part::External(ExternalPart {
                    content_type: text(&rest[0], &at("contentType"))?,
                    url: text(&rest[1], &at("url"))?,
                    expires: uint(&rest[2], &at("expires"))?,
                    size: uint(&rest[3], &at("size"))?,
                    enc_alg: uint(&rest[4], &at("encAlg"))?,
                    key: bytes(&rest[5], &at("key"))?,
                    nonce: bytes(&rest[6], &at("nonce"))?,
                    aad: bytes(&rest[7], &at("aad"))?,
                    hash_alg: uint(&rest[8], &at("hashAlg"))?,
                    content_hash: bytes(&rest[9], &at("contentHash"))?,
                    description: text(&rest[10], &at("description"))?,
                    filename: text(&rest[11], &at("filename"))?,
                })
            }
            3 => {
                expect(2)?;
                let parts = match &rest[1] {
                    Value::Array(parts) => parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| NestedPart::from_value(p, &format!("{path}.parts[{i}]")))
                        .collect::<Result<_, _>>()?,
                    other => {
                        return Err(err(
                            &at("parts"),
                            format!("expected an array, got {}", describe(other)),
                        ))
                    }
                };
                Part::Multi {
                    semantics: uint(&rest[0], &at("partSemantics"))?,
                    parts,
                }
            }
            other => {
                return Err(err(
                    &at("cardinality"),
                    format!("{other} is not 0 (null), 1 (single), 2 (external) or 3 (multi)"),
                ))
            }
        };
        Ok(Self {
            disposition: uint(&items[0], &at("disposition"))?,
            language: text(&items[1], &at("language"))?,
            part,
        })
    }

    fn to_value(&self) -> Value {
        let int = |n: u64| Value::Integer(Integer::from(n));
        let mut items = vec![int(self.disposition), Value::Text(self.language.clone())];
        match &self.part {
            Part::Null => items.push(int(0)),
            Part::Single {
                content_type,
                content,
            } => items.extend([
                int(1),
                Value::Text(content_type.clone()),
                Value::Bytes(content.clone()),
            ]),
            Part::External(e) => items.extend([
                int(2),
                Value::Text(e.content_type.clone()),
                Value::Text(e.url.clone()),
                int(e.expires),
                int(e.size),
                int(e.enc_alg),
                Value::Bytes(e.key.clone()),
                Value::Bytes(e.nonce.clone()),
                Value::Bytes(e.aad.clone()),
                int(e.hash_alg),
                Value::Bytes(e.content_hash.clone()),
                Value::Text(e.description.clone()),
                Value::Text(e.filename.clone()),
            ]),
            Part::Multi { semantics, parts } => items.extend([
                int(3),
                int(*semantics),
                Value::Array(parts.iter().map(NestedPart::to_value).collect()),
            ]),
        }
        Value::Array(items)
    }

    /// Depth of nesting: 1 for a part without sub-parts.
    pub fn depth(&self) -> usize {
        match &self.part {
            Part::Multi { parts, .. } => 1 + parts.iter().map(NestedPart::depth).max().unwrap_or(0),
            _ => 1,
        }
    }
}
