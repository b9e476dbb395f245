//! How the harness reaches providers and how they reach it: link B (MIMI over HTTPS with mutual
//! TLS) as a client (`link_b`) and as a server when the harness plays a provider
//! (`harness_server`), and the driver API through which it acts as a provider's users on links A
//! and C (`driver_api`, specified by fixtures/driver-api/openapi.yaml through `mimi-driver-spec`).
//! `outcome` says how far an exchange got before it broke; `transport` is link B's client that
//! knows.

pub mod driver_api;
pub mod harness_server;
pub mod link_b;
pub mod outcome;
mod transport;
