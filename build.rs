//! Builds the shipped cases into the binary: every file below cases/ (case files, fragments,
//! snapshots, the requirement catalogue, its README) and the vectors they read (fixtures/vectors,
//! as the cases folder's `fixtures/`), as `include_bytes!`, with a hash of them
//! all that names the folder they are unpacked to (`mimi_conformance::builtin`). Snapshots
//! waiting for review (`.snap.new`) and hidden files are not shipped.
//!
//! This is the only build script, and it belongs to the binary's package alone: editing a case
//! rebuilds the binary and the integration tests, never the harness library.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    // The vectors cases read with `fixture_*()`, shipped as the cases folder's own `fixtures/`.
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors");
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed={}", vectors.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    walk(&vectors, &mut files);
    files.sort();
    // A hash of the tree as built; `DefaultHasher::new` has fixed keys, so a rebuild of the same
    // tree with the same compiler gives the same name (and the same unpacked folder).
    let mut hasher = std::hash::DefaultHasher::new();
    let mut list = String::new();
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .or_else(|_| {
                file.strip_prefix(vectors.parent().expect("fixtures/"))
                    .map(|v| Path::new("fixtures").join(v))
            })
            .expect("below cases/ or fixtures/vectors/")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        relative.hash(&mut hasher);
        std::fs::read(file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .hash(&mut hasher);
        list.push_str(&format!(
            "        ({relative:?}, include_bytes!({:?})),\n",
            file.display().to_string()
        ));
    }
    let code = format!(
        "BuiltIn {{\n    files: &[\n{list}    ],\n    hash: \"{:016x}\",\n}}\n",
        hasher.finish()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("built_in_cases.rs"), code).expect("OUT_DIR is writable");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a readable directory entry");
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            continue;
        }
        if entry.file_type().expect("a file type").is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}
