//! The MIMI content format (draft-ietf-mimi-content, CBOR): decoding with the deterministic
//! encoding checked on the bytes, encoding, the draft's validity limits, the message ID of
//! revisions -07 and -08, and rendering.

pub mod deterministic;
pub mod model;

use crate::render::hex_short;
use ciborium::value::Value;
use model::{MimiContent, NestedPart, Part, EXTENSION_ROOM_URI, EXTENSION_SENDER_URI};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Which revision's message-ID algorithm to use (-08 added length prefixes to the hash input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentDraft {
    D07,
    #[default]
    D08,
}

impl std::str::FromStr for ContentDraft {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim_start_matches('-') {
            "07" | "7" => Ok(Self::D07),
            "08" | "8" => Ok(Self::D08),
            other => Err(format!("content draft {other:?}: use 07 or 08")),
        }
    }
}

pub fn encode_value(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("writing CBOR into a Vec cannot fail");
    out
}

/// Decodes MIMI content: the bytes must be one deterministically encoded CBOR item of the
/// content format's shape.
pub fn decode(bytes: &[u8]) -> Result<MimiContent, String> {
    deterministic::check(bytes)
        .map_err(|e| format!("not deterministic CBOR (draft-ietf-mimi-content §6.1): {e}"))?;
    let value: Value = ciborium::de::from_reader(bytes).map_err(|e| format!("not CBOR: {e}"))?;
    let content = MimiContent::from_value(&value).map_err(|e| e.to_string())?;
    // What the typed model cannot tell apart (ciborium reads `undefined` as null, for one) must
    // not pass as valid: the content must be exactly what its decoded form encodes to.
    let again = encode(&content);
    if again != bytes {
        let offset = again
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        return Err(format!(
            "not the content format's encoding at byte offset {offset}: 0x{:02x} where 0x{:02x} belongs (e.g. undefined for null)",
            bytes.get(offset).copied().unwrap_or_default(),
            again.get(offset).copied().unwrap_or_default()
        ));
    }
    Ok(content)
}

pub fn encode(content: &MimiContent) -> Vec<u8> {
    encode_value(&content.to_value())
}

/// The largest integer magnitude an extension key may have (§4.3: 2^53 - 1).
const MAX_INTEGER_KEY: i128 = (1 << 53) - 1;
const MAX_PART_DEPTH: usize = 4;
const MAX_EXTENSION_DEPTH: usize = 4;
/// `value = any .size (0..4095)` (§4.3).
const MAX_EXTENSION_VALUE_BYTES: usize = 4095;

/// Levels of tags, maps and arrays (§6.3 counts each of them; a scalar adds none).
fn value_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| value_depth(k).max(value_depth(v)))
                .max()
                .unwrap_or(0)
        }
        Value::Tag(_, inner) => 1 + value_depth(inner),
        _ => 0,
    }
}

/// Whether every map inside `v` has only integer, text or byte-string keys (§6.2).
fn nested_keys_allowed(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(nested_keys_allowed),
        Value::Map(entries) => entries.iter().all(|(k, v)| {
            matches!(k, Value::Integer(_) | Value::Text(_) | Value::Bytes(_))
                && nested_keys_allowed(v)
        }),
        Value::Tag(_, inner) => nested_keys_allowed(inner),
        _ => true,
    }
}

/// The parts in depth-first order: the part index of §4.4 (the body is index 0).
fn parts_in_order<'p>(part: &'p NestedPart, out: &mut Vec<&'p NestedPart>) {
    out.push(part);
    if let Part::Multi { parts, .. } = &part.part {
        parts.iter().for_each(|p| parts_in_order(p, out));
    }
}

/// `cid:<partIndex>@local.invalid` references in text parts must name a SinglePart or an
/// ExternalPart of the same message (§4.4).
fn cid_violations(body: &NestedPart, out: &mut Vec<String>) {
    let mut parts = Vec::new();
    parts_in_order(body, &mut parts);
    for (index, part) in parts.iter().enumerate() {
        let Part::Single {
            content_type,
            content,
        } = &part.part
        else {
            continue;
        };
        if !content_type.starts_with("text/") {
            continue;
        }
        let text = String::from_utf8_lossy(content);
        for reference in text.split("cid:").skip(1) {
            let Some((target, _)) = reference.split_once("@local.invalid") else {
                continue;
            };
            let Ok(target) = target.parse::<usize>() else {
                continue;
            };
            match parts.get(target).map(|p| &p.part) {
                Some(Part::Single { .. } | Part::External(_)) => {}
                Some(_) => out.push(format!("part {index} references cid:{target}@local.invalid, which is not a SinglePart or ExternalPart (§4.4)")),
                None => out.push(format!("part {index} references cid:{target}@local.invalid, a part the message does not have (§4.4)")),
            }
        }
    }
}

fn is_message_id(b: &[u8]) -> bool {
    b.len() == 32 && b[0] == 0x01
}

