//! The command line. `run` and the `cargo test` target share one path (`run_suite`), with
//! libtest-mimic's arguments flattened in, so filters, --skip, --exact, --list, --test-threads
//! and --format behave the same in both. Nothing here writes to stdout except libtest-mimic.

use crate::case::{self, Case, LoadError};
use crate::catalogue::Catalogue;
use crate::drivers::link_b::Connection;
use crate::exit;
use crate::expectations::Expectations;
use crate::profile::Profile;
use crate::runner::events::{CaseRecord, Event, EventSink};
use crate::runner::{self, snapshot, Session};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The catalogue shipped with the harness, used when the cases folder has none of its own.
const BUILT_IN_CATALOGUE: &str = include_str!("../../../cases/requirements.yaml");

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
    Run(RunArgs),
    /// Write a test PKI (a CA, provider and harness certificates, and profiles) for a lab.
    Pki(crate::pki::PkiArgs),
    /// Measure the runner's overhead and the case loader's speed.
    Bench(crate::bench::BenchArgs),
    /// Render a captured MIMI body (binary, hex or base64) as YAML.
    Decode(crate::decode::DecodeArgs),
    /// Run the cases against the reference provider with each named fault on: the kill matrix.
    Mutants(crate::mutants::MutantsArgs),
    /// Serve reference providers and write their PKI and provider profiles.
    Serve(crate::serve::ServeArgs),
    /// Every requirement with its cases and their last verdicts, and the uncovered ones.
    Coverage(crate::coverage::CoverageArgs),
    /// Stand between providers on link B: forward, record, decode and check what they send.
    Observe(crate::observer::command::ObserveArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// A provider profile (YAML); the first is the provider under test, a second its peer.
    /// Without any, the embedded reference providers are started.
    #[arg(long = "provider", value_name = "FILE")]
    pub providers: Vec<PathBuf>,
    /// The folder of cases.
    #[arg(long, default_value = "cases")]
    pub cases: PathBuf,
    /// The folder reports are written to.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Fail on broken SHOULDs too.
    #[arg(long)]
    pub strict: bool,
    /// The provider's expectation file: known-failing and known-flaky cases, with reasons.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    #[command(flatten)]
    pub test: libtest_mimic::Arguments,
}

pub fn main() -> ExitCode {
    init_logging();
    match Cli::parse().command {
        Command::Run(args) => run_suite(&args, Some(&args.reports)),
        Command::Pki(args) => crate::pki::run(&args),
        Command::Bench(args) => crate::bench::run(&args),
        Command::Decode(args) => crate::decode::run(&args),
        Command::Mutants(args) => crate::mutants::run(&args),
        Command::Serve(args) => crate::serve::run(&args),
        Command::Coverage(args) => crate::coverage::run(&args),
        Command::Observe(args) => crate::observer::command::run(&args),
    }
}

/// The `cargo test` entry: every case below `<workspace>/cases` against the embedded providers. Reports are
/// written only when MIMI_CONFORMANCE_REPORTS names a folder (nextest runs one process per
/// case, and would overwrite them).
pub fn test_main(workspace: &Path) -> ExitCode {
    init_logging();
    // Paths in messages and snapshots read as from the workspace root: cases/B/...
    if let Err(e) = std::env::set_current_dir(workspace) {
        eprintln!("error: cannot enter {}: {e}", workspace.display());
        return exit::code(exit::INVALID);
    }
    let args = RunArgs {
        providers: Vec::new(),
        cases: PathBuf::from("cases"),
        reports: PathBuf::new(),
        strict: false,
        expectations: None,
        test: libtest_mimic::Arguments::from_args(),
    };
    let reports = std::env::var_os("MIMI_CONFORMANCE_REPORTS").map(PathBuf::from);
    run_suite(&args, reports.as_deref())
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
}

pub fn load_catalogue(cases: &Path) -> Result<Catalogue, String> {
    let own = cases.join("requirements.yaml");
    if own.exists() {
        Catalogue::load(&own)
    } else {
        Catalogue::parse(BUILT_IN_CATALOGUE).map_err(|e| format!("built-in catalogue: {e}"))
    }
}

