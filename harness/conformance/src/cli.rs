//! The command line: parses the arguments and hands each subcommand to its module. Nothing else
//! lives here.

use crate::builtin::BuiltIn;
use crate::commands;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mimi-conformance",
    version,
    about = "Conformance and interop tests for MIMI providers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the cases against the providers (the embedded reference providers by default).
    Run(commands::run::RunArgs),
    /// Write a test PKI (a CA, provider and harness certificates, and profiles) for a lab.
    Pki(commands::pki::PkiArgs),
    /// Measure the runner's overhead and the case loader's speed.
    #[cfg(feature = "reference-provider")]
    Bench(commands::bench::BenchArgs),
    /// Render a captured MIMI body (binary, hex or base64) as YAML.
    Decode(commands::decode::DecodeArgs),
    /// Run the cases against the reference provider with each named fault on: the kill matrix.
    #[cfg(feature = "reference-provider")]
    Mutants(crate::reference::mutants::MutantsArgs),
    /// Run the cases against the reference provider with each named variant on: no correct
    /// provider may fail a case.
    #[cfg(feature = "reference-provider")]
    Variants(crate::reference::variants::VariantsArgs),
    /// Mint KeyPackages for a test user, to provision a provider that has no driver API.
    Keypackage(commands::keypackage::KeyPackageArgs),
    /// Serve reference providers and write their PKI and provider profiles.
    #[cfg(feature = "reference-provider")]
    Serve(crate::reference::serve::ServeArgs),
    /// Every requirement with its cases and their last verdicts, and the uncovered ones.
    Coverage(commands::coverage::CoverageArgs),
    /// Stand between providers on link B: forward, record, decode and check what they send.
    Observe(commands::observe::ObserveArgs),
    /// The interop matrix: every provider alone and every ordered pair; `merge`, `diff`.
    Matrix(commands::matrix::MatrixArgs),
    /// Write an Ed25519 key pair for signing certification bundles.
    Keygen(commands::certify::KeygenArgs),
    /// Run the cases (or take a run's reports) and write a signed bundle of the outcome and its
    /// evidence, or refuse.
    Certify(commands::certify::CertifyArgs),
    /// Check a bundle's signature and digests, and recompute its verdicts from its evidence.
    Verify(commands::certify::VerifyArgs),
}

/// The binary's entry; `built_in` is the cases folder it was built with.
pub fn main(built_in: &'static BuiltIn) -> ExitCode {
    commands::init_logging();
    match Cli::parse().command {
        Command::Run(args) => commands::run::run(args, built_in),
        Command::Pki(args) => commands::pki::run(&args),
        #[cfg(feature = "reference-provider")]
        Command::Bench(args) => commands::bench::run(&args, built_in),
        Command::Decode(args) => commands::decode::run(&args),
        #[cfg(feature = "reference-provider")]
        Command::Mutants(args) => crate::reference::mutants::run(&args, built_in),
        #[cfg(feature = "reference-provider")]
        Command::Variants(args) => crate::reference::variants::run(&args, built_in),
        Command::Keypackage(args) => commands::keypackage::run(&args),
        #[cfg(feature = "reference-provider")]
        Command::Serve(args) => crate::reference::serve::run(&args),
        Command::Coverage(args) => commands::coverage::run(&args, built_in),
        Command::Observe(args) => commands::observe::run(&args, built_in),
        Command::Matrix(args) => commands::matrix::run(args, built_in),
        Command::Keygen(args) => commands::certify::keygen(&args),
        Command::Certify(args) => commands::certify::certify(args, built_in),
        Command::Verify(args) => commands::certify::verify(&args, built_in),
    }
}
