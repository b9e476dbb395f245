//! Every named fault of the reference provider is caught by a case whose requirements include
//! one the fault breaks: each check of the suite is proven able to fail.

use mimi_conformance::reference::mutants::{
    idle_cases, kill_matrix, render, AWAITING_CASES, IDLE_CASES,
};
use std::path::Path;

#[test]
fn every_mutant_is_killed_by_a_case_that_cites_the_broken_requirement_and_every_case_kills_one() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let cases = mimi_conformance::session::load_cases(Path::new("cases")).unwrap();
    let (results, broken) = kill_matrix(&cases).unwrap();
    let idle = idle_cases(&cases, &results);
    let report = render(&results, &broken, &idle);
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
        assert!(
            r.killed() != awaiting,
            "{} is {} (listed as awaiting cases: {awaiting}):\n{report}",
            r.fault,
            if r.killed() { "killed" } else { "not killed" }
        );
    }
    let killed = results.len() - AWAITING_CASES.len();
    assert!(report.ends_with(&format!("killed: {killed}/{} mutants\n", results.len())));
}
