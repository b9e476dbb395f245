//! The command line. `run` and the `cargo test` target share one path (`run_suite`), with
//! libtest-mimic's arguments flattened in, so filters, --skip, --exact, --list, --test-threads
//! and --format behave the same in both. Nothing here writes to stdout except libtest-mimic.

use crate::case::{self, Case, LoadError, DEFAULT_STEP_TIMEOUT};
use crate::catalogue::Catalogue;
use crate::drivers::link_b::Connection;
use crate::exit;
use crate::expectations::Expectations;
use crate::profile::Profile;
use crate::report::lifecycle::{Collector, Ending, Reports};
use crate::runner::events::{CaseRecord, EventSink, Verdict};
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
    /// Bound the whole run (`30m`, `90s`): when it runs out, no new case starts, running cases
    /// are stopped and reported as not run, and the run fails.
    #[arg(long, value_name = "DURATION", value_parser = crate::case::parse_duration)]
    pub run_timeout: Option<Duration>,
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
        run_timeout: None,
        test: libtest_mimic::Arguments::from_args(),
    };
    let reports = std::env::var_os("MIMI_CONFORMANCE_REPORTS").map(PathBuf::from);
    run_suite(&args, reports.as_deref())
}

fn init_logging() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes are for people at a terminal, not for log files and CI logs.
        .with_ansi(std::io::stderr().is_terminal())
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
    if cases.is_file() {
        return Err(vec![format!(
            "{}: --cases takes the folder of cases, not a case file (run one case with --cases <its cases folder> --exact <its name>)",
            cases.display()
        )]);
    }
    let catalogue = load_catalogue(cases).map_err(|e| vec![e])?;
    let (loaded, errors) = case::load_all(cases, &catalogue);
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors.iter().map(LoadError::to_string).collect())
    }
}

fn report_invalid(errors: &[String]) -> String {
    for e in errors {
        eprintln!("error: {e}\n");
    }
    let summary = format!(
        "{} error(s) in the cases or profiles; nothing was sent",
        errors.len()
    );
    eprintln!("{summary}");
    match errors {
        [one] => one.clone(),
        _ => format!("{summary}; the first: {}", errors[0]),
    }
}

