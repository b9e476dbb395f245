//! `mimi-conformance mutants`: the suite against the reference provider with each named fault
//! switched on. A mutant is killed when a case whose requirements include one the fault breaks
//! does not pass; the matrix also shows cases that noticed the fault for another requirement.

use crate::case::Case;
use crate::cli::{load_cases, prepare, Target};
use crate::exit;
use crate::runner::events::{EventSink, Verdict};
use crate::runner::run_case;
use mimi_reference_provider::faults::{Fault, Faults};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MutantsArgs {
    /// The folder of cases.
    #[arg(long, default_value = "cases")]
    pub cases: PathBuf,
}

/// One case that did not pass against a mutant.
#[derive(Debug, Clone)]
pub struct Catch {
    pub case: String,
    pub verdict: Verdict,
    /// The case checks a requirement that the fault breaks.
    pub matching: bool,
}

#[derive(Debug, Clone)]
pub struct MutantResult {
    pub fault: Fault,
    pub caught_by: Vec<Catch>,
}

impl MutantResult {
    pub fn killed(&self) -> bool {
        self.caught_by.iter().any(|c| c.matching)
    }
}

/// How many mutants run side by side.
const MUTANTS_AT_ONCE: usize = 4;

/// The verdicts of every case against one target.
fn verdicts(cases: &[Case], faults: Faults) -> Result<Vec<Verdict>, String> {
    let (sink, _events) = EventSink::channel();
    let prepared = prepare(
        Target::Embedded(faults),
        sink,
        false,
        cases,
        Default::default(),
    )
    .map_err(|e| match e {
        crate::cli::Unprepared::Invalid(errors) => errors.join("\n"),
        crate::cli::Unprepared::Unreachable(m) => m,
    })?;
    // Cases mostly wait (on the providers, and on timeouts under a fault), so they run side by
    // side, as the runner runs them.
    let session = &prepared.session;
    Ok(std::thread::scope(|scope| {
        let running: Vec<_> = cases
            .iter()
            .map(|c| scope.spawn(move || run_case(c, session).verdict))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or(Verdict::Error))
            .collect()
    }))
}

/// Runs every case against the correct provider, then against each mutant. Cases that do not pass
/// against the correct provider cannot tell a mutant anything, so they are left out (and named).
pub fn kill_matrix(cases: &[Case]) -> Result<(Vec<MutantResult>, Vec<String>), String> {
    let baseline = verdicts(cases, Faults::none())?;
    let broken: Vec<String> = cases
        .iter()
        .zip(&baseline)
        .filter(|(_, v)| !matches!(v, Verdict::Pass | Verdict::Unsupported))
        .map(|(c, v)| format!("{} ({})", c.id, v.name()))
        .collect();
    // Mutants run a few at a time, each against its own embedded providers.
    let mut verdicts_of = Vec::new();
    for chunk in Fault::ALL.chunks(MUTANTS_AT_ONCE) {
        let chunk_verdicts: Vec<Result<Vec<Verdict>, String>> = std::thread::scope(|scope| {
            let running: Vec<_> = chunk
                .iter()
                .map(|fault| scope.spawn(move || verdicts(cases, Faults::with(*fault))))
                .collect();
            running
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err("a mutant run panicked".into()))
                })
                .collect()
        });
        verdicts_of.extend(chunk_verdicts);
    }
    let mut results = Vec::new();
    for (fault, mutant) in Fault::ALL.iter().zip(verdicts_of) {
        let mutant = mutant?;
        let breaks: BTreeSet<&str> = fault.requirements().iter().copied().collect();
        let caught_by = cases
            .iter()
            .zip(mutant.iter().zip(&baseline))
            .filter(|(_, (v, base))| {
                **base == Verdict::Pass && !matches!(v, Verdict::Pass | Verdict::Unsupported)
            })
            .map(|(c, (v, _))| Catch {
                case: c.id.clone(),
                verdict: *v,
                matching: c
                    .requirements
                    .iter()
                    .any(|r| breaks.contains(r.id.as_str())),
            })
            .collect();
        results.push(MutantResult {
            fault: *fault,
            caught_by,
        });
    }
    Ok((results, broken))
}

/// Faults no case can reach yet, each with why. They break requirements whose checks need the
/// harness to play a follower or hub with MLS clients of its own in the room (receiving
/// Welcomes and fan-out, sending handshakes and messages it crafts), which is not built yet.
/// The mutants test requires each of them to survive, so an entry cannot outlive the reason.
pub const AWAITING_CASES: &[(Fault, &str)] = &[(
    Fault::KeyPackageRace,
    "only two claims that arrive together catch it, and the case format has no concurrent steps yet (KM-12's concurrent case comes with them)",
)];

/// Cases that kill no mutant, each with why.
pub const IDLE_CASES: &[(&str, &str)] = &[];

/// The cases that kill no mutant (no fault makes them fail for a requirement they cite).
pub fn idle_cases<'c>(cases: &'c [Case], results: &[MutantResult]) -> Vec<&'c str> {
    let killers: BTreeSet<&str> = results
        .iter()
        .flat_map(|r| {
            r.caught_by
                .iter()
                .filter(|c| c.matching)
                .map(|c| c.case.as_str())
        })
        .collect();
    cases
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| !killers.contains(id))
        .collect()
}

/// The matrix as text; its last line is `killed: K/N mutants`.
pub fn render(results: &[MutantResult], broken: &[String], idle: &[&str]) -> String {
    let mut out = String::new();
    for r in results {
        out.push_str(&format!(
            "{} {} [{}]: {}\n",
            if r.killed() { "KILLED  " } else { "SURVIVED" },
            r.fault.name(),
            r.fault.requirements().join(", "),
            r.fault.description()
        ));
        if let Some((_, why)) = AWAITING_CASES.iter().find(|(f, _)| *f == r.fault) {
            out.push_str(&format!("    no case reaches it yet: {why}\n"));
        }
        for c in &r.caught_by {
            out.push_str(&format!(
                "    {} {} ({})\n",
                if c.matching {
                    "caught by"
                } else {
                    "noticed by"
                },
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
    let killed = results.iter().filter(|r| r.killed()).count();
    out.push_str(&format!("killed: {killed}/{} mutants\n", results.len()));
    out
}

pub fn run(args: &MutantsArgs) -> ExitCode {
    let cases = match load_cases(&args.cases) {
        Ok(c) => c,
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}\n"));
            return exit::code(exit::INVALID);
        }
    };
    match kill_matrix(&cases) {
        Ok((results, broken)) => {
            // The matrix is this command's product; it never runs under a test runner.
            print!(
                "{}",
                render(&results, &broken, &idle_cases(&cases, &results))
            );
            exit::code(if results.iter().all(MutantResult::killed) {
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
