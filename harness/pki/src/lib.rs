//! TLS and test-PKI helpers for MIMI's mutually authenticated HTTPS (P-06 §4.1), used alike by the
//! harness (its link-B client and server, its driver client, `pki` and `serve`) and by the
//! reference provider. Neither side owns them, so neither depends on the other for them.

pub mod ca;
pub mod tls;
