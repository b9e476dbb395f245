//! Simulated clients carry a MIMI room end to end: alice creates it with the hub as external
//! sender and the participant list, adds bob with a Welcome, sends MIMI content with its
//! franking tag; bob reads exactly that content from alice; carol, outside the room, cannot;
//! the provider sees only a PrivateMessage; dave joins externally from a GroupInfo.

use mimi_mls::room::{franking_tag, safe_aad_with_franking_tag, HubSender, Received};
use mimi_mls::{SimClient, DEFAULT_CIPHERSUITE};
use mimi_wire::codec::decode_exact;
use mimi_wire::fields::Opaque;
use mimi_wire::messages::room_state::{ParticipantListData, UserRolePair};
use mimi_wire::mls_objects::{GroupInfo, MlsMessage};
use mimi_wire::Render;
use openmls::prelude::Lifetime;

fn content() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/vectors/mimi-content/original.cbor"
    ))
    .unwrap()
}

fn participants(users: &[&str]) -> ParticipantListData {
    ParticipantListData {
        participants: users
            .iter()
            .map(|u| UserRolePair {
                user: Opaque(u.as_bytes().to_vec()),
                role_index: 2,
            })
            .collect(),
    }
}

#[test]
fn a_two_client_room_exchanges_a_message_that_outsiders_cannot_read() {
    let hub = SimClient::new("mimi://a.example", DEFAULT_CIPHERSUITE);
    let hub_sender = HubSender::of(&hub);
    let alice = SimClient::new("mimi://a.example/d/alice/1", DEFAULT_CIPHERSUITE);
    let bob = SimClient::new("mimi://b.example/d/bob/1", DEFAULT_CIPHERSUITE);
    let carol = SimClient::new("mimi://c.example/d/carol/1", DEFAULT_CIPHERSUITE);

    let mut room = alice
        .create_room(
            b"mimi://a.example/g/clubhouse",
            &hub_sender,
            &participants(&["mimi://a.example/u/alice", "mimi://b.example/u/bob"]),
        )
        .unwrap();
    let bob_kp = bob.key_package(Lifetime::new(3600));
    let added = alice.add(&mut room, &[bob_kp]).unwrap();
    let welcome: MlsMessage = decode_exact(&added.welcome).unwrap();
    assert_eq!(welcome.wire_format(), 3);
    let mut bobs_room = bob
        .join_from_welcome(&added.welcome, &added.ratchet_tree)
        .unwrap();
    assert_eq!(bobs_room.epoch(), room.epoch());

    // The hub is the room's external sender, and the participant list is in the GroupInfo's
    // group context (P-06 §7.4, §7.5).
    let group_info: MlsMessage = decode_exact(&alice.group_info(&room).unwrap()).unwrap();
    let shown = group_info.render();
    assert_eq!(shown["wire_format"], "group_info");
    let extensions: Vec<u64> = shown["group_context_extensions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_u64())
        .collect();
    assert_eq!(
        shown["participants"][1]["user"], "mimi://b.example/u/bob",
        "bob is a participant: {shown}"
    );
    // external_senders (5), required_capabilities (3), app_data_dictionary (6).
    for extension in [5, 3, 6] {
        assert!(
            extensions.contains(&extension),
            "{extension} in the group context: {shown}"
        );
    }

    let content = content();
    let tag = franking_tag(&content).unwrap();
    let message = alice.send(&mut room, &content, Some(&tag)).unwrap();

    // What a provider sees: a PrivateMessage of content type application, and not the text.
    let on_the_wire: MlsMessage = decode_exact(&message).unwrap();
    assert_eq!(
        (on_the_wire.wire_format(), on_the_wire.content_type()),
        (2, Some(1))
    );
    assert!(
        !message.windows(11).any(|w| w == b"Hi everyone"),
        "the content is not in the clear"
    );

    // Bob reads exactly what alice sent, from alice, with the franking tag in the SafeAAD.
    match bob.receive(&mut bobs_room, &message).unwrap() {
        Received::Application {
            content: received,
            sender,
            aad,
        } => {
            assert_eq!(received, content);
            assert_eq!(sender, b"mimi://a.example/d/alice/1");
            assert_eq!(aad, safe_aad_with_franking_tag(&tag));
        }
        other => panic!("bob got {other:?}"),
    }

    // Carol, not a member, cannot read it, not even with a group of the same id.
    let mut carols_group = carol
        .create_room(
            b"mimi://a.example/g/clubhouse",
            &hub_sender,
            &participants(&["mimi://c.example/u/carol"]),
        )
        .unwrap();
    assert!(carol.receive(&mut carols_group, &message).is_err());
}

#[test]
fn a_new_client_joins_externally_from_a_group_info() {
    let hub = SimClient::new("mimi://a.example", DEFAULT_CIPHERSUITE);
    let hub_sender = HubSender::of(&hub);
    let alice = SimClient::new("mimi://a.example/d/alice/1", DEFAULT_CIPHERSUITE);
    let dave = SimClient::new("mimi://a.example/d/alice/2", DEFAULT_CIPHERSUITE);
    let mut room = alice
        .create_room(
            b"mimi://a.example/g/open",
            &hub_sender,
            &participants(&["mimi://a.example/u/alice"]),
        )
        .unwrap();

    let group_info_bytes = alice.group_info(&room).unwrap();
    // The GroupInfo alone, as groupInfo's TBE carries it, decodes through the wire layer too.
    let _: GroupInfo = decode_exact(&group_info_bytes[4..]).unwrap();
    let (mut daves_room, commit) = dave
        .join_external(&group_info_bytes, &mimi_mls::room::ratchet_tree(&room))
        .unwrap();
    let commit_message: MlsMessage = decode_exact(&commit).unwrap();
    assert_eq!(commit_message.render()["sender"], "new_member_commit");
    assert_eq!(
        alice.receive(&mut room, &commit).unwrap(),
        Received::Commit { epoch: 1 }
    );

    let text = content();
    let message = dave.send(&mut daves_room, &text, None).unwrap();
    assert!(
        matches!(alice.receive(&mut room, &message).unwrap(), Received::Application { content, .. } if content == text)
    );
}
