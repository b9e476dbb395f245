//! The suite API that every command and test builds on: which cases a run has (`CaseSources`,
//! `load_suite`), what it runs against (`Providers`), a session ready to run them (`prepare`),
//! and a whole run through libtest-mimic with its reports (`run_suite`). It knows nothing of the
//! reference provider: `crate::reference` hands it in-process providers through
//! `StartProviders`, as any other implementation could.

use crate::builtin::BuiltIn;
use crate::case::{self, Case, LoadError};
use crate::catalogue::Catalogue;
use crate::drivers::harness_server::HarnessServer;
use crate::drivers::link_b::Connection;
use crate::exit;
use crate::known_failures::Expectations;
use crate::observer::Observer;
use crate::profile::Profile;
use crate::report::lifecycle::{Ending, Reported, Reports};
use crate::runner::events::{CaseRecord, EventSink, Verdict};
use crate::runner::{self, snapshot, Session};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The catalogue's file name in a cases folder.
pub const CATALOGUE_FILE: &str = "requirements.yaml";

/// Which case folders a command reads, as the command line gives them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CaseFolders {
    /// A folder of cases to run beside the built-in ones (repeatable).
    #[arg(long = "cases", value_name = "DIR")]
    pub added: Vec<PathBuf>,
    /// A folder of cases to run instead of the built-in ones (repeatable).
    #[arg(long = "only-cases", value_name = "DIR")]
    pub only: Vec<PathBuf>,
}

impl CaseFolders {
    /// The built-in cases (unless `--only-cases` is given) and every folder named.
    pub fn sources(&self, built_in: &'static BuiltIn) -> CaseSources {
        CaseSources {
            built_in: self.only.is_empty().then_some(built_in),
            folders: self.only.iter().chain(&self.added).cloned().collect(),
        }
    }
}

/// Where a run's cases and requirement catalogue come from.
#[derive(Clone)]
pub struct CaseSources {
    /// The cases and catalogue built into the binary, if they take part.
    pub built_in: Option<&'static BuiltIn>,
    /// Case folders on disk, each read as `cases/` is: `<link>/<endpoint>/<case>.yaml`, and an
    /// optional `requirements.yaml`.
    pub folders: Vec<PathBuf>,
}

impl CaseSources {
    /// One folder of cases, with its own catalogue (or the built-in one if it has none).
    pub fn folder(dir: &Path) -> Self {
        Self {
            built_in: None,
            folders: vec![dir.to_path_buf()],
        }
    }

    /// The folders to load, the built-in one (unpacked) first.
    pub fn roots(&self) -> Result<Vec<PathBuf>, String> {
        let mut roots = Vec::new();
        if let Some(built_in) = self.built_in {
            roots.push(built_in.unpacked()?);
        }
        roots.extend(self.folders.iter().cloned());
        Ok(roots)
    }
}

/// The requirement catalogue of these folders: each folder's `requirements.yaml` in turn (a
/// requirement may be listed once), or the harness's own when none has one.
fn catalogue_of(roots: &[PathBuf]) -> Result<Catalogue, String> {
    let mut catalogue: Option<Catalogue> = None;
    for root in roots {
        let file = root.join(CATALOGUE_FILE);
        if !file.exists() {
            continue;
        }
        let more = Catalogue::load(&file)?;
        match &mut catalogue {
            None => catalogue = Some(more),
            Some(c) => c
                .extend(more)
                .map_err(|e| format!("{}: {e}", file.display()))?,
        }
    }
    match catalogue {
        Some(c) => Ok(c),
        None => Catalogue::parse(crate::catalogue::HARNESS_CATALOGUE)
            .map_err(|e| format!("the harness's catalogue: {e}")),
    }
}

/// The catalogue of one cases folder (its own, or the harness's when it has none).
pub fn load_catalogue(cases: &Path) -> Result<Catalogue, String> {
    catalogue_of(&[cases.to_path_buf()])
}

/// The cases of one folder, checked against its catalogue.
pub fn load_cases(cases: &Path) -> Result<Vec<Case>, Vec<String>> {
    load_suite(&CaseSources::folder(cases)).map(|(_, cases)| cases)
}

