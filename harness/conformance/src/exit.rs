//! Exit codes, as the README documents them.

use std::process::ExitCode;

/// Every case passed (warnings and informational findings included, unless --strict).
pub const PASSED: u8 = 0;
/// At least one case failed.
pub const FAILED: u8 = 1;
/// A case file or a provider profile is invalid; nothing was sent.
pub const INVALID: u8 = 2;
/// A provider could not be reached at all.
pub const UNREACHABLE: u8 = 3;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
