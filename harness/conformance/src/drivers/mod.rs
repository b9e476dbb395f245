//! How the harness reaches providers and how they reach it: link B (MIMI over HTTPS with mutual
//! TLS) as a client (`link_b`) and as a server when it plays a provider (`peer`), and the driver
//! API for links A and C (`link_a`, specified by `openapi`).

pub mod link_a;
pub mod link_b;
pub mod openapi;
pub mod peer;
