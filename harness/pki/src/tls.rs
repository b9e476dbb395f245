//! TLS configuration for MIMI's mutually authenticated HTTPS (P-06 §4.1): the server and client
//! sides, and the names a certificate authenticates.

use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn certs_from_pem(pem: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading PEM certificates")?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in the PEM text");
    Ok(certs)
}

pub fn key_from_pem(pem: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).context("reading a PEM private key")
}

pub fn root_store(trust_roots_pem: &[String]) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for pem in trust_roots_pem {
        for cert in certs_from_pem(pem)? {
            roots.add(cert).context("adding a trust root")?;
        }
    }
    Ok(roots)
}

/// The server side. With `require_client_certificate` false the server still asks for one and
/// verifies it when given, but lets a peer without one in (the fault `client-certificate-optional`).
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    trust_roots_pem: &[String],
    require_client_certificate: bool,
) -> anyhow::Result<ServerConfig> {
    let roots = Arc::new(root_store(trust_roots_pem)?);
    let builder = WebPkiClientVerifier::builder_with_provider(roots, crypto_provider());
    let verifier = if require_client_certificate {
        builder.build()?
    } else {
        builder.allow_unauthenticated().build()?
    };
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs_from_pem(cert_pem)?, key_from_pem(key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The client side; `client_identity` is the (cert, key) PEM pair to present, if any.
pub fn client_config(
    trust_roots_pem: &[String],
    client_identity: Option<(&str, &str)>,
) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(root_store(trust_roots_pem)?);
    let mut config = match client_identity {
        Some((cert, key)) => {
            builder.with_client_auth_cert(certs_from_pem(cert)?, key_from_pem(key)?)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The DNS names a certificate authenticates (its subjectAltName dNSName entries).
pub fn certificate_domains(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
