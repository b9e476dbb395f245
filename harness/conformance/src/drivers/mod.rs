//! How the harness reaches providers and how they reach it: link B (MIMI over HTTPS with mutual
//! TLS) as a client (`link_b`) and as a server when it plays a provider (`peer`), and the driver
//! API for links A and C (`link_a`, specified by `openapi`). `outcome` says how far an exchange
//! got before it broke; `transport` is link B's client that knows.

pub mod link_a;
pub mod link_b;
pub mod openapi;
pub mod outcome;
pub mod peer;
mod transport;
