//! The driver API's specification (fixtures/driver-api/openapi.yaml) against the reference
//! provider's implementation: every operation and every status the document declares is
//! exercised on a pair of providers, and every answer must be one the document allows (status
//! and JSON Schema). A status the document declares but this scenario never produces fails the
//! test too, so the document cannot promise what nothing implements.

mod common;

use common::{pair, Pair, TOKEN};
use mimi_driver_spec::{operation, spec};
use mimi_reference_provider::faults::Faults;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Answers the document declares that the reference provider cannot be made to give from the
/// outside, each with the reason.
const NOT_PRODUCED: &[(&str, u16, &str)] = &[
    ("leave", 409, "the hub refuses a leave proposal only when it is malformed, and the reference client's never are"),
    ("remove", 409, "the hub refuses a removal only when it breaks room policy, which the reference provider's has no rule for"),
    ("commit", 409, "the hub refuses a commit of pending proposals only when it breaks room policy, which a leave never does"),
    ("requestConsent", 409, "the reference provider answers every well-formed consent request 201, whatever the target user (P-06 §5.7 lets it)"),
    ("cancelConsent", 409, "the reference provider answers every well-formed cancel 201, with or without a request to cancel (CON-65)"),
    ("sendMessage", 409, "the hub refuses a member's message only after a race with a removal commit, which a scenario cannot time"),
    ("awaitIdle", 404, "the reference provider implements this optional operation; a driver without it answers 404"),
];

/// One provider's driver API, called with this bearer token.
#[derive(Clone, Copy)]
struct Driver {
    provider: usize,
    token: &'static str,
}

struct Exerciser {
    pair: Pair,
    seen: BTreeSet<(String, u16)>,
}