pub fn run_suite(args: &RunArgs, reports: Option<&Path>) -> ExitCode {
    if args.test.list {
        return match load_cases(&args.cases) {
            Ok(cases) => {
                let trials = cases
                    .iter()
                    .map(|c| libtest_mimic::Trial::test(c.id.clone(), || Ok(())))
                    .collect();
                libtest_mimic::run(&args.test, trials).exit_code()
            }
            Err(errors) => {
                report_invalid(&errors);
                exit::code(exit::INVALID)
            }
        };
    }
    // From here on the previous reports are gone, and whatever happens leaves reports that say it.
    let reports = match reports.map(|dir| Reports::begin(dir, args.strict)) {
        None => None,
        Some(Ok(r)) => Some(Arc::new(r)),
        Some(Err(e)) => {
            eprintln!("error: cannot write reports: {e:#}");
            return exit::code(exit::INVALID);
        }
    };
    let not_started = |code: u8, why: String| {
        if let Some(r) = &reports {
            r.finish(&[], &Ending::NotStarted { code, why }, code);
        }
        exit::code(code)
    };
    if let Err(e) = crate::run_control::listen_for_signals() {
        return not_started(exit::INVALID, format!("cannot listen for signals: {e}"));
    }
    if let Some(limit) = args.run_timeout {
        crate::run_control::bound_run(limit);
    }
    let cases = match load_cases(&args.cases) {
        Ok(c) => c,
        Err(errors) => return not_started(exit::INVALID, report_invalid(&errors)),
    };
    if cases.is_empty() {
        return not_started(
            exit::INVALID,
            report_invalid(&[format!(
                "{}: no case file in this folder (cases live in link folders: {}/B/<endpoint>/<name>.yaml)",
                args.cases.display(),
                args.cases.display()
            )]),
        );
    }
    let selected: Vec<&Case> = cases
        .iter()
        .filter(|c| {
            !args
                .test
                .is_filtered_out(&libtest_mimic::Trial::test(c.id.clone(), || Ok(())))
        })
        .collect();
    let nothing_selected = selected.is_empty().then(|| {
        format!(
            "the filter selected none of the {} cases; nothing was run",
            cases.len()
        )
    });
    let profiles = match args
        .providers
        .iter()
        .map(|p| Profile::load_all(p))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(LoadError::to_string).collect();
            return not_started(exit::INVALID, report_invalid(&errors));
        }
    };
    let expectations = match args
        .expectations
        .as_deref()
        .map(crate::expectations::Expectations::load)
    {
        None => Default::default(),
        Some(Ok(e)) => e,
        Some(Err(e)) => return not_started(exit::INVALID, report_invalid(&[e.to_string()])),
    };
    let (sink, events) = EventSink::channel();
    let target = if profiles.is_empty() {
        Target::Embedded(Default::default())
    } else {
        Target::Profiles(profiles)
    };
    let prepared = match prepare(target, sink, args.strict, &cases, expectations) {
        Ok(p) => p,
        Err(Unprepared::Invalid(errors)) => {
            return not_started(exit::INVALID, report_invalid(&errors))
        }
        Err(Unprepared::Unreachable(message)) => {
            eprintln!("error: {message}");
            return not_started(exit::UNREACHABLE, message);
        }
    };
    if let Some(why) = &nothing_selected {
        eprintln!("{why}");
    }
    // A provider whose directory cannot be read is one set-up error, not one per case.
    let unreadable: Vec<String> = prepared
        .session
        .connections
        .iter()
        .filter_map(|c| {
            prepared
                .session
                .runtime
                .block_on(c.directory(DEFAULT_STEP_TIMEOUT))
                .err()
        })
        .collect();
    if !unreadable.is_empty() && !selected.is_empty() {
        for why in &unreadable {
            eprintln!("error: {why}");
        }
        eprintln!("nothing was run: the cases need the directory of every provider under test");
        return not_started(exit::UNREACHABLE, unreadable.join("; "));
    }
    let session = prepared.session.clone();
    let (collector, collecting) = Collector::start(events);
    // The cases the run must account for, each with a record in the reports.
    let accounted: Vec<CaseRecord> = selected
        .iter()
        .map(|c| runner::not_run(c, &session, "the run ended before it"))
        .collect();
    if let Some(reports) = &reports {
        let (reports, collector, accounted) =
            (reports.clone(), collector.clone(), accounted.clone());
        crate::run_control::arm_backstop(move |stop| {
            eprintln!(
                "error: the run did not end within its grace; writing the reports as they stand"
            );
            let records = account(collector.records(), &accounted);
            reports.finish(&records, &Ending::Stopped(stop), stop.exit_code());
            std::process::exit(i32::from(stop.exit_code()));
        });
    }
    let conclusion = libtest_mimic::run(&args.test, runner::plan(cases, session));
    drop(prepared);
    let _ = collecting.join();
    crate::run_control::disarm_backstop();
    let records = account(collector.records(), &accounted);
    let (ending, code) = match crate::run_control::stopping() {
        Some(stop) => {
            let not_run = records
                .iter()
                .filter(|r| r.verdict == Verdict::NotRun)
                .count();
            eprintln!("{}: {not_run} case(s) not run", stop.reason());
            (Ending::Stopped(stop), stop.exit_code())
        }
        None if conclusion.has_failed() => (Ending::Finished { note: None }, exit::FAILED),
        None => (
            Ending::Finished {
                note: nothing_selected,
            },
            exit::PASSED,
        ),
    };
    if let Some(r) = &reports {
        r.finish(&records, &ending, code);
    }
    exit::code(code)
}

/// The records of a run, with a not-run record for every selected case that has none (a case
/// the run stopped before libtest-mimic called it).
fn account(mut records: Vec<CaseRecord>, selected: &[CaseRecord]) -> Vec<CaseRecord> {
    for placeholder in selected {
        if !records.iter().any(|r| r.id == placeholder.id) {
            let mut record = placeholder.clone();
            if let Some(stop) = crate::run_control::stopping() {
                record.message = format!("not run: {}", stop.reason());
            }
            records.push(record);
        }
    }
    records
}

/// A session ready to run cases, with what it needs kept alive.
pub struct Prepared {
    pub session: Arc<Session>,
    /// The embedded providers, when no profile was given; they stop when this is dropped.
    _embedded: Option<crate::embedded::Embedded>,
    _runtime: tokio::runtime::Runtime,
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

/// Connects to every provider and fetches each one's directory, all at once; the directory (or
/// why it cannot be read) is kept for the whole run.
async fn connect(profiles: Vec<Profile>) -> Result<Vec<Arc<Connection>>, String> {
    let mut connections = Vec::new();
    for profile in profiles {
        let name = profile.name.clone();
        let connection = Connection::new(profile)
            .await
            .map_err(|e| format!("{name}: {e:#}"))?;
        connections.push(Arc::new(connection));
    }
    let mut fetches = tokio::task::JoinSet::new();
    for connection in &connections {
        let connection = connection.clone();
        fetches.spawn(async move {
            let _ = connection.directory(DEFAULT_STEP_TIMEOUT).await;
        });
    }
    while fetches.join_next().await.is_some() {}
    Ok(connections)
}
