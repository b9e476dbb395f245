//! The exact case set a run used, by digest: every file the runner reads below its cases folders
//! (case files, fragments, the snapshots beside the cases, the requirement catalogue), and the
//! fixtures the cases name (`fixture_b64('vectors/...')`, listed as `fixtures/vectors/...`
//! wherever the folder's fixtures are), each with its SHA-256, listed in `sha256sum`'s format
//! sorted by path: the listing `evidence.json` holds, whose own SHA-256 is the case set's root.
//! With several folders, each path begins with the folder's place in the run (`0/`, `1/`, ...).
//! Snapshots waiting for review (`.snap.new`) and hidden files are not read by a run, so they
//! are left out, as the binary's build leaves them out of the built-in cases.

use crate::catalogue::Catalogue;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Relative path (with `/`) → SHA-256 in hex.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseSet(pub BTreeMap<String, String>);

impl CaseSet {
    /// The case set of a run's case folders (`session::CaseSources::roots`).
    pub fn of(roots: &[PathBuf]) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for (i, root) in roots.iter().enumerate() {
            let prefix = if roots.len() > 1 {
                format!("{i}/")
            } else {
                String::new()
            };
            let mut files = Vec::new();
            walk(root, true, &mut files)
                .map_err(|e| format!("cannot read the cases folder {}: {e}", root.display()))?;
            let fixtures = crate::case::fixtures_folder(root);
            for file in files {
                let bytes = std::fs::read(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                for path in crate::template::fixture_paths(&String::from_utf8_lossy(&bytes)) {
                    // A fixture a case cannot read fails its loading, not this listing.
                    if let Ok(fixture) = crate::template::read_fixture(&fixtures, path) {
                        out.insert(
                            format!("{prefix}{FIXTURES}/{path}"),
                            super::sha256_hex(&fixture),
                        );
                    }
                }
                out.insert(
                    format!("{prefix}{}", relative(root, &file)),
                    super::sha256_hex(&bytes),
                );
            }
        }
        Ok(Self(out))
    }

    /// `<sha256>  <path>` lines, as `sha256sum` writes them.
    pub fn listing(&self) -> String {
        self.0
            .iter()
            .map(|(path, digest)| format!("{digest}  {path}\n"))
            .collect()
    }

    pub fn parse(listing: &str) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for (i, line) in listing.lines().enumerate() {
            let (digest, path) = line
                .split_once("  ")
                .filter(|(d, p)| d.len() == 64 && !p.is_empty())
                .ok_or_else(|| format!("the case set, line {}: not `<sha256>  <path>`", i + 1))?;
            out.insert(path.to_string(), digest.to_string());
        }
        Ok(Self(out))
    }

    pub fn root(&self) -> String {
        super::sha256_hex(self.listing().as_bytes())
    }

    /// How the case set a run used (`self`) differs from the verifier's (`mine`), in words;
    /// empty when they are the same.
    pub fn differences(&self, mine: &CaseSet) -> Vec<String> {
        let mut out = Vec::new();
        let only = |a: &CaseSet, b: &CaseSet| -> Vec<String> {
            (a.0.keys())
                .filter(|p| !b.0.contains_key(*p))
                .cloned()
                .collect()
        };
        let missing = only(self, mine);
        if !missing.is_empty() {
            out.push(format!(
                "the bundle was made with {} case file(s) this verifier does not have (a newer \
                 case set?): {}",
                missing.len(),
                missing.join(", ")
            ));
        }
        let extra = only(mine, self);
        if !extra.is_empty() {
            out.push(format!(
                "this verifier has {} case file(s) the bundle's case set had not (an older \
                 bundle?): {}",
                extra.len(),
                extra.join(", ")
            ));
        }
        for (path, digest) in &self.0 {
            if let Some(own) = mine.0.get(path).filter(|own| *own != digest) {
                out.push(format!(
                    "{path} differs from the one the bundle was made with (sha256 {own}, the \
                     bundle's {digest})"
                ));
            }
        }
        out
    }
}

/// The SHA-256 of the catalogue a run judged with (its requirements as JSON, by id): the
/// same whichever folders' `requirements.yaml` it was merged from.
pub fn catalogue_digest(catalogue: &Catalogue) -> String {
    super::sha256_hex(&serde_json::to_vec(&catalogue.requirements).expect("requirements serialise"))
}

/// A path relative to `root`, with `/`.
pub fn relative(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// A cases folder's own fixtures folder: listed by what its cases name, not by what it holds.
const FIXTURES: &str = "fixtures";

fn walk(dir: &Path, top: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let unread = name.ends_with(".snap.new") || name.ends_with(".pending-snap");
        if name.starts_with('.') || unread || (top && name == FIXTURES) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), false, out)?;
        } else {
            out.push(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_parses_back_and_differences_are_named() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cases");
        let set = CaseSet::of(&[root]).unwrap();
        assert!(set.0.contains_key("B/keyMaterial/one-time.yaml"));
        assert!(set
            .0
            .contains_key("B/keyMaterial/snapshots/success__claim.snap"));
        assert!(set.0.contains_key("requirements.yaml"));
        assert!(set.0.keys().any(|p| p.starts_with("fragments/")));
        assert!(set
            .0
            .contains_key("fixtures/vectors/mimi-content/original.cbor"));
        assert_eq!(CaseSet::parse(&set.listing()).unwrap(), set);
        assert!(set.differences(&set).is_empty());
        let mut newer = set.clone();
        newer.0.insert("B/new/case.yaml".into(), "0".repeat(64));
        assert!(newer.differences(&set)[0].contains("a newer case set?"));
        let mut changed = set.clone();
        changed
            .0
            .insert("B/keyMaterial/one-time.yaml".into(), "1".repeat(64));
        assert!(changed.differences(&set)[0].starts_with("B/keyMaterial/one-time.yaml differs"));
    }
}