/// What breaks the draft's limits (§4.1, §4.3, §4.4, §6.2, §6.3); empty when nothing does.
pub fn violations(content: &MimiContent) -> Vec<String> {
    let mut out = Vec::new();
    if content.salt.len() != 16 {
        out.push(format!(
            "salt is {} bytes, not 16 (§4.1)",
            content.salt.len()
        ));
    }
    for (name, id) in [
        ("replaces", &content.replaces),
        ("inReplyTo", &content.in_reply_to),
    ] {
        if let Some(id) = id.as_ref().filter(|id| !is_message_id(id)) {
            out.push(format!(
                "{name} is not a MessageId (32 bytes starting 0x01): {}",
                hex_short(id)
            ));
        }
    }
    if let Some(e) = &content.expires {
        if e.time > u64::from(u32::MAX) {
            out.push(format!("expires.time {} exceeds uint32 (§4.1)", e.time));
        }
    }
    for (key, value) in &content.extensions {
        match key {
            Value::Integer(i) => {
                let i = i128::from(*i);
                if i == 0 {
                    out.push("extension key 0 is reserved (§4.3)".into());
                }
                if i.abs() > MAX_INTEGER_KEY {
                    out.push(format!(
                        "extension key {i} exceeds 2^53-1 in magnitude (§6.2)"
                    ));
                }
            }
            Value::Text(t) if (1..=255).contains(&t.len()) => {}
            Value::Text(t) => out.push(format!(
                "text extension key of {} octets; 1 to 255 allowed (§4.3)",
                t.len()
            )),
            _ => out.push("an extension key is neither an integer nor a text string (§4.3)".into()),
        }
        // The extensions map itself is level 1 (§6.3).
        if 1 + value_depth(value) > MAX_EXTENSION_DEPTH {
            out.push(format!("an extension value nests deeper than {MAX_EXTENSION_DEPTH} levels with the extensions map (§6.3)"));
        }
        if !nested_keys_allowed(value) {
            out.push("a map inside an extension has a key that is not an integer, text or byte string (§6.2)".into());
        }
        if encode_value(value).len() > MAX_EXTENSION_VALUE_BYTES {
            out.push(format!(
                "an extension value is larger than {MAX_EXTENSION_VALUE_BYTES} bytes (§4.3)"
            ));
        }
    }
    for (key, name) in [
        (EXTENSION_SENDER_URI, "senderUri"),
        (EXTENSION_ROOM_URI, "roomUri"),
    ] {
        let present = content
            .extensions
            .iter()
            .find(|(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(key)));
        if let Some((_, v)) = present {
            if !matches!(v, Value::Text(_)) {
                out.push(format!(
                    "{name} (extension {key}) is not a text string (§4.3)"
                ));
            }
        }
    }
    if content.body.depth() > MAX_PART_DEPTH {
        out.push(format!(
            "parts nest {} deep; at most {MAX_PART_DEPTH} (§6.3)",
            content.body.depth()
        ));
    }
    part_violations(&content.body, "body", &mut out);
    cid_violations(&content.body, &mut out);
    out
}

fn part_violations(part: &NestedPart, path: &str, out: &mut Vec<String>) {
    if part.disposition > 255 {
        out.push(format!(
            "{path}.disposition {} exceeds uint8",
            part.disposition
        ));
    }
    match &part.part {
        Part::Multi { semantics, parts } => {
            if parts.len() < 2 {
                out.push(format!(
                    "{path} is a multipart with {} part(s); at least 2 (§4.4)",
                    parts.len()
                ));
            }
            if *semantics > 2 {
                out.push(format!(
                    "{path}.partSemantics {semantics} is not 0, 1 or 2 (§4.4)"
                ));
            }
            for (i, p) in parts.iter().enumerate() {
                part_violations(p, &format!("{path}.parts[{i}]"), out);
            }
        }
        Part::External(e) => {
            if e.enc_alg > u64::from(u16::MAX)
                || e.hash_alg > 255
                || e.expires > u64::from(u32::MAX)
            {
                out.push(format!(
                    "{path}: encAlg, hashAlg or expires exceeds its integer size (§4.4)"
                ));
            }
        }
        Part::Null | Part::Single { .. } => {}
    }
}

/// The message ID (§3.3): `0x01 || SHA-256(input)[0..31]`, where input is, in -08,
/// `u16(len sender) || sender || u16(len room) || room || content || salt`, and in -07 the same
/// without the length prefixes.
pub fn message_id(
    content_bytes: &[u8],
    salt: &[u8],
    sender: &str,
    room: &str,
    draft: ContentDraft,
) -> Vec<u8> {
    let mut hash = Sha256::new();
    for uri in [sender, room] {
        if draft == ContentDraft::D08 {
            hash.update((uri.len() as u16).to_be_bytes());
        }
        hash.update(uri.as_bytes());
    }
    hash.update(content_bytes);
    hash.update(salt);
    let digest = hash.finalize();
    let mut id = vec![0x01];
    id.extend_from_slice(&digest[..31]);
    id
}

