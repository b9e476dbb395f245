//! The harness's modules point one way (ARCHITECTURE.md): read from the sources, so that a new
//! `use` that closes a cycle, or a runner that formats a report, fails here and not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of the crate and the other top-level modules its code (tests and
/// comments aside) names through `crate::`.
fn module_uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the sources can be read") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path == src.join("lib.rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("below src");
            let first = relative.components().next().expect("a file name");
            let module = first.as_os_str().to_string_lossy();
            let module = module.trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).expect("a source file reads");
            // Unit tests may reach anywhere; they are not part of the layering.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let named = uses.entry(module.clone()).or_default();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or_default();
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    let other = &rest[..end];
                    if !other.is_empty() && other != module {
                        named.insert(other.to_string());
                    }
                }
            }
        }
    }
    uses
}

/// A cycle through `from`, if its uses lead back to it.
fn cycle_through(uses: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in uses.get(&at).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(from.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_module_cycles() {
    let uses = module_uses();
    assert!(uses.contains_key("runner") && uses.contains_key("report"));
    let cycles: Vec<String> = uses
        .keys()
        .filter_map(|m| cycle_through(&uses, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_runner_formats_no_report_and_only_reference_names_the_provider() {
    let uses = module_uses();
    assert!(
        !uses["runner"].contains("report"),
        "the runner emits events; reporters render them"
    );
    let reaching: Vec<&String> = uses
        .iter()
        .filter(|(m, named)| {
            named.contains("reference") && !["cli", "commands"].contains(&m.as_str())
        })
        .map(|(m, _)| m)
        .collect();
    assert!(
        reaching.is_empty(),
        "below `reference`, yet naming it: {reaching:?}"
    );
}

#[test]
fn a_cycle_is_found() {
    let uses = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        cycle_through(&uses, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
