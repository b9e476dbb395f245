//! `mimi-conformance matrix`: the interop matrix. The single-provider cases run against each
//! provider alone and the two-provider cases against every ordered pair (the first under test,
//! the second its peer); independent cells run side by side, sharing one connection per
//! provider, the harness's link-B server and the observer the profiles route link B through.
//! `--shard K/N` runs the K-th of N shares of the cells (balanced by their number of cases, the
//! same for the same cells), `matrix merge` joins the shards' results
//! into the one an unsharded run gives, and `matrix diff` says what changed per cell.
//!
//! Reports, in `--reports`: `matrix.json` (`harness/conformance/schemas/matrix.schema.json`), `matrix.md`, the site
//! (`index.html`, a page per requirement), and per cell its `results.json` and its own site
//! under `cells/<cell>/`; with an observer, `observer.json`.

use crate::builtin::BuiltIn;
use crate::case::model::Player;
use crate::case::Case;
use crate::catalogue::Catalogue;
use crate::drivers::harness_server::HarnessServer;
use crate::exit;
use crate::profile::Profile;
use crate::report::matrix::{self as result, Matrix, Shard};
use crate::runner::events::{CaseRecord, EventSink};
use crate::runner::{self, snapshot, Session};
use crate::session::{connect, load_suite, observer_for, report_invalid, CaseFolders, Unprepared};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MatrixArgs {
    #[command(subcommand)]
    pub action: Option<MatrixAction>,
    #[command(flatten)]
    pub run: MatrixRun,
}

#[derive(clap::Subcommand)]
pub enum MatrixAction {
    /// Join the results of `matrix --shard K/N` (each shard's reports folder) into one.
    Merge {
        /// Where the joined reports are written.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// The shards' reports folders, each holding a matrix.json.
        #[arg(required = true, value_name = "SHARD_DIR")]
        shards: Vec<PathBuf>,
        /// Where the requirements' sentences come from (for the requirement pages).
        #[command(flatten)]
        cases: CaseFolders,
    },
    /// What changed per cell from one matrix.json to another (exit 1 when anything did).
    Diff { before: PathBuf, after: PathBuf },
}

#[derive(clap::Args)]
pub struct MatrixRun {
    /// A provider profile (repeatable; two or more for pairs).
    #[arg(long = "provider", value_name = "FILE", required = true)]
    pub providers: Vec<PathBuf>,
    #[command(flatten)]
    pub cases: CaseFolders,
    /// The folder reports are written to.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Run only the K-th of N shares of the cells (each a like number of cases).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Cases running at once, across cells.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Fail on broken SHOULDs and inconclusive cases too.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: MatrixArgs, built_in: &'static BuiltIn) -> ExitCode {
    match args.action {
        None => run_matrix(&args.run, built_in),
        Some(MatrixAction::Merge {
            reports,
            shards,
            cases,
        }) => merge(&reports, &shards, &cases, built_in),
        Some(MatrixAction::Diff { before, after }) => diff(&before, &after),
    }
}

/// A provider of the matrix: its profile and what identifies it.
struct Entrant {
    profile: Profile,
    about: result::Provider,
}