impl Exerciser {
    async fn call(
        &mut self,
        driver: Driver,
        name: &str,
        path: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let op = operation(name).expect("a specified operation");
        op.check_request(body.as_ref())
            .unwrap_or_else(|e| panic!("the test's own request is off-spec: {e}"));
        let vars: BTreeMap<String, String> = path
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = mimi_wire::messages::directory::expand_template(&op.path, &vars).unwrap();
        let (status, bytes) = self
            .pair
            .driver_raw(driver.provider, driver.token, &op.method, &path, body)
            .await;
        if let Err(e) = op.check_response(status, &bytes) {
            panic!("{e}\nbody: {}", String::from_utf8_lossy(&bytes));
        }
        self.seen.insert((name.to_string(), status));
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    /// Calls, and requires the answer's status.
    async fn expect(
        &mut self,
        driver: Driver,
        name: &str,
        path: &[(&str, &str)],
        body: Option<Value>,
        status: u16,
        why: &str,
    ) -> Value {
        let (got, json) = self.call(driver, name, path, body).await;
        assert_eq!(got, status, "{name} {path:?}: {why} (answer: {json})");
        json
    }

    /// Repeats a read until `done` holds (fan-out is asynchronous).
    async fn until(
        &mut self,
        driver: Driver,
        name: &str,
        path: &[(&str, &str)],
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..250 {
            let (status, json) = self.call(driver, name, path, None).await;
            if status == 200 && done(&json) {
                return json;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{name} {path:?} never reached the expected state");
    }
}

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_provider_implements_the_driver_api_as_specified() {
    let (a, b) = (
        Driver {
            provider: 0,
            token: TOKEN,
        },
        Driver {
            provider: 1,
            token: TOKEN,
        },
    );
    let wrong_token = Driver {
        provider: 0,
        token: "not-the-token",
    };
    let content = base64_of(include_bytes!(
        "../../../fixtures/vectors/mimi-content/original.cbor"
    ));
    let mut x = Exerciser {
        pair: pair(Faults::none()).await,
        seen: BTreeSet::new(),
    };
    {
        x.expect(a, "listUsers", &[], None, 200, "").await;
        // Every operation needs the token; each gets a request that is otherwise well-formed.
        let somebody = [
            ("user", "mimi://a.example/u/x"),
            ("client", "mimi://a.example/d/x/1"),
            ("room", "mimi://a.example/r/x"),
        ];
        for op in &spec().operations {
            let body = match op.name.as_str() {
                "createUser" => Some(json!({"name": "x"})),
                "createRoom" => Some(json!({"client": "c", "name": "x"})),
                "invite" | "remove" => Some(json!({"client": "c", "user": "u"})),
                "leave" | "commit" | "join" => Some(json!({"client": "c"})),
                "sendMessage" => Some(json!({"client": "c", "content": ""})),
                "uploadAsset" => Some(json!({"content": ""})),
                "requestConsent" | "cancelConsent" => Some(json!({"client": "c", "user": "u"})),
                "awaitIdle" => Some(json!({"within": 0})),
                _ => None,
            };
            x.expect(
                wrong_token,
                &op.name,
                &somebody,
                body,
                401,
                "without the token",
            )
            .await;
        }
        let ann = x
            .expect(
                a,
                "createUser",
                &[],
                Some(json!({"name": "ann-api"})),
                201,
                "",
            )
            .await;
        x.expect(
            a,
            "createUser",
            &[],
            Some(json!({"name": "ann-api"})),
            400,
            "a second user of the same name",
        )
        .await;
        let ann_client = s(&ann["clients"][0]);
        let ann_user = s(&ann["user"]);
        x.expect(a, "createClient", &[("user", &ann_user)], None, 201, "")
            .await;
        x.expect(
            a,
            "createClient",
            &[("user", "mimi://a.example/u/nobody")],
            None,
            400,
            "",
        )
        .await;
        let ben = x
            .expect(
                b,
                "createUser",
                &[],
                Some(json!({"name": "ben-api"})),
                201,
                "",
            )
            .await;
        let ben_user = s(&ben["user"]);
        let ben_client = s(&ben["clients"][0]);
        let room = x
            .expect(
                a,
                "createRoom",
                &[],
                Some(json!({"client": ann_client, "name": "api"})),
                201,
                "",
            )
            .await;
        let room = s(&room["room"]);
        x.expect(
            a,
            "createRoom",
            &[],
            Some(json!({"client": "mimi://a.example/d/none/1", "name": "api2"})),
            400,
            "a room for a client that does not exist",
        )
        .await;
        let invite = |user: &str| Some(json!({"client": ann_client, "user": user}));
        x.expect(a, "invite", &[("room", &room)], invite(&ben_user), 200, "")
            .await;
        x.expect(
            a,
            "invite",
            &[("room", &room)],
            invite("mimi://unreachable.example/u/z"),
            502,
            "a user whose provider cannot be reached",
        )
        .await;
        x.until(
            b,
            "roomState",
            &[("client", &ben_client), ("room", &room)],
            |j| j["epoch"] == 1,
        )
        .await;
        x.expect(
            b,
            "roomState",
            &[("client", &ben_client), ("room", "mimi://a.example/r/none")],
            None,
            404,
            "",
        )
        .await;
        let message =
            |client: &str, content: &str| Some(json!({"client": client, "content": content}));
        x.expect(
            a,
            "sendMessage",
            &[("room", &room)],
            message(&ann_client, &content),
            200,
            "",
        )
        .await;
        x.expect(
            a,
            "sendMessage",
            &[("room", &room)],
            Some(json!({"client": ann_client, "text": "written by the client"})),
            200,
            "",
        )
        .await;
        x.expect(
            a,
            "sendMessage",
            &[("room", &room)],
            message(&ann_client, "*not base64*"),
            400,
            "",
        )
        .await;
        x.until(b, "receivedMessages", &[("client", &ben_client)], |j| {
            j["messages"].as_array().is_some_and(|m| m.len() == 2)
        })
        .await;
        x.expect(
            a,
            "receivedMessages",
            &[("client", "mimi://a.example/d/none/1")],
            None,
            400,
            "",
        )
        .await;
        // ben's second client joins by external commit, proposes to leave, and ann commits that.
        let second = x
            .expect(b, "createClient", &[("user", &ben_user)], None, 201, "")
            .await;
        let second = s(&second["client"]);
        let only = |client: &str| Some(json!({"client": client}));
        x.expect(b, "join", &[("room", &room)], only(&second), 200, "")
            .await;
        x.expect(b, "leave", &[("room", &room)], only(&second), 202, "")
            .await;
        x.until(
            a,
            "roomState",
            &[("client", &ann_client), ("room", &room)],
            |j| j["epoch"] == 2,
        )
        .await;
        // Commit once the proposal has reached ann.
        let mut committed = 0;
        for _ in 0..250 {
            let (status, json) = x
                .call(a, "commit", &[("room", &room)], only(&ann_client))
                .await;
            if status == 200 && json["epoch"] == 3 {
                committed = 3;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(committed, 3, "ann commits ben's leave proposal");
        let state = x
            .until(
                a,
                "roomState",
                &[("client", &ann_client), ("room", &room)],
                |j| j["epoch"] == 3,
            )
            .await;
        assert!(
            !state["members"]
                .as_array()
                .unwrap()
                .contains(&json!(second)),
            "the commit carried out the leave: {state}"
        );
        // Nothing left to send once the fan-out is done; something while a follower is silent.
        let within = |ms: u64| Some(json!({ "within": ms }));
        x.expect(a, "awaitIdle", &[], within(10_000), 200, "").await;
        x.expect(a, "awaitIdle", &[], within(60_001), 400, "").await;
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        x.pair.providers[0].route("b.example", silent.local_addr().unwrap());
        x.expect(
            a,
            "sendMessage",
            &[("room", &room)],
            message(&ann_client, &content),
            200,
            "",
        )
        .await;
        x.expect(
            a,
            "awaitIdle",
            &[],
            within(0),
            504,
            "the message to b.example waits for a follower that does not answer",
        )
        .await;
        // Asked about rooms, only their work counts: the busy room holds the answer up, a room
        // with nothing to send does not.
        let about = |rooms: &[&str]| Some(json!({"within": 0, "rooms": rooms}));
        x.expect(
            a,
            "awaitIdle",
            &[],
            about(&[room.as_str()]),
            504,
            "the room's message still waits for b.example",
        )
        .await;
        x.expect(
            a,
            "awaitIdle",
            &[],
            about(&["mimi://a.example/r/quiet"]),
            200,
            "another room's message does not hold up a room with nothing to send",
        )
        .await;
        for malformed in [
            json!({"within": 0, "rooms": room}),
            json!({"within": 0, "rooms": [1]}),
        ] {
            let (status, answer) = x
                .pair
                .driver_raw(0, TOKEN, "POST", "/v1/idle", Some(malformed.clone()))
                .await;
            assert_eq!(
                status,
                400,
                "{malformed}: {}",
                String::from_utf8_lossy(&answer)
            );
            operation("awaitIdle")
                .unwrap()
                .check_response(status, &answer)
                .unwrap_or_else(|e| panic!("{malformed}: {e}"));
        }
        let b_addr = x.pair.providers[1].addr;
        x.pair.providers[0].route("b.example", b_addr);
        drop(silent);
        x.expect(
            a,
            "join",
            &[("room", &room)],
            only("mimi://a.example/d/none/1"),
            400,
            "a client that does not exist",
        )
        .await;
        x.expect(
            a,
            "roomState",
            &[("client", "mimi://a.example/d/none/1"), ("room", &room)],
            None,
            400,
            "a client that does not exist",
        )
        .await;
        let carol = x
            .expect(
                a,
                "createUser",
                &[],
                Some(json!({"name": "cat-api"})),
                201,
                "",
            )
            .await;
        let carol_client = s(&carol["clients"][0]);
        x.expect(
            a,
            "join",
            &[("room", &room)],
            only(&carol_client),
            409,
            "a user who is no participant cannot join",
        )
        .await;
        x.expect(
            a,
            "join",
            &[("room", "mimi://unreachable.example/r/x")],
            only(&carol_client),
            502,
            "the room's hub cannot be reached",
        )
        .await;
        x.expect(
            a,
            "leave",
            &[("room", &room)],
            only(&carol_client),
            400,
            "a client that is not a member cannot leave",
        )
        .await;
        x.expect(
            a,
            "sendMessage",
            &[("room", &room)],
            message(&carol_client, &content),
            400,
            "a client that is not a member cannot send",
        )
        .await;
        x.expect(a, "remove", &[("room", &room)], invite(&ben_user), 200, "")
            .await;
        x.expect(
            a,
            "remove",
            &[("room", &room)],
            invite(&ben_user),
            400,
            "ben is no longer a participant",
        )
        .await;
        x.expect(
            a,
            "remove",
            &[("room", &room)],
            Some(json!({"client": "x", "user": ben_user})),
            400,
            "",
        )
        .await;
        x.expect(
            a,
            "commit",
            &[("room", &room)],
            only(&carol_client),
            400,
            "carol has no group to commit in",
        )
        .await;
        x.expect(
            a,
            "invite",
            &[("room", &room)],
            Some(json!({"client": carol_client, "user": ben_user})),
            400,
            "carol is no member of the room",
        )
        .await;
        let solo = x
            .expect(
                a,
                "createRoom",
                &[],
                Some(json!({"client": ann_client, "name": "solo", "maxUsers": 1})),
                201,
                "",
            )
            .await;
        x.expect(
            a,
            "invite",
            &[("room", &s(&solo["room"]))],
            invite(&ben_user),
            409,
            "the hub refuses a second user in a room for one",
        )
        .await;
        // Consent to reach dora of the other provider, for the room, then its cancellation.
        for op in ["requestConsent", "cancelConsent"] {
            let consent =
                |user: &str| Some(json!({"client": ann_client, "user": user, "room": room}));
            x.expect(a, op, &[], consent("mimi://b.example/u/dora"), 202, "")
                .await;
            x.expect(
                a,
                op,
                &[],
                consent("mimi://unreachable.example/u/z"),
                502,
                "",
            )
            .await;
            x.expect(a, op, &[], Some(json!({"client": "mimi://a.example/d/none/1", "user": "mimi://b.example/u/dora"})), 400, "").await;
        }
        x.expect(
            a,
            "uploadAsset",
            &[],
            Some(json!({"content": content})),
            201,
            "",
        )
        .await;
        x.expect(
            a,
            "uploadAsset",
            &[],
            Some(json!({"content": "*"})),
            400,
            "",
        )
        .await;
    }
    let declared: BTreeSet<(String, u16)> = spec()
        .operations
        .iter()
        .flat_map(|op| op.statuses().map(|s| (op.name.clone(), s)))
        .collect();
    let never: BTreeSet<(String, u16)> = declared.difference(&x.seen).cloned().collect();
    let allowed: BTreeSet<(String, u16)> = NOT_PRODUCED
        .iter()
        .map(|(op, status, _why)| (op.to_string(), *status))
        .collect();
    assert_eq!(
        never, allowed,
        "the answers the document declares but the scenario never produced must be exactly \
         those listed in NOT_PRODUCED"
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
