//! `mimi-conformance run`, and the `cargo test` target that runs the same suite the same way
//! (`test_main`).

use crate::builtin::BuiltIn;
use crate::exit;
use crate::session::{run_suite, CaseFolders, CaseSources, Providers, RunOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {
    /// A provider profile (YAML); the first is the provider under test, a second plays `peer`.
    /// Without any, the embedded reference providers are started.
    #[arg(long = "provider", value_name = "FILE")]
    pub providers: Vec<PathBuf>,
    #[command(flatten)]
    pub cases: CaseFolders,
    /// The folder reports are written to.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Fail on broken SHOULDs too.
    #[arg(long)]
    pub strict: bool,
    /// The provider's expectation file: known-failing and known-flaky cases, with reasons.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    /// Bound the whole run (`30m`, `90s`): when it runs out, no new case starts, running cases
    /// are stopped and reported as not run, and the run fails.
    #[arg(long, value_name = "DURATION", value_parser = crate::case::parse_duration)]
    pub run_timeout: Option<std::time::Duration>,
    /// Write the snapshots of a provider other than the reference beside the cases, not under
    /// the reports folder.
    #[arg(long)]
    pub snapshots_beside_cases: bool,
    #[command(flatten)]
    pub test: libtest_mimic::Arguments,
}

pub fn run(args: RunArgs, built_in: &'static BuiltIn) -> ExitCode {
    let providers = if !args.providers.is_empty() {
        Providers::ProfileFiles(args.providers)
    } else if let Some(providers) = default_providers() {
        providers
    } else if args.test.list {
        // Listing needs no provider.
        Providers::Profiles(Vec::new())
    } else {
        eprintln!(
            "error: no --provider given, and this build has no reference provider to run against \
             (it was built without the `reference-provider` feature); give the profiles of the \
             providers to test, for example those `mimi-conformance serve` writes"
        );
        return exit::code(exit::INVALID);
    };
    let options = RunOptions {
        strict: args.strict,
        expectations: args.expectations,
        reports: Some(args.reports),
        run_timeout: args.run_timeout,
        snapshots_beside_cases: args.snapshots_beside_cases,
        test: args.test,
        evidence: Some(&crate::certify::evidence::EVIDENCE),
    };
    run_suite(&args.cases.sources(built_in), providers, &options)
}

/// A run's providers when no profile is given: the embedded reference providers.
#[cfg(feature = "reference-provider")]
pub(crate) fn default_providers() -> Option<Providers> {
    Some(crate::reference::providers())
}

/// This build has no reference provider: a run needs profiles.
#[cfg(not(feature = "reference-provider"))]
pub(crate) fn default_providers() -> Option<Providers> {
    None
}

/// The `cargo test` entry: every case below `<workspace>/cases` against the embedded providers.
/// Reports are written only when MIMI_CONFORMANCE_REPORTS names a folder (nextest runs one
/// process per case, and would overwrite them).
pub fn test_main(workspace: &Path) -> ExitCode {
    super::init_logging();
    // Paths in messages and snapshots read as from the workspace root: cases/B/...
    if let Err(e) = std::env::set_current_dir(workspace) {
        eprintln!("error: cannot enter {}: {e}", workspace.display());
        return exit::code(exit::INVALID);
    }
    let test = libtest_mimic::Arguments::from_args();
    let Some(providers) = default_providers().or(test.list.then(|| Providers::Profiles(vec![])))
    else {
        eprintln!("error: the conformance test runs against the reference provider, which this build does not have");
        return exit::code(exit::INVALID);
    };
    let options = RunOptions {
        strict: false,
        expectations: None,
        reports: std::env::var_os("MIMI_CONFORMANCE_REPORTS").map(PathBuf::from),
        run_timeout: None,
        snapshots_beside_cases: false,
        test,
        evidence: Some(&crate::certify::evidence::EVIDENCE),
    };
    run_suite(
        &CaseSources::folder(Path::new("cases")),
        providers,
        &options,
    )
}
