//! Every named fault of the reference provider is killed: with it switched on, the default run
//! fails because an expectation charged to a MUST the fault breaks failed. Each check of the
//! suite is proven able to fail the run, and every case kills some mutant. The one exception is
//! what the catalogue makes one: a fault whose every requirement is a SHOULD can only warn, and
//! must be detected.

use mimi_conformance::reference::mutants::{
    all_caught, idle_cases, kill_matrix, render, should_only, AWAITING_CASES, IDLE_CASES,
};
use mimi_conformance::reference::Fault;
use std::path::Path;

#[test]
fn every_mutant_is_killed_by_a_failed_must_it_breaks_and_every_case_kills_one() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let (catalogue, cases) = mimi_conformance::session::load_suite(
        &mimi_conformance::session::CaseSources::folder(Path::new("cases")),
    )
    .unwrap();
    for fault in Fault::ALL {
        for id in fault.requirements() {
            assert!(
                catalogue.get(id).is_some(),
                "{fault} cites {id}, which the catalogue lacks"
            );
        }
    }
    let should_only = should_only(&catalogue);
    let (results, broken) = kill_matrix(&cases).unwrap();
    let idle = idle_cases(&cases, &results, &should_only);
    let report = render(&results, &broken, &idle, &should_only);
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
        let can_only_warn = should_only.iter().any(|(f, _)| *f == r.fault);
        assert!(
            r.killed() != (awaiting || can_only_warn),
            "{} is {} (listed as awaiting cases: {awaiting}, breaks only SHOULDs: {can_only_warn}):\n{report}",
            r.fault,
            if r.killed() { "killed" } else { "not killed" }
        );
        assert!(
            !can_only_warn || r.detected_only(),
            "{} breaks only SHOULDs, but no case detects it as a warning:\n{report}",
            r.fault
        );
    }
    assert!(all_caught(&results, &should_only), "{report}");
    let killed = results.len() - AWAITING_CASES.len() - should_only.len();
    assert!(
        report.ends_with(&format!(
            "killed: {killed}/{} mutants ({} detected only as warn or info)\n",
            results.len(),
            should_only.len()
        )),
        "{report}"
    );
}
