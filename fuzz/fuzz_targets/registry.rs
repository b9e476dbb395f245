//! Every registered message type's decoder (`decode_exact` through the registry), under every
//! protocol draft: the first byte picks the type and draft, the rest is the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mimi_wire::codec::Draft;
use mimi_wire::content::ContentDraft;
use mimi_wire::registry::{decode_as_draft, MESSAGES};

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    let message = &MESSAGES[usize::from(*selector) % MESSAGES.len()];
    let draft = [Draft::D04, Draft::D05, Draft::D06][usize::from(*selector / 64) % 3];
    let _ = decode_as_draft(message.name, body, draft, ContentDraft::D08);
});
