//! The case loader: any bytes as a case file, through the same path as a file on disk (text
//! decoding, YAML, the case model, validation), and the located error it gives. An error is a
//! few lines whatever the input: a snippet shows part of a long line, a message is cut.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_conformance::case::{decode_source, Loader};
use std::path::Path;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static CATALOGUE: OnceLock<mimi_conformance::catalogue::Catalogue> = OnceLock::new();
    // No catalogue in this folder: the built-in one.
    let catalogue = CATALOGUE.get_or_init(|| {
        mimi_conformance::session::load_catalogue(Path::new("/nonexistent"))
            .expect("the built-in catalogue loads")
    });
    let file = Path::new("fuzz/B/keyMaterial/case.yaml");
    let errors = match decode_source(file, data.to_vec(), "the case file") {
        Ok(text) => match Loader::new(Path::new("fuzz"), catalogue).parse(file, text) {
            Ok(_) => return,
            Err(errors) => errors,
        },
        Err(e) => vec![e],
    };
    for e in errors {
        let shown = e.to_string();
        assert!(shown.len() < 8 << 10, "{} bytes of error", shown.len());
    }
});
