//! Self-tests in the Hurl style: each file in fixtures/selftest/must-fail is a case that must fail
//! against the embedded reference provider with exactly the text in its `.expected` file, and
//! each file in fixtures/selftest/parse-error is a malformed case that must be rejected with
//! exactly the located error in its `.expected` file, and each file in fixtures/selftest/verdicts
//! must get exactly the text, case verdict and per-requirement verdicts in its `.expected` file
//! (grades, not-reached, preconditions, inconclusive). `SELFTEST_BLESS=1` rewrites the `.expected`
//! files from what the harness says now (review the diff before committing it).

use libtest_mimic::{Arguments, Failed, Trial};
use mimi_conformance::case::{self, Case};
use mimi_conformance::catalogue::Catalogue;
use mimi_conformance::reference::prepare_embedded;
use mimi_conformance::report::console::failure_message;
use mimi_conformance::runner::events::{CaseRecord, Event, EventSink, Verdict};
use mimi_conformance::runner::{run_case, settle, Conclusion, Session};
use mimi_conformance::session::{load_catalogue, Prepared};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

const MUST_FAIL: &str = "fixtures/selftest/must-fail";
const PARSE_ERROR: &str = "fixtures/selftest/parse-error";
const VERDICTS: &str = "fixtures/selftest/verdicts";

