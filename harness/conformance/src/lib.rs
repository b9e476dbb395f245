//! mimi-conformance: a conformance and interop test harness for MIMI providers.
//!
//! Cases (YAML, `case`) are planned into libtest-mimic trials (`runner`), sent over the link
//! drivers (`drivers`) using the wire layer (`mimi-wire`, `mimi-mls`), checked by assertion
//! keywords (`expect`) and the provider's known failures (`known_failures`), and reported
//! (`report`). `session` is the suite API the commands (`commands`, dispatched by `cli`) and
//! the tests build on. Below them all: YAML values that remember where they stand (`yaml`) and
//! the `{{ }}` templates in them (`template`). The reference provider is reached only through
//! `reference`, which the default-on `reference-provider` feature compiles in; ARCHITECTURE.md
//! at the repository's root draws the layers.

pub mod builtin;
pub mod case;
pub mod catalogue;
pub mod certify;
pub mod cli;
pub mod commands;
pub mod differences;
pub mod drivers;
pub mod exit;
pub mod expect;
pub mod known_failures;
pub mod lab;
#[cfg(test)]
mod layers;
pub mod observer;
pub mod profile;
#[cfg(feature = "reference-provider")]
pub mod reference;
pub mod report;
pub mod run_control;
pub mod runner;
pub mod session;
pub mod template;
pub mod units;
pub mod yaml;
