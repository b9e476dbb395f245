//! `content::decode`: MIMI content; what decodes must re-encode to the same bytes (it passed
//! the deterministic-encoding check), and its limits and message ID must not panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_wire::content::{self, ContentDraft};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = content::decode(data) {
        assert_eq!(content::encode(&decoded), data);
        let _ = content::violations(&decoded);
        let _ = content::message_id_of(data, &decoded, ContentDraft::D07);
        let _ = content::render(data, ContentDraft::D08);
    }
});
