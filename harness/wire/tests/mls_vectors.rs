//! The MLS working group's message vectors (fixtures/vectors/mls/messages.json, 300 cases) read
//! through the harness's own MIMI embeddings and written back byte for byte: a KeyPackage inside
//! ClientKeyMaterial, a commit inside a HandshakeBundle with its Welcome, GroupInfo and tree, a
//! proposal with moreProposals, Welcome / application / private messages inside FanoutMessages,
//! a private message inside SubmitMessageRequest, a GroupInfo inside the GroupInfo TBE.

use mimi_wire::codec::{decode_exact, Decode, Encode};
use mimi_wire::messages::group_info::GroupInfoRatchetTreeTbe;
use mimi_wire::messages::key_material::{ClientKeyMaterial, ClientKeyMaterialBody};
use mimi_wire::messages::notify::{FanoutRest, NotifyBody};
use mimi_wire::messages::submit::SubmitMessageRequest;
use mimi_wire::messages::update::{BundleRest, GroupInfoOption, HandshakeBundle};
use mimi_wire::mls_objects::MlsMessage;
use openmls::prelude::tls_codec::Serialize;
use std::fmt::Debug;

struct Case {
    welcome: Vec<u8>,
    group_info: Vec<u8>,
    key_package: Vec<u8>,
    ratchet_tree: Vec<u8>,
    application: Vec<u8>,
    proposal: Vec<u8>,
    commit: Vec<u8>,
    private: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/vectors/mls/messages.json"
    );
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let hex = |c: &serde_json::Value, k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
    all.iter()
        .map(|c| Case {
            welcome: hex(c, "mls_welcome"),
            group_info: hex(c, "mls_group_info"),
            key_package: hex(c, "mls_key_package"),
            ratchet_tree: hex(c, "ratchet_tree"),
            application: hex(c, "public_message_application"),
            proposal: hex(c, "public_message_proposal"),
            commit: hex(c, "public_message_commit"),
            private: hex(c, "private_message"),
        })
        .collect()
}

/// The body inside an MLSMessage: after its version and wire format.
fn inner(mls_message: &[u8]) -> &[u8] {
    &mls_message[4..]
}

/// `bytes` decodes as T and encodes back to exactly `bytes`; returns the value.
fn round_trip<T: Decode + Encode + Debug>(bytes: &[u8], what: &str, case: usize) -> T {
    let value = decode_exact::<T>(bytes).unwrap_or_else(|e| panic!("case {case}, {what}: {e}"));
    assert_eq!(
        value.to_bytes(),
        bytes,
        "case {case}, {what}: re-encoded bytes differ"
    );
    value
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const URI: &[u8] = b"\x18mimi://a.example/u/alice";

#[test]
fn vectors_round_trip_through_mimi_embeddings() {
    let cases = cases();
    assert_eq!(cases.len(), 300);
    for (i, c) in cases.iter().enumerate() {
        // openmls writes each MLSMessage back exactly as the vector has it.
        for (what, bytes) in [
            ("welcome", &c.welcome),
            ("group info", &c.group_info),
            ("key package", &c.key_package),
            ("application", &c.application),
            ("proposal", &c.proposal),
            ("commit", &c.commit),
            ("private", &c.private),
        ] {
            let m: MlsMessage = round_trip(bytes, what, i);
            assert_eq!(
                &m.parsed.tls_serialize_detached().unwrap(),
                bytes,
                "case {i}: openmls re-serialises the {what}"
            );
        }

        // KeyPackage inside ClientKeyMaterial (clientStatus success).
        let ckm: ClientKeyMaterial = round_trip(
            &cat(&[&[0], URI, inner(&c.key_package)]),
            "ClientKeyMaterial",
            i,
        );
        assert!(matches!(ckm.body, ClientKeyMaterialBody::KeyPackage(_)));

        // Commit with Welcome, full GroupInfo and full tree inside a HandshakeBundle.
        let tree_option = cat(&[&[1], &c.ratchet_tree]);
        let bundle: HandshakeBundle = round_trip(
            &cat(&[
                &c.commit,
                &[1],
                inner(&c.welcome),
                &[1],
                inner(&c.group_info),
                &tree_option,
            ]),
            "HandshakeBundle (commit)",
            i,
        );
        let BundleRest::Commit {
            welcome,
            group_info_option,
            ..
        } = &bundle.rest
        else {
            panic!("case {i}: a commit bundle")
        };
        assert!(welcome.is_some() && matches!(**group_info_option, GroupInfoOption::Full(_)));

        // Proposal with one more proposal by reference.
        let proposal_vector = cat(&[
            &[0x40 | (c.proposal.len() >> 8) as u8, c.proposal.len() as u8],
            &c.proposal,
        ]);
        let bundle: HandshakeBundle = round_trip(
            &cat(&[&c.proposal, &proposal_vector]),
            "HandshakeBundle (proposal)",
            i,
        );
        assert!(
            matches!(bundle.rest, BundleRest::Proposal { ref more_proposals } if more_proposals.len() == 1)
        );

        // A /notify body: a Welcome with its tree, an application message without a frank, the
        // private message (whatever its content type, its trailer here is one empty byte:
        // no frank, or an empty proposal vector), back to back.
        let timestamp = 1_700_000_000_000u64.to_be_bytes();
        let notify: NotifyBody = round_trip(
            &cat(&[
                &timestamp,
                &c.welcome,
                &tree_option,
                &timestamp,
                &c.application,
                &[0],
                &timestamp,
                &c.private,
                &[0],
            ]),
            "NotifyBody",
            i,
        );
        assert_eq!(notify.0.len(), 3);
        assert!(matches!(notify.0[0].rest, FanoutRest::Welcome { .. }));
        assert!(matches!(
            notify.0[1].rest,
            FanoutRest::Application { frank: None }
        ));

        // A private message submitted for fan-out.
        round_trip::<SubmitMessageRequest>(
            &cat(&[&[1], &c.private, URI]),
            "SubmitMessageRequest",
            i,
        );

        // The GroupInfo the hub encrypts for a joiner, with no pending proposals.
        round_trip::<GroupInfoRatchetTreeTbe>(
            &cat(&[inner(&c.group_info), &tree_option, &[0]]),
            "GroupInfoRatchetTreeTbe",
            i,
        );
    }
}