fn sha256(bytes: impl AsRef<[u8]>) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Over every case's name and the text of its file and its fragments, in name order.
pub fn case_set_digest(cases: &[Case]) -> String {
    let mut sorted: Vec<&Case> = cases.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut hasher = Sha256::new();
    for case in sorted {
        for text in [case.id.as_str(), case.origin.source.as_str()]
            .into_iter()
            .chain(case.fragments.iter().map(|f| f.source.as_str()))
        {
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A case that needs a second provider under test.
fn needs_peer(case: &Case) -> bool {
    case.spec
        .actors
        .providers
        .values()
        .any(|p| p.value == Player::Peer)
}

fn load_entrants(files: &[PathBuf]) -> Result<Vec<Entrant>, Vec<String>> {
    let mut entrants: Vec<Entrant> = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let profile = match Profile::load(file) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let digest = std::fs::read(file).map(sha256).unwrap_or_default();
        let id = crate::report::html::slug(&profile.domain);
        if entrants.iter().any(|e| e.about.id == id) {
            errors.push(format!(
                "{}: {} is given twice; each provider of a matrix has a domain of its own",
                file.display(),
                profile.domain
            ));
            continue;
        }
        entrants.push(Entrant {
            about: result::Provider {
                id,
                name: profile.name.clone(),
                version: profile.software_version.clone(),
                draft: profile.draft.clone(),
                profile_digest: digest,
            },
            profile,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    entrants.sort_by(|a, b| a.about.id.cmp(&b.about.id));
    Ok(entrants)
}

/// One cell to run: providers by their place in the entrants.
struct Planned {
    under_test: usize,
    peer: Option<usize>,
    cases: Vec<usize>,
}

/// Every cell of the matrix, in cell order: each provider alone, then its pairs.
fn plan(n: usize, single: &[usize], pair: &[usize]) -> Vec<Planned> {
    let mut cells = Vec::new();
    for i in 0..n {
        cells.push(Planned {
            under_test: i,
            peer: None,
            cases: single.to_vec(),
        });
        for j in (0..n).filter(|j| *j != i) {
            cells.push(Planned {
                under_test: i,
                peer: Some(j),
                cases: pair.to_vec(),
            });
        }
    }
    cells
}

/// Says what is wrong with the cases, the profiles or the shards, and exits 2.
fn invalid(errors: &[String]) -> ExitCode {
    report_invalid(errors);
    exit::code(exit::INVALID)
}

fn run_matrix(args: &MatrixRun, built_in: &'static BuiltIn) -> ExitCode {
    let (catalogue, cases) = match load_suite(&args.cases.sources(built_in)) {
        Ok(loaded) => loaded,
        Err(errors) => return invalid(&errors),
    };
    let entrants = match load_entrants(&args.providers) {
        Ok(e) => e,
        Err(errors) => return invalid(&errors),
    };
    let (pair, single): (Vec<usize>, Vec<usize>) =
        (0..cases.len()).partition(|i| needs_peer(&cases[*i]));
    let all = plan(entrants.len(), &single, &pair);
    let cells_total = all.len();
    let weights: Vec<usize> = all.iter().map(|c| c.cases.len()).collect();
    let held = match args.shard {
        Some(s) => s.holds(&weights),
        None => vec![true; all.len()],
    };
    let cells: Vec<Planned> = all
        .into_iter()
        .zip(held)
        .filter(|(_, held)| *held)
        .map(|(c, _)| c)
        .collect();
    let profiles_of = |c: &Planned| -> Vec<&Profile> {
        std::iter::once(c.under_test)
            .chain(c.peer)
            .map(|i| &entrants[i].profile)
            .collect()
    };
    // Every template that fills in before traffic, against each cell's providers.
    let mut errors = Vec::new();
    for c in &cells {
        let profiles = profiles_of(c);
        for case in c.cases.iter().map(|i| &cases[*i]) {
            if runner::unsupported(case, &profiles).is_none() {
                errors.extend(
                    runner::check_templates(case, &profiles)
                        .into_iter()
                        .map(|e| format!("in the cell {}: {e}", cell_name(&entrants, c))),
                );
            }
        }
    }
    if !errors.is_empty() {
        return invalid(&errors);
    }
    if let Err(e) = crate::run_control::listen_for_signals() {
        return invalid(&[format!("cannot listen for signals: {e}")]);
    }
    let started = Instant::now();
    let started_unix_ms = crate::observer::unix_ms();
    let matrix_of = |cells: Vec<result::Cell>, state: &str, reason: Option<String>| Matrix {
        harness: "mimi-conformance".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        format: result::FORMAT,
        strict: args.strict,
        case_set: result::CaseSet {
            digest: case_set_digest(&cases),
            single: single.len(),
            pair: pair.len(),
        },
        providers: entrants.iter().map(|e| e.about.clone()).collect(),
        shard: args.shard,
        cells_total,
        timing: result::Timing {
            started_unix_ms,
            wall_ms: started.elapsed().as_millis() as u64,
        },
        state: state.into(),
        reason,
        cells,
    };
    // The previous matrix is replaced at once: a run killed outright leaves one that says it
    // is in progress, never the last run's.
    let in_progress = format!(
        "this matrix (process {}) has not finished; if no run is going on, it was killed before it could write its reports",
        std::process::id()
    );
    if let Err(e) = write_matrix(
        &args.reports,
        &matrix_of(Vec::new(), "in-progress", Some(in_progress)),
        Some(&catalogue),
    ) {
        eprintln!(
            "error: writing the matrix to {}: {e:#}",
            args.reports.display()
        );
        return exit::code(exit::INVALID);
    }
    let shared = match Shared::start(&entrants, &cells) {
        Ok(s) => s,
        Err(Unprepared::Invalid(errors)) => return invalid(&errors),
        Err(Unprepared::Unreachable(message)) => {
            eprintln!("error: {message}");
            return exit::code(exit::UNREACHABLE);
        }
    };
    let sessions: Vec<Session> = cells
        .iter()
        .map(|c| shared.session(&entrants, c, args.strict))
        .collect();
    eprintln!(
        "matrix: {} of {cells_total} cell(s), {} case run(s), {} at a time",
        cells.len(),
        cells.iter().map(|c| c.cases.len()).sum::<usize>(),
        args.jobs.max(1)
    );
    let ran = run_cells(&cells, &sessions, &cases, args.jobs.max(1), &entrants);
    let observed = shared.observer.as_ref().map(|o| o.report());
    drop(sessions);
    drop(shared);
    let mut matrix_cells = Vec::new();
    for (c, (records, timing)) in cells.iter().zip(ran) {
        let under_test = &entrants[c.under_test].about.id;
        let peer = c.peer.map(|j| entrants[j].about.id.as_str());
        if let Err(e) = write_cell(
            &args.reports,
            &entrants,
            c,
            &records,
            &catalogue,
            args.strict,
        ) {
            eprintln!(
                "error: writing the reports of the cell {}: {e:#}",
                cell_name(&entrants, c)
            );
            return exit::code(exit::FAILED);
        }
        matrix_cells.push(result::cell(
            under_test,
            peer,
            records
                .iter()
                .map(|r| result::cell_case(r, &catalogue))
                .collect(),
            timing,
        ));
    }
    let matrix = match crate::run_control::stopping() {
        None => matrix_of(matrix_cells, result::FINISHED, None),
        Some(stop) => matrix_of(matrix_cells, stop.state(), Some(stop.reason())),
    };
    if let Some(observed) = &observed {
        let file = args.reports.join(crate::report::lifecycle::OBSERVER_JSON);
        if let Err(e) = crate::report::observed::write_json(&file, observed) {
            eprintln!("error: writing {}: {e:#}", file.display());
            return exit::code(exit::FAILED);
        }
    }
    finish(&args.reports, &matrix, Some(&catalogue))
}

/// Writes matrix.json, matrix.md and the site, each file renamed into place.
fn write_matrix(dir: &Path, matrix: &Matrix, catalogue: Option<&Catalogue>) -> anyhow::Result<()> {
    use crate::report::lifecycle::put;
    std::fs::create_dir_all(dir)?;
    put(&dir.join("matrix.json"), |path| {
        Ok(std::fs::write(
            path,
            serde_json::to_vec_pretty(&matrix.to_json())?,
        )?)
    })?;
    put(&dir.join("matrix.md"), |path| {
        Ok(std::fs::write(path, result::markdown(matrix))?)
    })?;
    crate::report::html::matrix::write(dir, matrix, catalogue)
}

/// Writes matrix.json, matrix.md and the site, says how it went, and gives the exit code.
fn finish(dir: &Path, matrix: &Matrix, catalogue: Option<&Catalogue>) -> ExitCode {
    if let Err(e) = write_matrix(dir, matrix, catalogue) {
        eprintln!("error: writing the matrix to {}: {e:#}", dir.display());
        return exit::code(exit::FAILED);
    }
    let case_runs: usize = matrix.cells.iter().map(|c| c.cases.len()).sum();
    eprintln!(
        "matrix: {} cell(s), {case_runs} case run(s) in {:.1} s; {}",
        matrix.cells.len(),
        matrix.timing.wall_ms as f64 / 1000.0,
        dir.join("index.html").display()
    );
    if let Some(stop) = crate::run_control::stopping() {
        let not_run: usize = matrix
            .cells
            .iter()
            .flat_map(|c| &c.cases)
            .filter(|c| c.verdict == "not-run")
            .count();
        eprintln!("{}: {not_run} case run(s) not run", stop.reason());
        return exit::code(stop.exit_code());
    }
    if matrix.fails() {
        exit::code(exit::FAILED)
    } else {
        exit::code(exit::PASSED)
    }
}

fn cell_name(entrants: &[Entrant], c: &Planned) -> String {
    result::cell_id(
        &entrants[c.under_test].about.id,
        c.peer.map(|j| entrants[j].about.id.as_str()),
    )
}

/// What every cell shares: the runtime, a connection per provider, the harness's link-B
/// servers, and the observer.
struct Shared {
    connections: Vec<Option<Arc<crate::drivers::link_b::Connection>>>,
    servers: BTreeMap<SocketAddr, Arc<HarnessServer>>,
    observer: Option<Arc<crate::observer::Observer>>,
    runtime: tokio::runtime::Runtime,
}

impl Shared {
    fn start(entrants: &[Entrant], cells: &[Planned]) -> Result<Self, Unprepared> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Unprepared::Unreachable(format!("cannot start the async runtime: {e}")))?;
        let profiles: Vec<Profile> = entrants.iter().map(|e| e.profile.clone()).collect();
        let observer = observer_for(&profiles, &runtime)?;
        // Only the providers of this shard's cells are reached.
        let used: Vec<bool> = (0..entrants.len())
            .map(|i| cells.iter().any(|c| c.under_test == i || c.peer == Some(i)))
            .collect();
        let mut servers: BTreeMap<SocketAddr, Arc<HarnessServer>> = BTreeMap::new();
        for (i, e) in entrants.iter().enumerate() {
            let h = &e.profile.harness;
            let Some(listen) = h.listen.filter(|_| used[i]) else {
                continue;
            };
            if servers.contains_key(&listen) {
                continue;
            }
            let sharing: Vec<&Profile> = profiles
                .iter()
                .filter(|p| p.harness.listen == Some(listen))
                .collect();
            if let Some(other) = sharing
                .iter()
                .find(|p| p.harness.domain != h.domain || p.harness.cert_pem != h.cert_pem)
            {
                return Err(Unprepared::Invalid(vec![format!(
                    "{} and {} have the harness listen on {listen} with different identities",
                    e.profile.name, other.name
                )]));
            }
            let mut roots: Vec<String> = Vec::new();
            for p in &sharing {
                for r in &p.trust_roots_pem {
                    if !roots.contains(r) {
                        roots.push(r.clone());
                    }
                }
            }
            let server = runtime
                .block_on(HarnessServer::start(
                    &h.domain,
                    &h.cert_pem,
                    &h.key_pem,
                    &roots,
                    listen,
                ))
                .map_err(|e| {
                    Unprepared::Unreachable(format!(
                        "the harness cannot serve link B on {listen}: {e:#}"
                    ))
                })?;
            servers.insert(listen, server);
        }
        let wanted: Vec<Profile> = profiles
            .iter()
            .zip(&used)
            .filter(|(_, u)| **u)
            .map(|(p, _)| p.clone())
            .collect();
        let mut reached = runtime
            .block_on(connect(wanted))
            .map_err(Unprepared::Unreachable)?
            .into_iter();
        let connections = used
            .iter()
            .map(|u| if *u { reached.next() } else { None })
            .collect();
        Ok(Self {
            connections,
            servers,
            observer,
            runtime,
        })
    }

    fn session(&self, entrants: &[Entrant], c: &Planned, strict: bool) -> Session {
        let under_test = &entrants[c.under_test].profile;
        Session {
            runtime: self.runtime.handle().clone(),
            connections: std::iter::once(c.under_test)
                .chain(c.peer)
                .filter_map(|i| self.connections[i].clone())
                .collect(),
            peer: under_test
                .harness
                .listen
                .and_then(|l| self.servers.get(&l).cloned()),
            sink: EventSink::discard(),
            strict,
            // A matrix judges; it records no snapshot.
            snapshots: snapshot::UpdateMode::No,
            snapshot_suffix: Some(under_test.domain.clone()),
            snapshot_dir: None,
            expectations: Default::default(),
            observer: self.observer.clone(),
            head_start: Default::default(),
        }
    }
}

/// Runs every case of every cell, `jobs` at a time across cells; each cell's records in case
/// order, with its timing.
fn run_cells(
    cells: &[Planned],
    sessions: &[Session],
    cases: &[Case],
    jobs: usize,
    entrants: &[Entrant],
) -> Vec<(Vec<CaseRecord>, result::CellTiming)> {
    let work: Vec<(usize, usize)> = cells
        .iter()
        .enumerate()
        .flat_map(|(c, cell)| cell.cases.iter().map(move |k| (c, *k)))
        .collect();
    struct Progress {
        records: Vec<Vec<CaseRecord>>,
        first: Vec<Option<Instant>>,
        last: Vec<Option<Instant>>,
        left: Vec<usize>,
    }
    let progress = Mutex::new(Progress {
        records: cells.iter().map(|_| Vec::new()).collect(),
        first: vec![None; cells.len()],
        last: vec![None; cells.len()],
        left: cells.iter().map(|c| c.cases.len()).collect(),
    });
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(work.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(c, k)) = work.get(i) else { break };
                // Once the run is stopping no case starts: each is recorded as not run.
                let record = match crate::run_control::stopping() {
                    Some(stop) => runner::not_run(&cases[k], &sessions[c], &stop.reason()),
                    None => {
                        let began = Instant::now();
                        progress.lock().unwrap_or_else(|e| e.into_inner()).first[c]
                            .get_or_insert(began);
                        runner::run_case(&cases[k], &sessions[c])
                    }
                };
                let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                p.records[c].push(record);
                p.last[c] = Some(Instant::now());
                p.left[c] -= 1;
                if p.left[c] == 0 {
                    let verdicts =
                        crate::report::html::counts(p.records[c].iter().map(|r| r.verdict.name()));
                    let counts: Vec<String> = verdicts
                        .iter()
                        .map(|v| format!("{} {}", v.verdict, v.count))
                        .collect();
                    eprintln!(
                        "cell {}: {}",
                        cell_name(entrants, &cells[c]),
                        counts.join(", ")
                    );
                }
            });
        }
    });
    let p = progress.into_inner().unwrap_or_else(|e| e.into_inner());
    p.records
        .into_iter()
        .zip(p.first.into_iter().zip(p.last))
        .map(|(mut records, (first, last))| {
            records.sort_by(|a, b| a.id.cmp(&b.id));
            let timing = result::CellTiming {
                cases_ms: records.iter().map(|r| r.duration.as_millis() as u64).sum(),
                wall_ms: match (first, last) {
                    (Some(f), Some(l)) => l.saturating_duration_since(f).as_millis() as u64,
                    _ => 0,
                },
            };
            (records, timing)
        })
        .collect()
}

