//! No decoder panics or reads past its input, whatever the bytes: random bodies, and valid
//! bodies truncated, extended or with a byte changed, for every registered message type and for
//! MIMI content. (The fuzz targets in fuzz/ search the same entry points with coverage guidance.)

use mimi_wire::codec::Draft;
use mimi_wire::content::ContentDraft;
use mimi_wire::registry::{decode_as_draft, message_names};
use proptest::prelude::*;

fn every_decoder(bytes: &[u8]) {
    for name in message_names() {
        for draft in [Draft::D04, Draft::D05, Draft::D06] {
            // The result does not matter; not panicking (and terminating) does.
            let _ = decode_as_draft(name, bytes, draft, ContentDraft::D08);
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/vectors/mls/messages.json"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out: Vec<Vec<u8>> = [
        "mls_welcome",
        "mls_group_info",
        "mls_key_package",
        "public_message_commit",
        "private_message",
    ]
    .iter()
    .map(|k| hex::decode(all[0][*k].as_str().unwrap()).unwrap())
    .collect();
    out.push(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/vectors/mimi-content/multipart-2.cbor"
        ))
        .unwrap(),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        every_decoder(&bytes);
    }

    #[test]
    fn damaged_valid_bodies(seed in 0usize..6, cut in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
        let seeds = seeds();
        let valid = &seeds[seed];
        every_decoder(&valid[..cut.index(valid.len() + 1)]);
        let mut changed = valid.clone();
        changed[at.index(valid.len())] = byte;
        every_decoder(&changed);
        every_decoder(&[valid.as_slice(), &tail].concat());
    }
}
