//! The reports folder over a run's life, so that its reports are never lost and never stale.
//!
//! - At the start, `begin` replaces the previous run's reports at once with ones that say this
//!   run is in progress (an errored JUnit test case, `"state": "in-progress"`): a run that is
//!   killed outright leaves those, never the last run's green.
//! - A run that could not start (exit 2 or 3) writes reports that say why.
//! - A finished or stopped run writes the complete reports; cases the run stopped before are
//!   in them as `not-run`.
//!
//! Every file is written beside its final name and renamed into place, so a reader sees the old
//! file or the new one, never half of one. `run.json` says how the run ended; `junit.xml` and
//! `results.json` carry the same as a `run` test suite and a `run` member, and the site's index
//! (`index.html`) says it above the verdicts. With an observer between the providers,
//! `observer.json` holds what it saw.
//!
//! `observe` goes through the same life (`Reports::begin_observation`): its `junit.xml`,
//! `results.json` and site hold a test case per requirement the observer checks
//! (`report::observed`), and an observation that ends at Ctrl-C, SIGTERM or `--for` finished.

use crate::catalogue::Catalogue;
use crate::observer::ObserverReport;
use crate::runner::events::{CaseRecord, Verdict};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The observer's report beside a run's results.
pub const OBSERVER_JSON: &str = "observer.json";

/// What a run's reports are made of.
#[derive(Default, Clone, Copy)]
pub struct Reported<'a> {
    pub records: &'a [CaseRecord],
    /// The requirements' sentences, for the site's pages (none before the cases are loaded).
    pub catalogue: Option<&'a Catalogue>,
    /// What the observer between the providers saw, when there was one.
    pub observed: Option<&'a ObserverReport>,
}

/// How a run ended, as its reports say it.
#[derive(Debug, Clone)]
pub enum Ending {
    /// Every selected case ran (or the filter selected none, and `note` says so).
    Finished { note: Option<String> },
    /// A signal or the run's timeout stopped it.
    Stopped(crate::run_control::Stop),
    /// It could not start: the exit code, and why.
    NotStarted { code: u8, why: String },
}

impl Ending {
    fn state(&self) -> &'static str {
        match self {
            Ending::Finished { .. } => "finished",
            Ending::Stopped(stop) => stop.state(),
            Ending::NotStarted { .. } => "could-not-start",
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Ending::Finished { note } => note.clone(),
            Ending::Stopped(stop) => Some(stop.reason()),
            Ending::NotStarted { why, .. } => Some(why.clone()),
        }
    }
}

/// What a reports folder reports on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A run of cases (`run`, a matrix cell).
    Run,
    /// What `observe` saw: its verdicts come from `Reported::observed`, not from cases.
    Observation,
}

/// The reports folder of one run.
pub struct Reports {
    dir: PathBuf,
    strict: bool,
    kind: Kind,
    started: SystemTime,
    /// Set once the final reports are written: the main thread and the backstop race for it.
    written: Mutex<bool>,
}

impl Reports {
    /// Takes the folder for this run: the previous reports are replaced by in-progress ones.
    pub fn begin(dir: &Path, strict: bool) -> anyhow::Result<Self> {
        Self::begin_as(dir, strict, Kind::Run)
    }

    /// Takes the folder for an observation (`observe`), as `begin` does for a run.
    pub fn begin_observation(dir: &Path, strict: bool) -> anyhow::Result<Self> {
        Self::begin_as(dir, strict, Kind::Observation)
    }

    fn begin_as(dir: &Path, strict: bool, kind: Kind) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let reports = Self {
            dir: dir.to_path_buf(),
            strict,
            kind,
            started: SystemTime::now(),
            written: Mutex::new(false),
        };
        let why = format!(
            "this run (process {}) has not finished; if no run is going on, it was killed before it could write its reports",
            std::process::id()
        );
        reports.write(&Reported::default(), "in-progress", Some(&why), None)?;
        // An earlier run's link-B traffic is not this run's: this run writes its own, if it has
        // an observer.
        match std::fs::remove_file(dir.join(OBSERVER_JSON)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        Ok(reports)
    }

