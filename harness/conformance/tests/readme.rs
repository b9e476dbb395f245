//! Every example case in cases/README.md (each ```yaml block that starts with `title:`) loads and
//! passes against the embedded reference provider, so the documentation cannot drift; and every
//! fragment the README shows (a block that starts with `# cases/fragments/NAME.yaml`) is that
//! file, word for word.

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

/// The README's copies of fragment files: `(line, path, text)`.
fn fragment_copies(readme: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        if line != "```yaml" {
            continue;
        }
        let Some(path) = lines
            .peek()
            .and_then(|(_, l)| l.strip_prefix("# "))
            .filter(|p| p.starts_with("cases/fragments/"))
            .map(str::to_string)
        else {
            continue;
        };
        lines.next();
        let mut text = String::new();
        for (_, l) in lines.by_ref() {
            if l == "```" {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        out.push((i + 2, path, text));
    }
    out
}

fn main() -> std::process::ExitCode {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    std::env::set_current_dir(&workspace).expect("the workspace root exists");
    let readme = std::fs::read_to_string("cases/README.md").expect("cases/README.md exists");
    let catalogue = Arc::new(load_catalogue(Path::new("cases")).expect("the catalogue loads"));
    let session: Arc<OnceLock<Prepared>> = Arc::new(OnceLock::new());
    let copies = fragment_copies(&readme)
        .into_iter()
        .map(|(line, path, text)| {
            Trial::test(format!("cases/README.md:{line} is {path}"), move || {
                let file = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                if file == text {
                    Ok(())
                } else {
                    Err(format!("cases/README.md:{line} differs from {path}").into())
                }
            })
        });
    let trials = examples(&readme)
        .into_iter()
        .map(|(line, text)| {
            let (catalogue, session) = (catalogue.clone(), session.clone());
            Trial::test(format!("cases/README.md:{line}"), move || {
                // As a file of the cases folder, so that its fragments and fixtures are found.
                let file = PathBuf::from(format!("cases/B/README-line-{line}.yaml"));
                let case =
                    parse_case(Path::new("cases"), &file, text, &catalogue).map_err(|e| {
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
        .chain(copies)
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
