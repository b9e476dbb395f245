//! `content::deterministic::check`: the raw-bytes checker of deterministic CBOR.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mimi_wire::content::deterministic::check(data);
});
