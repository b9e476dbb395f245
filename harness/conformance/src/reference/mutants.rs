//! `mimi-conformance mutants`: the suite against the reference provider with each named fault
//! switched on. A mutant is killed only when the default (non-strict) run fails because an
//! expectation charged to a requirement the fault breaks failed with a `fail` verdict (a MUST).
//! A fault seen only as a warning or an informational finding is *detected*, not killed: with
//! it switched on, `run` still passes. The matrix also shows cases that noticed the fault for
//! another reason.

use crate::builtin::BuiltIn;
use crate::case::Case;
use crate::catalogue::{Catalogue, Level};
use crate::exit;
use crate::reference::pool;
use crate::runner::events::{CaseRecord, RequirementVerdict, Verdict};
use crate::runner::imposed_wait;
use crate::session::{load_suite, CaseFolders};
use mimi_reference_provider::faults::{Fault, Faults};
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Mutex;

#[derive(clap::Args)]
pub struct MutantsArgs {
    #[command(flatten)]
    pub cases: CaseFolders,
    /// How many (mutant, case) runs go on at once (they mostly wait).
    #[arg(long, default_value_t = pool::default_jobs())]
    pub jobs: usize,
    /// Run every case that passes against the correct provider against every mutant, not only
    /// the cases that reach the mutant's fault (slower; the verdicts are the same unless a case
    /// behaves differently from one run to the next).
    #[arg(long)]
    pub every_pair: bool,
}

/// One case that did not pass against a mutant.
#[derive(Debug, Clone)]
pub struct Catch {
    pub case: String,
    pub verdict: Verdict,
    /// The requirements the fault breaks that the case judged broken, with their verdicts.
    pub broken: Vec<(String, RequirementVerdict)>,
}

impl Catch {
    /// The run fails because of it: a MUST the fault breaks failed.
    pub fn kills(&self) -> bool {
        self.broken
            .iter()
            .any(|(_, v)| *v == RequirementVerdict::Fail)
    }

    /// It judged a requirement the fault breaks as broken, at any level.
    pub fn detects(&self) -> bool {
        !self.broken.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct MutantResult {
    pub fault: Fault,
    /// The cases run against it: those that pass against the correct provider and reach the
    /// fault's place in its code (all of them with `every_pair`).
    pub ran: usize,
    pub caught_by: Vec<Catch>,
}

impl MutantResult {
    pub fn killed(&self) -> bool {
        self.caught_by.iter().any(Catch::kills)
    }

    /// Seen only as a warning or an informational finding: the run passes with it.
    pub fn detected_only(&self) -> bool {
        !self.killed() && self.caught_by.iter().any(Catch::detects)
    }
}

/// Which (mutant, case) pairs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairs {
    /// Against each fault, only the cases during which the correct provider reached the
    /// fault's place: a case that never reaches it runs the same with the fault on, so it can
    /// neither catch nor notice it (the selection mutation testing tools make from coverage).
    Reaching,
    /// Against each fault, every case that passes against the correct provider.
    Every,
}

/// Runs the cases against the correct provider, recording which faults' places each one
/// reaches, then against each mutant the cases that reach its place, all on pools of `jobs`
/// workers. Cases that do not pass against the correct provider cannot tell a mutant anything,
/// so they are left out (and named).
pub fn kill_matrix(cases: &[Case]) -> Result<(Vec<MutantResult>, Vec<String>), String> {
    kill_matrix_with(cases, pool::default_jobs(), Pairs::Reaching)
}

/// `kill_matrix`, `jobs` cases at a time, these pairs.
pub fn kill_matrix_with(
    cases: &[Case],
    jobs: usize,
    pairs: Pairs,
) -> Result<(Vec<MutantResult>, Vec<String>), String> {
    let (baseline, reached) = reached_places(cases)?;
    let broken: Vec<String> = cases
        .iter()
        .zip(&baseline)
        .filter(|(_, r)| !matches!(r.verdict, Verdict::Pass | Verdict::Unsupported))
        .map(|(c, r)| format!("{} ({})", c.id, r.verdict.name()))
        .collect();
    let configurations: Vec<(String, Faults)> = Fault::ALL
        .iter()
        .map(|f| (f.name().to_string(), Faults::with(*f)))
        .collect();
    let chosen: Vec<Vec<usize>> = Fault::ALL
        .iter()
        .map(|fault| {
            (0..cases.len())
                .filter(|&i| baseline[i].verdict == Verdict::Pass)
                .filter(|&i| pairs == Pairs::Every || reached[i].contains(fault))
                .collect()
        })
        .collect();
    let records = pool::run_chosen(
        &configurations,
        &chosen,
        cases,
        |faults| super::with_faults(faults.clone()),
        jobs,
        false,
    )?;
    let mut results = Vec::new();
    for ((fault, mutant), chosen) in Fault::ALL.iter().zip(records).zip(&chosen) {
        let breaks: BTreeSet<&str> = fault.requirements().iter().copied().collect();
        let caught_by = mutant
            .into_iter()
            .flatten()
            .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Unsupported))
            .map(|r| Catch {
                broken: r
                    .broken()
                    .filter(|q| breaks.contains(q.requirement.id.as_str()))
                    .map(|q| (q.requirement.id.clone(), q.verdict))
                    .collect(),
                case: r.id,
                verdict: r.verdict,
            })
            .collect();
        results.push(MutantResult {
            fault: *fault,
            ran: chosen.len(),
            caught_by,
        });
    }
    Ok((results, broken))
}

