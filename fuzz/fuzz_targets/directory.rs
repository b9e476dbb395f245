//! `Directory::parse` and URL template expansion.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_wire::messages::directory::Directory;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    if let Ok(directory) = Directory::parse(data) {
        let vars = BTreeMap::from([("targetUser".to_string(), "mimi://b.example/u/bob".to_string())]);
        for name in directory.endpoints.keys() {
            let _ = directory.url(name, &vars);
        }
    }
});
