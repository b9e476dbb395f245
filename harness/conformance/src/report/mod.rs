//! Reporters: each consumes the runner's typed records on its own and renders one kind of
//! output. The runner imports none of them.

pub mod console;
pub mod html;
pub mod junit;
pub mod libtest;
pub mod lifecycle;
pub mod matrix;
pub mod observed;
pub mod results;
#[cfg(test)]
pub(crate) mod sample;
