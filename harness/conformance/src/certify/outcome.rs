//! The outcome of a certification, from the cases' records (each with its verdict and the
//! verdict of each of its requirements, as `verdict::conclude` gives them): the in-toto
//! test-result lists, each requirement's verdict over the run, the scope in words, the warnings,
//! and why certification is refused when it is. `certify` and `verify` compute it alike from the
//! records recomputed from the evidence, and the signed one must be what they give.

use super::caseset::relative;
use super::evidence::Harness;
use crate::case::Case;
use crate::catalogue::{Catalogue, Level};
use crate::profile::Profile;
use crate::runner::events::{CaseRecord, RequirementVerdict, Verdict};
use crate::runner::verdict;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The outcome's MIMI part: the extension field `mimiConformance` of the test-result predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MimiOutcome {
    /// `pass` (every case in scope passed), `warn` (no MUST broken or left unjudged; a SHOULD
    /// broken, a derived check that did not hold, or a case inconclusive), or `fail` (refused:
    /// never signed).
    pub result: String,
    pub strict: bool,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
    pub harness: Harness,
    pub provider: ProviderInfo,
    pub peer: Option<ProviderInfo>,
    pub drafts: Drafts,
    pub scope: Scope,
    /// Requirement id → its verdict over the run: `pass`, `fail`, `warn`, `info`,
    /// `not-reached`, `inconclusive` or `unsupported` (out of scope).
    pub requirements: BTreeMap<String, String>,
    pub warnings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub name: String,
    pub domain: String,
    pub software_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drafts {
    /// The draft revision the provider's profile declares it implements.
    pub declared: String,
    /// The drafts (with revisions) the requirements of the cases that ran cite.
    pub cited: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The scope in words.
    pub statement: String,
    /// What the profile does not declare that some case needs, in words.
    pub not_declared: Vec<String>,
    pub unsupported_cases: Vec<String>,
    /// Requirements only unsupported cases check: the bundle says nothing about them.
    pub out_of_scope: Vec<String>,
    /// Requirements of the catalogue that no case checks.
    pub not_covered: Vec<String>,
}

/// A case that passed with a warning or an informational finding, or was inconclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub case: String,
    pub verdict: String,
    /// The requirements it breaks (or leaves inconclusive), as `KM-12 (SHOULD)`.
    pub requirements: Vec<String>,
    /// Where the expectations that did not hold are written, as `file:line:col subject`.
    pub failed: Vec<String>,
    /// For an inconclusive case: what the provider refused, and what would make it conclusive.
    pub reason: Option<String>,
}

/// The whole outcome: the test-result predicate's lists and the MIMI part.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub passed: Vec<String>,
    pub warned: Vec<String>,
    pub failed: Vec<String>,
    pub mimi: MimiOutcome,
    /// Why certification is refused; empty when it is not.
    pub refusals: Vec<String>,
}

/// What the outcome says about the run besides its records.
pub struct Facts<'a> {
    pub strict: bool,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub harness: Harness,
    /// The provider under test, then its peer (declarations only).
    pub profiles: &'a [Profile],
    /// The cases folders, for naming files relative to them.
    pub roots: &'a [PathBuf],
}

