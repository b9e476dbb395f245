//! The reference provider sheds clients that would hold it: hundreds of half-sent requests from
//! one address (silent connections, TLS then half a request head, a head then part of a body)
//! neither stop a well-formed claim from another peer nor stay open; and an early rejection
//! reaches the client as its 4xx over HTTP/2 as over HTTP/1.1.

// The two-provider helpers are for the other tests; this one starts its own, with limits
// (common allows its own dead code).
mod common;

use common::seed;
use mimi_pki::ca::TestCa;
use mimi_reference_provider::faults::Faults;
use mimi_reference_provider::{ProviderConfig, RunningProvider};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Lab {
    ca: TestCa,
    hub: RunningProvider,
    target: RunningProvider,
}

/// a.example (the hub, default limits) and b.example (the target, default limits), reaching
/// each other.
async fn lab() -> Lab {
    let ca = TestCa::generate("shedding CA").unwrap();
    let config = |domain: &str, users| ProviderConfig {
        domain: domain.into(),
        identity: ca.issue(domain).unwrap(),
        trust_roots: vec![ca.cert_pem.clone()],
        users,
        faults: Faults::none(),
        listen: "127.0.0.1:0".parse().unwrap(),
        asset_domains: vec![],
        driver: Some(("127.0.0.1:0".parse().unwrap(), common::TOKEN.into())),
    };
    let hub = mimi_reference_provider::start(config("a.example", vec![seed("alice", 1)]))
        .await
        .unwrap();
    let target = mimi_reference_provider::start_with_limits(
        config("b.example", vec![seed("carol", 1)]),
        Default::default(),
    )
    .await
    .unwrap();
    for p in [&hub, &target] {
        p.route("a.example", hub.addr);
        p.route("b.example", target.addr);
    }
    Lab { ca, hub, target }
}

/// A TLS client presenting a certificate of the lab, offering these protocols.
fn tls_client(lab: &Lab, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let attacker = lab.ca.issue("attacker.example").unwrap();
    let mut config = mimi_pki::tls::client_config(
        std::slice::from_ref(&lab.ca.cert_pem),
        Some((&attacker.cert_pem, &attacker.key_pem)),
    )
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A connection from another loopback address than the well-behaved peers'.
async fn connect_from_elsewhere(to: SocketAddr) -> Option<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind("127.0.0.2:0".parse().unwrap()).ok()?;
    socket.connect(to).await.ok()
}

/// Waits until the connection is closed by the provider (EOF or an error), up to a hang bound.
async fn closed<S: tokio::io::AsyncRead + Unpin>(mut stream: S) -> bool {
    let mut buf = [0u8; 1024];
    let reading = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(90), reading)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_shed_and_a_claim_still_succeeds() {
    let lab = lab().await;
    let target = lab.target.addr;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_client(&lab, &[b"http/1.1"])));
    let name = rustls::pki_types::ServerName::try_from("b.example").unwrap();
    let mut held = tokio::task::JoinSet::new();
    let mut opened = 0;
    for i in 0..300 {
        let Some(tcp) = connect_from_elsewhere(target).await else {
            continue;
        };
        opened += 1;
        let connector = connector.clone();
        let name = name.clone();
        held.spawn(async move {
            match i % 3 {
                // Silent: not even a ClientHello.
                0 => closed(tcp).await,
                // TLS, then half a request head.
                1 => match connector.connect(name, tcp).await {
                    Ok(mut tls) => {
                        let _ = tls
                            .write_all(b"POST /v1/keyMaterial/x HTTP/1.1\r\nhost: b.example\r\nfrom: mimi@attacker.example\r\n")
                            .await;
                        closed(tls).await
                    }
                    Err(_) => true,
                },
                // A whole head, then ten of the thousand body bytes it announces.
                _ => match connector.connect(name, tcp).await {
                    Ok(mut tls) => {
                        let _ = tls
                            .write_all(b"POST /v1/keyMaterial/x HTTP/1.1\r\nhost: b.example\r\nfrom: mimi@attacker.example\r\ncontent-length: 1000\r\n\r\n0123456789")
                            .await;
                        closed(tls).await
                    }
                    Err(_) => true,
                },
            }
        });
    }
    assert!(opened >= 200, "only {opened} connections opened");

    // Meanwhile a well-formed claim, by the hub for a room it hosts, reaches the target.
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(
            mimi_pki::tls::client_config(std::slice::from_ref(&lab.ca.cert_pem), None).unwrap(),
        )
        .no_proxy()
        .build()
        .unwrap();
    let driver = |path: &str| format!("http://{}{path}", lab.hub.driver_addr.unwrap());
    let room = http
        .post(driver("/v1/rooms"))
        .bearer_auth(common::TOKEN)
        .header("content-type", "application/json")
        .body(json!({"client": "mimi://a.example/d/alice/1", "name": "busy"}).to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let room = serde_json::from_str::<serde_json::Value>(&room).unwrap()["room"]
        .as_str()
        .unwrap()
        .to_string();
    let invited = http
        .post(driver(&format!("/v1/rooms/{}/invite", common::enc(&room))))
        .bearer_auth(common::TOKEN)
        .header("content-type", "application/json")
        .body(
            json!({"client": "mimi://a.example/d/alice/1", "user": "mimi://b.example/u/carol"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = invited.status();
    assert_eq!(status, 200, "{}", invited.text().await.unwrap());

    // And every half-open connection is closed by the provider (within its timeouts; the
    // bound is a hang detector).
    let mut open = 0;
    while let Some(was_closed) = held.join_next().await {
        if !was_closed.unwrap() {
            open += 1;
        }
    }
    assert_eq!(open, 0, "{open} half-open connections were never closed");
}

/// An early rejection (a `From` the certificate does not authenticate, a missing `From`, a body
/// too large) is the same 4xx over HTTP/2 as over HTTP/1.1, though the request's body is still
/// on its way when the provider decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_rejections_are_their_4xx_over_both_protocols() {
    let lab = lab().await;
    let url = format!(
        "https://b.example:{}/v1/keyMaterial/x",
        lab.target.addr.port()
    );
    for (alpn, version) in [
        (&b"h2"[..], reqwest::Version::HTTP_2),
        (&b"http/1.1"[..], reqwest::Version::HTTP_11),
    ] {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls_client(&lab, &[alpn]))
            .resolve("b.example", lab.target.addr)
            .no_proxy()
            .build()
            .unwrap();
        for (from, size, status) in [
            (Some("mimi@impostor.example"), 900 << 10, 403),
            (None, 900 << 10, 400),
            (Some("mimi@attacker.example"), 3 << 20, 413),
        ] {
            let mut request = client.post(&url).body(vec![7u8; size]);
            if let Some(from) = from {
                request = request.header("from", from);
            }
            let response = request.send().await.unwrap_or_else(|e| {
                panic!("{version:?}, From {from:?}, {size} bytes: no response: {e:?}")
            });
            assert_eq!(response.version(), version);
            assert_eq!(
                response.status(),
                status,
                "{version:?}, From {from:?}, {size} bytes"
            );
            assert!(!response.text().await.unwrap().is_empty(), "a reason");
        }
    }
}
