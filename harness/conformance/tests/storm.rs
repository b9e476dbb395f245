//! A storm of malformed requests against the embedded reference provider: random and truncated
//! bodies on every endpoint, oversized bodies, a forged `From`, unknown paths, and well-formed
//! room messages (a commit, a proposal, an application message, a notify) truncated, bit-flipped
//! or extended, sent to a real room so that they reach the hub's MLS checks. Every one gets a
//! 4xx with a reason (never a 5xx, never a dropped connection), and afterwards the provider
//! still answers correctly. Bounded: a fixed number of requests, on loopback only.

use mimi_conformance::cli::prepare_embedded;
use mimi_conformance::drivers::link_b::Request;
use mimi_wire::messages::directory::ENDPOINTS;
use std::collections::BTreeMap;
use std::time::Duration;

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const ROUNDS: usize = 60;
/// Damaged copies of each well-formed room message.
const DAMAGED_PER_BODY: usize = 30;

/// A room on the provider under test, made through its driver API.
async fn real_room(connection: &mimi_conformance::drivers::link_b::Connection) -> String {
    use mimi_conformance::drivers::link_a::operation;
    let driver = connection
        .driver
        .as_ref()
        .expect("the embedded providers have drivers");
    let call = |name: &'static str, json: serde_json::Value| async move {
        let op = operation(name).unwrap();
        let url = driver.url(op, &BTreeMap::new()).unwrap();
        let response = driver
            .send(op, &url, Some(&json), Duration::from_secs(10))
            .await
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&response.body).unwrap()
    };
    let user = call("createUser", serde_json::json!({"name": "storm"})).await;
    let client = user["clients"][0].as_str().unwrap().to_string();
    let room = call(
        "createRoom",
        serde_json::json!({"client": client, "name": "storm"}),
    )
    .await;
    room["room"].as_str().unwrap().to_string()
}

/// A well-formed body for each room endpoint, made by a client of a room of its own (so that
/// the hub decodes all of it and reaches its MLS checks).
fn room_bodies(room: &str) -> Vec<(&'static str, Vec<u8>)> {
    use mimi_wire::Encode;
    let hub = mimi_mls::SimClient::new("mimi://storm.example", mimi_mls::DEFAULT_CIPHERSUITE);
    let client = mimi_mls::SimClient::new(
        "mimi://harness.example/d/storm/1",
        mimi_mls::DEFAULT_CIPHERSUITE,
    );
    let sender = mimi_mls::room::HubSender::of(&hub);
    let mut group = client
        .create_room(room.as_bytes(), &sender, &Default::default())
        .unwrap();
    let staged = client
        .stage_commit(
            &mut group,
            mimi_mls::room::Changes {
                adds: &[],
                removes: &[],
                participants: None,
                roles: None,
                omit_pending: false,
            },
        )
        .unwrap();
    let commit = mimi_mls::member::commit_bundle(&staged.commit, None, &staged.group_info).unwrap();
    client.discard_commit(&mut group);
    let content = include_bytes!("../../../fixtures/vectors/mimi-content/original.cbor");
    let tag = mimi_mls::room::franking_tag(content).unwrap();
    let message = client.send(&mut group, content, Some(&tag)).unwrap();
    let proposal = client.propose_self_update(&mut group).unwrap();
    let proposal = mimi_mls::member::proposal_bundle(&proposal, vec![]).unwrap();
    let submit = mimi_wire::messages::submit::SubmitMessageRequest {
        protocol: mimi_wire::common::PROTOCOL_MLS10,
        app_message: mimi_wire::decode_exact(&message).unwrap(),
        sending_uri: mimi_wire::common::IdentifierUri("mimi://harness.example/u/storm".into()),
    };
    let notify =
        mimi_wire::messages::notify::NotifyBody(vec![mimi_wire::messages::notify::FanoutMessage {
            timestamp: 1,
            message: mimi_wire::decode_exact(&message).unwrap(),
            rest: mimi_wire::messages::notify::FanoutRest::Application { frank: None },
        }]);
    vec![
        ("update", commit.to_bytes()),
        ("update", proposal.to_bytes()),
        ("submitMessage", submit.to_bytes()),
        ("notify", notify.to_bytes()),
    ]
}