pub fn load_cases(cases: &Path) -> Result<Vec<Case>, Vec<String>> {
    let catalogue = load_catalogue(cases).map_err(|e| vec![e])?;
    let (loaded, errors) = case::load_all(cases, &catalogue);
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors.iter().map(LoadError::to_string).collect())
    }
}

fn report_invalid(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}\n");
    }
    eprintln!(
        "{} error(s) in the cases or profiles; nothing was sent",
        errors.len()
    );
    exit::code(exit::INVALID)
}

pub fn run_suite(args: &RunArgs, reports: Option<&Path>) -> ExitCode {
    let cases = match load_cases(&args.cases) {
        Ok(c) => c,
        Err(errors) => return report_invalid(&errors),
    };
    if args.test.list {
        let trials = cases
            .iter()
            .map(|c| libtest_mimic::Trial::test(c.id.clone(), || Ok(())))
            .collect();
        return libtest_mimic::run(&args.test, trials).exit_code();
    }
    let profiles = match args
        .providers
        .iter()
        .map(|p| Profile::load(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(e) => return report_invalid(&[e.to_string()]),
    };
    let expectations = match args
        .expectations
        .as_deref()
        .map(crate::expectations::Expectations::load)
    {
        None => Default::default(),
        Some(Ok(e)) => e,
        Some(Err(e)) => return report_invalid(&[e.to_string()]),
    };
    let (sink, events) = EventSink::channel();
    let target = if profiles.is_empty() {
        Target::Embedded(Default::default())
    } else {
        Target::Profiles(profiles)
    };
    let prepared = match prepare(target, sink, args.strict, &cases, expectations) {
        Ok(p) => p,
        Err(Unprepared::Invalid(errors)) => return report_invalid(&errors),
        Err(Unprepared::Unreachable(message)) => {
            eprintln!("error: {message}");
            return exit::code(exit::UNREACHABLE);
        }
    };
    let session = prepared.session.clone();
    let conclusion = libtest_mimic::run(&args.test, runner::plan(cases, session));
    drop(prepared);
    let records: Vec<CaseRecord> = events.try_iter().map(|Event::CaseFinished(r)| *r).collect();
    if let Some(dir) = reports {
        if let Err(e) = write_reports(dir, &records, args.strict) {
            eprintln!("error: writing reports to {}: {e:#}", dir.display());
            return exit::code(exit::FAILED);
        }
    }
    if conclusion.has_failed() {
        exit::code(exit::FAILED)
    } else {
        exit::code(exit::PASSED)
    }
}

fn write_reports(dir: &Path, records: &[CaseRecord], strict: bool) -> anyhow::Result<()> {
    crate::report::junit::write(&dir.join("junit.xml"), records, strict)?;
    crate::report::results::write(&dir.join("results.json"), records, strict)?;
    tracing::info!("reports written to {}", dir.display());
    Ok(())
}

/// A session ready to run cases, with what it needs kept alive.
pub struct Prepared {
    pub session: Arc<Session>,
    /// The embedded providers, when no profile was given; they stop when this is dropped.
    _embedded: Option<crate::embedded::Embedded>,
    _runtime: tokio::runtime::Runtime,
}

impl Prepared {
    /// The observer between the embedded providers (none when the run is against profiles).
    pub fn observer(&self) -> Option<&crate::observer::Observer> {
        self._embedded.as_ref().map(|e| &e.observer)
    }
}

/// Why a session could not be prepared.
pub enum Unprepared {
    /// The cases' templates do not fill in against the profiles (exit 2).
    Invalid(Vec<String>),
    /// A provider cannot be reached, or the embedded ones cannot start (exit 3).
    Unreachable(String),
}

/// What a run is against.
pub enum Target {
    /// Providers under test, by their profiles (the first is under test, a second its peer).
    Profiles(Vec<Profile>),
    /// The embedded reference providers, the one under test with these faults switched on.
    Embedded(mimi_reference_provider::faults::Faults),
}

/// Starts the runtime (and the embedded providers for `Target::Embedded`), checks the cases'
/// templates against the profiles, and only then connects.
pub fn prepare(
    target: Target,
    sink: EventSink,
    strict: bool,
    cases: &[Case],
    expectations: Expectations,
) -> Result<Prepared, Unprepared> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Unprepared::Unreachable(format!("cannot start the async runtime: {e}")))?;
    let snapshot_suffix = match &target {
        Target::Embedded(_) => None,
        Target::Profiles(profiles) => profiles.first().map(|p| p.domain.clone()),
    };
    let (profiles, embedded) = match target {
        Target::Embedded(faults) => {
            let embedded = runtime
                .block_on(crate::embedded::start(faults))
                .map_err(|e| {
                    Unprepared::Unreachable(format!(
                        "cannot start the embedded reference providers: {e:#}"
                    ))
                })?;
            (embedded.profiles.clone(), Some(embedded))
        }
        Target::Profiles(profiles) => (profiles, None),
    };
    let profile_refs: Vec<&Profile> = profiles.iter().collect();
    // Unsupported cases will not run, so what their templates need does not matter.
    let errors: Vec<String> = cases
        .iter()
        .filter(|c| runner::unsupported(c, &profile_refs).is_none())
        .flat_map(|c| runner::check_templates(c, &profile_refs))
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(Unprepared::Invalid(errors));
    }
    let peer = match profiles.first().map(|p| &p.harness) {
        Some(
            h @ crate::profile::HarnessIdentity {
                listen: Some(listen),
                ..
            },
        ) => {
            let peer = runtime
                .block_on(crate::drivers::peer::HarnessPeer::start(
                    &h.domain,
                    &h.cert_pem,
                    &h.key_pem,
                    &profiles[0].trust_roots_pem,
                    *listen,
                ))
                .map_err(|e| {
                    Unprepared::Unreachable(format!(
                        "the harness cannot serve link B on {listen}: {e:#}"
                    ))
                })?;
            if let Some(embedded) = &embedded {
                embedded.route_harness(peer.addr);
            }
            Some(peer)
        }
        _ => None,
    };
    let connections = runtime
        .block_on(connect(profiles))
        .map_err(Unprepared::Unreachable)?;
    Ok(Prepared {
        session: Arc::new(Session {
            runtime: runtime.handle().clone(),
            connections,
            peer,
            sink,
            strict,
            snapshots: snapshot::UpdateMode::from_env(),
            snapshot_suffix,
            expectations,
        }),
        _embedded: embedded,
        _runtime: runtime,
    })
}

