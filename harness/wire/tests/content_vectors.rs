//! Every IETF example of draft-ietf-mimi-content (fixtures/vectors/mimi-content) decodes,
//! re-encodes to the same bytes, breaks none of the draft's limits, and has a message ID.

use mimi_wire::content::{self, ContentDraft};
use std::path::PathBuf;

fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors/mimi-content");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cbor"))
        // Not a message: the derived values of §4.6 (see its own test below).
        .filter(|p| !p.ends_with("implied-original.cbor"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_round_trips_byte_exact() {
    let all = examples();
    assert_eq!(all.len(), 14, "the draft's 14 example messages");
    for (name, bytes) in all {
        let decoded = content::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            content::encode(&decoded),
            bytes,
            "{name} re-encodes to the same bytes"
        );
        assert_eq!(
            content::violations(&decoded),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

/// The one ID the draft text gives, recomputed by the reference's author as well.
#[test]
fn original_has_the_message_id_of_the_draft() {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/vectors/mimi-content/original.cbor"),
    )
    .unwrap();
    assert_eq!(bytes.len(), 193);
    let decoded = content::decode(&bytes).unwrap();
    let id = content::message_id_of(&bytes, &decoded, ContentDraft::D08).unwrap();
    assert_eq!(
        hex::encode(id),
        "017ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4"
    );
    let old = content::message_id_of(&bytes, &decoded, ContentDraft::D07).unwrap();
    assert_ne!(
        old[1..],
        hex::decode("7ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4").unwrap()[..],
        "-07 hashes without length prefixes"
    );
}

#[test]
fn every_example_has_message_ids_for_both_revisions_and_renders() {
    for (name, bytes) in examples() {
        let rendered =
            content::render(&bytes, ContentDraft::D08).unwrap_or_else(|e| panic!("{name}: {e}"));
        let id = rendered["messageId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names sender and room"));
        assert!(id.starts_with("01") && id.len() == 64, "{name}: {id}");
        let old = content::render(&bytes, ContentDraft::D07).unwrap();
        assert_ne!(
            rendered["messageId"], old["messageId"],
            "{name}: the ID depends on the revision"
        );
    }
}

#[test]
fn a_non_deterministic_encoding_is_refused_with_its_offset() {
    let mut bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/vectors/mimi-content/original.cbor"),
    )
    .unwrap();
    // The salt's length 16 (0x50) written in the two-byte form: 0x58 0x10.
    assert_eq!(bytes[1], 0x50);
    bytes.splice(1..2, [0x58, 0x10]);
    let err = content::decode(&bytes).unwrap_err();
    assert!(
        err.contains("byte offset 1") && err.contains("shortest"),
        "{err}"
    );
}

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/vectors/mimi-content")
            .join(name),
    )
    .unwrap()
}

/// `implied-original` holds the values a receiver derives for `original` (§4.6). Upstream, its
/// `.edn` carries the -08 message ID while its `.cbor` still carries the -07 one: each is an
/// independent check of one revision's algorithm.
#[test]
fn implied_original_carries_the_message_ids_of_both_revisions() {
    let implied = vector("implied-original.cbor");
    content::deterministic::check(&implied).unwrap();
    let value: ciborium::Value = ciborium::de::from_reader(implied.as_slice()).unwrap();
    assert_eq!(content::encode_value(&value), implied);
    let ciborium::Value::Array(items) = value else {
        panic!("an array")
    };
    let ciborium::Value::Bytes(cbor_id) = &items[0] else {
        panic!("the message ID first")
    };

    let edn = String::from_utf8(vector("implied-original.edn")).unwrap();
    let start = edn.find("h'").unwrap() + 2;
    let edn_id: String = edn[start..start + edn[start..].find('\'').unwrap()]
        .split_whitespace()
        .collect();

    let original = vector("original.cbor");
    let decoded = content::decode(&original).unwrap();
    assert_eq!(
        hex::encode(content::message_id_of(&original, &decoded, ContentDraft::D08).unwrap()),
        edn_id
    );
    assert_eq!(
        &content::message_id_of(&original, &decoded, ContentDraft::D07).unwrap(),
        cbor_id
    );
}

/// Found by the `content` fuzz target: CBOR `undefined` (0xf7) where the grammar has `null`
/// was read as null, so the message re-encoded differently.
#[test]
fn undefined_is_not_null() {
    let mut bytes = vector("original.cbor");
    assert_eq!(bytes[18], 0xf6, "replaces = null");
    bytes[18] = 0xf7;
    let err = content::decode(&bytes).unwrap_err();
    assert!(err.contains("byte offset 18"), "{err}");
}

/// §6.3's own example has 4 levels (map, array, array, tag 32) and is allowed; one more is not.
#[test]
fn extension_depth_counts_as_the_draft_does() {
    use ciborium::Value;
    let mut decoded = content::decode(&vector("original.cbor")).unwrap();
    let tagged = Value::Tag(32, Box::new(Value::Text("http://example.com".into())));
    let four = Value::Array(vec![Value::Array(vec![
        Value::Bytes(vec![0x12, 0x34]),
        tagged,
    ])]);
    decoded
        .extensions
        .push((Value::Integer(256.into()), four.clone()));
    assert_eq!(content::violations(&decoded), Vec::<String>::new());
    decoded.extensions.pop();
    decoded
        .extensions
        .push((Value::Integer(256.into()), Value::Array(vec![four])));
    assert!(content::violations(&decoded)[0].contains("deeper than 4"));
}

/// `cid:N@local.invalid` must name a SinglePart or ExternalPart (§4.4).
#[test]
fn content_id_references_name_single_or_external_parts() {
    use mimi_wire::content::model::Part;
    // multipart-2 as published is valid; give its first text part two bad references.
    let mut decoded = content::decode(&vector("multipart-2.cbor")).unwrap();
    assert_eq!(content::violations(&decoded), Vec::<String>::new());
    let Part::Multi { parts, .. } = &mut decoded.body.part else {
        panic!("multipart-2 is a multipart")
    };
    let Part::Single { content, .. } = &mut parts[0].part else {
        panic!("its first part is single")
    };
    content.extend_from_slice(b" ![x](cid:0@local.invalid) ![y](cid:9@local.invalid)");
    let v = content::violations(&decoded);
    assert!(
        v.iter()
            .any(|m| m.contains("cid:0@local.invalid, which is not a SinglePart")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|m| m.contains("cid:9@local.invalid, a part the message does not have")),
        "{v:?}"
    );
}
