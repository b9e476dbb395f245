//! The words a case's transcript names, for tying the observer's exchanges to the case
//! (`super::CaseTie`): every string of the transcript's JSON form (keys, field and variant names
//! and values), split where a word ends. Taken from the records themselves, without writing
//! them as JSON text: that took more time than the rest of tying a long case.

use serde::ser::{self, Serialize};
use std::collections::HashSet;

/// The words of `value`'s JSON form: its strings split at `"`, `\` and white space (where a
/// JSON string or a word ends) and at control characters (which JSON writes escaped).
pub fn words(value: &impl Serialize) -> HashSet<String> {
    let mut words = Words(HashSet::new());
    // Collecting cannot fail; a type whose serialisation fails gives the words seen before.
    let _ = value.serialize(&mut words);
    words.0
}

/// The words of each of `values` together (`words`).
pub fn words_of_each<'a, T: Serialize + 'a>(
    values: impl IntoIterator<Item = &'a T>,
) -> HashSet<String> {
    let mut words = Words(HashSet::new());
    for value in values {
        // Collecting cannot fail; see `words`.
        let _ = value.serialize(&mut words);
    }
    words.0
}

struct Words(HashSet<String>);

impl Words {
    fn add(&mut self, text: &str) {
        let mut start = 0;
        // Over bytes, decoding a char only where one starts beyond ASCII: the words are mostly
        // ASCII, and decoding them char by char was a fifth of the time taken.
        for (i, b) in text.bytes().enumerate() {
            let ends = if b.is_ascii() {
                b == b'"' || b == b'\\' || b == b' ' || b.is_ascii_control()
            } else {
                // Only a char's first byte is 0b11xx_xxxx.
                b >= 0xc0
                    && text[i..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_whitespace() || c.is_control())
            };
            if ends {
                self.word(&text[start..i]);
                start = i + text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        self.word(&text[start..]);
    }

    fn word(&mut self, word: &str) {
        // Most words repeat (step after step names the same): copied only the first time.
        if !word.is_empty() && !self.0.contains(word) {
            self.0.insert(word.to_string());
        }
    }
}

type Result = std::result::Result<(), serde_json::Error>;

/// Scalars other than strings name nothing (in JSON text they are never a word of their own).
macro_rules! nothing {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method(self, _: $ty) -> Result { Ok(()) })*
    };
}

impl ser::Serializer for &mut Words {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    nothing!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8])
    );

    fn serialize_char(self, v: char) -> Result {
        self.add(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result {
        self.add(v);
        Ok(())
    }
    fn serialize_none(self) -> Result {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.add(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.add(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> std::result::Result<Self, serde_json::Error> {
        self.add(variant);
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> std::result::Result<Self, serde_json::Error> {
        self.add(variant);
        Ok(self)
    }
}

/// Elements, keys and values: their words, in turn.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for &mut Words {
            type Ok = ();
            type Error = serde_json::Error;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result {
                Ok(())
            }
        })*
    };
}
elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut Words {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

/// Fields: the name, then the value's words.
macro_rules! fields {
    ($($trait:ident),*) => {
        $(impl ser::$trait for &mut Words {
            type Ok = ();
            type Error = serde_json::Error;
            fn serialize_field<T: ?Sized + Serialize>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result {
                self.add(name);
                value.serialize(&mut **self)
            }
            fn end(self) -> Result {
                Ok(())
            }
        })*
    };
}
fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::words;
    use serde_json::json;

    /// The words are those of the JSON text, split where a string or a word ends, for strings
    /// without control characters (which JSON text escapes into a word's first letters).
    #[test]
    fn words_are_those_of_the_json_text() {
        #[derive(serde::Serialize)]
        enum Kind {
            Unit,
            Tuple(u8, String),
            Struct { room_id: &'static str },
        }
        #[derive(serde::Serialize)]
        struct Record {
            kind: Vec<Kind>,
            note: Option<String>,
            body: serde_json::Value,
            status: u16,
        }
        let record = Record {
            kind: vec![
                Kind::Unit,
                Kind::Tuple(3, "mimi://a.example/r/t".into()),
                Kind::Struct {
                    room_id: "mimi://b.example/r/s",
                },
            ],
            note: Some("a \"quoted\" back\\slash and\u{a0}nbsp".into()),
            body: json!({"room": "mimi://a.example/r/x", "list": ["one two", 7, null, true]}),
            status: 200,
        };
        let text = serde_json::to_string(&record).expect("serialises");
        let in_text: std::collections::HashSet<String> = text
            .split(|c: char| c == '"' || c == '\\' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            // Punctuation and numbers between strings: never a name.
            .filter(|w| !w.starts_with([':', ',', '{', '[', '}', ']']))
            .map(str::to_string)
            .collect();
        assert_eq!(words(&record), in_text, "{text}");
    }

    #[test]
    fn control_characters_end_words() {
        let found = words(&json!([
            "line\nmimi://a.example/r/x\u{1}end\u{85}µ≤\u{2028}",
            "\u{7f}z"
        ]));
        let expected = ["line", "mimi://a.example/r/x", "end", "µ≤", "z"];
        assert_eq!(found, expected.map(String::from).into(), "{found:?}");
    }
}
