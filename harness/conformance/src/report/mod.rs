//! Reporters: each consumes the runner's records on its own and writes one kind of output.

pub mod console;
pub mod junit;
pub mod lifecycle;
pub mod results;
