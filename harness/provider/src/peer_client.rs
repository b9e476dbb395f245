//! Requests this provider sends to other providers on link B (P-06 §4.1): HTTPS presenting its
//! own certificate, `From: mimi@<own domain>`, the target in `Host` (from the URL), each URL
//! resolved through the target's directory.

use mimi_pki::ca::CertifiedIdentity;
use mimi_wire::messages::directory::{expand_template, Directory, DIRECTORY_PATH};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Time a request to a peer may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response read from a peer.
const MAX_PEER_RESPONSE: usize = 4 << 20;

type Addresses = Arc<RwLock<BTreeMap<String, SocketAddr>>>;

/// Resolves peer domains registered with `PeerClient::route`; other names through the system.
struct PeerResolver(Addresses);

impl reqwest::dns::Resolve for PeerResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let known = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name.as_str())
            .copied();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match known {
                Some(addr) => vec![addr],
                None => tokio::net::lookup_host((host.as_str(), 443))
                    .await?
                    .collect(),
            };
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub struct PeerClient {
    /// The `From` of every request (P-06 §4.1: mimi@<own domain>); none with a fault.
    from: Option<String>,
    /// A `Host` that replaces the target's (only with a fault).
    host: Option<String>,
    client: reqwest::Client,
    addresses: Addresses,
    directories: Mutex<BTreeMap<String, Directory>>,
    /// What is still to be sent: requests in flight here, and the fan-out's queued messages.
    pub outgoing: crate::activity::Activity,
}

/// A peer's answer.
#[derive(Debug)]
pub struct PeerResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl PeerClient {
    pub fn new(
        domain: &str,
        identity: &CertifiedIdentity,
        trust_roots: &[String],
        faults: &crate::faults::Faults,
        variants: &crate::variants::Variants,
    ) -> anyhow::Result<Self> {
        use crate::faults::Fault;
        use crate::variants::Variant;
        let certificate = (!faults.on(Fault::OutgoingWithoutCertificate))
            .then_some((identity.cert_pem.as_str(), identity.key_pem.as_str()));
        let tls = mimi_pki::tls::client_config(trust_roots, certificate)?;
        let local_part = if faults.on(Fault::OutgoingFromWrong) {
            "admin"
        } else {
            "mimi"
        };
        let from = if faults.on(Fault::OutgoingFromMissing) {
            None
        } else if faults.on(Fault::OutgoingFromNameAddr) {
            Some(format!("\"MIMI\" <{local_part}@{domain}>"))
        } else {
            Some(format!("{local_part}@{domain}"))
        };
        let addresses = Addresses::default();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .no_proxy()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PEER_TIMEOUT)
            .dns_resolver(Arc::new(PeerResolver(addresses.clone())));
        let client = if variants.contains(Variant::Http1Only) {
            client.http1_only()
        } else if variants.contains(Variant::Http2Only) {
            client.http2_prior_knowledge()
        } else {
            client
        }
        .build()?;
        Ok(Self {
            from,
            host: faults
                .on(Fault::OutgoingHostWrong)
                .then(|| domain.to_string()),
            client,
            addresses,
            directories: Mutex::default(),
            outgoing: Default::default(),
        })
    }

    /// Reaches `domain` at `addr` (TLS still names and verifies `domain`).
    pub fn route(&self, domain: &str, addr: SocketAddr) {
        self.addresses
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_string(), addr);
        self.directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(domain);
    }

    /// The URL with the routed port put in.
    fn routed(&self, url: &str) -> String {
        let Ok(mut parsed) = reqwest::Url::parse(url) else {
            return url.to_string();
        };
        let port = parsed.host_str().and_then(|h| {
            self.addresses
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(h)
                .map(|a| a.port())
        });
        if let Some(port) = port {
            let _ = parsed.set_port(Some(port));
        }
        parsed.to_string()
    }

    async fn directory(&self, peer: &str) -> Result<Directory, String> {
        if let Some(d) = self
            .directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer)
        {
            return Ok(d.clone());
        }
        let url = format!("https://{peer}{DIRECTORY_PATH}");
        let response = self
            .send(reqwest::Method::GET, &url, None, Vec::new())
            .await?;
        if response.status != 200 {
            return Err(format!("{peer}'s directory answered {}", response.status));
        }
        let directory = Directory::parse(&response.body)?;
        self.directories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.to_string(), directory.clone());
        Ok(directory)
    }

    /// Calls `endpoint` on `peer` with every variable of its URL template set to `value` (the
    /// endpoints of P-06 §5 have one each, whatever the peer names it); while in flight, it is
    /// outgoing work of `room`, the room it is about, if one.
    pub async fn call(
        &self,
        peer: &str,
        endpoint: &str,
        value: &str,
        room: Option<&str>,
        body: Vec<u8>,
    ) -> Result<PeerResponse, String> {
        let directory = self.directory(peer).await?;
        let template = directory
            .endpoints
            .get(endpoint)
            .ok_or_else(|| format!("{peer}'s directory has no {endpoint:?}"))?;
        let url = expand_template(template, &template_variables(template, value))?;
        let method = if endpoint == "proxyDownload" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        self.send(method, &url, room, body).await
    }

    /// A GET of a URL on a peer (an asset download).
    pub async fn get(&self, url: &str) -> Result<PeerResponse, String> {
        self.send(reqwest::Method::GET, url, None, Vec::new()).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        room: Option<&str>,
        body: Vec<u8>,
    ) -> Result<PeerResponse, String> {
        let _in_flight = self.outgoing.begin(room);
        let mut request = self.client.request(method, self.routed(url));
        if let Some(from) = &self.from {
            request = request.header("from", from);
        }
        if let Some(host) = &self.host {
            request = request.header("host", host);
        }
        if !body.is_empty() {
            request = request
                .header("content-type", "application/octet-stream")
                .body(body);
        }
        let mut response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() + chunk.len() > MAX_PEER_RESPONSE {
                return Err(format!(
                    "{url}: the response exceeds {MAX_PEER_RESPONSE} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(PeerResponse {
            status,
            retry_after,
            body,
        })
    }
}

/// Every `{name}` of a URL template mapped to `value`.
fn template_variables(template: &str, value: &str) -> BTreeMap<String, String> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| (name.to_string(), value.to_string()))
        .collect()
}
