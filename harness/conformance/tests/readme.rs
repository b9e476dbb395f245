//! Every example case in cases/README.md (each ```yaml block that starts with `title:`) loads and
//! passes against the embedded reference provider, so the documentation cannot drift.

use libtest_mimic::{Arguments, Trial};
use mimi_conformance::case::parse_case;
use mimi_conformance::reference::prepare_embedded;
use mimi_conformance::runner::events::Verdict;
use mimi_conformance::runner::run_case;
use mimi_conformance::session::{load_catalogue, Prepared};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

fn examples(readme: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match &mut block {
            None if line == "```yaml" => block = Some((i + 2, String::new())),
            Some((start, text)) if line == "```" => {
                if text.starts_with("title:") {
                    out.push((*start, std::mem::take(text)));
                }
                block = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    std::env::set_current_dir(&workspace).expect("the workspace root exists");
    let readme = std::fs::read_to_string("cases/README.md").expect("cases/README.md exists");
    let catalogue = Arc::new(load_catalogue(Path::new("cases")).expect("the catalogue loads"));
    let session: Arc<OnceLock<Prepared>> = Arc::new(OnceLock::new());
    let trials = examples(&readme)
        .into_iter()
        .map(|(line, text)| {
            let (catalogue, session) = (catalogue.clone(), session.clone());
            Trial::test(format!("cases/README.md:{line}"), move || {
                let file = PathBuf::from(format!("readme/B/line-{line}.yaml"));
                let case =
                    parse_case(Path::new("readme"), &file, text, &catalogue).map_err(|e| {
                        format!(
                            "the example at cases/README.md:{line} does not load:\n{}",
                            e[0]
                        )
                    })?;
                let prepared = session
                    .get_or_init(|| prepare_embedded().expect("the embedded providers start"));
                let record = run_case(&case, &prepared.session);
                match record.verdict {
                    Verdict::Pass => Ok(()),
                    v => Err(format!(
                        "the example at cases/README.md:{line} is {}:\n{}",
                        v.name(),
                        mimi_conformance::report::console::failure_message(&record)
                    )
                    .into()),
                }
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
