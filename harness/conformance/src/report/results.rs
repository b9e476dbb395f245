//! `reports/results.json`: every case with its verdict, requirement ids, links, provider and
//! timing, for the tools that build on a run (coverage, interop matrix, certification).

use crate::runner::events::CaseRecord;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Results<'a> {
    harness: &'static str,
    version: &'static str,
    strict: bool,
    cases: Vec<CaseResult<'a>>,
}

#[derive(Serialize)]
struct CaseResult<'a> {
    id: &'a str,
    title: &'a str,
    file: &'a str,
    verdict: &'static str,
    requirements: Vec<&'a str>,
    links: &'a [String],
    provider: &'a str,
    draft: &'a str,
    duration_ms: u64,
    retried: &'a [(String, u32)],
    expectation: Option<&'a str>,
    message: &'a str,
}

pub fn write(path: &Path, records: &[CaseRecord], strict: bool) -> anyhow::Result<()> {
    let results = Results {
        harness: "mimi-conformance",
        version: env!("CARGO_PKG_VERSION"),
        strict,
        cases: records
            .iter()
            .map(|r| CaseResult {
                id: &r.id,
                title: &r.title,
                file: &r.file,
                verdict: r.verdict.name(),
                requirements: r.requirements.iter().map(|q| q.id.as_str()).collect(),
                links: &r.links,
                provider: &r.provider,
                draft: &r.draft,
                duration_ms: r.duration.as_millis() as u64,
                retried: &r.retried,
                expectation: r.expectation.as_deref(),
                message: &r.message,
            })
            .collect(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    Ok(())
}
