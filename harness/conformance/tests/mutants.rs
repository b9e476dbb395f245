//! Every named fault of the reference provider is caught by a case whose requirements include
//! one the fault breaks: each check of the suite is proven able to fail.

use mimi_conformance::mutants::{idle_cases, kill_matrix, render};
use std::path::Path;

#[test]
fn every_mutant_is_killed_by_a_case_that_cites_the_broken_requirement_and_every_case_kills_one() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let cases = mimi_conformance::cli::load_cases(Path::new("cases")).unwrap();
    let (results, broken) = kill_matrix(&cases).unwrap();
    let idle = idle_cases(&cases, &results);
    let report = render(&results, &broken, &idle);
    assert!(idle.is_empty(), "cases that kill no mutant:\n{report}");
    assert!(
        broken.is_empty(),
        "cases fail against the correct provider:\n{report}"
    );
    assert!(
        results.iter().all(|r| r.killed()),
        "surviving mutants:\n{report}"
    );
    assert!(report.ends_with(&format!("killed: {0}/{0} mutants\n", results.len())));
}
