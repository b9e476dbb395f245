//! The shipped cases (`cases/`: case files, fragments, snapshots, the requirement catalogue),
//! built into the binary, so that `run` works from any folder and after `cargo install`. They
//! are unpacked once into a cache folder named by their content hash and then loaded like any
//! folder of cases: a failure points at a file one can open, and snapshots are read beside
//! their cases, with no second way of reading cases to keep in step with the first.

use std::path::{Path, PathBuf};

/// Files of a cases folder, as built into a binary (the root package's build.rs writes them).
pub struct BuiltIn {
    /// Paths relative to the cases folder, `/`-separated, with their contents.
    pub files: &'static [(&'static str, &'static [u8])],
    /// A hash of every path and content: the name of the folder they are unpacked to.
    pub hash: &'static str,
}

/// Overrides where built-in cases are unpacked (a folder that may be created).
pub const CACHE_ENV: &str = "MIMI_CONFORMANCE_CACHE";

impl BuiltIn {
    /// The folder holding exactly these files, unpacked (again) if it is missing or was changed.
    pub fn unpacked(&self) -> Result<PathBuf, String> {
        let name = format!("cases-{}-{}", env!("CARGO_PKG_VERSION"), self.hash);
        let mut tried = Vec::new();
        for base in cache_bases() {
            let dir = base.join(&name);
            if self.intact(&dir) {
                return Ok(dir);
            }
            match self.unpack(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) => tried.push(format!("{}: {e}", dir.display())),
            }
        }
        Err(format!(
            "cannot unpack the built-in cases (set {CACHE_ENV} to a writable folder, or run with --only-cases DIR): {}",
            tried.join("; ")
        ))
    }

    /// Every file is there with its contents, and no case file was added.
    fn intact(&self, dir: &Path) -> bool {
        let same = self.files.iter().all(|(path, contents)| {
            std::fs::read(dir.join(path)).is_ok_and(|on_disk| on_disk == *contents)
        });
        same && crate::case::case_files(dir).is_ok_and(|found| {
            found.iter().all(|file| {
                file.strip_prefix(dir).is_ok_and(|relative| {
                    let relative = relative.to_string_lossy().replace('\\', "/");
                    self.files.iter().any(|(path, _)| *path == relative)
                })
            })
        })
    }

    /// Writes the files beside `dir`, then moves them into place in one rename, so that a run
    /// never reads a half-written folder; another process that got there first wins.
    fn unpack(&self, dir: &Path) -> std::io::Result<()> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let staging = parent.join(format!(
            ".{}.{}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        for (path, contents) in self.files {
            let file = staging.join(path);
            if let Some(folder) = file.parent() {
                std::fs::create_dir_all(folder)?;
            }
            std::fs::write(&file, contents)?;
        }
        if dir.exists() {
            // Changed since it was unpacked: replaced whole.
            let _ = std::fs::remove_dir_all(dir);
        }
        match std::fs::rename(&staging, dir) {
            Ok(()) => Ok(()),
            Err(_) if self.intact(dir) => {
                let _ = std::fs::remove_dir_all(&staging);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }
}

/// Where built-in cases may be unpacked, in order of preference.
fn cache_bases() -> Vec<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut bases = Vec::new();
    if let Some(dir) = env(CACHE_ENV) {
        bases.push(dir);
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        bases.push(dir.join("mimi-conformance"));
    } else if let Some(dir) = env("HOME") {
        bases.push(dir.join(".cache").join("mimi-conformance"));
    } else if let Some(dir) = env("LOCALAPPDATA") {
        bases.push(dir.join("mimi-conformance"));
    }
    bases.push(std::env::temp_dir().join("mimi-conformance"));
    bases
}

#[cfg(test)]
mod tests {
    use super::*;

    static FILES: &[(&str, &[u8])] = &[
        ("requirements.yaml", b"[]\n"),
        ("B/x/a.yaml", b"title: a\n"),
        ("B/x/snapshots/a__s.snap", b"---\n"),
    ];

    #[test]
    fn unpacks_once_and_again_when_changed() {
        let base = std::env::temp_dir().join(format!("mimi-builtin-{}", std::process::id()));
        let built_in = BuiltIn {
            files: FILES,
            hash: "test",
        };
        let dir = base.join("cases");
        assert!(!built_in.intact(&dir));
        built_in.unpack(&dir).unwrap();
        assert!(built_in.intact(&dir));
        assert_eq!(
            std::fs::read(dir.join("B/x/a.yaml")).unwrap(),
            b"title: a\n"
        );
        // A changed file, or a case that was not built in, is noticed and undone.
        std::fs::write(dir.join("B/x/a.yaml"), "title: changed\n").unwrap();
        assert!(!built_in.intact(&dir));
        built_in.unpack(&dir).unwrap();
        assert!(built_in.intact(&dir));
        std::fs::write(dir.join("B/x/extra.yaml"), "title: extra\n").unwrap();
        assert!(!built_in.intact(&dir));
        built_in.unpack(&dir).unwrap();
        assert!(built_in.intact(&dir) && !dir.join("B/x/extra.yaml").exists());
        // Anything else left beside the cases (a reviewed snapshot, say) is no case.
        std::fs::write(dir.join("B/x/snapshots/a__s.snap.new"), "---\n").unwrap();
        assert!(built_in.intact(&dir));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
