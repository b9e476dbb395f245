//! The embedded MIMI reference provider: one implementation of draft-ietf-mimi-protocol-06 whose
//! named fault switches (`faults`) turn it into the mutants that prove each check can fail, and
//! whose named variants (`variants`) turn it into correct providers that differ from it.
//!
//! It depends on the wire layer, MLS and the neutral TLS helpers (`mimi-pki`) only, never on the
//! harness: the harness reaches it over HTTPS like any provider.

pub mod activity;
pub mod client_actions;
pub mod driver;
pub mod endpoints;
pub mod fanout;
pub mod faults;
pub mod hub;
pub mod limits;
pub mod peer_client;
pub mod state;
pub mod variants;

use anyhow::Context;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use endpoints::Shared;
use faults::Faults;
use mimi_pki::ca::CertifiedIdentity;
use state::{State, UserSeed};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use variants::{Variant, Variants};

pub struct ProviderConfig {
    /// The provider's MIMI domain, authenticated by its certificate.
    pub domain: String,
    pub identity: CertifiedIdentity,
    /// CAs whose certificates peers may present.
    pub trust_roots: Vec<String>,
    pub users: Vec<UserSeed>,
    pub faults: Faults,
    /// Legal behaviours other than the default (`variants`).
    pub variants: Variants,
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Peer domains whose assets `proxyDownload` fetches.
    pub asset_domains: Vec<String>,
    /// The driver API: where it listens and the bearer token it requires.
    pub driver: Option<(SocketAddr, String)>,
}

pub struct RunningProvider {
    pub domain: String,
    pub addr: SocketAddr,
    /// Where the driver API listens, when it runs.
    pub driver_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    handle: Handle<SocketAddr>,
    driver: Option<tokio::task::JoinHandle<()>>,
}

impl RunningProvider {
    /// Reaches the provider `domain` at `addr` on link B.
    pub fn route(&self, domain: &str, addr: SocketAddr) {
        self.shared.peers.route(domain, addr);
    }

    /// How often the variant's code path ran in this provider so far.
    pub fn variant_uses(&self, variant: Variant) -> u64 {
        self.shared.variants.uses(variant)
    }

    /// Hosts an asset for the provider's users; returns its URL.
    pub fn host_asset(&self, content: Vec<u8>) -> anyhow::Result<String> {
        driver::store_asset(&self.shared, content).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

impl Drop for RunningProvider {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(driver) = &self.driver {
            driver.abort();
        }
    }
}

/// Starts several providers that reach one another (and themselves) on link B.
pub async fn start_network(configs: Vec<ProviderConfig>) -> anyhow::Result<Vec<RunningProvider>> {
    let mut running = Vec::new();
    for config in configs {
        running.push(start(config).await?);
    }
    for provider in &running {
        for peer in &running {
            provider.route(&peer.domain, peer.addr);
        }
    }
    Ok(running)
}

/// Starts the provider on the current tokio runtime and returns once it is listening.
pub async fn start(config: ProviderConfig) -> anyhow::Result<RunningProvider> {
    start_with_limits(config, limits::Limits::default()).await
}

/// As `start`, shedding clients by these limits.
pub async fn start_with_limits(
    config: ProviderConfig,
    limits: limits::Limits,
) -> anyhow::Result<RunningProvider> {
    // The fault presents a certificate that authenticates neither this domain nor a known CA.
    let identity = if config.faults.on(faults::Fault::WrongServerCertificate) {
        let wrong = rcgen::generate_simple_self_signed(vec!["wrong.example".to_string()])?;
        CertifiedIdentity {
            cert_pem: wrong.cert.pem(),
            key_pem: wrong.signing_key.serialize_pem(),
        }
    } else {
        config.identity.clone()
    };
    let server_config = mimi_pki::tls::server_config(
        &identity.cert_pem,
        &identity.key_pem,
        &config.trust_roots,
        !config.faults.on(faults::Fault::ClientCertificateOptional),
    )?;
    let mut server_config = server_config;
    if config.variants.contains(Variant::Http1Only) {
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    if config.variants.contains(Variant::Http2Only) {
        server_config.alpn_protocols = vec![b"h2".to_vec()];
    }
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::seeded(
            &config.domain,
            &config.users,
            &config.variants,
        )),
        peers: peer_client::PeerClient::new(
            &config.domain,
            &config.identity,
            &config.trust_roots,
            &config.faults,
            &config.variants,
        )?,
        hub: mimi_mls::SimClient::new(
            format!("mimi://{}", config.domain),
            mimi_mls::DEFAULT_CIPHERSUITE,
        ),
        asset_domains: config
            .asset_domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect(),
        fanout: fanout::FanoutQueues::default(),
        domain: config.domain.clone(),
        faults: config.faults,
        variants: config.variants,
    });
    let handle = Handle::new();
    // TCP_NODELAY: without it every new connection waits ~40 ms on the peer's delayed ACK.
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(server_config)))
        .handshake_timeout(limits.handshake)
        .acceptor(limits::LimitAcceptor::new(
            NoDelayAcceptor::new(),
            limits.clone(),
        ));
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .first_request_timeout(limits.head);
    server
        .http_builder()
        .http1()
        .header_read_timeout(limits.head);
    // ALPN offers only the one version; this refuses the other to clients that offer no ALPN.
    if shared.variants.contains(Variant::Http1Only) {
        *server.http_builder() = server.http_builder().clone().http1_only();
    }
    if shared.variants.contains(Variant::Http2Only) {
        *server.http_builder() = server.http_builder().clone().http2_only();
    }
    let body_timeout = limits.body;
    let app =
        endpoints::router(shared.clone()).layer(axum::middleware::from_fn(move |request, next| {
            limits::read_body_first(body_timeout, endpoints::MAX_BODY_BYTES, request, next)
        }));
    let server = server.serve(app.into_make_service());
    let domain = config.domain;
    let log_domain = domain.clone();
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(provider = %log_domain, "reference provider stopped: {e}");
        }
    });
    let (driver_addr, driver) = match config.driver {
        Some((listen, token)) => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding the driver API on {listen}"))?;
            let driver_addr = listener.local_addr()?;
            let app = driver::router(shared.clone(), token);
            let task = tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("driver API stopped: {e}");
                }
            });
            (Some(driver_addr), Some(task))
        }
        None => (None, None),
    };
    Ok(RunningProvider {
        domain,
        addr,
        driver_addr,
        shared,
        handle,
        driver,
    })
}
