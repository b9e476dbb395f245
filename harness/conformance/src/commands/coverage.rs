//! `mimi-conformance coverage`: every requirement of the catalogue with the cases whose
//! expectations judged it in a run (from that run's reports/results.json), and their verdicts.
//! A requirement counts as covered only when some case reached an expectation charged to it
//! and judged it (pass, fail, warn or info): citing it, or stopping before it, is not enough.
//! Its last line reads `coverage: N/M requirements (P%)`.

use crate::builtin::BuiltIn;
use crate::exit;
use crate::session::{load_suite, CaseFolders, CaseSources};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CoverageArgs {
    #[command(flatten)]
    pub cases: CaseFolders,
    /// The results of the run to count.
    #[arg(long, default_value = "reports/results.json")]
    pub results: PathBuf,
}

/// What a run said of one requirement in one case.
struct Judgement {
    verdict: String,
    /// The steps whose expectations are charged to it and ran, with their outcomes.
    steps: Vec<String>,
}

/// The run's verdicts: requirement id → case id → judgement, and the providers judged.
struct Run {
    verdicts: BTreeMap<String, BTreeMap<String, Judgement>>,
    providers: BTreeSet<String>,
}

const JUDGED: [&str; 4] = ["pass", "fail", "warn", "info"];

fn read_run(path: &Path) -> Result<Run, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let results: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    if let Some(violation) = crate::report::results::schema_violation(&results) {
        return Err(format!(
            "{}: not a results.json of this version (harness/conformance/schemas/results.schema.json): {violation}",
            path.display()
        ));
    }
    let mut run = Run {
        verdicts: BTreeMap::new(),
        providers: BTreeSet::new(),
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for case in results["cases"].as_array().into_iter().flatten() {
        run.providers.insert(text(&case["provider"]));
        for r in case["requirement_verdicts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = text(&r["id"]);
            let steps = case["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| {
                    c["requirements"]
                        .as_array()
                        .is_some_and(|ids| ids.iter().any(|i| i.as_str() == Some(&id)))
                })
                .map(|c| format!("step {:?}: {}", text(&c["step"]), text(&c["outcome"])))
                .collect();
            run.verdicts.entry(id).or_default().insert(
                text(&case["id"]),
                Judgement {
                    verdict: text(&r["verdict"]),
                    steps,
                },
            );
        }
    }
    Ok(run)
}

pub fn report(sources: &CaseSources, results: &Path) -> Result<String, Vec<String>> {
    let (catalogue, cases) = load_suite(sources)?;
    let (run, unread) = match read_run(results) {
        Ok(run) => (Some(run), None),
        Err(why) => (None, Some(why)),
    };
    let mut citing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for case in &cases {
        for r in &case.requirements {
            citing
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
    let none = BTreeMap::new();
    for r in &requirements {
        let judged = run
            .as_ref()
            .and_then(|run| run.verdicts.get(&r.id))
            .unwrap_or(&none);
        let covered = judged
            .values()
            .any(|j| JUDGED.contains(&j.verdict.as_str()));
        if !covered {
            uncovered.push(*r);
        }
        let Some(case_ids) = citing.get(r.id.as_str()) else {
            continue;
        };
        out.push_str(&format!("{}\n", r.describe()));
        for id in case_ids {
            match judged.get(*id) {
                Some(j) if j.steps.is_empty() => {
                    out.push_str(&format!("    {id}: {}\n", j.verdict));
                }
                Some(j) => out.push_str(&format!(
                    "    {id}: {} ({})\n",
                    j.verdict,
                    j.steps.join("; ")
                )),
                None => out.push_str(&format!("    {id}: not run\n")),
            }
        }
    }
    out.push_str(&format!(
        "\nnot judged by any expectation in the run ({}):\n",
        uncovered.len()
    ));
    for r in &uncovered {
        let cited = if citing.contains_key(r.id.as_str()) {
            ""
        } else {
            " [no case cites it]"
        };
        out.push_str(&format!("  {}{cited}\n", r.describe()));
    }
    match (&run, unread) {
        (Some(run), _) => out.push_str(&format!(
            "judged against: {}\n",
            run.providers.iter().cloned().collect::<Vec<_>>().join(", ")
        )),
        (None, Some(why)) => out.push_str(&format!(
            "no run to count ({why}): run the cases first, and give their results.json\n"
        )),
        (None, None) => {}
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
