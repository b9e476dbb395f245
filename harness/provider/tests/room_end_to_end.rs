//! Two reference providers carry a room end to end through the driver API (issue: users on both
//! sides added, messages exchanged and read, a user removed, a new client joining externally).

mod common;

use base64::Engine;
use common::{enc, pair};
use mimi_reference_provider::faults::Faults;
use serde_json::json;

fn text(sender: &str, room: &str, body: &str, salt: u8) -> (Vec<u8>, String) {
    let content = mimi_wire::content::text_message([salt; 16], sender, room, body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&content);
    (content, b64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spans_hub_and_follower_from_invitation_to_removal_and_external_join() {
    let p = pair(Faults::none()).await;
    let alice = "mimi://a.example/d/alice/1";
    let (bob1, bob2, carol) = (
        "mimi://b.example/d/bob/1",
        "mimi://b.example/d/bob/2",
        "mimi://b.example/d/carol/1",
    );
    let room = p
        .ok(
            0,
            "POST",
            "/v1/rooms",
            json!({"client": alice, "name": "clubhouse"}),
            201,
        )
        .await["room"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(room, "mimi://a.example/r/clubhouse");
    let invite = format!("/v1/rooms/{}/invite", enc(&room));

    // The hub's client invites both of bob's clients and carol, on the follower.
    let e = p
        .ok(
            0,
            "POST",
            &invite,
            json!({"client": alice, "user": "mimi://b.example/u/bob"}),
            200,
        )
        .await;
    assert_eq!(e["epoch"], 1);
    p.wait_epoch(1, bob1, &room, 1).await;
    p.wait_epoch(1, bob2, &room, 1).await;
    p.ok(
        0,
        "POST",
        &invite,
        json!({"client": alice, "user": "mimi://b.example/u/carol"}),
        200,
    )
    .await;
    let state = p.wait_epoch(1, carol, &room, 2).await;
    assert_eq!(state["members"].as_array().unwrap().len(), 4);
    p.wait_epoch(1, bob1, &room, 2).await;

    // alice → everyone on b; bob → alice and carol.
    let messages = format!("/v1/rooms/{}/messages", enc(&room));
    let (hello, hello64) = text("mimi://a.example/u/alice", &room, "hello", 1);
    let sent = p
        .ok(
            0,
            "POST",
            &messages,
            json!({"client": alice, "content": hello64}),
            200,
        )
        .await;
    assert_eq!(sent["franked"], true);
    for client in [bob1, bob2, carol] {
        let inbox = p.wait_inbox(1, client, 1).await;
        assert_eq!(inbox[0]["content"], hello64);
        assert_eq!(inbox[0]["senderClient"], alice);
        assert_eq!(inbox[0]["senderUser"], "mimi://a.example/u/alice");
        assert_eq!(inbox[0]["hubTimestamp"], sent["acceptedTimestamp"]);
        let content = mimi_wire::content::decode(&hello).unwrap();
        let id = mimi_wire::content::message_id(
            &hello,
            &content.salt,
            "mimi://a.example/u/alice",
            &room,
            Default::default(),
        );
        let id_hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(inbox[0]["messageId"], id_hex.as_str());
    }
    let (_, reply64) = text("mimi://b.example/u/bob", &room, "hi alice", 2);
    p.ok(
        1,
        "POST",
        &messages,
        json!({"client": bob1, "content": reply64}),
        200,
    )
    .await;
    assert_eq!(p.wait_inbox(0, alice, 1).await[0]["content"], reply64);
    assert_eq!(p.wait_inbox(1, carol, 2).await[1]["content"], reply64);
    assert_eq!(
        p.inbox(1, bob1).await.len(),
        1,
        "bob does not receive his own message"
    );

    // The follower's client removes carol; she receives nothing after.
    let e = p
        .ok(
            1,
            "POST",
            &format!("/v1/rooms/{}/remove", enc(&room)),
            json!({"client": bob1, "user": "mimi://b.example/u/carol"}),
            200,
        )
        .await;
    assert_eq!(e["epoch"], 3);
    p.wait_epoch(0, alice, &room, 3).await;
    let (_, after64) = text("mimi://a.example/u/alice", &room, "carol is gone", 3);
    p.ok(
        0,
        "POST",
        &messages,
        json!({"client": alice, "content": after64}),
        200,
    )
    .await;
    p.wait_inbox(1, bob2, 3).await;
    assert_eq!(
        p.inbox(1, carol).await.len(),
        2,
        "a removed user gets nothing after her removal"
    );

    // A new client of bob joins by external commit through groupInfo.
    let bob3 = p
        .ok(
            1,
            "POST",
            &format!("/v1/users/{}/clients", enc("mimi://b.example/u/bob")),
            json!({}),
            201,
        )
        .await["client"]
        .as_str()
        .unwrap()
        .to_string();
    let e = p
        .ok(
            1,
            "POST",
            &format!("/v1/rooms/{}/join", enc(&room)),
            json!({"client": bob3}),
            200,
        )
        .await;
    assert_eq!(e["epoch"], 4);
    p.wait_epoch(0, alice, &room, 4).await;
    let (_, welcome64) = text("mimi://a.example/u/alice", &room, "welcome, bob's third", 4);
    p.ok(
        0,
        "POST",
        &messages,
        json!({"client": alice, "content": welcome64}),
        200,
    )
    .await;
    assert_eq!(p.wait_inbox(1, &bob3, 1).await[0]["content"], welcome64);

    // carol, removed, may not join externally.
    let (status, body) = p
        .driver(
            1,
            "POST",
            &format!("/v1/rooms/{}/join", enc(&room)),
            Some(json!({"client": carol})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("notAuthorized"),
        "{body}"
    );
}
