//! The MIMI wire: messages of draft-ietf-mimi-protocol (TLS presentation language), the MLS objects
//! inside them, and their rendering as a tree. This is the only code that the harness and the
//! reference provider share.

pub mod codec;
pub mod common;
pub mod content;
pub mod fields;
pub mod messages;
pub mod mls_objects;
pub mod registry;
pub mod render;

pub use codec::{decode_exact, Decode, DecodeError, Encode};
pub use render::Render;
