//! A YAML value that remembers where each of its parts stands in its file (a case, a fragment, a
//! profile), so that a typed field, a template or an expectation can be reported at its own line.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Line and column (1-based) in a case file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    /// Where a value read with its position stands (where it is used, for an alias).
    pub fn of(spanned: &impl Positioned) -> Self {
        spanned.pos()
    }
}

/// A value read with its position: ours, or serde-saphyr's `Spanned` (which other inputs use).
pub trait Positioned {
    fn pos(&self) -> Pos;
}

impl<T> Positioned for serde_saphyr::Spanned<T> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.referenced.line(),
            column: self.referenced.column(),
        }
    }
}

impl<T> Positioned for Spanned<T> {
    fn pos(&self) -> Pos {
        self.pos
    }
}

/// A value and the line and column where it is used: what `serde_saphyr::Spanned` gives, less
/// what nothing here reads (where an alias's value is defined, and the character spans).
/// Every value of a case is read with its position, and `serde_saphyr::Spanned` decoded its
/// two locations through nested map visitors for each: a quarter of parsing a case. This asks
/// serde-saphyr for the same synthesized fields (`__yaml_spanned`, the name its own `Spanned`
/// gives), takes the value and the line and column of `referenced`, and leaves the rest unread.
/// The protocol is serde-saphyr's, not its documented API: the tests below check that
/// positions still come through (and a change would fail every load, not pass silently).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

/// The newtype name serde-saphyr's deserializer answers with a value's locations.
const SPANNED_NEWTYPE: &str = "__yaml_spanned";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(SPANNED_NEWTYPE, SpannedVisitor(PhantomData))
    }
}

struct SpannedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value with its position")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Spanned<T>, D::Error> {
        d.deserialize_any(self)
    }

    /// The synthesized fields, in serde-saphyr's order: its marker, `value`, `referenced`,
    /// `defined`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
        let mut value = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Value => value = Some(map.next_value::<T>()?),
                Field::Referenced => {
                    let pos = map.next_value_seed(PosSeed)?;
                    let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
                    // `defined` is not read.
                    return Ok(Spanned { value, pos });
                }
                Field::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Err(de::Error::custom(
            "a value's position comes from serde-saphyr's YAML deserializer only",
        ))
    }
}

/// A field of serde-saphyr's spanned value.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Value,
    Referenced,
    #[serde(other)]
    Other,
}

/// A location's line and column; its span is not read.
struct PosSeed;

impl<'de> DeserializeSeed<'de> for PosSeed {
    type Value = Pos;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Pos, D::Error> {
        d.deserialize_struct("Location", &["line", "column"], self)
    }
}

impl<'de> Visitor<'de> for PosSeed {
    type Value = Pos;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a location")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pos, A::Error> {
        let (mut line, mut column) = (None, None);
        while let Some(key) = map.next_key::<LocationField>()? {
            match key {
                LocationField::Line => line = Some(map.next_value::<u64>()?),
                LocationField::Column => column = Some(map.next_value::<u64>()?),
            }
            if let (Some(line), Some(column)) = (line, column) {
                return Ok(Pos { line, column });
            }
        }
        Err(de::Error::missing_field("line and column"))
    }
}

/// `line` or `column`, which come first: the fields after them (the span) cannot be skipped.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum LocationField {
    Line,
    Column,
}

