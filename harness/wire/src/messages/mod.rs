//! Every MIMI message of draft-ietf-mimi-protocol-06 §5, one file per endpoint.

pub mod directory;
pub mod key_material;
