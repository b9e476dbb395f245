//! The `mimi-conformance` binary: the harness (`mimi_conformance`, in harness/conformance) with
//! the shipped cases built in (build.rs writes their list), so that it runs from any folder.

use mimi_conformance::builtin::BuiltIn;

static BUILT_IN: BuiltIn = include!(concat!(env!("OUT_DIR"), "/built_in_cases.rs"));

fn main() -> std::process::ExitCode {
    mimi_conformance::cli::main(&BUILT_IN)
}