/// A result whose error says where in the case file it lies.
pub type Located<T> = Result<T, (Pos, String)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    /// Keys in file order.
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// The value as plain JSON (positions dropped).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => Value::from(*f),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(items.iter().map(|i| i.value.to_json()).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Every string in the value with its position (for checking templates before a run).
    pub fn strings<'a>(&'a self, at: Pos, out: &mut Vec<(&'a str, Pos)>) {
        match self {
            Node::Str(s) => out.push((s, at)),
            Node::Seq(items) => items.iter().for_each(|i| i.value.strings(Pos::of(i), out)),
            Node::Map(entries) => entries
                .iter()
                .for_each(|(_, v)| v.value.strings(Pos::of(v), out)),
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node's shape read with serde-saphyr's own `Spanned`, to compare positions with.
    enum Theirs {
        Scalar,
        Seq(Vec<serde_saphyr::Spanned<Theirs>>),
        Map(Vec<(serde_saphyr::Spanned<String>, serde_saphyr::Spanned<Theirs>)>),
    }

    impl<'de> Deserialize<'de> for Theirs {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Theirs;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any YAML value")
                }
                fn visit_unit<E>(self) -> Result<Theirs, E> {
                    Ok(Theirs::Scalar)
                }
                fn visit_bool<E>(self, _: bool) -> Result<Theirs, E> {
                    Ok(Theirs::Scalar)
                }
                fn visit_i64<E>(self, _: i64) -> Result<Theirs, E> {
                    Ok(Theirs::Scalar)
                }
                fn visit_u64<E>(self, _: u64) -> Result<Theirs, E> {
                    Ok(Theirs::Scalar)
                }
                fn visit_f64<E>(self, _: f64) -> Result<Theirs, E> {
                    Ok(Theirs::Scalar)
                }
                fn visit_str<E>(self, _: &str) -> Result<Theirs, E> {
                    Ok(Theirs::Scalar)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Theirs, A::Error> {
                    let mut items = Vec::new();
                    while let Some(item) = seq.next_element()? {
                        items.push(item);
                    }
                    Ok(Theirs::Seq(items))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Theirs, A::Error> {
                    let mut entries = Vec::new();
                    while let Some(key) = map.next_key()? {
                        entries.push((key, map.next_value()?));
                    }
                    Ok(Theirs::Map(entries))
                }
            }
            deserializer.deserialize_any(V)
        }
    }

    fn ours(node: &Spanned<Node>, out: &mut Vec<Pos>) {
        out.push(Pos::of(node));
        match &node.value {
            Node::Seq(items) => items.iter().for_each(|i| ours(i, out)),
            Node::Map(entries) => entries.iter().for_each(|(k, v)| {
                out.push(Pos::of(k));
                ours(v, out);
            }),
            _ => {}
        }
    }

    fn theirs(node: &serde_saphyr::Spanned<Theirs>, out: &mut Vec<Pos>) {
        out.push(Pos::of(node));
        match &node.value {
            Theirs::Seq(items) => items.iter().for_each(|i| theirs(i, out)),
            Theirs::Map(entries) => entries.iter().for_each(|(k, v)| {
                out.push(Pos::of(k));
                theirs(v, out);
            }),
            Theirs::Scalar => {}
        }
    }

    #[test]
    fn positions_are_serde_saphyrs() {
        let yaml = "title: one\n\
                    steps:\n  \
                      - {call: x, path: {a: \"{{ b }}\"}}\n  \
                      - &step\n    name: two\n    n: [1, 2.5, true, ~]\n  \
                      - *step\n  \
                      - <<: *step\n    name: three\n  \
                      - text: |\n      block\n      lines\n";
        let (mut mine, mut wanted) = (Vec::new(), Vec::new());
        ours(&serde_saphyr::from_str(yaml).unwrap(), &mut mine);
        theirs(&serde_saphyr::from_str(yaml).unwrap(), &mut wanted);
        assert_eq!(mine, wanted);
        assert!(mine.len() > 30 && mine.iter().all(|p| p.line > 0 && p.column > 0));
        // The alias is where it is used, not where its value is defined.
        assert!(mine.contains(&Pos { line: 7, column: 5 }));
    }

    #[test]
    fn a_typed_field_has_its_position() {
        #[derive(serde::Deserialize)]
        struct File {
            name: Spanned<String>,
            count: Spanned<u32>,
        }
        let file: File = serde_saphyr::from_str("name: x\ncount:   7\n").unwrap();
        assert_eq!(
            (file.name.value.as_str(), file.name.pos),
            ("x", Pos { line: 1, column: 7 })
        );
        assert_eq!(
            (file.count.value, file.count.pos),
            (
                7,
                Pos {
                    line: 2,
                    column: 10
                }
            )
        );
    }
}