/// Each case's record against the correct provider, and the faults whose places the provider
/// reached while it ran (with those reached while the providers started, which every case
/// meets). Each case runs alone on its providers, so what they reach is its doing; several
/// sets of providers side by side share the cases.
fn reached_places(cases: &[Case]) -> Result<(Vec<CaseRecord>, Vec<BTreeSet<Fault>>), String> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let sets = (cores * 4).clamp(1, cases.len().max(1));
    let configurations: Vec<(String, Faults)> = (0..sets)
        .map(|n| (format!("the correct provider ({})", n + 1), Faults::none()))
        .collect();
    // The longest imposed waits first, dealt out in turn, so that they run side by side.
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_cached_key(|&i| std::cmp::Reverse(imposed_wait(&cases[i])));
    let mut chosen = vec![Vec::new(); sets];
    for (n, i) in order.into_iter().enumerate() {
        chosen[n % sets].push(i);
    }
    let at_start = Mutex::new(BTreeSet::new());
    let reached = Mutex::new(vec![BTreeSet::new(); cases.len()]);
    let records = pool::run_serially(
        &configurations,
        &chosen,
        cases,
        |faults| super::with_faults(faults.clone()),
        |c, case| {
            let places = configurations[c].1.take_reached();
            match case {
                None => pool::lock(&at_start).extend(places),
                Some(i) => pool::lock(&reached)[i] = places,
            }
        },
    )?;
    let at_start = at_start.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut reached = reached.into_inner().unwrap_or_else(|e| e.into_inner());
    reached
        .iter_mut()
        .for_each(|places| places.extend(&at_start));
    let mut baseline: Vec<Option<CaseRecord>> = cases.iter().map(|_| None).collect();
    for (i, record) in records.into_iter().flat_map(|r| r.into_iter().enumerate()) {
        if record.is_some() {
            baseline[i] = record;
        }
    }
    let baseline = baseline
        .into_iter()
        .map(|r| r.ok_or_else(|| "the correct provider: a case did not run".to_string()))
        .collect::<Result<_, _>>()?;
    Ok((baseline, reached))
}

/// Faults no case can reach yet, each with why. They break requirements whose checks need the
/// harness to play a follower or hub with MLS clients of its own in the room (receiving
/// Welcomes and fan-out, sending handshakes and messages it crafts), which is not built yet.
/// The mutants test requires each of them to survive, so an entry cannot outlive the reason.
pub const AWAITING_CASES: &[(Fault, &str)] = &[];

/// Cases that kill no mutant, each with why.
pub const IDLE_CASES: &[(&str, &str)] = &[];

/// The faults whose every requirement the catalogue grades SHOULD, each with why. A broken
/// SHOULD is a warning (it fails the run only with --strict), so such a fault can be detected,
/// never killed. What the catalogue says decides, not a list.
pub fn should_only(catalogue: &Catalogue) -> Vec<(Fault, String)> {
    Fault::ALL
        .iter()
        .filter_map(|fault| {
            let levels: Option<Vec<String>> = fault
                .requirements()
                .iter()
                .map(|id| {
                    let r = catalogue.get(id).filter(|r| r.level == Level::Should)?;
                    Some(format!("{id} is a SHOULD ({})", r.citation()))
                })
                .collect();
            levels.map(|why| (*fault, why.join(", ")))
        })
        .collect()
}

