//! Exit codes, as the README documents them.

use std::process::ExitCode;

/// Every case passed (warnings and informational findings included, unless --strict).
pub const PASSED: u8 = 0;
/// At least one case failed, or the run's timeout ran out before every case was done.
pub const FAILED: u8 = 1;
/// A case file or a provider profile is invalid, or no case was found; nothing was sent.
pub const INVALID: u8 = 2;
/// A provider could not be reached, or its directory could not be read.
pub const UNREACHABLE: u8 = 3;
/// The run was interrupted (SIGINT): 128 + 2, as shells report it.
pub const INTERRUPTED: u8 = 130;
/// The run was terminated (SIGTERM): 128 + 15.
pub const TERMINATED: u8 = 143;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
