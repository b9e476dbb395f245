//! The hub's view checks handshakes as a hub must (P-06 §5.3), without being a member.

use mimi_mls::hub_view::{Accepted, HubView, Refused};
use mimi_mls::room::{ratchet_tree, welcome_new_members, HubSender};
use mimi_mls::{SimClient, DEFAULT_CIPHERSUITE};
use mimi_wire::fields::Opaque;
use mimi_wire::messages::room_state::{ParticipantListData, UserRolePair};
use openmls::prelude::Lifetime;

fn room(alice: &SimClient) -> openmls::prelude::MlsGroup {
    let hub = SimClient::new("mimi://a.example", DEFAULT_CIPHERSUITE);
    let sender = HubSender::of(&hub);
    let participants = ParticipantListData {
        participants: vec![UserRolePair {
            user: Opaque(b"mimi://a.example/u/alice".to_vec()),
            role_index: 2,
        }],
    };
    alice
        .create_room(b"mimi://a.example/g/room", &sender, &participants)
        .unwrap()
}

#[test]
fn a_commit_the_room_policy_forbids_is_not_allowed_and_not_merged() {
    let alice = SimClient::new("mimi://a.example/d/alice/1", DEFAULT_CIPHERSUITE);
    let bob = SimClient::new("mimi://b.example/d/bob/1", DEFAULT_CIPHERSUITE);
    let mut group = room(&alice);
    let mut hub =
        HubView::from_group_info(&alice.group_info(&group).unwrap(), &ratchet_tree(&group))
            .unwrap();
    let added = alice
        .add(&mut group, &[bob.key_package(Lifetime::new(3600))])
        .unwrap();
    let refusal = hub.check_with_policy(&added.commit, |summary| {
        assert_eq!(summary.members_after.len(), 2);
        Err("at most one member".into())
    });
    assert_eq!(
        refusal,
        Err(Refused::NotAllowed("at most one member".into()))
    );
    assert_eq!(hub.epoch(), 0, "a refused commit is not merged");
}

#[test]
fn the_hub_follows_adds_removals_and_external_joins_and_refuses_the_rest() {
    let alice = SimClient::new("mimi://a.example/d/alice/1", DEFAULT_CIPHERSUITE);
    let bob = SimClient::new("mimi://b.example/d/bob/1", DEFAULT_CIPHERSUITE);
    let mut group = room(&alice);
    let mut hub =
        HubView::from_group_info(&alice.group_info(&group).unwrap(), &ratchet_tree(&group))
            .unwrap();
    assert_eq!(
        (hub.epoch(), hub.members()),
        (0, vec!["mimi://a.example/d/alice/1".to_string()])
    );

    let added = alice
        .add(&mut group, &[bob.key_package(Lifetime::new(3600))])
        .unwrap();
    // A commit ends with signature<V> (64), confirmation_tag<V> (32), membership_tag<V> (32). The
    // tags need the group's secrets, so a hub cannot check them; the signature it can.
    let mut tampered = added.commit.clone();
    let last_signature_byte = tampered.len() - 1 - 33 - 33;
    tampered[last_signature_byte] ^= 0x01;
    assert!(
        matches!(hub.check(&tampered), Err(Refused::Invalid(_))),
        "a commit whose signature does not verify"
    );
    let Ok(Accepted::Commit {
        epoch: 1,
        added: bob_added,
        joined: None,
        removed,
    }) = hub.check(&added.commit)
    else {
        panic!("the add is accepted");
    };
    assert_eq!(bob_added.len(), 1);
    assert_eq!(bob_added[0].identity, "mimi://b.example/d/bob/1");
    assert_eq!(
        Some(bob_added[0].key_package_ref.clone()),
        welcome_new_members(&added.welcome)
            .unwrap()
            .first()
            .cloned(),
        "the Welcome names the added KeyPackage by the ref the hub computed"
    );
    assert!(removed.is_empty());
    assert_eq!(
        hub.check(&added.commit),
        Err(Refused::WrongEpoch { current: 1, got: 0 }),
        "a replay"
    );

    let mut bobs = bob
        .join_from_welcome(&added.welcome, &added.ratchet_tree)
        .unwrap();
    let application = bob.send(&mut bobs, b"hello", None).unwrap();
    assert!(matches!(
        hub.check(&application),
        Err(Refused::Unreadable(_))
    ));

    let removal = alice.remove(&mut group, &[1]).unwrap();
    assert_eq!(
        hub.check(&removal),
        Ok(Accepted::Commit {
            epoch: 2,
            added: vec![],
            joined: None,
            removed: vec!["mimi://b.example/d/bob/1".into()]
        })
    );

    let dave = SimClient::new("mimi://a.example/d/alice/2", DEFAULT_CIPHERSUITE);
    let (_, external) = dave
        .join_external(&alice.group_info(&group).unwrap(), &ratchet_tree(&group))
        .unwrap();
    assert_eq!(
        hub.check(&external),
        Ok(Accepted::Commit {
            epoch: 3,
            added: vec![],
            joined: Some("mimi://a.example/d/alice/2".into()),
            removed: vec![]
        })
    );
    assert_eq!(hub.members().len(), 2);
}

#[test]
fn a_group_info_whose_signature_does_not_verify_is_refused() {
    let alice = SimClient::new("mimi://a.example/d/alice/1", DEFAULT_CIPHERSUITE);
    let group = room(&alice);
    let mut group_info = alice.group_info(&group).unwrap();
    let last = group_info.len() - 1;
    group_info[last] ^= 0x01;
    let Err(e) = HubView::from_group_info(&group_info, &ratchet_tree(&group)) else {
        panic!("a GroupInfo with a broken signature was accepted")
    };
    assert!(e.contains("does not verify"), "{e}");
}
