//! `verify`: a bundle's signature, every digest it names, the case set and catalogue against
//! the verifier's own, then every verdict recomputed from the evidence and the outcome from
//! the verdicts, offline. `certify` recomputes a run the same way (`recompute_run`) before it
//! signs.

use super::bundle::{Bundle, EVIDENCE, RESULTS};
use super::caseset::{catalogue_digest, CaseSet};
use super::evidence::Evidence;
use super::keys::PublicKey;
use super::outcome::{self, Facts, Outcome};
use super::profile::PublicProfile;
use super::recompute::{self, RecordedCase, Results};
use super::statement::{ResourceDescriptor, Statement, TestResult};
use super::statement::{STATEMENT_TYPE, TEST_RESULT_TYPE};
use crate::catalogue::Catalogue;
use crate::profile::Profile;
use crate::runner::events::CaseRecord;
use crate::session::{load_suite, CaseSources};
use std::collections::BTreeMap;

/// What a bundle that verifies shows.
pub struct Verified {
    pub keyid: String,
    pub statement: Statement,
    pub cases: usize,
    pub expectations: usize,
    /// Each case's record as recomputed, with what the bundle records beside the verdicts
    /// (`recompute::case`), in the case set's order; and the catalogue it was judged with.
    pub records: Vec<CaseRecord>,
    pub catalogue: Catalogue,
}

impl Verified {
    /// What verify checked, in words.
    pub fn checked(&self) -> String {
        format!(
            "the signature by keyid {}, every digest, the case set and catalogue; {} case \
             verdicts recomputed from the evidence ({} expectations evaluated again), and the \
             outcome from them",
            self.keyid, self.cases, self.expectations
        )
    }
}

/// A run recomputed from its evidence.
pub struct Recomputed {
    pub outcome: Outcome,
    pub cases: usize,
    /// Expectations evaluated again.
    pub expectations: usize,
    pub records: Vec<CaseRecord>,
    pub catalogue: Catalogue,
}

/// Checks `bundle` against `key` and the case set of `sources`; every reason it does not verify.
pub fn verify(
    bundle: &Bundle,
    key: &PublicKey,
    sources: &CaseSources,
) -> Result<Verified, Vec<String>> {
    let statement = bundle.statement(key).map_err(|e| vec![e])?;
    if statement.type_ != STATEMENT_TYPE || statement.predicate_type != TEST_RESULT_TYPE {
        return Err(vec![format!(
            "the statement is a {} with a {} predicate, not a {STATEMENT_TYPE} test result",
            statement.type_, statement.predicate_type
        )]);
    }
    members_match(bundle, &statement)?;
    let member = |name: &str| -> Result<Vec<u8>, Vec<String>> {
        (bundle.member(name))
            .ok_or_else(|| vec![format!("the bundle has no {name}")])?
            .bytes()
            .map_err(|e| vec![e])
    };
    let evidence = Evidence::parse(&member(EVIDENCE)?).map_err(|e| vec![e])?;
    let results = Results::parse(&member(RESULTS)?).map_err(|e| vec![e])?;
    let run = recompute_run(&evidence, &results, sources)?;
    if !run.outcome.refusals.is_empty() {
        let mut out = vec!["the evidence shows what certification refuses:".to_string()];
        out.extend(run.outcome.refusals);
        return Err(out);
    }
    let again = TestResult::of(&run.outcome, configuration(&evidence));
    let differences = statement.predicate.differences(&again);
    if !differences.is_empty() {
        let mut out = vec!["the signed outcome does not follow from the evidence:".to_string()];
        out.extend(differences);
        return Err(out);
    }
    Ok(Verified {
        keyid: key.keyid(),
        cases: run.cases,
        expectations: run.expectations,
        statement,
        records: run.records,
        catalogue: run.catalogue,
    })
}

