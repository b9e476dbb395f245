//! `reports/results.json`: every case with its verdict, the verdict of each of its
//! requirements, the checks that judged them, and its exchanges as structures (bytes in hex,
//! decoded bodies as JSON), for the tools that build on a run (coverage, interop matrix,
//! certification). Its schema is `harness/conformance/schemas/results.schema.json`.

use crate::observer::Finding;
use crate::report::console::summary;
use crate::runner::events::{Blame, CaseRecord, Check, Exchange};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The JSON Schema (2020-12) every results.json meets.
pub const SCHEMA: &str = include_str!("../../schemas/results.schema.json");

/// The version of the results format; the schema names it.
pub const FORMAT: u32 = 3;

#[derive(Serialize)]
struct Results<'a> {
    harness: &'static str,
    version: &'static str,
    format: u32,
    strict: bool,
    cases: Vec<CaseResult<'a>>,
}

#[derive(Serialize)]
struct CaseResult<'a> {
    id: &'a str,
    title: &'a str,
    file: &'a str,
    verdict: &'static str,
    /// The ids of every requirement the case charges an expectation to.
    requirements: Vec<&'a str>,
    requirement_verdicts: Vec<RequirementEntry<'a>>,
    links: &'a [String],
    provider: &'a str,
    draft: &'a str,
    run: &'a str,
    roles: &'a BTreeMap<String, String>,
    started_unix_ms: u64,
    duration_ms: u64,
    retried: Vec<Retried<'a>>,
    expectation: Option<String>,
    error: Option<&'a str>,
    inconclusive: Option<InconclusiveEntry<'a>>,
    /// For people: the grade, what failed and where, without the transcript.
    message: String,
    checks: &'a [Check],
    exchanges: &'a [Exchange],
    observed: &'a [Finding],
}

#[derive(Serialize)]
struct RequirementEntry<'a> {
    id: &'a str,
    level: &'static str,
    citation: String,
    verdict: &'static str,
    blame: &'a [Blame],
}

#[derive(Serialize)]
struct Retried<'a> {
    step: &'a str,
    retries: u32,
}

#[derive(Serialize)]
struct InconclusiveEntry<'a> {
    step: &'a str,
    reason: &'a str,
    remedy: &'a str,
}

fn case(r: &CaseRecord) -> CaseResult<'_> {
    CaseResult {
        id: &r.id,
        title: &r.title,
        file: &r.file,
        verdict: r.verdict.name(),
        requirements: r
            .requirements
            .iter()
            .map(|q| q.requirement.id.as_str())
            .collect(),
        requirement_verdicts: r
            .requirements
            .iter()
            .map(|q| RequirementEntry {
                id: &q.requirement.id,
                level: q.requirement.level.name(),
                citation: q.requirement.citation(),
                verdict: q.verdict.name(),
                blame: &q.blame,
            })
            .collect(),
        links: &r.links,
        provider: &r.provider,
        draft: &r.draft,
        run: &r.run,
        roles: &r.roles,
        started_unix_ms: r.started_unix_ms,
        duration_ms: r.duration.as_millis() as u64,
        retried: r
            .retried
            .iter()
            .map(|(step, retries)| Retried {
                step,
                retries: *retries,
            })
            .collect(),
        expectation: r.expectation.as_ref().map(ToString::to_string),
        error: r.error.as_deref(),
        inconclusive: r.inconclusive().map(|(check, why)| InconclusiveEntry {
            step: &check.step,
            reason: &why.reason,
            remedy: &why.remedy,
        }),
        message: summary(r),
        checks: &r.checks,
        exchanges: &r.transcript,
        observed: &r.observed,
    }
}

/// The results of a run as JSON.
pub fn to_json(records: &[CaseRecord], strict: bool) -> serde_json::Value {
    serde_json::to_value(Results {
        harness: "mimi-conformance",
        version: env!("CARGO_PKG_VERSION"),
        format: FORMAT,
        strict,
        cases: records.iter().map(case).collect(),
    })
    .expect("results serialize as JSON")
}

/// Results whose cases are already JSON (an observation's: `report::observed::results_cases`).
pub fn of_cases(cases: Vec<serde_json::Value>, strict: bool) -> serde_json::Value {
    let mut results = to_json(&[], strict);
    results["cases"] = serde_json::Value::Array(cases);
    results
}

pub fn write(path: &Path, records: &[CaseRecord], strict: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&to_json(records, strict))?)?;
    Ok(())
}

/// The first way `results` breaks the schema, if it does.
pub fn schema_violation(results: &serde_json::Value) -> Option<String> {
    let schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the results schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the results schema compiles");
    let first = validator
        .iter_errors(results)
        .next()
        .map(|e| format!("{} at {}", e, e.instance_path()));
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::record;
    use crate::runner::events::Verdict;

    #[test]
    fn the_schema_is_a_valid_json_schema() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        jsonschema::meta::validate(&schema).expect("a valid JSON Schema");
    }

    /// Every kind of exchange, an inconclusive check and a known failure, as results.json
    /// writes them, meet the schema; and the schema refuses what drifts from it.
    #[test]
    fn results_meet_their_schema_and_the_schema_can_refuse() {
        let mut known = record("hostile \u{1b} \0 ]]>", Verdict::Fail);
        known.expectation = Some(crate::runner::events::ExpectationUse {
            label: "known failure",
            reason: "ticket 1".into(),
        });
        known.requirements[0].verdict = crate::runner::events::RequirementVerdict::Fail;
        known.requirements[0].blame = vec![Blame {
            link: "B".into(),
            provider: "a.example".into(),
            role: Some("target".into()),
            basis: crate::runner::events::BlameBasis::Observed,
        }];
        let records = [record("noConsent", Verdict::Inconclusive), known];
        let mut results = to_json(&records, true);
        assert_eq!(schema_violation(&results), None, "{results:#}");
        let exchanges = &results["cases"][0]["exchanges"];
        assert_eq!(exchanges.as_array().map(Vec::len), Some(7));
        assert_eq!(exchanges[1]["request"]["body"]["bytes"], "0001ff");
        assert_eq!(
            exchanges[2]["request"]["body"]["decoded"]["name"],
            "noConsent"
        );
        results["cases"][0]["exchanges"][0]["kind"] = "carrier-pigeon".into();
        assert!(schema_violation(&results).is_some());
    }
}
