//! The MLS and MIMI logic that the harness's simulated clients and the reference provider's
//! clients share (`mimi_mls`), held to data neither side wrote: the MLS working group's vectors
//! (fixtures/vectors/mls) and the MIMI content draft's examples (fixtures/vectors/mimi-content).
//! A mistake here would sit on both sides of every check, so it is proven against these instead
//! of against the reference provider.

use mimi_mls::labels::{decrypt_with_label, ref_hash, sign_content, verify_with_label};
use mimi_mls::member::{user_of_client, Member};
use mimi_mls::room::{welcome_new_members, HubSender};
use mimi_mls::{Ciphersuite, SimClient, DEFAULT_CIPHERSUITE};
use mimi_wire::codec::decode_exact;
use mimi_wire::messages::common_mls::RatchetTreeOption;
use mimi_wire::messages::notify::{FanoutMessage, FanoutRest};
use mimi_wire::mls_objects::{unframed, KeyPackage};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/vectors")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn json(path: &str) -> Vec<Value> {
    serde_json::from_slice(&fixture(path)).unwrap()
}

fn hex(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string")),
    )
    .unwrap()
}

/// The working group writes keys as `opaque<V>`: an RFC 9420 §2.1.2 variable-length size, then
/// the key.
fn opaque(bytes: Vec<u8>) -> Vec<u8> {
    let size_of_size = 1 << (bytes[0] >> 6);
    let mut size = u64::from(bytes[0] & 0x3f);
    for b in &bytes[1..size_of_size] {
        size = size << 8 | u64::from(*b);
    }
    let key = bytes[size_of_size..].to_vec();
    assert_eq!(key.len() as u64, size, "a key of the size its prefix gives");
    key
}

fn suite(v: &Value) -> Ciphersuite {
    let id = u16::try_from(v["cipher_suite"].as_u64().unwrap()).unwrap();
    Ciphersuite::try_from(id).unwrap()
}

/// `SignWithLabel`: the working group's signature verifies over our `SignContent`, and a
/// different label or content does not.
#[test]
fn sign_with_label_matches_the_working_group() {
    let vectors = json("mls/crypto-basics.json");
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        let s = &v["sign_with_label"];
        let (label, content, public) = (
            s["label"].as_str().unwrap(),
            hex(s, "content"),
            opaque(hex(s, "pub")),
        );
        let scheme = suite(v).signature_algorithm();
        let signature = hex(s, "signature");
        verify_with_label(scheme, &public, label, &content, &signature)
            .unwrap_or_else(|e| panic!("suite {}: {e}", v["cipher_suite"]));
        assert!(verify_with_label(scheme, &public, "Other", &content, &signature).is_err());
        let mut changed = content.clone();
        changed[0] ^= 1;
        assert!(verify_with_label(scheme, &public, label, &changed, &signature).is_err());
    }
    // The label is prefixed with "MLS 1.0 " and both fields are opaque<V>.
    assert_eq!(sign_content("L", b"c"), b"\x09MLS 1.0 L\x01c");
}

/// `EncryptWithLabel`: our `DecryptWithLabel` opens the working group's ciphertext.
#[test]
fn encrypt_with_label_matches_the_working_group() {
    for v in &json("mls/crypto-basics.json") {
        let e = &v["encrypt_with_label"];
        let plaintext = decrypt_with_label(
            suite(v),
            &opaque(hex(e, "priv")),
            e["label"].as_str().unwrap(),
            &hex(e, "context"),
            &hex(e, "kem_output"),
            &hex(e, "ciphertext"),
        )
        .unwrap_or_else(|err| panic!("suite {}: {err}", v["cipher_suite"]));
        assert_eq!(plaintext, hex(e, "plaintext"));
    }
}

/// `RefHash`, which the hub's and the clients' ProposalRefs are made with.
#[test]
fn ref_hash_matches_the_working_group() {
    for v in &json("mls/crypto-basics.json") {
        let r = &v["ref_hash"];
        assert_eq!(
            ref_hash(suite(v), r["label"].as_str().unwrap(), &hex(r, "value")),
            hex(r, "out"),
            "suite {}",
            v["cipher_suite"]
        );
    }
}

/// A client recognises a Welcome meant for it by the KeyPackageRef in `secrets[].new_member`:
/// the refs we read from the working group's Welcomes are the refs we compute for their
/// joiners' KeyPackages.
#[test]
fn welcomes_name_the_key_package_refs_we_compute() {
    let vectors = json("mls/welcome.json");
    assert_eq!(vectors.len(), 7);
    for v in &vectors {
        let key_package: KeyPackage = decode_exact(unframed(&hex(v, "key_package"))).unwrap();
        let reference = key_package.reference().expect("a KeyPackageRef");
        let named = welcome_new_members(&hex(v, "welcome")).unwrap();
        assert_eq!(named, vec![reference], "suite {}", v["cipher_suite"]);
    }
}

/// What a receiving client hands its user: the content draft's example message, sent in the
/// draft's room by a client of the draft's sender, arrives with the message ID the draft gives
/// for it, and with the sender's user URI.
#[test]
fn a_delivered_message_carries_the_drafts_message_id() {
    let content = fixture("mimi-content/original.cbor");
    let room = "mimi://example.com/r/engineering_team";
    let hub = SimClient::new("mimi://example.com", DEFAULT_CIPHERSUITE);
    let alice = SimClient::new("mimi://example.com/d/alice-smith/1", DEFAULT_CIPHERSUITE);
    let mut bob = Member::new(
        SimClient::new("mimi://example.com/d/bob/1", DEFAULT_CIPHERSUITE),
        1,
        3600,
    );
    let mut group = alice
        .create_room(room.as_bytes(), &HubSender::of(&hub), &Default::default())
        .unwrap();
    let key_package = bob.claim_key_package().unwrap();
    let added = alice.add(&mut group, &[key_package]).unwrap();
    bob.deliver(
        room,
        &FanoutMessage {
            timestamp: 1,
            message: decode_exact(&added.welcome).unwrap(),
            rest: FanoutRest::Welcome {
                ratchet_tree_option: RatchetTreeOption::Full(added.ratchet_tree),
            },
        },
    )
    .unwrap();
    assert!(bob.groups.contains_key(room), "bob joined from the Welcome");
    let message = alice.send(&mut group, &content, None).unwrap();
    bob.deliver(
        room,
        &FanoutMessage {
            timestamp: 1_644_387_225_019,
            message: decode_exact(&message).unwrap(),
            rest: FanoutRest::Application { frank: None },
        },
    )
    .unwrap();
    let delivery = bob.inbox.pop_front().expect("one delivery");
    assert_eq!(delivery.content, content);
    assert_eq!(delivery.sender_user, "mimi://example.com/u/alice-smith");
    assert_eq!(
        hex::encode(&delivery.message_id),
        "017ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4",
        "draft-ietf-mimi-content-08's message ID of its ORIGINAL example"
    );
}

#[test]
fn client_uris_name_their_users_as_the_content_draft_does() {
    assert_eq!(
        user_of_client("mimi://example.com/d/alice-smith/1"),
        "mimi://example.com/u/alice-smith"
    );
    // Anything that is not a client URI stays as it is.
    assert_eq!(
        user_of_client("mimi://example.com/u/bob"),
        "mimi://example.com/u/bob"
    );
    assert_eq!(
        user_of_client("https://example.com/d/x/1"),
        "https://example.com/d/x/1"
    );
}
