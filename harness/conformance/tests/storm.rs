//! A storm of malformed requests against the embedded reference provider: random and truncated
//! bodies on every endpoint, oversized bodies, a forged `From`, unknown paths. Every one gets a
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
needs: [users.bob]
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
