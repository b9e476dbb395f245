//! Rendering decoded messages as a tree (shown as YAML in transcripts and snapshots, addressed by
//! path in expectations). Field names are the draft's; enums show their names; keys, hashes and
//! signatures show as short hex so that a diff stays readable.

use serde_json::Value;

pub trait Render {
    fn render(&self) -> Value;
}

/// Full hex for short values; `<first 8 bytes>…(<len> bytes)` for long ones.
pub fn hex_short(bytes: &[u8]) -> String {
    if bytes.len() <= 16 {
        hex::encode(bytes)
    } else {
        format!("{}…({} bytes)", hex::encode(&bytes[..8]), bytes.len())
    }
}

/// The name of an enum value from the draft's table, or `unknown(N)`.
pub fn enum_name(names: &[&str], value: u8) -> Value {
    match names.get(usize::from(value)) {
        Some(name) if !name.is_empty() => Value::String((*name).to_string()),
        _ => Value::String(format!("unknown({value})")),
    }
}

/// The value of an enum name from the draft's table.
pub fn enum_value(names: &[&str], name: &str) -> Option<u8> {
    names
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
}
