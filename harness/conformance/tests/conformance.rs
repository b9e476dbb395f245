//! Every case in cases/ against the embedded reference providers, one libtest-mimic trial each:
//! `cargo test`, cargo-nextest (with --partition) and filters all work on it.

fn main() -> std::process::ExitCode {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    mimi_conformance::commands::run::test_main(&workspace)
}
