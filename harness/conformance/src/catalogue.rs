//! The requirement catalogue (`cases/requirements.yaml`): the words of every requirement live
//! there once; cases cite ids and reports print the words.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
    #[serde(rename = "derived")]
    Derived,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::Derived => "derived",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub link: String,
    pub role: String,
    pub level: Level,
    pub draft: String,
    #[serde(default)]
    pub revision: Option<String>,
    pub section: String,
    /// Every source, as the reference gives them.
    pub sources: String,
    /// What MLS the check needs: — none, P parsing, C crypto.
    pub mls: String,
    /// The sentence the requirement enforces, in our words.
    pub text: String,
}

impl Requirement {
    /// `KM-12 (MUST, draft-ietf-mimi-protocol-06 §5.2): <the sentence>`, as reports show it.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {}): {}",
            self.id,
            self.level.name(),
            self.citation(),
            self.text
        )
    }

    /// `draft-ietf-mimi-protocol-06 §5.2`.
    pub fn citation(&self) -> String {
        match &self.revision {
            Some(rev) => format!("{}-{rev} §{}", self.draft, self.section),
            None => format!("{} §{}", self.draft, self.section),
        }
    }
}

/// The catalogue of the harness's own cases: what a cases folder without one of its own cites.
pub const HARNESS_CATALOGUE: &str = include_str!("../../../cases/requirements.yaml");

#[derive(Debug, Default)]
pub struct Catalogue {
    pub requirements: BTreeMap<String, Requirement>,
}

impl Catalogue {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "{}: cannot read the requirement catalogue: {e}",
                path.display()
            )
        })?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let list: Vec<Requirement> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let mut requirements = BTreeMap::new();
        for r in list {
            if let Some(old) = requirements.insert(r.id.clone(), r) {
                return Err(format!("requirement id {} is listed twice", old.id));
            }
        }
        Ok(Self { requirements })
    }

    /// Adds another catalogue's requirements; an id both list must say the same in both.
    pub fn extend(&mut self, other: Catalogue) -> Result<(), String> {
        let same = |a: &Requirement, b: &Requirement| {
            serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
        };
        for (id, r) in other.requirements {
            match self.requirements.get(&id) {
                Some(known) if !same(known, &r) => {
                    return Err(format!(
                        "requirement {id} is listed already, and differently"
                    ))
                }
                Some(_) => {}
                None => {
                    self.requirements.insert(id, r);
                }
            }
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.get(id)
    }
}