/// How long the harness waits for a provider's directory before the run (a provider that takes
/// longer is reached but slow: its cases will say so).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The embedded reference providers, correct, with no case checked beforehand: for tests and
/// the bench, which run cases one by one.
pub fn prepare_embedded() -> Result<Prepared, String> {
    let (sink, _) = EventSink::channel();
    prepare(
        Target::Embedded(Default::default()),
        sink,
        false,
        &[],
        Default::default(),
    )
    .map_err(|e| match e {
        Unprepared::Invalid(errors) => errors.join("\n"),
        Unprepared::Unreachable(message) => message,
    })
}

/// Connects to every provider and checks that each answers at all (its directory).
async fn connect(profiles: Vec<Profile>) -> Result<Vec<Arc<Connection>>, String> {
    let mut connections = Vec::new();
    for profile in profiles {
        let name = profile.name.clone();
        let connection = Connection::new(profile)
            .await
            .map_err(|e| format!("{name}: {e:#}"))?;
        if let Err(f) = connection.directory(PROBE_TIMEOUT).await {
            if f.unreachable {
                return Err(format!("{name} cannot be reached: {}", f.message));
            }
            // Reached, but not well: the cases will say what is wrong.
            tracing::warn!("{name}: the directory could not be read: {}", f.message);
        }
        connections.push(Arc::new(connection));
    }
    Ok(connections)
}