    /// The reports of a run that ended (or could not start). Only the first call writes.
    pub fn finish(&self, reported: &Reported<'_>, ending: &Ending, exit_code: u8) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written {
            return;
        }
        *written = true;
        let reason = ending.reason();
        if let Err(e) = self.write(reported, ending.state(), reason.as_deref(), Some(exit_code)) {
            eprintln!("error: writing reports to {}: {e:#}", self.dir.display());
        } else {
            tracing::info!("reports written to {}", self.dir.display());
        }
    }

    fn write(
        &self,
        reported: &Reported<'_>,
        state: &str,
        reason: Option<&str>,
        exit_code: Option<u8>,
    ) -> anyhow::Result<()> {
        let records = reported.records;
        let not_run = records
            .iter()
            .filter(|r| r.verdict == Verdict::NotRun)
            .count();
        // What the observer saw, graded against the requirements, when this is an observation
        // that got as far as seeing something.
        let observation = match (self.kind, reported.observed, reported.catalogue) {
            (Kind::Observation, Some(observed), Some(catalogue)) => Some((observed, catalogue)),
            _ => None,
        };
        let (mut junit, mut results) = match (self.kind, observation) {
            (Kind::Run, _) => (
                crate::report::junit::report(records, self.strict),
                crate::report::results::to_json(records, self.strict),
            ),
            (Kind::Observation, Some((observed, catalogue))) => (
                crate::report::observed::junit(observed, catalogue, self.strict),
                crate::report::results::of_cases(
                    crate::report::observed::results_cases(observed, catalogue, self.strict),
                    self.strict,
                ),
            ),
            (Kind::Observation, None) => (
                quick_junit::Report::new("mimi-conformance observe"),
                crate::report::results::of_cases(Vec::new(), self.strict),
            ),
        };
        let run = json!({
            "state": state,
            "reason": reason,
            "exit_code": exit_code,
            "pid": std::process::id(),
            "started_unix": unix(self.started),
            "ended_unix": exit_code.map(|_| unix(SystemTime::now())),
            "cases": results["cases"].as_array().map_or(0, Vec::len),
            "not_run": not_run,
        });
        if state != "finished" {
            junit.add_test_suite(run_suite(state, reason.unwrap_or_default(), not_run));
        }
        self.put("junit.xml", |path| {
            let file = std::fs::File::create(path)?;
            junit.serialize(std::io::BufWriter::new(file))?;
            Ok(())
        })?;
        results["run"] = run.clone();
        self.put("results.json", |path| {
            std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
            Ok(())
        })?;
        self.put("run.json", |path| {
            std::fs::write(path, serde_json::to_vec_pretty(&run)?)?;
            Ok(())
        })?;
        if let Some(observed) = reported.observed {
            self.put(OBSERVER_JSON, |path| {
                crate::report::observed::write_json(path, observed)
            })?;
        }
        if let Some((observed, catalogue)) = observation {
            return crate::report::html::observe::write(&self.dir, observed, catalogue);
        }
        crate::report::html::run::write(
            &self.dir,
            &crate::report::html::run::RunSite {
                title: match self.kind {
                    Kind::Run => "mimi-conformance run",
                    Kind::Observation => "mimi-conformance observe",
                },
                records,
                catalogue: reported.catalogue,
                observer: reported.observed,
                strict: self.strict,
                ending: (state != "finished" || reason.is_some()).then(|| {
                    crate::report::html::run::Ending {
                        state: state.to_string(),
                        reason: reason.map(str::to_string),
                    }
                }),
                prefix: "",
                home: "run",
                crumbs: Vec::new(),
                results: Some("results.json"),
                observer_json: reported.observed.map(|_| OBSERVER_JSON),
                certification: None,
            },
        )
    }

    /// Writes `name` through a file beside it, then renames it into place.
    fn put(
        &self,
        name: &str,
        write: impl FnOnce(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        put(&self.dir.join(name), write)
    }
}