#[test]
fn the_provider_survives_a_storm_of_malformed_requests() {
    let prepared = prepare_embedded().expect("the embedded providers start");
    let session = &prepared.session;
    let connection = session.connections[0].clone();
    let domain = connection.profile.domain.clone();
    let directory = session
        .runtime
        .block_on(connection.directory(Duration::from_secs(5)))
        .unwrap()
        .clone();
    let vars: BTreeMap<String, String> = [
        "targetUser",
        "targetDomain",
        "requesterDomain",
        "domain",
        "roomId",
        "downloadUrl",
    ]
    .iter()
    .map(|v| (v.to_string(), format!("mimi://{domain}/u/bob")))
    .collect();
    let urls: Vec<String> = directory
        .endpoints
        .keys()
        .filter_map(|name| directory.url(name, &vars).ok())
        .collect();
    assert!(!urls.is_empty());
    let base = format!("https://{domain}");
    let mut random = Bytes(0x9e37_79b9_7f4a_7c15);
    let mut requests = Vec::new();
    for round in 0..ROUNDS {
        for url in &urls {
            let len = (random.next() % 300) as usize;
            let mut headers = connection.default_headers();
            if round % 10 == 0 {
                headers[0].1 = "mimi@forged.example".into();
            }
            requests.push(Request {
                method: reqwest::Method::POST,
                url: url.clone(),
                headers,
                body: random.take(len),
                client_certificate: true,
                timeout: Duration::from_secs(10),
            });
        }
        requests.push(Request {
            method: reqwest::Method::POST,
            url: format!("{base}/v1/{}/x", ENDPOINTS[round % ENDPOINTS.len()])
                .replace("/v1/keyMaterial/x", "/v1/nothing/x"),
            headers: connection.default_headers(),
            body: random.take(16),
            client_certificate: true,
            timeout: Duration::from_secs(10),
        });
    }
    // Bodies over the limit: refused whole.
    for url in &urls {
        requests.push(Request {
            method: reqwest::Method::POST,
            url: url.clone(),
            headers: connection.default_headers(),
            body: vec![0; (1 << 20) + 1],
            client_certificate: true,
            timeout: Duration::from_secs(10),
        });
    }
    // Well-formed room messages, damaged: these reach the hub's MLS processing of a real room.
    let room = session.runtime.block_on(real_room(&connection));
    let room_urls: BTreeMap<&str, String> = ["update", "submitMessage", "groupInfo", "notify"]
        .into_iter()
        .map(|e| {
            let vars = BTreeMap::from([("roomId".to_string(), room.clone())]);
            (e, directory.url(e, &vars).expect("a room endpoint"))
        })
        .collect();
    for (endpoint, valid) in room_bodies(&room) {
        for round in 0..DAMAGED_PER_BODY {
            let mut body = valid.clone();
            match round % 3 {
                0 => body.truncate((random.next() as usize) % valid.len()),
                1 => {
                    let at = (random.next() as usize) % valid.len();
                    body[at] ^= 1 << (random.next() % 8);
                }
                _ => {
                    let extra = 1 + (random.next() % 8) as usize;
                    body.extend(random.take(extra));
                }
            }
            requests.push(Request {
                method: reqwest::Method::POST,
                url: room_urls[endpoint].clone(),
                headers: connection.default_headers(),
                body,
                client_certificate: true,
                timeout: Duration::from_secs(10),
            });
        }
    }
    let total = requests.len();
    let outcomes = session.runtime.block_on(async {
        let mut outcomes = Vec::new();
        let mut requests = requests.into_iter();
        // 16 requests in flight at a time.
        loop {
            let mut batch = tokio::task::JoinSet::new();
            for request in requests.by_ref().take(16) {
                let connection = connection.clone();
                batch.spawn(async move { connection.send(&request).await });
            }
            if batch.is_empty() {
                break outcomes;
            }
            while let Some(outcome) = batch.join_next().await {
                outcomes.push(outcome.expect("a request task does not panic"));
            }
        }
    });
    assert_eq!(outcomes.len(), total);
    let mut failures = Vec::new();
    for outcome in &outcomes {
        match outcome {
            Ok(r) if (400..500).contains(&r.status) && !r.body.is_empty() => {}
            // Random bytes can, rarely, be a valid request for an unknown user.
            Ok(r) if r.status == 200 || r.status == 201 => {}
            Ok(r) => failures.push(format!(
                "status {} ({})",
                r.status,
                String::from_utf8_lossy(&r.body)
            )),
            Err(f) => failures.push(f.message.clone()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} malformed requests were not answered with a 4xx: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // Still up, and still right: bob's claim works and hands out a valid KeyPackage.
    let case_source = r#"
title: after the storm
checks: [KM-9]
links: [B]
actors:
  providers: {target: under-test, hub: harness}
  clients: {alice: {on: hub}}
needs: [keyMaterial, users.bob]
steps:
  - name: claim bob's KeyPackages
    by: hub
    on: target
    call: keyMaterial
    path: {targetUser: "{{ target.users.bob }}"}
    body: {KeyMaterialRequest: {requester: alice}}
    expect:
      status: 200
      body:
        userStatus: success
        clients[*].keyPackage: {valid-key-package: true}
"#;
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let catalogue = mimi_conformance::cli::load_catalogue(std::path::Path::new("cases")).unwrap();
    let case = mimi_conformance::case::parse_case(
        std::path::Path::new("storm"),
        std::path::Path::new("storm/B/after.yaml"),
        case_source.into(),
        &catalogue,
    )
    .unwrap();
    let record = mimi_conformance::runner::run_case(&case, session);
    assert_eq!(record.verdict.name(), "pass", "{}", record.message);
}