/// Every case of the sources, checked; a case name given twice is an error naming both files.
pub fn load_suite(sources: &CaseSources) -> Result<(Catalogue, Vec<Case>), Vec<String>> {
    let roots = sources.roots().map_err(|e| vec![e])?;
    if let Some(file) = roots.iter().find(|r| r.is_file()) {
        return Err(vec![format!(
            "{}: --cases takes the folder of cases, not a case file (so does --only-cases; run one case with its folder and --exact <its name>)",
            file.display()
        )]);
    }
    let catalogue = catalogue_of(&roots).map_err(|e| vec![e])?;
    let mut cases: Vec<Case> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for root in &roots {
        let (loaded, failed) = case::load_all(root, &catalogue);
        errors.extend(failed.iter().map(LoadError::to_string));
        for c in loaded {
            match seen.get(&c.id) {
                Some(first) => errors.push(format!(
                    "{}: the case {} is also {}; case names must be unique in a run",
                    c.file.display(),
                    c.id,
                    first.display()
                )),
                None => {
                    seen.insert(c.id.clone(), c.file.clone());
                    cases.push(c);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok((catalogue, cases))
    } else {
        Err(errors)
    }
}

/// Prints load or template errors; what the reports say of them (nothing was sent).
pub fn report_invalid(errors: &[String]) -> String {
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

/// How a run is judged and reported, beyond its cases and providers.
pub struct RunOptions {
    /// Fail on broken SHOULDs too.
    pub strict: bool,
    /// The provider's expectation file: known-failing and known-flaky cases.
    pub expectations: Option<PathBuf>,
    /// Where junit.xml and results.json go; none: nowhere.
    pub reports: Option<PathBuf>,
    /// Bounds the whole run: when it runs out, no new case starts and running ones stop.
    pub run_timeout: Option<Duration>,
    /// Keep the snapshots of a provider other than the reference beside the cases, not under
    /// the reports folder.
    pub snapshots_beside_cases: bool,
    /// libtest's arguments: filters, --skip, --exact, --list, --test-threads, --format.
    pub test: libtest_mimic::Arguments,
    /// What the run leaves in its reports folder beside the reports, if anything
    /// (`certify::evidence::EVIDENCE`).
    pub evidence: Option<&'static dyn RunEvidence>,
}

/// What a run writes to its reports folder beyond the reports (what certifying it needs), given
/// to the run so that the suite API does not depend on what uses it.
pub trait RunEvidence: Send + Sync {
    /// The run takes the folder: what an earlier run left there goes.
    fn begin(&self, dir: &Path);
    /// The run's final reports are written.
    fn finish(&self, dir: &Path, run: &FinishedRun) -> anyhow::Result<()>;
}

/// A run that ended, as `RunEvidence::finish` is told it.
pub struct FinishedRun<'a> {
    pub roots: &'a [PathBuf],
    pub catalogue: &'a Catalogue,
    pub profiles: &'a [Profile],
    pub strict: bool,
    /// When it started and ended, in ms since the UNIX epoch.
    pub started_ms: u64,
    pub finished_ms: u64,
    pub snapshot_suffix: Option<&'a str>,
    pub expectations: Option<&'a Path>,
}

/// A whole run: loads the cases, prepares the session, runs every case as a libtest-mimic trial,
/// writes the reports. `run` and the `cargo test` target both come here, so filters and the
/// other libtest arguments behave the same in both. Nothing here writes to stdout except
/// libtest-mimic. Whatever happens, the reports folder ends up saying it: the previous reports
/// are replaced at the start, and a run that cannot start, is interrupted or runs out of time
/// writes reports that say so, with every case it did not run marked not run.
pub fn run_suite(sources: &CaseSources, providers: Providers, options: &RunOptions) -> ExitCode {
    if options.test.list {
        return match load_suite(sources) {
            Ok((_, cases)) => {
                let trials = cases
                    .iter()
                    .map(|c| libtest_mimic::Trial::test(c.id.clone(), || Ok(())))
                    .collect();
                libtest_mimic::run(&options.test, trials).exit_code()
            }
            Err(errors) => {
                report_invalid(&errors);
                exit::code(exit::INVALID)
            }
        };
    }
    // From here on the previous reports are gone, and whatever happens leaves reports that say it.
    let reports = match options
        .reports
        .as_deref()
        .map(|dir| Reports::begin(dir, options.strict))
    {
        None => None,
        Some(Ok(r)) => {
            // A previous run's evidence must not sit beside this run's results.
            if let (Some(dir), Some(evidence)) = (&options.reports, options.evidence) {
                evidence.begin(dir);
            }
            Some(Arc::new(r))
        }
        Some(Err(e)) => {
            eprintln!("error: cannot write reports: {e:#}");
            return exit::code(exit::INVALID);
        }
    };
    let not_started = |code: u8, why: String| {
        if let Some(r) = &reports {
            r.finish(
                &Reported::default(),
                &Ending::NotStarted { code, why },
                code,
            );
        }
        exit::code(code)
    };
    if let Err(e) = crate::run_control::listen_for_signals() {
        return not_started(exit::INVALID, format!("cannot listen for signals: {e}"));
    }
    if let Some(limit) = options.run_timeout {
        crate::run_control::bound_run(limit);
    }
    let (catalogue, cases) = match load_suite(sources) {
        Ok((catalogue, cases)) => (Arc::new(catalogue), cases),
        Err(errors) => return not_started(exit::INVALID, report_invalid(&errors)),
    };
    if cases.is_empty() {
        return not_started(
            exit::INVALID,
            report_invalid(&[
                "no case file in this folder (cases live in link folders: <cases>/B/<endpoint>/<name>.yaml)"
                    .to_string(),
            ]),
        );
    }
    let selected: Vec<&Case> = cases
        .iter()
        .filter(|c| {
            !options
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
    let expectations = match options.expectations.as_deref().map(Expectations::load) {
        None => Default::default(),
        Some(Ok(e)) => e,
        Some(Err(e)) => return not_started(exit::INVALID, report_invalid(&[e.to_string()])),
    };
    let (sink, finished) = EventSink::finished_cases();
    let mut prepared = match prepare(providers, sink, options.strict, &cases, expectations) {
        Ok(p) => p,
        Err(Unprepared::Invalid(errors)) => {
            return not_started(exit::INVALID, report_invalid(&errors))
        }
        Err(Unprepared::Unreachable(message)) => {
            eprintln!("error: {message}");
            return not_started(exit::UNREACHABLE, message);
        }
    };
    if let (Some(dir), false) = (&options.reports, options.snapshots_beside_cases) {
        // A provider other than the reference: its snapshots are recorded with the reports.
        if let Some(session) = Arc::get_mut(&mut prepared.session) {
            session.snapshot_dir = Some(dir.join("snapshots"));
        }
    }
    if let Some(session) = Arc::get_mut(&mut prepared.session) {
        // The cases with imposed waits begin them before the others take the cores.
        session.head_start = runner::head_start::HeadStart::of(selected.iter().copied());
    }
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
                .block_on(c.directory(case::DEFAULT_STEP_TIMEOUT))
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
    // The cases the run must account for, each with a record in the reports.
    let accounted: Vec<CaseRecord> = selected
        .iter()
        .map(|c| runner::not_run(c, &session, "the run ended before it"))
        .collect();
    if let Some(reports) = &reports {
        let (reports, finished, accounted) = (reports.clone(), finished.clone(), accounted.clone());
        let (catalogue, observer) = (catalogue.clone(), session.observer.clone());
        crate::run_control::arm_backstop(move |stop| {
            eprintln!(
                "error: the run did not end within its grace; writing the reports as they stand"
            );
            let records = account(finished.records(), &accounted);
            let observed = observer.as_deref().map(Observer::report);
            let reported = Reported {
                records: &records,
                catalogue: Some(&catalogue),
                observed: observed.as_ref(),
            };
            reports.finish(&reported, &Ending::Stopped(stop), stop.exit_code());
            #[expect(
                clippy::exit,
                reason = "the backstop ends a run that did not end itself"
            )]
            std::process::exit(i32::from(stop.exit_code()));
        });
    }
    let profiles: Vec<Profile> = (session.connections.iter())
        .map(|c| c.profile.clone())
        .collect();
    let mut cases = cases;
    runner::slowest_first(&mut cases);
    let mut test = options.test.clone();
    test.test_threads = test.test_threads.or(Some(runner::default_threads()));
    let started_ms = crate::template::now_ms();
    let conclusion = libtest_mimic::run(
        &test,
        crate::report::libtest::trials(cases, session.clone()),
    );
    let observed = prepared.observer().map(Observer::report);
    let finished_ms = crate::template::now_ms();
    drop(prepared);
    crate::run_control::disarm_backstop();
    let records = account(finished.take(), &accounted);
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
        let reported = Reported {
            records: &records,
            catalogue: Some(&catalogue),
            observed: observed.as_ref(),
        };
        r.finish(&reported, &ending, code);
    }
    if let (Some(dir), Some(evidence)) = (&options.reports, options.evidence) {
        let written = sources
            .roots()
            .map_err(anyhow::Error::msg)
            .and_then(|roots| {
                let run = FinishedRun {
                    roots: &roots,
                    catalogue: &catalogue,
                    profiles: &profiles,
                    strict: options.strict,
                    started_ms,
                    finished_ms,
                    snapshot_suffix: session.snapshot_suffix.as_deref(),
                    expectations: options.expectations.as_deref(),
                };
                evidence.finish(dir, &run)
            });
        if let Err(e) = written {
            eprintln!("error: writing to {}: {e:#}", dir.display());
            return exit::code(exit::FAILED);
        }
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
                record.error = Some(format!("not run: {}", stop.reason()));
            }
            records.push(record);
        }
    }
    records
}

