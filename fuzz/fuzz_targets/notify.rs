//! A /notify body: one or more FanoutMessages back to back (`NotifyBody`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_wire::codec::{decode_exact, Encode};
use mimi_wire::messages::notify::NotifyBody;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = decode_exact::<NotifyBody>(data) {
        // What decodes must encode back to the same bytes.
        assert_eq!(body.to_bytes(), data);
    }
});