/// A cell's own reports: its results.json and its site, under `cells/<cell>/`.
fn write_cell(
    dir: &Path,
    entrants: &[Entrant],
    c: &Planned,
    records: &[CaseRecord],
    catalogue: &Catalogue,
    strict: bool,
) -> anyhow::Result<()> {
    let id = cell_name(entrants, c);
    let prefix = format!("cells/{id}/");
    crate::report::results::write(&dir.join(&prefix).join("results.json"), records, strict)?;
    let title = match c.peer {
        None => format!("{} alone", entrants[c.under_test].about.id),
        Some(j) => format!(
            "{} under test, {} its peer",
            entrants[c.under_test].about.id, entrants[j].about.id
        ),
    };
    crate::report::html::run::write(
        dir,
        &crate::report::html::run::RunSite {
            title: &title,
            records,
            catalogue: Some(catalogue),
            observer: None,
            strict,
            ending: None,
            prefix: &prefix,
            home: "matrix",
            crumbs: vec![("index.html".into(), id.clone())],
            results: Some("results.json"),
            observer_json: None,
            certification: None,
        },
    )
}

fn merge(
    out: &Path,
    shard_dirs: &[PathBuf],
    cases: &CaseFolders,
    built_in: &'static BuiltIn,
) -> ExitCode {
    let mut shards = Vec::new();
    for dir in shard_dirs {
        if same_folder(dir, out) {
            return invalid(&[format!(
                "{}: the merged reports go to a folder of their own, not into a shard's",
                dir.display()
            )]);
        }
        match result::read(&dir.join("matrix.json")) {
            Ok(m) => shards.push((dir, m)),
            Err(e) => return invalid(&[e]),
        }
    }
    let labels: Vec<(PathBuf, Option<Shard>)> = shards
        .iter()
        .map(|(d, m)| (d.to_path_buf(), m.shard))
        .collect();
    let merged = match result::merge(shards.into_iter().map(|(_, m)| m).collect()) {
        Ok(m) => m,
        Err(e) => return invalid(&[format!("the shards do not make one matrix: {e}")]),
    };
    let copied = (|| -> anyhow::Result<()> {
        for (dir, shard) in &labels {
            copy_dir(&dir.join("cells"), &out.join("cells"))?;
            let observed = dir.join(crate::report::lifecycle::OBSERVER_JSON);
            if let (true, Some(s)) = (observed.exists(), shard) {
                std::fs::create_dir_all(out.join("observer"))?;
                std::fs::copy(
                    &observed,
                    out.join(format!("observer/shard-{}-of-{}.json", s.index, s.count)),
                )?;
            }
        }
        Ok(())
    })();
    if let Err(e) = copied {
        eprintln!(
            "error: copying the cells' reports to {}: {e:#}",
            out.display()
        );
        return exit::code(exit::FAILED);
    }
    // The requirements' sentences, if the cases load; the pages do without them otherwise.
    let catalogue = load_suite(&cases.sources(built_in)).ok().map(|(c, _)| c);
    finish(out, &merged, catalogue.as_ref())
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the differences are this command's product"
)]
fn diff(before: &Path, after: &Path) -> ExitCode {
    let read = |p: &Path| result::read(p);
    let (b, a) = match (read(before), read(after)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => return invalid(&[e]),
    };
    let lines = result::diff(&b, &a);
    for line in &lines {
        println!("{line}");
    }
    if lines.is_empty() {
        eprintln!("no verdict changed");
        exit::code(exit::PASSED)
    } else {
        exit::code(exit::FAILED)
    }
}
