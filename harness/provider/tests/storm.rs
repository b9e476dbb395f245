//! A storm of malformed requests against a reference provider: random and truncated bodies on
//! every endpoint, oversized bodies, a forged `From`, unknown paths, and well-formed room
//! messages (a commit, a proposal, an application message, a notify) truncated, bit-flipped or
//! extended, sent to a real room so that they reach the hub's MLS checks. Every one gets a 4xx
//! with a reason (never a 5xx, never a dropped connection), and afterwards the provider still
//! hands out valid KeyPackages. Bounded: a fixed number of requests, on loopback only.

mod common;

use common::{pair, Pair};
use mimi_reference_provider::faults::Faults;
use mimi_wire::messages::directory::{Directory, DIRECTORY_PATH, ENDPOINTS};
use mimi_wire::messages::key_material::{ClientKeyMaterialBody, KeyMaterialResponse, USER_SUCCESS};
use std::collections::BTreeMap;
use std::time::Duration;

/// The domain the storm's requests come from; its certificate is issued by the pair's CA.
const FROM_DOMAIN: &str = "harness.example";

/// Link B to a.example, as another provider reaches it: HTTPS with a client certificate.
struct LinkB {
    client: reqwest::Client,
    port: u16,
}

/// One request of the storm.
struct Request {
    url: String,
    from: String,
    body: Vec<u8>,
}

impl LinkB {
    fn new(pair: &Pair) -> Self {
        let identity = pair.ca.issue(FROM_DOMAIN).unwrap();
        let tls = mimi_pki::tls::client_config(
            std::slice::from_ref(&pair.ca.cert_pem),
            Some((&identity.cert_pem, &identity.key_pem)),
        )
        .unwrap();
        let addr = pair.providers[0].addr;
        Self {
            client: reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .no_proxy()
                .resolve("a.example", addr)
                .build()
                .unwrap(),
            port: addr.port(),
        }
    }

    /// The URL at the provider's port (the directory names the default one).
    fn routed(&self, url: &str) -> String {
        let mut url = reqwest::Url::parse(url).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    async fn directory(&self) -> Directory {
        let url = self.routed(&format!("https://a.example{DIRECTORY_PATH}"));
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        Directory::parse(&response.bytes().await.unwrap()).unwrap()
    }

    /// The status and body of the answer, or why there was none.
    async fn send(&self, request: &Request) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .client
            .post(self.routed(&request.url))
            .header("from", &request.from)
            .header("content-type", "application/octet-stream")
            .body(request.body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("{}: {e}", request.url))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, body.to_vec()))
    }
}

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