pub fn outcome(cases: &[(&Case, CaseRecord)], catalogue: &Catalogue, facts: &Facts) -> Outcome {
    let profile_refs: Vec<&Profile> = facts.profiles.iter().collect();
    let mut passed = Vec::new();
    let mut warned = Vec::new();
    let mut failed = Vec::new();
    let mut refusals = Vec::new();
    let mut warnings = Vec::new();
    let mut by_requirement: BTreeMap<&str, Vec<RequirementVerdict>> = BTreeMap::new();
    let mut unsupported_cases = Vec::new();
    let mut not_declared = BTreeSet::new();
    let mut cited = BTreeSet::new();
    for (case, record) in cases {
        let id = record.id.clone();
        for r in &record.requirements {
            (by_requirement.entry(r.requirement.id.as_str()).or_default()).push(r.verdict);
        }
        if record.verdict != Verdict::Unsupported {
            cited.extend(case.requirements.iter().map(|r| match &r.revision {
                Some(revision) => format!("{}-{revision}", r.draft),
                None => r.draft.clone(),
            }));
        }
        let broken = || -> Vec<String> {
            (record.requirements.iter())
                .filter(|r| r.verdict.is_broken() || r.verdict == RequirementVerdict::Inconclusive)
                .map(|r| format!("{} ({})", r.requirement.id, r.requirement.level.name()))
                .collect()
        };
        let failed_at = failed_at(record, facts.roots);
        match record.verdict {
            Verdict::Pass => passed.push(id),
            Verdict::Warn | Verdict::Info | Verdict::Inconclusive => {
                warnings.push(Finding {
                    case: id.clone(),
                    verdict: record.verdict.name().into(),
                    requirements: broken(),
                    failed: failed_at.clone(),
                    reason: record
                        .inconclusive()
                        .map(|(_, why)| format!("{} (to conclude: {})", why.reason, why.remedy)),
                });
                if record.verdict.fails(facts.strict) {
                    refusals.push(format!(
                        "{id} is {} on {} and --strict fails on it ({})",
                        record.verdict.name(),
                        broken().join(", "),
                        failed_at.join("; ")
                    ));
                    failed.push(id);
                } else {
                    warned.push(id);
                }
            }
            Verdict::Fail => {
                refusals.push(format!(
                    "{id} failed: {} ({})",
                    broken().join(", "),
                    failed_at.join("; ")
                ));
                failed.push(id);
            }
            Verdict::NotRun => {
                refusals.push(format!(
                    "{id} was not run ({}), so its requirements were not shown to hold",
                    record.error.as_deref().unwrap_or_default()
                ));
                failed.push(id);
            }
            Verdict::Error => {
                refusals.push(format!(
                    "{id} could not be carried out ({}), so its requirements were not shown to \
                     hold",
                    record.error.as_deref().unwrap_or_default()
                ));
                failed.push(id);
            }
            Verdict::Unsupported => {
                not_declared.extend(missing(case, &profile_refs));
                unsupported_cases.push(id);
            }
        }
    }
    // Over the run, a requirement's verdict is what the cases in scope that check it say
    // (broken wins, then inconclusive, then not reached); unsupported when none is in scope.
    let requirements: BTreeMap<String, RequirementVerdict> = by_requirement
        .iter()
        .map(|(id, said)| {
            let in_scope: Vec<RequirementVerdict> = (said.iter().copied())
                .filter(|v| *v != RequirementVerdict::Unsupported)
                .collect();
            let verdict = verdict::combine(&in_scope).unwrap_or(RequirementVerdict::Unsupported);
            (id.to_string(), verdict)
        })
        .collect();
    for (id, verdict) in &requirements {
        let must = catalogue.get(id).is_some_and(|r| r.level == Level::Must);
        // A broken MUST refuses by its case already.
        let unshown = matches!(
            verdict,
            RequirementVerdict::NotReached | RequirementVerdict::Inconclusive
        );
        if must && unshown {
            refusals.push(format!(
                "MUST {id} is in scope but {}: it was not shown to hold",
                verdict.name()
            ));
        }
    }
    let out_of_scope: Vec<String> = (requirements.iter())
        .filter(|(_, v)| **v == RequirementVerdict::Unsupported)
        .map(|(id, _)| id.clone())
        .collect();
    let not_covered: Vec<String> = (catalogue.requirements.keys())
        .filter(|id| !requirements.contains_key(*id))
        .cloned()
        .collect();
    let provider = info(facts.profiles.first());
    let not_declared: Vec<String> = not_declared.into_iter().collect();
    let statement = scope_statement(
        &provider,
        cases.len(),
        &not_declared,
        &unsupported_cases,
        &out_of_scope,
        &not_covered,
    );
    let result = if !refusals.is_empty() {
        "fail"
    } else if warnings.is_empty() {
        "pass"
    } else {
        "warn"
    };
    Outcome {
        passed,
        warned,
        failed,
        refusals,
        mimi: MimiOutcome {
            result: result.into(),
            strict: facts.strict,
            started: super::rfc3339(facts.started_ms),
            finished: super::rfc3339(facts.finished_ms),
            harness: facts.harness.clone(),
            drafts: Drafts {
                declared: facts
                    .profiles
                    .first()
                    .map(|p| format!("draft-ietf-mimi-protocol-{}", p.draft))
                    .unwrap_or_default(),
                cited: cited.into_iter().collect(),
            },
            provider,
            peer: facts.profiles.get(1).map(|p| info(Some(p))),
            scope: Scope {
                statement,
                not_declared,
                unsupported_cases,
                out_of_scope,
                not_covered,
            },
            requirements: (requirements.into_iter())
                .map(|(id, v)| (id, v.name().to_string()))
                .collect(),
            warnings,
        },
    }
}

