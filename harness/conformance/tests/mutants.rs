//! Every named fault of the reference provider is caught by a case whose requirements include
//! one the fault breaks: each check of the suite is proven able to fail.

use mimi_conformance::mutants::{kill_matrix, render};
use std::path::Path;

#[test]
fn every_mutant_is_killed_by_a_case_that_cites_the_broken_requirement() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let cases = mimi_conformance::cli::load_cases(Path::new("cases")).unwrap();
    let (results, broken) = kill_matrix(&cases).unwrap();
    let report = render(&results, &broken);
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