/// A room on a.example, made through its driver API.
async fn real_room(pair: &Pair) -> String {
    let (status, user) = pair
        .driver(
            0,
            "POST",
            "/v1/users",
            Some(serde_json::json!({"name": "storm"})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let client = user["clients"][0].as_str().unwrap().to_string();
    let room = pair
        .ok(
            0,
            "POST",
            "/v1/rooms",
            serde_json::json!({"client": client, "name": "storm"}),
            201,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_survives_a_storm_of_malformed_requests() {
    let pair = pair(Faults::none()).await;
    let link = LinkB::new(&pair);
    let directory = link.directory().await;
    let vars: BTreeMap<String, String> = [
        "targetUser",
        "targetDomain",
        "requesterDomain",
        "domain",
        "roomId",
        "downloadUrl",
    ]
    .iter()
    .map(|v| (v.to_string(), "mimi://a.example/u/alice".to_string()))
    .collect();
    let urls: Vec<String> = directory
        .endpoints
        .keys()
        .filter_map(|name| directory.url(name, &vars).ok())
        .collect();
    assert!(!urls.is_empty());
    let from = format!("mimi@{FROM_DOMAIN}");
    let mut random = Bytes(0x9e37_79b9_7f4a_7c15);
    let mut requests = Vec::new();
    for round in 0..ROUNDS {
        for url in &urls {
            let len = (random.next() % 300) as usize;
            requests.push(Request {
                url: url.clone(),
                from: if round % 10 == 0 {
                    "mimi@forged.example".into()
                } else {
                    from.clone()
                },
                body: random.take(len),
            });
        }
        requests.push(Request {
            url: format!(
                "https://a.example/v1/{}/x",
                ENDPOINTS[round % ENDPOINTS.len()]
            )
            .replace("/v1/keyMaterial/x", "/v1/nothing/x"),
            from: from.clone(),
            body: random.take(16),
        });
    }
    // Bodies over the limit: refused whole.
    for url in &urls {
        requests.push(Request {
            url: url.clone(),
            from: from.clone(),
            body: vec![0; (1 << 20) + 1],
        });
    }
    // Well-formed room messages, damaged: these reach the hub's MLS processing of a real room.
    let room = real_room(&pair).await;
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
                url: room_urls[endpoint].clone(),
                from: from.clone(),
                body,
            });
        }
    }
    let total = requests.len();
    let link = std::sync::Arc::new(link);
    let mut outcomes = Vec::new();
    let mut requests = requests.into_iter();
    // 16 requests in flight at a time.
    loop {
        let mut batch = tokio::task::JoinSet::new();
        for request in requests.by_ref().take(16) {
            let link = link.clone();
            batch.spawn(async move { link.send(&request).await });
        }
        if batch.is_empty() {
            break;
        }
        while let Some(outcome) = batch.join_next().await {
            outcomes.push(outcome.expect("a request task does not panic"));
        }
    }
    assert_eq!(outcomes.len(), total);
    let mut failures = Vec::new();
    for outcome in &outcomes {
        match outcome {
            Ok((status, body)) if (400..500).contains(status) && !body.is_empty() => {}
            // Random bytes can, rarely, be a valid request for an unknown user.
            Ok((200 | 201, _)) => {}
            Ok((status, body)) => failures.push(format!(
                "status {status} ({})",
                String::from_utf8_lossy(body)
            )),
            Err(e) => failures.push(e.clone()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} malformed requests were not answered with a 4xx: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // Still up, and still right: a claim of alice's KeyPackage hands out a valid one.
    let (status, body) = link
        .send(&Request {
            url: directory
                .url(
                    "keyMaterial",
                    &BTreeMap::from([(
                        "targetUser".to_string(),
                        "mimi://a.example/u/alice".to_string(),
                    )]),
                )
                .unwrap(),
            from,
            body: claim("mimi://a.example/u/alice"),
        })
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response: KeyMaterialResponse = mimi_wire::decode_exact(&body).unwrap();
    assert_eq!(response.user_status, USER_SUCCESS);
    assert!(!response.clients.is_empty());
    for client in &response.clients {
        let ClientKeyMaterialBody::KeyPackage(key_package) = &client.body else {
            panic!("{} has no KeyPackage: {client:?}", client.client_uri.0);
        };
        key_package
            .verify(&openmls_rust_crypto::RustCrypto::default())
            .unwrap();
    }
}

/// A KeyMaterialRequest for `target`, signed by a client of the storm's own domain.
fn claim(target: &str) -> Vec<u8> {
    use mimi_wire::common::{Credential, IdentifierUri};
    use mimi_wire::messages::key_material::{KeyMaterialRequest, KEY_MATERIAL_REQUEST_LABEL};
    use mimi_wire::Encode;
    let requester = mimi_mls::SimClient::new(
        format!("mimi://{FROM_DOMAIN}/d/storm/1"),
        mimi_mls::DEFAULT_CIPHERSUITE,
    );
    let mut request = KeyMaterialRequest {
        protocol: 1,
        requesting_user: IdentifierUri(format!("mimi://{FROM_DOMAIN}/u/storm")),
        target_user: IdentifierUri(target.into()),
        room_id: IdentifierUri::default(),
        acceptable_ciphersuites: vec![1],
        required_capabilities: Default::default(),
        requester_signature_key: requester.signature_key().to_vec(),
        requester_credential: Credential::Basic(requester.uri.clone().into_bytes()),
        signature: Vec::new(),
    };
    request.signature =
        requester.sign_with_label(KEY_MATERIAL_REQUEST_LABEL, &request.to_be_signed());
    request.to_bytes()
}
