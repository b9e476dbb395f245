//! `reportAbuse` (P-06 §5.9).

use super::room_state::AppDataDictionary;
use super::submit::Frank;
use crate::common::IdentifierUri;
use crate::fields::{Opaque, Since};
use crate::wire_struct;

wire_struct!(
    /// `AbusiveMessage`: the reported content with its frank.
    AbusiveMessage {
        message_content: Opaque = "message_content",
        frank: Frank = "frank",
        accepted_timestamp: u64 = "accepted_timestamp",
    }
);

wire_struct!(
    /// `AbuseReport`; `AbuseType` defines only reserved(0) so far.
    AbuseReport {
        reporting_user: IdentifierUri = "reportingUser",
        alleged_abuser_uri: IdentifierUri = "allegedAbuserUri",
        reason_code: u8 = "reasonCode",
        note: Opaque = "note",
        messages: Vec<AbusiveMessage> = "messages",
        abuse_extensions: Since<6, AppDataDictionary> = "abuse_extensions",
    }
);