fn main() -> std::process::ExitCode {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    std::env::set_current_dir(&workspace).expect("the workspace root exists");
    let catalogue = Arc::new(load_catalogue(Path::new("cases")).expect("the catalogue loads"));
    // Must-fail cases compare snapshots but never write them.
    std::env::set_var("INSTA_UPDATE", "no");
    let session: Arc<OnceLock<Prepared>> = Arc::new(OnceLock::new());
    let mut trials = Vec::new();
    for file in case::case_files(Path::new(PARSE_ERROR)).expect("the parse-error folder exists") {
        let catalogue = catalogue.clone();
        let name = format!(
            "parse-error::{}",
            case::case_id(Path::new(PARSE_ERROR), &file)
        );
        trials.push(Trial::test(name, move || parse_error(&file, &catalogue)));
    }
    for file in case::case_files(Path::new(MUST_FAIL)).expect("the must-fail folder exists") {
        let (catalogue, session) = (catalogue.clone(), session.clone());
        let name = format!("must-fail::{}", case::case_id(Path::new(MUST_FAIL), &file));
        trials.push(Trial::test(name, move || {
            must_fail(&file, &catalogue, &session)
        }));
    }
    for file in case::case_files(Path::new(VERDICTS)).expect("the verdicts folder exists") {
        let (catalogue, session) = (catalogue.clone(), session.clone());
        let name = format!("verdicts::{}", case::case_id(Path::new(VERDICTS), &file));
        trials.push(Trial::test(name, move || {
            verdicts(&file, &catalogue, &session)
        }));
    }
    let (catalogue, session) = (catalogue.clone(), session.clone());
    trials.push(Trial::test("events::in-order", move || {
        events_in_order(&catalogue, &session)
    }));
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// The runner's events as a subscriber sees them: the case starts, each exchange, each check
/// with its requirements, and the finished record, in that order.
fn events_in_order(catalogue: &Catalogue, session: &OnceLock<Prepared>) -> Result<(), Failed> {
    let file = Path::new(VERDICTS).join("B/keyMaterial/stops-early.yaml");
    let case =
        case::load_case(Path::new(VERDICTS), &file, catalogue).map_err(|e| e[0].to_string())?;
    let prepared =
        session.get_or_init(|| prepare_embedded().expect("the embedded providers start"));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    let shared = &prepared.session;
    let listening = Session {
        runtime: shared.runtime.clone(),
        connections: shared.connections.clone(),
        peer: shared.peer.clone(),
        sink: EventSink::new(move |event| {
            let line = match event {
                Event::CaseStarted { case } => format!("started {case}"),
                Event::Exchange { exchange, .. } => {
                    format!("exchange {:?} {:?}", exchange.step, exchange.status())
                }
                Event::ExpectationChecked { check, .. } => format!(
                    "checked {:?} {:?} {}",
                    check.step,
                    check.outcome,
                    check.requirements.join(",")
                ),
                Event::CaseFinished(record) => format!("finished {}", record.verdict.name()),
            };
            kept.lock().unwrap().push(line);
        }),
        strict: false,
        snapshots: shared.snapshots,
        snapshot_suffix: None,
        snapshot_dir: None,
        expectations: Default::default(),
        observer: shared.observer.clone(),
        head_start: Default::default(),
    };
    let (record, conclusion) = settle(run_case(&case, &listening), &listening);
    assert_eq!(conclusion, Conclusion::Failed { stale: None });
    assert_eq!(record.verdict, Verdict::Fail);
    let seen = seen.lock().unwrap().join("\n");
    let expected = [
        "started B::keyMaterial::stops-early",
        "exchange \"claim for nobody\" Some(200)",
        "checked \"claim for nobody\" Fail KM-16",
        "finished fail",
    ]
    .join("\n");
    if seen == expected {
        Ok(())
    } else {
        Err(format!("events:\n{seen}\nexpected:\n{expected}").into())
    }
}

fn expected_path(file: &Path) -> PathBuf {
    file.with_extension("expected")
}

/// Compares `actual` with the `.expected` file beside `file`, or rewrites it when blessing.
fn compare(file: &Path, actual: &str) -> Result<(), Failed> {
    let path = expected_path(file);
    if std::env::var_os("SELFTEST_BLESS").is_some() {
        std::fs::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (create it with SELFTEST_BLESS=1)", path.display()))?;
    if expected == actual {
        Ok(())
    } else {
        let diff = similar::TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .header(&path.display().to_string(), "this run")
            .to_string();
        Err(format!(
            "the harness's text differs from {}:\n{diff}",
            path.display()
        )
        .into())
    }
}

fn parse_error(file: &Path, catalogue: &Catalogue) -> Result<(), Failed> {
    match case::load_case(Path::new(PARSE_ERROR), file, catalogue) {
        Ok(_) => Err(format!("{} loaded, but it must be rejected", file.display()).into()),
        Err(errors) => {
            let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
            compare(file, &text)
        }
    }
}

/// The parts of a failure that do not change between runs: everything before the transcript,
/// with ports replaced.
fn stable(message: &str) -> String {
    let head = message.split("\ntranscript:\n").next().unwrap_or_default();
    let port = regex::Regex::new(r":\d{2,5}/").expect("a valid regex");
    format!("{}\n", port.replace_all(head.trim_end(), ":PORT/"))
}

fn load_and_run(
    root: &str,
    file: &Path,
    catalogue: &Catalogue,
    session: &OnceLock<Prepared>,
) -> Result<CaseRecord, Failed> {
    let case: Case = case::load_case(Path::new(root), file, catalogue).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let prepared =
        session.get_or_init(|| prepare_embedded().expect("the embedded providers start"));
    Ok(run_case(&case, &prepared.session))
}

/// The text, then the case's verdict and each requirement's.
fn verdicts(
    file: &Path,
    catalogue: &Catalogue,
    session: &OnceLock<Prepared>,
) -> Result<(), Failed> {
    let record = load_and_run(VERDICTS, file, catalogue, session)?;
    let requirements: Vec<String> = record
        .requirements
        .iter()
        .map(|r| format!("{} {}", r.requirement.id, r.verdict.name()))
        .collect();
    let text = format!(
        "{}verdict: {}; requirements: {}\n",
        stable(&failure_message(&record)),
        record.verdict.name(),
        requirements.join(", ")
    );
    compare(file, &text)
}

fn must_fail(
    file: &Path,
    catalogue: &Catalogue,
    session: &OnceLock<Prepared>,
) -> Result<(), Failed> {
    let record = load_and_run(MUST_FAIL, file, catalogue, session)?;
    if !matches!(record.verdict, Verdict::Fail | Verdict::Error) {
        return Err(format!(
            "{} must fail, but its verdict is {}",
            file.display(),
            record.verdict.name()
        )
        .into());
    }
    compare(file, &stable(&failure_message(&record)))
}