/// The cases that kill no mutant (no fault makes a MUST they judge fail) and detect no fault
/// that can only be detected (`should_only`).
pub fn idle_cases<'c>(
    cases: &'c [Case],
    results: &[MutantResult],
    should_only: &[(Fault, String)],
) -> Vec<&'c str> {
    let can_only_warn = |fault: Fault| should_only.iter().any(|(f, _)| *f == fault);
    let killers: BTreeSet<&str> = results
        .iter()
        .flat_map(|r| {
            r.caught_by
                .iter()
                .filter(|c| c.kills() || (can_only_warn(r.fault) && c.detects()))
                .map(|c| c.case.as_str())
        })
        .collect();
    cases
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !killers.contains(id))
        .collect()
}

/// Whether the suite does all it can with every fault: kills it, or, for one that breaks only
/// SHOULDs, detects it.
pub fn all_caught(results: &[MutantResult], should_only: &[(Fault, String)]) -> bool {
    results.iter().all(|r| {
        r.killed() || (r.detected_only() && should_only.iter().any(|(f, _)| *f == r.fault))
    })
}

/// The matrix as text; its last line is `killed: K/N mutants (D detected only as warn or info)`.
pub fn render(
    results: &[MutantResult],
    broken: &[String],
    idle: &[&str],
    should_only: &[(Fault, String)],
) -> String {
    let mut out = String::new();
    for r in results {
        let status = if r.killed() {
            "KILLED  "
        } else if r.detected_only() {
            "DETECTED"
        } else {
            "SURVIVED"
        };
        out.push_str(&format!(
            "{status} {} [{}]: {}\n",
            r.fault.name(),
            r.fault.requirements().join(", "),
            r.fault.description()
        ));
        if r.ran == 0 {
            out.push_str(
                "    no case that passes against the correct provider reaches its place\n",
            );
        }
        if r.detected_only() {
            out.push_str("    only as a warning or informational finding: `run` passes with it\n");
        }
        if let Some((_, why)) = should_only.iter().find(|(f, _)| *f == r.fault) {
            out.push_str(&format!(
                "    it breaks only SHOULDs, so it can only warn: {why}\n"
            ));
        }
        if let Some((_, why)) = AWAITING_CASES.iter().find(|(f, _)| *f == r.fault) {
            out.push_str(&format!("    no case reaches it yet: {why}\n"));
        }
        for c in &r.caught_by {
            let how = if c.kills() {
                "caught by"
            } else if c.detects() {
                "detected by"
            } else {
                "noticed by"
            };
            let judged: Vec<String> = c
                .broken
                .iter()
                .map(|(id, v)| format!("{id} {}", v.name()))
                .collect();
            let judged = if judged.is_empty() {
                String::new()
            } else {
                format!(": {}", judged.join(", "))
            };
            out.push_str(&format!(
                "    {how} {} ({}{judged})\n",
                c.case,
                c.verdict.name()
            ));
        }
    }
    for case in idle {
        match IDLE_CASES.iter().find(|(c, _)| c == case) {
            Some((_, why)) => out.push_str(&format!("kills no mutant: {case} ({why})\n")),
            None => out.push_str(&format!("kills no mutant: {case}\n")),
        }
    }
    for b in broken {
        out.push_str(&format!(
            "left out (does not pass against the correct provider): {b}\n"
        ));
    }
    let runs: usize = results.iter().map(|r| r.ran).sum();
    out.push_str(&format!("(mutant, case) runs: {runs}\n"));
    let killed = results.iter().filter(|r| r.killed()).count();
    let detected = results.iter().filter(|r| r.detected_only()).count();
    out.push_str(&format!(
        "killed: {killed}/{} mutants ({detected} detected only as warn or info)\n",
        results.len()
    ));
    out
}

#[expect(clippy::print_stdout, reason = "the matrix is this command's product")]
pub fn run(args: &MutantsArgs, built_in: &'static BuiltIn) -> ExitCode {
    let (catalogue, cases) = match load_suite(&args.cases.sources(built_in)) {
        Ok(suite) => suite,
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}\n"));
            return exit::code(exit::INVALID);
        }
    };
    let should_only = should_only(&catalogue);
    let pairs = if args.every_pair {
        Pairs::Every
    } else {
        Pairs::Reaching
    };
    match kill_matrix_with(&cases, args.jobs, pairs) {
        Ok((results, broken)) => {
            let idle = idle_cases(&cases, &results, &should_only);
            print!("{}", render(&results, &broken, &idle, &should_only));
            exit::code(if all_caught(&results, &should_only) {
                exit::PASSED
            } else {
                exit::FAILED
            })
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::code(exit::UNREACHABLE)
        }
    }
}
