//! How the harness reaches providers: link B (MIMI over HTTPS with mutual TLS) now; the driver
//! API for links A and C joins it here.

pub mod link_b;
