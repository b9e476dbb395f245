//! Snapshots in insta's `.snap` format beside the case (`snapshots/<case>__<name>.snap`), so
//! `cargo insta review` works on them. A mismatch writes `.snap.new` and shows a unified diff;
//! `INSTA_UPDATE` and `CI` are honoured as insta honours them.

use serde_json::Value;
use std::path::Path;

/// A decoded body as YAML: the text snapshots hold (and transcripts show).
pub fn yaml(value: &Value) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|_| value.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Write `.snap` directly (INSTA_UPDATE=always).
    Always,
    /// Write `.snap.new` for review (INSTA_UPDATE=new, or auto outside CI).
    New,
    /// Write nothing (INSTA_UPDATE=no, or auto in CI).
    No,
    /// New snapshots are written as `.snap`; changed ones as `.snap.new` (INSTA_UPDATE=unseen).
    Unseen,
}

impl UpdateMode {
    pub fn from_env() -> Self {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        match std::env::var("INSTA_UPDATE").as_deref() {
            Ok("always") => UpdateMode::Always,
            Ok("new") => UpdateMode::New,
            Ok("no") => UpdateMode::No,
            Ok("unseen") => UpdateMode::Unseen,
            _ if ci => UpdateMode::No,
            _ => UpdateMode::New,
        }
    }
}

/// Where the snapshot `file` of the case `case_id` (`B::x::c`) is kept under `dir` instead of
/// beside the case: `<dir>/cases/B/x/snapshots/<file>`, the case's place in its cases folder
/// wherever that folder is (the built-in cases are unpacked in a cache), so no two cases share
/// a file.
pub fn under(dir: &Path, case_id: &str, file: &str) -> std::path::PathBuf {
    let mut path = dir.join("cases");
    let folders: Vec<&str> = case_id.split("::").collect();
    for folder in &folders[..folders.len().saturating_sub(1)] {
        path.push(folder);
    }
    path.join("snapshots").join(file)
}

/// insta's file: a YAML header between `---` lines, then the snapshot body. Header values are
/// written as insta writes them (plain when YAML allows), so accepting a snapshot with
/// `cargo insta` does not rewrite its header.
pub fn render_file(source: &str, expression: &str, body: &str) -> String {
    format!(
        "---\nsource: {}\nexpression: {}\n---\n{}\n",
        yaml_scalar(source),
        yaml_scalar(expression),
        body.trim_end()
    )
}

fn yaml_scalar(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-./(),".contains(c))
        && !s.ends_with(' ');
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serialises")
    }
}

/// The body of a `.snap` file (after the header).
pub fn read_body(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(rest[end + 5..].trim_end())
}

/// Compares `actual` with the stored snapshot. Ok(note) when it matches (or was accepted),
/// Err(message with diff) when it does not.
/// With `first_run_records`, a missing snapshot is recorded (as `.snap.new`, for review) and
/// passes: the first run against a provider has nothing to compare with.
pub fn check(
    path: &Path,
    source: &str,
    expression: &str,
    actual: &str,
    mode: UpdateMode,
    first_run_records: bool,
) -> Result<Option<String>, String> {
    let new_path = path.with_extension("snap.new");
    let file = render_file(source, expression, actual);
    let stored = std::fs::read_to_string(path).ok();
    let write = |p: &Path| -> Result<(), String> {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(p, &file).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    match stored.as_deref().map(read_body) {
        Some(Some(expected)) if expected == actual.trim_end() => {
            let _ = std::fs::remove_file(&new_path);
            Ok(None)
        }
        Some(expected) => {
            let expected = expected.unwrap_or("");
            let (expected, actual) = (
                format!("{}\n", expected.trim_end()),
                format!("{}\n", actual.trim_end()),
            );
            let diff = similar::TextDiff::from_lines(&expected, &actual)
                .unified_diff()
                .context_radius(3)
                .header("stored snapshot", "this run")
                .to_string();
            match mode {
                UpdateMode::Always => {
                    write(path).map(|_| Some(format!("updated {}", path.display())))
                }
                UpdateMode::New | UpdateMode::Unseen => {
                    write(&new_path)?;
                    Err(format!(
                        "snapshot {} differs (written to {}; review with `cargo insta review`):\n{diff}",
                        path.display(),
                        new_path.display()
                    ))
                }
                UpdateMode::No => Err(format!("snapshot {} differs:\n{diff}", path.display())),
            }
        }
        None if first_run_records => {
            if mode != UpdateMode::No {
                write(&new_path)?;
            }
            Ok(Some(format!(
                "recorded the first snapshot of this provider in {}",
                new_path.display()
            )))
        }
        None => match mode {
            UpdateMode::Always | UpdateMode::Unseen => {
                write(path).map(|_| Some(format!("created {}", path.display())))
            }
            UpdateMode::New => {
                write(&new_path)?;
                Err(format!(
                    "no snapshot {} yet; this run's is in {} (accept with `cargo insta review` or INSTA_UPDATE=always)",
                    path.display(),
                    new_path.display()
                ))
            }
            UpdateMode::No => Err(format!(
                "no snapshot {} (INSTA_UPDATE=no or CI: nothing written)",
                path.display()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_format_round_trips() {
        let file = render_file("cases/B/x.yaml", "step one", "a: 1\nb: 2\n");
        assert_eq!(read_body(&file), Some("a: 1\nb: 2"));
        insta::assert_snapshot!(file, @r#"
        ---
        source: cases/B/x.yaml
        expression: step one
        ---
        a: 1
        b: 2
        "#);
    }

    #[test]
    fn a_snapshot_under_a_folder_keeps_its_path_relative_to_the_cases() {
        assert_eq!(
            under(
                Path::new("reports/snapshots"),
                "B::x::c",
                "c__s@v.example.snap"
            ),
            Path::new("reports/snapshots/cases/B/x/snapshots/c__s@v.example.snap")
        );
        assert_eq!(
            under(Path::new("r"), "c", "c.snap"),
            Path::new("r/cases/snapshots/c.snap")
        );
    }

    #[test]
    fn mismatch_writes_snap_new_and_shows_a_diff() {
        let dir = std::env::temp_dir().join(format!("mimi-snap-{}", std::process::id()));
        let path = dir.join("case__s.snap");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, render_file("c.yaml", "s", "a: 1")).unwrap();
        let err = check(&path, "c.yaml", "s", "a: 2", UpdateMode::New, false).unwrap_err();
        assert!(err.contains("-a: 1") && err.contains("+a: 2"), "{err}");
        assert!(path.with_extension("snap.new").exists());
        assert_eq!(
            check(&path, "c.yaml", "s", "a: 1", UpdateMode::New, false),
            Ok(None)
        );
        assert!(!path.with_extension("snap.new").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