/// What a run is against.
pub enum Providers {
    /// Providers reached through their profiles (the first is under test, a second plays
    /// `peer`).
    Profiles(Vec<Profile>),
    /// The same, by the profiles' files, read when the session is prepared.
    ProfileFiles(Vec<PathBuf>),
    /// Providers the session starts in this process, on its runtime: the reference providers
    /// (`crate::reference`), which the harness then reaches over HTTPS like any other.
    InProcess(Box<dyn StartProviders>),
}

/// Providers a session starts for itself.
pub trait StartProviders: Send {
    /// Starts them on `runtime`; they serve until the returned value is dropped.
    fn start(
        self: Box<Self>,
        runtime: &tokio::runtime::Runtime,
    ) -> anyhow::Result<Box<dyn RunningProviders>>;
}

/// Providers a session started.
pub trait RunningProviders: Send + Sync {
    /// Their profiles, the one under test first.
    fn profiles(&self) -> Vec<Profile>;
    /// Lets them reach `domain` (the harness's link-B server) at `addr`.
    fn route(&self, domain: &str, addr: SocketAddr);
    /// The suffix of the snapshots of the provider under test when its answers are not the
    /// reference's (a variant of it); none for the reference provider itself.
    fn snapshot_suffix(&self) -> Option<String> {
        None
    }
    /// The observer they reach one another through on link B, if they do.
    fn observer(&self) -> Option<Arc<Observer>> {
        None
    }
}

