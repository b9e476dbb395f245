//! The case model: loading `cases/**/*.yaml` into a typed plan, and every check that can be
//! made before traffic. Errors name file:line:col and show the line (and, inside a fragment,
//! the line that uses it).

pub mod fragment;
pub mod model;
pub mod node;
mod parse;
pub mod template;
mod validate;

pub use parse::FixedTemplate;

use crate::catalogue::{Catalogue, Requirement};
use fragment::Library;
use model::{Link, Origin, Spec, UseSite};
use node::Pos;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The folder below a cases folder that holds fragments rather than cases.
pub const FRAGMENTS: &str = "fragments";

/// A case that failed to load, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
    /// The offending line with a caret under the column.
    pub snippet: String,
    /// For an error in a fragment: the `use` steps that brought it in, innermost first.
    pub used_at: Vec<UseSite>,
}

impl LoadError {
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            pos: None,
            message: message.into(),
            snippet: String::new(),
            used_at: Vec::new(),
        }
    }

    pub fn at(file: &Path, source: &str, pos: Pos, message: impl Into<String>) -> Self {
        let pos = (pos.line > 0).then_some(pos);
        Self {
            file: file.to_path_buf(),
            snippet: pos.map(|p| snippet(source, p)).unwrap_or_default(),
            pos,
            message: message.into(),
            used_at: Vec::new(),
        }
    }

    pub fn from_yaml(file: &Path, source: &str, err: &serde_saphyr::Error) -> Self {
        let pos = err
            .location()
            .map(|l| Pos {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or_default();
        Self::at(file, source, pos, yaml_message(err))
    }
}

/// serde-saphyr's message without its own location and snippet (we print ours).
fn yaml_message(err: &serde_saphyr::Error) -> String {
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default();
    // Advice meant for programmers using the library, not for case authors.
    let first = first
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(first);
    // "… at line L, column C" is said by the location we print in front.
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line,
                p.column,
                self.message
            )?,
            None => write!(f, "{}: {}", self.file.display(), self.message)?,
        }
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        for site in &self.used_at {
            write!(
                f,
                "\nin fragment {}, used at {}:{}:{}",
                site.fragment,
                site.file.display(),
                site.pos.line,
                site.pos.column
            )?;
            if !site.snippet.is_empty() {
                write!(f, "\n{}", site.snippet)?;
            }
        }
        Ok(())
    }
}

/// The line at `pos` with a caret under its column, gutter numbered like rustc's.
pub fn snippet(source: &str, pos: Pos) -> String {
    match source.lines().nth(pos.line.saturating_sub(1) as usize) {
        Some(line) => snippet_of_line(line, pos),
        None => String::new(),
    }
}

/// `line`, the text of the line at `pos`, with a caret under its column.
pub fn snippet_of_line(line: &str, pos: Pos) -> String {
    let number = pos.line.to_string();
    let pad = " ".repeat(number.len());
    let caret = " ".repeat(pos.column.saturating_sub(1) as usize);
    format!("{pad} |\n{number} | {line}\n{pad} | {caret}^")
}

/// A loaded case: its typed plan.
#[derive(Debug)]
pub struct Case {
    /// `<link>::<path>`, from the file's path below the cases folder: `B::keyMaterial::unknown-user`.
    pub id: String,
    pub file: PathBuf,
    /// The case file and its text.
    pub origin: Arc<Origin>,
    pub spec: Spec,
    /// What the case checks: its `checks`, and those of the fragments it uses.
    pub requirements: Vec<Requirement>,
    pub timeout: Duration,
    /// Where `fixture_*()` reads files.
    pub fixtures: PathBuf,
    /// The templates that can be filled in before the first step, to check against the profiles.
    pub fixed_templates: Vec<FixedTemplate>,
    /// The fragment files the case uses, to show their lines.
    pub fragments: Vec<Arc<Origin>>,
}

impl Case {
    pub fn links(&self) -> Vec<Link> {
        self.spec.links.iter().map(|l| l.value).collect()
    }

    /// The link it is reported under.
    pub fn link(&self) -> Link {
        self.spec.links[0].value
    }

    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> LoadError {
        self.origin.error_at(pos, message)
    }

    /// The text of the file a `file:line:col` location names: the case's, or a fragment's.
    pub fn source_of(&self, location: &str) -> &str {
        std::iter::once(&self.origin)
            .chain(&self.fragments)
            .find(|o| {
                location
                    .strip_prefix(&*o.file.to_string_lossy())
                    .is_some_and(|rest| rest.starts_with(':'))
            })
            .map_or(self.origin.source.as_str(), |o| o.source.as_str())
    }

