//! The provider profile loader: any bytes as a profile, through text decoding, YAML and the
//! validation of every value; the files it names do not exist here, so those checks fail too.
//! An error is a few lines whatever the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_conformance::case::decode_source;
use mimi_conformance::profile::Profile;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let file = Path::new("/nonexistent/profile.yaml");
    let errors = match decode_source(file, data.to_vec(), "the provider profile") {
        Ok(text) => match Profile::parse(file, &text) {
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
