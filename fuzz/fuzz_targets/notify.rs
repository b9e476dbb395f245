//! `decode_concatenated`: a /notify body of FanoutMessages back to back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_wire::codec::{decode_concatenated, Draft, Encode};
use mimi_wire::messages::notify::FanoutMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(messages) = decode_concatenated::<FanoutMessage>(data, Draft::D06) {
        // What decodes must encode back to the same bytes.
        let again: Vec<u8> = messages.iter().flat_map(|m| m.to_bytes()).collect();
        assert_eq!(again, data);
    }
});
