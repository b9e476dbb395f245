//! Self-certification: a signing key (`keys`), a signed bundle of a run's outcome and evidence
//! (or a refusal, when a MUST in scope did not hold), and checking a bundle by recomputing its
//! verdicts from the evidence, offline (`verify`). The commands are in
//! `crate::commands::certify`.
//!
//! A bundle is one JSON file (`bundle`): a DSSE envelope (`dsse`) signing an in-toto Statement
//! with the test-result predicate (`statement`, `outcome`), and the members the Statement's
//! subjects name by digest: the run's `results.json` (every case's verdicts, checks with what
//! their expectations were evaluated on, and exchanges) and `evidence.json` (`evidence`: when,
//! with which case set, against which providers, their profiles without secrets).

pub mod bundle;
pub mod caseset;
pub mod dsse;
pub mod evidence;
pub mod keys;
pub mod outcome;
pub mod profile;
pub mod recompute;
pub mod statement;
pub mod verify;

use crate::session::CaseSources;
use bundle::{Bundle, Member, EVIDENCE, RESULTS};
use evidence::Evidence;
use recompute::Results;
use statement::{ResourceDescriptor, Statement, TestResult};
use std::path::Path;

/// Why a bundle was not made.
#[derive(Debug)]
pub enum Refused {
    /// The inputs are not usable (exit 2).
    Invalid(String),
    /// The run does not certify (exit 1).
    Refused(String),
}

/// The bundle of the run whose reports are in `dir`, signed with `key`; refused when the run
/// does not certify. Every verdict is recomputed from the reports first (with the cases of
/// `sources`, which must be those the run used), and the outcome signed is the one they give.
/// No member may hold any of `secrets`, nor a private key in PEM.
pub fn certify_reports(
    dir: &Path,
    sources: &CaseSources,
    key: &keys::SigningKey,
    secrets: &[String],
) -> Result<(Bundle, Statement), Refused> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| {
            Refused::Invalid(format!(
                "cannot read {}: {e} (a run writes it: mimi-conformance run --reports {})",
                path.display(),
                dir.display()
            ))
        })
    };
    let (results_bytes, evidence_bytes) = (read(RESULTS)?, read(EVIDENCE)?);
    let evidence = Evidence::parse(&evidence_bytes).map_err(Refused::Invalid)?;
    let results = Results::parse(&results_bytes).map_err(Refused::Invalid)?;
    let provider = evidence
        .profiles
        .first()
        .ok_or_else(|| Refused::Invalid(format!("{EVIDENCE} names no provider under test")))?;
    if provider.software_version.is_none() {
        return Err(Refused::Invalid(format!(
            "the profile of {} declares no software-version: a certification names the version \
             it certifies (add `software-version: \"...\"` to its profile and run again)",
            provider.name
        )));
    }
    // The reference provider's snapshots are always beside the cases; another's may not be.
    let kept =
        (evidence.snapshot_suffix.as_ref()).and_then(|_| kept_snapshot(&dir.join("snapshots")));
    if let Some(snapshot) = kept {
        return Err(Refused::Invalid(format!(
            "the run compared the provider's answers with snapshots kept in its reports folder \
             ({}), which a bundle does not carry, so verify could not judge them again: run \
             with --snapshots-beside-cases (the snapshots are then part of the case set), or \
             certify with a run of its own",
            snapshot.display()
        )));
    }
    let run = verify::recompute_run(&evidence, &results, sources).map_err(|errors| {
        Refused::Refused(format!(
            "certification refused: the verdicts do not follow from the reports in {}:\n  {}",
            dir.display(),
            errors.join("\n  ")
        ))
    })?;
    let outcome = run.outcome;
    if !outcome.refusals.is_empty() {
        return Err(Refused::Refused(format!(
            "certification refused ({} reason(s)); no bundle was written:\n  - {}",
            outcome.refusals.len(),
            outcome.refusals.join("\n  - ")
        )));
    }
    let members = vec![
        Member::new(RESULTS, "application/json", &results_bytes),
        Member::new(EVIDENCE, "application/json", &evidence_bytes),
    ];
    let subject: Vec<ResourceDescriptor> = [(RESULTS, &results_bytes), (EVIDENCE, &evidence_bytes)]
        .into_iter()
        .map(|(name, bytes)| {
            ResourceDescriptor::sha256(name, sha256_hex(bytes), Some("application/json"))
        })
        .collect();
    let statement = Statement {
        type_: statement::STATEMENT_TYPE.into(),
        subject,
        predicate_type: statement::TEST_RESULT_TYPE.into(),
        predicate: TestResult::of(&outcome, verify::configuration(&evidence)),
    };
    let signed = serde_json::to_vec(&statement).expect("a statement serialises");
    for (name, bytes) in [
        (RESULTS, &results_bytes),
        (EVIDENCE, &evidence_bytes),
        ("the statement", &signed),
    ] {
        let found = secrets.iter().any(|s| contains(bytes, s.as_bytes()))
            || contains(bytes, b"PRIVATE KEY-----");
        if found {
            return Err(Refused::Refused(format!(
                "certification refused: {name} would hold a secret (a private key or the driver \
                 token); no bundle was written"
            )));
        }
    }
    Ok((Bundle::sign(&statement, members, key), statement))
}

/// A snapshot (`.snap`, not one waiting for review) under `dir`, if there is one.
fn kept_snapshot(dir: &Path) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        // Not through symbolic links: a link to a parent would never end.
        let found = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            kept_snapshot(&path)
        } else {
            (path.extension().is_some_and(|e| e == "snap")).then_some(path)
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The outcome for people: the result, the provider and version, the scope and the warnings.
pub fn summary(statement: &Statement, keyid: &str) -> String {
    let mimi = &statement.predicate.mimi_conformance;
    let mut out = format!(
        "certified: {} {} — result {} ({} passed, {} with warnings{}), signed by keyid {keyid}\n\
         scope: {}",
        mimi.provider.name,
        mimi.provider.software_version.as_deref().unwrap_or(""),
        mimi.result,
        statement.predicate.passed_tests.len(),
        statement.predicate.warned_tests.len(),
        if mimi.strict { ", --strict" } else { "" },
        mimi.scope.statement
    );
    for w in &mimi.warnings {
        out.push('\n');
        out.push_str(&warning(w));
    }
    out
}

/// One warning of the outcome in words: `warn: CASE breaks KM-1 (SHOULD) at FILE:LINE:COL ...`.
pub fn warning(w: &outcome::Finding) -> String {
    let mut out = format!(
        "{}: {} breaks {} at {}",
        w.verdict,
        w.case,
        w.requirements.join(", "),
        w.failed.join("; ")
    );
    if let Some(reason) = &w.reason {
        out.push_str(&format!(" ({reason})"));
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Milliseconds since the UNIX epoch as RFC 3339 in UTC (`2026-01-31T12:00:00.000Z`).
pub fn rfc3339(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_in_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            super::rfc3339(1_767_225_599_999),
            "2025-12-31T23:59:59.999Z"
        );
    }
}