/// The message ID of encoded content whose extensions name its sender and room.
pub fn message_id_of(bytes: &[u8], content: &MimiContent, draft: ContentDraft) -> Option<Vec<u8>> {
    let sender = content.extension_text(EXTENSION_SENDER_URI)?;
    let room = content.extension_text(EXTENSION_ROOM_URI)?;
    Some(message_id(bytes, &content.salt, sender, room, draft))
}

/// CBOR diagnostic notation of a value (RFC 8949 §8).
pub fn diagnostic(bytes: &[u8]) -> String {
    cbor_diag::parse_bytes(bytes)
        .map(|item| item.to_diag_pretty())
        .unwrap_or_else(|e| format!("(no diagnostic notation: {e})"))
}

const DISPOSITIONS: &[&str] = &[
    "unspecified",
    "render",
    "reaction",
    "profile",
    "inline",
    "icon",
    "attachment",
    "session",
    "preview",
];

fn render_value(v: &Value) -> serde_json::Value {
    serde_json::Value::String(diagnostic(&encode_value(v)).replace('\n', " "))
}

fn render_part(p: &NestedPart) -> serde_json::Value {
    let disposition = DISPOSITIONS
        .get(p.disposition as usize)
        .map(|d| d.to_string())
        .unwrap_or_else(|| format!("unknown({}), treated as render", p.disposition));
    let mut v = json!({"disposition": disposition, "language": p.language});
    match &p.part {
        Part::Null => v["cardinality"] = json!("null"),
        Part::Single {
            content_type,
            content,
        } => {
            v["cardinality"] = json!("single");
            v["contentType"] = json!(content_type);
            v["content"] = match std::str::from_utf8(content) {
                Ok(text) if content_type.starts_with("text/") => json!(text),
                _ => json!(hex_short(content)),
            };
        }
        Part::External(e) => {
            v["cardinality"] = json!("external");
            v["contentType"] = json!(e.content_type);
            v["url"] = json!(e.url);
            v["expires"] = json!(e.expires);
            v["size"] = json!(e.size);
            v["encAlg"] = json!(e.enc_alg);
            v["key"] = json!(hex_short(&e.key));
            v["nonce"] = json!(hex_short(&e.nonce));
            v["aad"] = json!(hex_short(&e.aad));
            v["hashAlg"] = json!(e.hash_alg);
            v["contentHash"] = json!(hex_short(&e.content_hash));
            v["description"] = json!(e.description);
            v["filename"] = json!(e.filename);
        }
        Part::Multi { semantics, parts } => {
            v["cardinality"] = json!("multi");
            v["partSemantics"] = json!(["chooseOne", "singleUnit", "processAll"]
                .get(*semantics as usize)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("unknown({semantics})")));
            v["parts"] = parts.iter().map(render_part).collect();
        }
    }
    v
}

/// The content as a tree: fields by the draft's names, its message ID, and what breaks the
/// draft's limits.
pub fn render(bytes: &[u8], draft: ContentDraft) -> Result<serde_json::Value, String> {
    let content = decode(bytes)?;
    let extensions: serde_json::Map<String, serde_json::Value> = content
        .extensions
        .iter()
        .map(|(k, v)| {
            let name = match k {
                Value::Integer(i) if i128::from(*i) == 1 => "senderUri".to_string(),
                Value::Integer(i) if i128::from(*i) == 2 => "roomUri".to_string(),
                other => diagnostic(&encode_value(other)),
            };
            let value = match v {
                Value::Text(t) => json!(t),
                other => render_value(other),
            };
            (name, value)
        })
        .collect();
    Ok(json!({
        "salt": hex::encode(&content.salt),
        "replaces": content.replaces.as_ref().map(hex::encode),
        "topicId": hex::encode(&content.topic_id),
        "expires": content.expires.as_ref().map(|e| json!({"relative": e.relative, "time": e.time})),
        "inReplyTo": content.in_reply_to.as_ref().map(hex::encode),
        "mimiExtensions": extensions,
        "body": render_part(&content.body),
        "messageId": message_id_of(bytes, &content, draft).map(hex::encode),
        "violations": violations(&content),
    }))
}

/// A plain-text MIMI message (CONT-08 §4): the given salt, `senderUri` and `roomUri`
/// extensions, and one `text/plain;charset=utf-8` part to render.
pub fn text_message(salt: [u8; 16], sender: &str, room: &str, text: &str) -> Vec<u8> {
    encode(&text_content(&salt, sender, room, text))
}

/// The content of a plain-text message (before encoding, so that a test can break it).
pub fn text_content(salt: &[u8], sender: &str, room: &str, text: &str) -> MimiContent {
    use ciborium::value::Value as Cbor;
    MimiContent {
        salt: salt.to_vec(),
        replaces: None,
        topic_id: vec![],
        expires: None,
        in_reply_to: None,
        extensions: vec![
            (Cbor::from(EXTENSION_SENDER_URI), Cbor::from(sender)),
            (Cbor::from(EXTENSION_ROOM_URI), Cbor::from(room)),
        ],
        body: NestedPart {
            disposition: 1,
            language: String::new(),
            part: Part::Single {
                content_type: "text/plain;charset=utf-8".into(),
                content: text.as_bytes().to_vec(),
            },
        },
    }
}
