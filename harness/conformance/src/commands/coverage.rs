//! `mimi-conformance coverage`: every requirement of the catalogue with the cases that check it
//! and their last verdicts (from the last run's reports/results.json), and the requirements no
//! case checks. Its last line reads `coverage: N/M requirements (P%)`.

use crate::builtin::BuiltIn;
use crate::exit;
use crate::session::{load_suite, CaseFolders, CaseSources};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub cases: CaseFolders,
    /// The results of the last run.
    #[arg(long, default_value = "reports/results.json")]
    pub results: PathBuf,
}

/// Case id to its verdict in the last run, when there was one.
fn last_verdicts(path: &std::path::Path) -> BTreeMap<String, String> {
    let Ok(bytes) = std::fs::read(path) else {
        return BTreeMap::new();
    };
    let Ok(results) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return BTreeMap::new();
    };
    results["cases"]
        .as_array()
        .map(|cases| {
            cases
                .iter()
                .filter_map(|c| {
                    Some((
                        c["id"].as_str()?.to_string(),
                        c["verdict"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn report(sources: &CaseSources, results: &std::path::Path) -> Result<String, Vec<String>> {
    let (catalogue, cases) = load_suite(sources)?;
    let verdicts = last_verdicts(results);
    let mut by_requirement: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for case in &cases {
        for r in &case.requirements {
            by_requirement
                .entry(r.id.as_str())
                .or_default()
                .push(case.id.as_str());
        }
    }
    let mut out = String::new();
    let mut uncovered = Vec::new();
    // Catalogue order is by id; show the reference's numbering order instead.
    let mut requirements: Vec<_> = catalogue.requirements.values().collect();
    requirements.sort_by_key(|r| {
        r.id.rsplit('-')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    });
    for r in &requirements {
        match by_requirement.get(r.id.as_str()) {
            None => uncovered.push(*r),
            Some(case_ids) => {
                out.push_str(&format!(
                    "{} ({}, {}): {}\n",
                    r.id,
                    r.level.name(),
                    r.citation(),
                    r.text
                ));
                for id in case_ids {
                    let verdict = verdicts.get(*id).map(String::as_str).unwrap_or("not run");
                    out.push_str(&format!("    {id}: {verdict}\n"));
                }
            }
        }
    }
    out.push_str(&format!("\nuncovered ({}):\n", uncovered.len()));
    for r in &uncovered {
        out.push_str(&format!(
            "  {} ({}, {}): {}\n",
            r.id,
            r.level.name(),
            r.citation(),
            r.text
        ));
    }
    let (covered, total) = (requirements.len() - uncovered.len(), requirements.len());
    out.push_str(&format!(
        "coverage: {covered}/{total} requirements ({}%)\n",
        (covered * 100).checked_div(total).unwrap_or(0)
    ));
    Ok(out)
}

#[expect(clippy::print_stdout, reason = "the report is this command's product")]
pub fn run(args: &CoverageArgs, built_in: &'static BuiltIn) -> ExitCode {
    match report(&args.cases.sources(built_in), &args.results) {
        Ok(text) => {
            print!("{text}");
            exit::code(exit::PASSED)
        }
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}\n"));
            exit::code(exit::INVALID)
        }
    }
}
