//! Every MIMI message of draft-ietf-mimi-protocol-06 §5, one file per endpoint, and the room
//! state of §7.

pub mod abuse;
pub mod common_mls;
pub mod consent;
pub mod directory;
pub mod group_info;
pub mod identifier;
pub mod key_material;
pub mod notify;
pub mod room_state;
pub mod submit;
pub mod update;