/// Every verdict of a run recomputed from its evidence with the cases of `sources` (which must
/// be the case set it used), and the outcome from them; or every reason they do not follow.
pub fn recompute_run(
    evidence: &Evidence,
    results: &Results,
    sources: &CaseSources,
) -> Result<Recomputed, Vec<String>> {
    if let Some(why) = results.run.unfinished() {
        return Err(vec![why]);
    }
    let roots = sources.roots().map_err(|e| vec![e])?;
    let theirs = CaseSet::parse(&evidence.case_set).map_err(|e| vec![e])?;
    let mine = CaseSet::of(&roots).map_err(|e| vec![e])?;
    let differences = theirs.differences(&mine);
    if !differences.is_empty() {
        let mut out = vec![format!(
            "the case set in {} is not the one the run used; take that case set (harness {} at \
             {}):",
            (roots.iter())
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            evidence.harness.version,
            evidence.harness.source_revision
        )];
        out.extend(differences);
        return Err(out);
    }
    let (catalogue, cases) = load_suite(sources)?;
    if catalogue_digest(&catalogue) != evidence.catalogue {
        return Err(vec![
            "the requirement catalogue differs from the one the run judged with".into(),
        ]);
    }
    if results.strict != evidence.strict {
        return Err(vec![format!(
            "results.json says strict {}, {EVIDENCE} strict {}",
            results.strict, evidence.strict
        )]);
    }
    // The suffix names snapshot files to read: a domain, never a path.
    if let Some(suffix) = &evidence.snapshot_suffix {
        let path_like = suffix.is_empty() || suffix.contains(['/', '\\']) || suffix.contains("..");
        if path_like {
            return Err(vec![format!(
                "{EVIDENCE} names the snapshot suffix {suffix:?}, which is not a domain"
            )]);
        }
    }
    let profiles: Vec<Profile> = (evidence.profiles.iter())
        .map(PublicProfile::declarations)
        .collect();
    let profile_refs: Vec<&Profile> = profiles.iter().collect();
    let run = recompute::Run {
        profiles: &profile_refs,
        snapshot_suffix: evidence.snapshot_suffix.as_deref(),
        started_ms: evidence.started_ms,
        finished_ms: evidence.finished_ms,
    };
    let mut records: BTreeMap<&str, &RecordedCase> = BTreeMap::new();
    for record in &results.cases {
        if records.insert(record.id.as_str(), record).is_some() {
            return Err(vec![format!("{RESULTS} records {} twice", record.id)]);
        }
    }
    let mut errors = Vec::new();
    let mut recomputed = Vec::new();
    let mut expectations = 0;
    for case in &cases {
        let Some(recorded) = records.remove(case.id.as_str()) else {
            errors.push(format!(
                "{} is in the case set but not in {RESULTS} (was the run filtered?)",
                case.id
            ));
            continue;
        };
        match recompute::case(recorded, case, &run) {
            Ok(record) => {
                expectations += (record.checks.iter())
                    .filter_map(|c| c.evaluation.as_ref())
                    .map(|e| e.expectations.len())
                    .sum::<usize>();
                recomputed.push((case, record));
            }
            Err(e) => errors.push(e),
        }
    }
    errors.extend(
        records
            .keys()
            .map(|id| format!("{RESULTS} records {id}, which the case set does not have")),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    let facts = Facts {
        strict: evidence.strict,
        started_ms: evidence.started_ms,
        finished_ms: evidence.finished_ms,
        harness: evidence.harness.clone(),
        profiles: &profiles,
        roots: &roots,
    };
    let outcome = outcome::outcome(&recomputed, &catalogue, &facts);
    let records: Vec<CaseRecord> = recomputed.into_iter().map(|(_, r)| r).collect();
    Ok(Recomputed {
        outcome,
        cases: records.len(),
        expectations,
        records,
        catalogue,
    })
}

/// The predicate's configuration: the case set's root, the catalogue, the profiles as declared,
/// and the expectation file, each by digest.
pub fn configuration(evidence: &Evidence) -> Vec<ResourceDescriptor> {
    let case_set = CaseSet::parse(&evidence.case_set).unwrap_or_default();
    let profiles = serde_json::to_vec(&evidence.profiles).expect("profiles serialise");
    let mut out = vec![
        ResourceDescriptor::sha256("cases", case_set.root(), None)
            .annotated("files", case_set.0.len().to_string()),
        ResourceDescriptor::sha256("requirements", evidence.catalogue.clone(), None),
        ResourceDescriptor::sha256("profiles", super::sha256_hex(&profiles), None),
    ];
    if let Some(file) = &evidence.expectations {
        out.push(
            ResourceDescriptor::sha256(
                "expectations",
                super::sha256_hex(file.text.as_bytes()),
                None,
            )
            .annotated("file", file.name.clone()),
        );
    }
    out
}

/// Every member is a subject of the statement with its digest, and every subject a member.
fn members_match(bundle: &Bundle, statement: &Statement) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for subject in &statement.subject {
        match bundle.member(&subject.name) {
            Some(member) => {
                let bytes = member.bytes().map_err(|e| vec![e])?;
                let digest = super::sha256_hex(&bytes);
                if subject.sha256_hex() != Some(digest.as_str()) {
                    errors.push(format!(
                        "{} does not match the signed statement: its sha256 is {digest}, the \
                         statement's {} (it was changed after signing)",
                        subject.name,
                        subject.sha256_hex().unwrap_or("missing")
                    ));
                }
            }
            None => errors.push(format!(
                "the signed statement names {}, which the bundle does not hold",
                subject.name
            )),
        }
    }
    for member in &bundle.members {
        if !statement.subject.iter().any(|s| s.name == member.name) {
            errors.push(format!(
                "the bundle holds {}, which the signed statement does not name",
                member.name
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
