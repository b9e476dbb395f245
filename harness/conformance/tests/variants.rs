//! No named variant of the reference provider (a behaviour the drafts allow that the reference
//! does not have) makes a case fail or error, and some case reaches every variant: the suite is
//! shown not to fail a correct provider that is merely different.

use mimi_conformance::reference::variants::{matrix, render, AWAITING_INCONCLUSIVE};
use mimi_conformance::reference::Variant;
use mimi_conformance::runner::events::{HttpRequest, Interaction};
use std::path::Path;

/// Variants a profile describes (its consent model, its variable names, a directory with more in
/// it): every case that is conclusive against the reference stays conclusive against them.
const DESCRIBED: &[Variant] = &[
    Variant::ConsentRequired,
    Variant::OwnVariableNames,
    Variant::ConsentVariablesAsExample,
    Variant::DirectoryMeta,
    Variant::DirectoryVendorEndpoints,
    Variant::PathPrefix,
    Variant::DirectoryMemberOrder,
];

#[test]
fn no_variant_gets_a_false_verdict_and_every_variant_is_reached() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let cases = mimi_conformance::session::load_cases(Path::new("cases")).unwrap();
    assert!(Variant::ALL.len() >= 20, "at least 20 variants");
    let results = matrix(&cases, Variant::ALL).unwrap();
    let report = render(&results, cases.len());
    for r in &results {
        assert!(
            r.uses > 0,
            "no case reaches the variant {}:\n{report}",
            r.variant
        );
        for case in &r.false_verdicts {
            assert!(
                AWAITING_INCONCLUSIVE
                    .iter()
                    .any(|a| a.variant == r.variant && a.case == case.id),
                "{} gives a false verdict ({}) against the variant {}:\n{report}",
                case.id,
                case.verdict.name(),
                r.variant
            );
        }
        if DESCRIBED.contains(&r.variant) {
            assert!(
                r.lost.is_empty(),
                "the profile describes {}, yet cases stop being conclusive:\n{report}",
                r.variant
            );
        }
    }
    for a in AWAITING_INCONCLUSIVE {
        assert!(
            results.iter().any(|r| r.variant == a.variant
                && r.false_verdicts.iter().any(|c| c.id == a.case)),
            "{} against {} is listed as awaiting the inconclusive verdict but no longer fails: remove the entry\n{report}",
            a.case,
            a.variant
        );
    }
    let false_verdicts = AWAITING_INCONCLUSIVE.len();
    assert!(
        report.ends_with(&format!(
            "false verdicts: {false_verdicts} over {} variants\n",
            Variant::ALL.len()
        )),
        "{report}"
    );
}

/// The harness sends nothing a strict but correct provider could refuse: a GET carries no body,
/// so no body content type, while a POST names its binary body's.
#[test]
fn a_get_declares_no_body_content_type() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let catalogue = mimi_conformance::session::load_catalogue(Path::new("cases")).unwrap();
    let source = r#"
title: the directory, then a claim
checks: [DIR-7]
links: [B]
actors:
  providers: {target: under-test, hub: harness}
  clients: {alice: {on: hub}}
needs: [keyMaterial]
steps:
  - name: fetch the directory
    by: hub
    on: target
    call: directory
    expect: {status: 200}
  - name: claim for nobody
    by: hub
    on: target
    call: keyMaterial
    path: {targetUser: "mimi://{{ target.domain }}/u/nobody"}
    body: {KeyMaterialRequest: {requester: alice}}
    expect: {status: 200}
"#;
    let case = mimi_conformance::case::parse_case(
        Path::new("headers"),
        Path::new("headers/B/get.yaml"),
        source.into(),
        &catalogue,
    )
    .unwrap();
    let prepared = mimi_conformance::reference::prepare_embedded().unwrap();
    let record = mimi_conformance::runner::run_case(&case, &prepared.session);
    assert_eq!(
        record.verdict.name(),
        "pass",
        "{}",
        mimi_conformance::report::console::failure_message(&record)
    );
    let requests: Vec<&HttpRequest> = record
        .transcript
        .iter()
        .filter_map(|e| match &e.interaction {
            Interaction::LinkB { request, .. } => Some(request),
            _ => None,
        })
        .collect();
    let [get, post] = &requests[..] else {
        panic!("two exchanges: {:?}", record.transcript)
    };
    let content_type = |r: &HttpRequest| {
        r.headers
            .iter()
            .find(|h| h.name == "content-type")
            .map(|h| h.value.clone())
    };
    assert_eq!(get.method, "GET");
    assert_eq!(content_type(get), None, "{get:?}");
    assert_eq!(
        content_type(post).as_deref(),
        Some("application/octet-stream"),
        "{post:?}"
    );
}
