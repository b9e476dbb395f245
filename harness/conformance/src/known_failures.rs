//! Expectation files (one per provider): cases known to fail, or known to be flaky, by glob
//! patterns over case names, each with the reason. A known failure does not fail the run, but a
//! listed case that passes does, so that a stale entry cannot hide; a flaky case may pass or
//! fail. Every use of an entry is reported.

use crate::case::LoadError;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ExpectationsFile {
    #[serde(default)]
    known_failing: Vec<Spanned<Entry>>,
    #[serde(default)]
    known_flaky: Vec<Spanned<Entry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// A glob over case names: `*` any run of characters, `?` one.
    cases: String,
    /// Why; mandatory and not empty.
    reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    KnownFailing,
    KnownFlaky,
}

#[derive(Debug, Clone)]
pub struct Expectation {
    pub kind: Kind,
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone)]
pub struct Expectations(Vec<Expectation>);

impl Expectations {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::file(path, format!("cannot read the expectations: {e}")))?;
        let file: ExpectationsFile =
            serde_saphyr::from_str(&text).map_err(|e| LoadError::from_yaml(path, &text, &e))?;
        let mut out = Vec::new();
        for (kind, entries) in [
            (Kind::KnownFailing, file.known_failing),
            (Kind::KnownFlaky, file.known_flaky),
        ] {
            for entry in entries {
                if entry.value.reason.trim().is_empty() {
                    return Err(LoadError::at(
                        path,
                        &text,
                        crate::case::node::Pos::of(&entry),
                        format!("the entry for {:?} needs a reason", entry.value.cases),
                    ));
                }
                out.push(Expectation {
                    kind,
                    pattern: entry.value.cases,
                    reason: entry.value.reason,
                });
            }
        }
        Ok(Self(out))
    }

    /// The first entry whose pattern matches the case name.
    pub fn for_case(&self, case: &str) -> Option<&Expectation> {
        self.0.iter().find(|e| glob(&e.pattern, case))
    }
}

/// `*` matches any run of characters (`::` included), `?` exactly one.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with backtracking to the last star.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ni;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_over_case_names() {
        assert!(glob("B::keyMaterial::*", "B::keyMaterial::one-time"));
        assert!(glob("*::one-time", "B::keyMaterial::one-time"));
        assert!(glob("B::*::one-?ime", "B::keyMaterial::one-time"));
        assert!(!glob("B::keyMaterial::*", "B::transport::from-mismatch"));
        assert!(!glob("B::keyMaterial", "B::keyMaterial::one-time"));
        assert!(glob("*", ""));
    }
}
