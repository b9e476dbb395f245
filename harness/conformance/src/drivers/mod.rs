//! How the harness reaches providers: link B (MIMI over HTTPS with mutual TLS), and the driver
//! API for links A and C.

pub mod link_a;
pub mod link_b;
pub mod openapi;
