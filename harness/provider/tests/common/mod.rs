//! Two reference providers on loopback, a.example and b.example, with their driver APIs.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use mimi_pki::ca::TestCa;
use mimi_reference_provider::faults::Faults;
use mimi_reference_provider::state::UserSeed;
use mimi_reference_provider::{start_network, ProviderConfig, RunningProvider};
use serde_json::Value;

pub const TOKEN: &str = "test-token";

pub struct Pair {
    pub providers: Vec<RunningProvider>,
    pub http: reqwest::Client,
    /// The CA of both providers, which they also trust for client certificates.
    pub ca: TestCa,
}

pub fn seed(name: &str, clients: usize) -> UserSeed {
    UserSeed {
        name: name.into(),
        clients,
        key_packages_per_client: 8,
        consent_required: false,
        consented_requesters: Vec::new(),
    }
}

pub async fn pair(faults_of_a: Faults) -> Pair {
    let ca = TestCa::generate("test CA").unwrap();
    let dora = UserSeed {
        consent_required: true,
        ..seed("dora", 1)
    };
    let users = [
        vec![seed("alice", 1), seed("dave", 1)],
        vec![seed("bob", 2), seed("carol", 1), dora],
    ];
    let configs = ["a.example", "b.example"]
        .iter()
        .zip(users)
        .enumerate()
        .map(|(i, (domain, users))| ProviderConfig {
            domain: domain.to_string(),
            identity: ca.issue(domain).unwrap(),
            trust_roots: vec![ca.cert_pem.clone()],
            users,
            faults: if i == 0 {
                faults_of_a.clone()
            } else {
                Faults::none()
            },
            variants: Default::default(),
            listen: "127.0.0.1:0".parse().unwrap(),
            asset_domains: vec!["b.example".into()],
            driver: Some(("127.0.0.1:0".parse().unwrap(), TOKEN.into())),
        })
        .collect();
    Pair {
        providers: start_network(configs).await.unwrap(),
        http: reqwest::Client::builder()
            .use_preconfigured_tls(
                mimi_pki::tls::client_config(std::slice::from_ref(&ca.cert_pem), None).unwrap(),
            )
            .no_proxy()
            .build()
            .unwrap(),
        ca,
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Pair {
    /// Calls provider `i`'s driver API; returns the status and the JSON body.
    pub async fn driver(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, bytes) = self.driver_raw(i, TOKEN, method, path, body).await;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Calls provider `i`'s driver API with this bearer token; returns the status and the body.
    pub async fn driver_raw(
        &self,
        i: usize,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Vec<u8>) {
        let url = format!("http://{}{path}", self.providers[i].driver_addr.unwrap());
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap().to_vec())
    }

    /// Calls and expects `status`.
    pub async fn ok(&self, i: usize, method: &str, path: &str, body: Value, status: u16) -> Value {
        let (got, value) = self.driver(i, method, path, Some(body)).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        value
    }

    /// The messages a client has received so far.
    pub async fn inbox(&self, i: usize, client: &str) -> Vec<Value> {
        let (status, value) = self
            .driver(
                i,
                "GET",
                &format!("/v1/clients/{}/messages", enc(client)),
                None,
            )
            .await;
        assert_eq!(status, 200, "{value}");
        value["messages"].as_array().unwrap().clone()
    }

    /// Waits until the client has received `n` messages (fan-out is asynchronous).
    pub async fn wait_inbox(&self, i: usize, client: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let inbox = self.inbox(i, client).await;
            if inbox.len() >= n {
                return inbox;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "{client} never received {n} messages: {:?}",
            self.inbox(i, client).await
        );
    }

    /// Waits until the client is a member of the room at `epoch`.
    pub async fn wait_epoch(&self, i: usize, client: &str, room: &str, epoch: u64) -> Value {
        let path = format!("/v1/clients/{}/rooms/{}", enc(client), enc(room));
        for _ in 0..200 {
            let (status, value) = self.driver(i, "GET", &path, None).await;
            if status == 200 && value["epoch"] == epoch {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "{client} never reached epoch {epoch} of {room}: {:?}",
            self.driver(i, "GET", &path, None).await
        );
    }
}
