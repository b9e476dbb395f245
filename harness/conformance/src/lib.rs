//! mimi-conformance: a conformance and interop test harness for MIMI providers.
//!
//! Cases (YAML, `case`) are planned into libtest-mimic trials (`runner`), sent over the link
//! drivers (`drivers`) using the wire layer (`mimi-wire`, `mimi-mls`), checked by assertion
//! keywords (`expect`), and reported (`report`). The embedded reference provider
//! (`mimi-reference-provider`) is the default target.

pub mod bench;
pub mod case;
pub mod catalogue;
pub mod cli;
pub mod coverage;
pub mod decode;
pub mod drivers;
pub mod embedded;
pub mod exit;
pub mod expect;
pub mod expectations;
pub mod mutants;
pub mod observer;
pub mod pki;
pub mod profile;
pub mod report;
pub mod runner;
pub mod serve;