/// `file:line:col subject` of each expectation that did not hold (or was inconclusive), the
/// file relative to its cases folder.
fn failed_at(record: &CaseRecord, roots: &[PathBuf]) -> Vec<String> {
    (record.checks.iter())
        .filter(|c| c.outcome != crate::runner::events::CheckOutcome::Pass)
        .flat_map(|c| &c.failures)
        .map(|f| {
            let file = std::path::Path::new(&f.location.file);
            let file = (roots.iter())
                .find(|root| file.starts_with(root))
                .map_or_else(|| f.location.file.clone(), |root| relative(root, file));
            format!(
                "{file}:{}:{} {}",
                f.location.line, f.location.column, f.subject
            )
        })
        .collect()
}

fn info(profile: Option<&Profile>) -> ProviderInfo {
    ProviderInfo {
        name: profile.map(|p| p.name.clone()).unwrap_or_default(),
        domain: profile.map(|p| p.domain.clone()).unwrap_or_default(),
        software_version: profile.and_then(|p| p.software_version.clone()),
    }
}

/// What the provider under test does not declare that the case needs, in words.
pub fn missing(case: &Case, profiles: &[&Profile]) -> Vec<String> {
    let Some(profile) = profiles.first() else {
        return Vec::new();
    };
    let mut out: Vec<String> = (case.spec.needs.iter())
        .map(|n| n.value.as_str())
        .filter(|n| !profile.declares(n))
        .map(need_in_words)
        .collect();
    let wants_peer =
        (case.spec.actors.providers.values()).any(|p| p.value == crate::case::model::Player::Peer);
    if wants_peer && profiles.len() < 2 {
        out.push("a second provider under test to play the peer".into());
    }
    out
}

fn need_in_words(need: &str) -> String {
    match need {
        "driver" => {
            "a driver API (links A and C), through which the harness acts as its users".into()
        }
        crate::profile::HARNESS_SERVER => {
            "a route to the harness's own link-B server (harness.listen)".into()
        }
        "hub" | "follower" | "target" => format!("the {need} role"),
        n => match n.strip_prefix("users.") {
            Some(user) => format!("a test user `{user}`"),
            None => format!("the {n} endpoint"),
        },
    }
}

fn scope_statement(
    provider: &ProviderInfo,
    total: usize,
    not_declared: &[String],
    unsupported: &[String],
    out_of_scope: &[String],
    not_covered: &[String],
) -> String {
    let version = provider
        .software_version
        .as_deref()
        .unwrap_or("(no version)");
    let mut out = format!(
        "{} {version} ({}) was tested with {} of the {total} cases of the case set.",
        provider.name,
        provider.domain,
        total - unsupported.len()
    );
    if unsupported.is_empty() {
        out.push_str(" Its profile declares everything the cases need: every case ran.");
    } else {
        out.push_str(&format!(
            " Its profile does not declare {}, so {} case(s) did not run and this bundle says \
             nothing about them: {}.",
            list_in_words(not_declared),
            unsupported.len(),
            unsupported.join(", ")
        ));
        if !out_of_scope.is_empty() {
            out.push_str(&format!(
                " The requirements only they check are out of scope: {}.",
                out_of_scope.join(", ")
            ));
        }
    }
    if !not_covered.is_empty() {
        out.push_str(&format!(
            " No case of this case set checks {}.",
            not_covered.join(", ")
        ));
    }
    out
}

fn list_in_words(items: &[String]) -> String {
    match items {
        [] => "anything".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