    /// Where snapshots of this case live: `<dir>/snapshots/<stem>__<name>[@<suffix>].snap`.
    pub fn snapshot_path(&self, name: &str, suffix: Option<&str>) -> PathBuf {
        let stem = self.file.file_stem().unwrap_or_default().to_string_lossy();
        let suffix = suffix.map(|s| format!("@{s}")).unwrap_or_default();
        self.file
            .parent()
            .unwrap_or(Path::new("."))
            .join("snapshots")
            .join(format!("{stem}__{name}{suffix}.snap"))
    }
}

pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// `250ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("duration {s:?} needs a unit: ms, s or m"))?;
    let n: f64 = number
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("duration {s:?} has unit {unit:?}; use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("duration {s:?}: {e}"))
}

/// The case files below `root`: YAML files in its subfolders (files at the top level, such as
/// requirements.yaml, are configuration), skipping `snapshots/` folders and `fragments/`.
pub fn case_files(root: &Path) -> Result<Vec<PathBuf>, LoadError> {
    fn walk(dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                let skipped =
                    entry.file_name() == "snapshots" || (top && entry.file_name() == FRAGMENTS);
                if !skipped {
                    walk(&path, false, out)?;
                }
            } else if !top && path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, true, &mut out)
        .map_err(|e| LoadError::file(root, format!("cannot read the cases folder: {e}")))?;
    Ok(out)
}

pub fn case_id(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file).with_extension("");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("::")
}

/// The fixtures folder of a cases folder: `<cases>/fixtures`, else `<cases>/../fixtures`, else
/// the repository's (the harness's package is two folders below it).
pub fn fixtures_folder(root: &Path) -> PathBuf {
    let own = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures")).to_path_buf();
    [root.join("fixtures"), root.join("..").join("fixtures")]
        .into_iter()
        .find(|f| f.is_dir())
        .unwrap_or(own)
}

/// Loads the cases of one cases folder: its catalogue, fragments and fixtures.
pub struct Loader<'c> {
    root: PathBuf,
    catalogue: &'c Catalogue,
    library: Library,
    fixtures: PathBuf,
}

impl<'c> Loader<'c> {
    pub fn new(root: &Path, catalogue: &'c Catalogue) -> Self {
        Self {
            root: root.to_path_buf(),
            catalogue,
            library: Library::load(root),
            fixtures: fixtures_folder(root),
        }
    }

    /// Loads one case file; every problem found is returned, not only the first.
    pub fn load(&self, file: &Path) -> Result<Case, Vec<LoadError>> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| vec![LoadError::file(file, format!("cannot read: {e}"))])?;
        self.parse(file, source)
    }

    pub fn parse(&self, file: &Path, source: String) -> Result<Case, Vec<LoadError>> {
        validate::case(
            case_id(&self.root, file),
            file,
            source,
            self.catalogue,
            &self.library,
            &self.fixtures,
        )
    }

    /// Every case below the root, read and made into plans on all cores; the cases in file
    /// order, and every load error (a broken fragment's once).
    pub fn load_all(&self) -> (Vec<Case>, Vec<LoadError>) {
        let files = match case_files(&self.root) {
            Ok(f) => f,
            Err(e) => return (Vec::new(), vec![e]),
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(files.len().div_ceil(16))
            .max(1);
        let mut loaded: Vec<(usize, Result<Case, Vec<LoadError>>)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let files = &files;
                    s.spawn(move || {
                        files
                            .iter()
                            .enumerate()
                            .skip(t)
                            .step_by(threads)
                            .map(|(i, f)| (i, self.load(f)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        loaded.sort_by_key(|(i, _)| *i);
        let mut cases = Vec::new();
        let mut errors: Vec<LoadError> = self.library.errors().cloned().collect();
        for (_, result) in loaded {
            match result {
                Ok(case) => cases.push(case),
                Err(e) => {
                    for error in e {
                        if !errors.contains(&error) {
                            errors.push(error);
                        }
                    }
                }
            }
        }
        (cases, errors)
    }
}

/// Loads one case file of the cases folder `root`.
pub fn load_case(root: &Path, file: &Path, catalogue: &Catalogue) -> Result<Case, Vec<LoadError>> {
    Loader::new(root, catalogue).load(file)
}

/// Makes a case of `source`, as if it were `file` of the cases folder `root`.
pub fn parse_case(
    root: &Path,
    file: &Path,
    source: String,
    catalogue: &Catalogue,
) -> Result<Case, Vec<LoadError>> {
    Loader::new(root, catalogue).parse(file, source)
}

/// Loads every case below `root`; returns the cases and all load errors.
pub fn load_all(root: &Path, catalogue: &Catalogue) -> (Vec<Case>, Vec<LoadError>) {
    Loader::new(root, catalogue).load_all()
}