/// A session ready to run cases, with what it needs kept alive.
pub struct Prepared {
    pub session: Arc<Session>,
    /// Providers started in process, if any; they stop when this is dropped.
    _in_process: Option<Box<dyn RunningProviders>>,
    _runtime: tokio::runtime::Runtime,
}

/// Why a session could not be prepared.
pub enum Unprepared {
    /// The cases' templates do not fill in against the profiles (exit 2).
    Invalid(Vec<String>),
    /// A provider cannot be reached, or the in-process ones cannot start (exit 3).
    Unreachable(String),
}

impl Prepared {
    /// The observer between the providers on link B, when they reach one another through one.
    pub fn observer(&self) -> Option<&Observer> {
        self.session.observer.as_deref()
    }
}

impl Unprepared {
    pub fn message(self) -> String {
        match self {
            Unprepared::Invalid(errors) => errors.join("\n"),
            Unprepared::Unreachable(message) => message,
        }
    }
}

/// Starts the runtime (and in-process providers), checks the cases' templates against the
/// profiles, and only then connects.
pub fn prepare(
    providers: Providers,
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
    // Snapshots in the repository are the reference provider's; any other provider's carry its
    // domain.
    let (profiles, in_process, snapshot_suffix) = match providers {
        Providers::InProcess(start) => {
            let running = start.start(&runtime).map_err(|e| {
                Unprepared::Unreachable(format!("cannot start the in-process providers: {e:#}"))
            })?;
            let suffix = running.snapshot_suffix();
            (running.profiles(), Some(running), suffix)
        }
        Providers::Profiles(profiles) => {
            let suffix = profiles.first().map(|p| p.domain.clone());
            (profiles, None, suffix)
        }
        Providers::ProfileFiles(files) => {
            let mut profiles = Vec::new();
            let mut errors = Vec::new();
            for file in files {
                match Profile::load_all(&file) {
                    Ok(p) => profiles.push(p),
                    Err(e) => errors.extend(e.iter().map(LoadError::to_string)),
                }
            }
            if !errors.is_empty() {
                return Err(Unprepared::Invalid(errors));
            }
            let suffix = profiles.first().map(|p| p.domain.clone());
            (profiles, None, suffix)
        }
    };
    // An in-process variant's answers are recorded by no one: its first run has nothing to
    // compare with, and writes nothing.
    let snapshots = match (&in_process, &snapshot_suffix) {
        (Some(_), Some(_)) => snapshot::UpdateMode::No,
        _ => snapshot::UpdateMode::from_env(),
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
    let harness_server = match profiles.first().map(|p| &p.harness) {
        Some(
            h @ crate::profile::HarnessIdentity {
                listen: Some(listen),
                ..
            },
        ) => {
            let server = runtime
                .block_on(HarnessServer::start(
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
            if let Some(running) = &in_process {
                running.route(&h.domain, server.addr);
            }
            Some(server)
        }
        _ => None,
    };
    let observer = match in_process.as_ref().and_then(|p| p.observer()) {
        Some(o) => Some(o),
        None => observer_for(&profiles, &runtime)?,
    };
    let connections = runtime
        .block_on(connect(profiles))
        .map_err(Unprepared::Unreachable)?;
    Ok(Prepared {
        session: Arc::new(Session {
            runtime: runtime.handle().clone(),
            connections,
            peer: harness_server,
            sink,
            strict,
            snapshots,
            snapshot_suffix,
            snapshot_dir: None,
            expectations,
            observer,
            head_start: Default::default(),
        }),
        _in_process: in_process,
        _runtime: runtime,
    })
}

/// The observer the profiles route link B through (`observer:` in a profile), started on
/// `runtime`; None when no profile declares one. Profiles that declare one must agree on it.
pub fn observer_for(
    profiles: &[Profile],
    runtime: &tokio::runtime::Runtime,
) -> Result<Option<Arc<Observer>>, Unprepared> {
    let mut routes = profiles.iter().filter_map(|p| p.observer.as_ref());
    let Some(route) = routes.next() else {
        return Ok(None);
    };
    if let Some(other) = routes.find(|r| *r != route) {
        return Err(Unprepared::Invalid(vec![format!(
            "the profiles route link B through different observers ({} with {}, and {} with {}); \
             a run has one",
            route.listen,
            route.identities.display(),
            other.listen,
            other.identities.display()
        )]));
    }
    let config =
        crate::observer::ObserverConfig::for_profiles(profiles, &route.identities, route.listen)
            .map_err(|e| Unprepared::Invalid(vec![format!("the observer: {e:#}")]))?;
    let observer = runtime
        .block_on(Observer::start(config, None))
        .map_err(|e| {
            Unprepared::Unreachable(format!(
                "the observer cannot listen on {}: {e:#}",
                route.listen
            ))
        })?;
    Ok(Some(Arc::new(observer)))
}

/// Connects to every provider and fetches each one's directory, all at once; the directory (or
/// why it cannot be read) is kept for the whole run.
pub async fn connect(profiles: Vec<Profile>) -> Result<Vec<Arc<Connection>>, String> {
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
            let _ = connection.directory(case::DEFAULT_STEP_TIMEOUT).await;
        });
    }
    while fetches.join_next().await.is_some() {}
    Ok(connections)
}
