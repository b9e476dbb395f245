//! Every named fault of the reference provider is killed: with it switched on, the default run
//! fails because an expectation charged to a MUST the fault breaks failed. Each check of the
//! suite is proven able to fail the run, and every case kills some mutant.

use mimi_conformance::catalogue::Level;
use mimi_conformance::reference::mutants::{
    idle_cases, kill_matrix, render, AWAITING_CASES, IDLE_CASES,
};
use std::collections::BTreeSet;
use std::path::Path;

/// Faults whose every requirement is a SHOULD: breaking a SHOULD is a warning (it fails only
/// with --strict), so no such fault can make the default run fail. Each must stay detected (a
/// case sees it as a warning), and the list is what the catalogue says, not a choice.
fn should_only(
    results: &[mimi_conformance::reference::mutants::MutantResult],
) -> Vec<&'static str> {
    let catalogue = mimi_conformance::session::load_catalogue(Path::new("cases")).unwrap();
    results
        .iter()
        .map(|r| r.fault)
        .filter(|f| {
            f.requirements().iter().all(|id| {
                catalogue
                    .get(id)
                    .unwrap_or_else(|| panic!("{f} cites {id}, which the catalogue lacks"))
                    .level
                    == Level::Should
            })
        })
        .map(|f| f.name())
        .collect()
}

#[test]
fn every_mutant_is_killed_by_a_failed_must_it_breaks_and_every_case_kills_one() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let cases = mimi_conformance::session::load_cases(Path::new("cases")).unwrap();
    let (results, broken) = kill_matrix(&cases).unwrap();
    let detected_only_faults = should_only(&results);
    let idle = idle_cases(&cases, &results);
    let report = render(&results, &broken, &idle);
    // A case that detects a SHOULD-only fault is not idle: a warning is all such a fault gives.
    let detectors: BTreeSet<&str> = results
        .iter()
        .filter(|r| detected_only_faults.contains(&r.fault.name()))
        .flat_map(|r| r.caught_by.iter().filter(|c| c.detects()))
        .map(|c| c.case.as_str())
        .collect();
    let idle: Vec<&str> = idle
        .into_iter()
        .filter(|c| !detectors.contains(c))
        .collect();
    let listed_idle: Vec<&str> = IDLE_CASES.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        idle, listed_idle,
        "cases that kill no mutant, against those listed with a reason:\n{report}"
    );
    assert!(
        broken.is_empty(),
        "cases fail against the correct provider:\n{report}"
    );
    for r in &results {
        let awaiting = AWAITING_CASES.iter().any(|(f, _)| *f == r.fault);
        let detected_only = detected_only_faults.contains(&r.fault.name());
        assert!(
            r.killed() != (awaiting || detected_only),
            "{} is {} (listed as awaiting cases: {awaiting}, as detected only: {detected_only}):\n{report}",
            r.fault,
            if r.killed() { "killed" } else { "not killed" }
        );
        assert!(
            !detected_only || r.detected_only(),
            "{} breaks only SHOULDs, but no case detects it as a warning:\n{report}",
            r.fault
        );
    }
    let killed = results.len() - AWAITING_CASES.len() - detected_only_faults.len();
    assert!(report.ends_with(&format!(
        "killed: {killed}/{} mutants ({} detected only as warn or info)\n",
        results.len(),
        detected_only_faults.len()
    )));
}