/// Writes `path` through a file beside it, then renames it into place, so that a reader sees
/// the old file or the new one, never half of one.
pub fn put(path: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = write(&partial).and_then(|()| Ok(std::fs::rename(&partial, path)?));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// The JUnit suite that says a run did not finish, as one errored test case, so that a CI job
/// reading only junit.xml sees it.
fn run_suite(state: &str, reason: &str, not_run: usize) -> TestSuite {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_type(state);
    let message = match not_run {
        0 => format!("{state}: {reason}"),
        n => format!("{state}: {reason}; {n} case(s) not run"),
    };
    status.set_message(message.clone());
    status.set_description(message);
    let mut case = TestCase::new("run", status);
    case.set_classname("mimi.run");
    let mut suite = TestSuite::new("run");
    suite.add_test_case(case);
    suite
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An observation's reports go through a run's life: in progress from its start, and an
    /// observation that could not start says why, in results.json too, which meets its schema.
    #[test]
    fn an_observation_is_in_progress_from_its_start_and_says_why_it_could_not_start() {
        let d = dir("observation");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("results.json"), "{\"cases\": []}").unwrap();
        std::fs::write(d.join(OBSERVER_JSON), "{}").unwrap();
        let reports = Reports::begin_observation(&d, false).unwrap();
        let read = |name: &str| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(d.join(name)).unwrap()).unwrap()
        };
        let results = read("results.json");
        assert_eq!(results["run"]["state"], "in-progress");
        assert_eq!(crate::report::results::schema_violation(&results), None);
        assert!(
            !d.join(OBSERVER_JSON).exists(),
            "the last observation's traffic is gone"
        );
        let xml = std::fs::read_to_string(d.join("junit.xml")).unwrap();
        assert!(xml.contains("mimi-conformance observe") && xml.contains("in-progress"));
        let index = std::fs::read_to_string(d.join("index.html")).unwrap();
        assert!(index.contains("mimi-conformance observe"), "{index}");
        reports.finish(
            &Reported::default(),
            &Ending::NotStarted {
                code: 3,
                why: "address already in use".into(),
            },
            3,
        );
        let results = read("results.json");
        assert_eq!(results["run"]["state"], "could-not-start");
        assert_eq!(results["run"]["reason"], "address already in use");
        assert_eq!(results["cases"], serde_json::json!([]));
        assert_eq!(read("run.json"), results["run"]);
        let xml = std::fs::read_to_string(d.join("junit.xml")).unwrap();
        assert!(xml.contains("address already in use"), "{xml}");
        let _ = std::fs::remove_dir_all(&d);
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mimi-lifecycle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn an_old_green_report_is_gone_as_soon_as_a_run_begins() {
        let d = dir("stale");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("junit.xml"),
            "<testsuites tests=\"9\" failures=\"0\"/>",
        )
        .unwrap();
        std::fs::write(d.join("index.html"), "all green").unwrap();
        std::fs::write(d.join(OBSERVER_JSON), "{}").unwrap();
        let reports = Reports::begin(&d, false).unwrap();
        let index = std::fs::read_to_string(d.join("index.html")).unwrap();
        assert!(
            index.contains("This run is <strong>in-progress</strong>"),
            "{index}"
        );
        assert!(
            !d.join(OBSERVER_JSON).exists(),
            "the last run's traffic is gone"
        );
        let xml = std::fs::read_to_string(d.join("junit.xml")).unwrap();
        let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(junit.errors, 1, "{xml}");
        assert!(xml.contains("in-progress"), "{xml}");
        let run: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("run.json")).unwrap()).unwrap();
        assert_eq!(run["state"], "in-progress");

        reports.finish(
            &Reported::default(),
            &Ending::NotStarted {
                code: 3,
                why: "the directory of x.example cannot be read".into(),
            },
            3,
        );
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("results.json")).unwrap()).unwrap();
        assert_eq!(results["run"]["state"], "could-not-start");
        assert_eq!(results["run"]["exit_code"], 3);
        let xml = std::fs::read_to_string(d.join("junit.xml")).unwrap();
        assert!(
            xml.contains("the directory of x.example cannot be read"),
            "{xml}"
        );
        let index = std::fs::read_to_string(d.join("index.html")).unwrap();
        assert!(
            index.contains("could-not-start")
                && index.contains("the directory of x.example cannot be read"),
            "{index}"
        );
        // Only the first ending is written.
        reports.finish(&Reported::default(), &Ending::Finished { note: None }, 0);
        let run: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("run.json")).unwrap()).unwrap();
        assert_eq!(run["state"], "could-not-start");
        assert!(
            std::fs::read_dir(&d).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".partial")),
            "no partial file is left"
        );
    }
}
