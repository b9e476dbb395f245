//! The embedded MIMI reference provider: one implementation of draft-ietf-mimi-protocol-06 whose
//! named fault switches (`faults`) turn it into the mutants that prove each check can fail.
//!
//! It depends on the wire layer and MLS only, never on the harness: the harness reaches it over
//! HTTPS like any provider.

pub mod endpoints;
pub mod faults;
pub mod pki;
pub mod state;
pub mod tls;

use anyhow::Context;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use endpoints::Shared;
use faults::Faults;
use pki::CertifiedIdentity;
use state::{State, UserSeed};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub struct ProviderConfig {
    /// The provider's MIMI domain, authenticated by its certificate.
    pub domain: String,
    pub identity: CertifiedIdentity,
    /// CAs whose certificates peers may present.
    pub trust_roots: Vec<String>,
    pub users: Vec<UserSeed>,
    pub faults: Faults,
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
}

pub struct RunningProvider {
    pub domain: String,
    pub addr: SocketAddr,
    handle: Handle<SocketAddr>,
}

impl Drop for RunningProvider {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Starts the provider on the current tokio runtime and returns once it is listening.
pub async fn start(config: ProviderConfig) -> anyhow::Result<RunningProvider> {
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
    let server_config = tls::server_config(
        &identity.cert_pem,
        &identity.key_pem,
        &config.trust_roots,
        !config.faults.on(faults::Fault::ClientCertificateOptional),
    )?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::seeded(&config.domain, &config.users)),
        domain: config.domain.clone(),
        faults: config.faults,
    });
    let handle = Handle::new();
    // TCP_NODELAY: without it every new connection waits ~40 ms on the peer's delayed ACK.
    let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(server_config)))
        .acceptor(NoDelayAcceptor::new());
    let server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .serve(endpoints::router(shared).into_make_service());
    let domain = config.domain;
    let log_domain = domain.clone();
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(provider = %log_domain, "reference provider stopped: {e}");
        }
    });
    Ok(RunningProvider {
        domain,
        addr,
        handle,
    })
}
