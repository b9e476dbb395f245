//! `evidence.json`, which every run writes to its reports folder beside `results.json`: what a
//! certification needs to know about the run that `results.json` does not say. When it started
//! and ended, `--strict` or not, the harness (version and source revision), the providers'
//! profiles with their secrets removed, the expectation file with its reasons, the case set by
//! digest and the catalogue's digest. With `results.json` (every case's verdicts, checks and
//! exchanges) it is the evidence a bundle carries: `certify --from-reports` reads the two.

use super::caseset::{catalogue_digest, CaseSet};
use super::profile::PublicProfile;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Its file name in a reports folder (and in a bundle).
pub const FILE: &str = "evidence.json";

/// The version of its format.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub format: u32,
    pub harness: Harness,
    /// When the run started and ended, in ms since the UNIX epoch: the clock a KeyPackage's
    /// lifetime was judged by lies between them.
    pub started_ms: u64,
    pub finished_ms: u64,
    pub strict: bool,
    /// The suffix of the provider's own snapshots (its domain); none for the reference provider.
    pub snapshot_suffix: Option<String>,
    /// The provider under test, then its peer.
    pub profiles: Vec<PublicProfile>,
    /// The provider's expectation file (known-failing and known-flaky cases, with reasons).
    pub expectations: Option<ExpectationFile>,
    /// The case set, as `sha256sum` lists it (`caseset`).
    pub case_set: String,
    /// The SHA-256 of the requirement catalogue (`caseset::catalogue_digest`).
    pub catalogue: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Harness {
    pub name: String,
    pub version: String,
    /// The git commit of the checkout the harness was built from (`-dirty` when it had
    /// changes), or `unknown`.
    pub source_revision: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationFile {
    /// Its file name.
    pub name: String,
    pub text: String,
}

/// What a finished run tells `write`.
pub use crate::session::FinishedRun as Run;

/// `evidence.json` as a run writes it (`session::RunOptions::evidence`).
pub struct RunEvidence;

/// What `run`, `certify` and the `cargo test` target give their runs.
pub static EVIDENCE: RunEvidence = RunEvidence;

impl crate::session::RunEvidence for RunEvidence {
    fn begin(&self, dir: &Path) {
        remove(dir);
    }

    fn finish(&self, dir: &Path, run: &Run) -> anyhow::Result<()> {
        write(dir, run).map_err(|e| e.context(format!("writing {FILE}")))
    }
}

impl Evidence {
    pub fn of(run: &Run) -> Result<Self, String> {
        let expectations = match run.expectations {
            None => None,
            Some(path) => Some(ExpectationFile {
                name: (path.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                text: std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            }),
        };
        Ok(Self {
            format: FORMAT,
            harness: Harness::this(),
            started_ms: run.started_ms,
            finished_ms: run.finished_ms,
            strict: run.strict,
            snapshot_suffix: run.snapshot_suffix.map(str::to_string),
            profiles: run.profiles.iter().map(PublicProfile::of).collect(),
            expectations,
            case_set: CaseSet::of(run.roots)?.listing(),
            catalogue: catalogue_digest(run.catalogue),
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format = serde_json::from_slice::<Format>(bytes)
            .map_err(|e| format!("{FILE} does not parse: {e}"))?
            .format;
        if format != FORMAT {
            return Err(format!(
                "{FILE} is in format {format}; this harness reads format {FORMAT}"
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("{FILE} does not parse: {e}"))
    }
}

/// Writes `evidence.json` into the reports folder `dir`, through a file beside it renamed into
/// place, so that a reader never sees half of one.
pub fn write(dir: &Path, run: &Run) -> anyhow::Result<()> {
    let evidence = Evidence::of(run).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".{FILE}.{}.partial", std::process::id()));
    let written = std::fs::write(&partial, serde_json::to_vec_pretty(&evidence)?)
        .and_then(|()| std::fs::rename(&partial, dir.join(FILE)));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    Ok(written?)
}

/// Removes a previous run's `evidence.json` from the reports folder `dir`, if there is one: a
/// run that ends without writing its own must not leave another run's beside its results.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(FILE));
}

impl Harness {
    /// This harness: its name and version, and the git commit of the checkout it was built
    /// from, when that checkout is still there.
    pub fn this() -> Self {
        let checkout = env!("CARGO_MANIFEST_DIR");
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(checkout)
                .args(args)
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let source_revision = match git(&["rev-parse", "HEAD"]) {
            Some(commit) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
                Some(changes) if !changes.is_empty() => format!("{commit}-dirty"),
                _ => commit,
            },
            None => "unknown".into(),
        };
        Self {
            name: "mimi-conformance".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_revision,
        }
    }
}
