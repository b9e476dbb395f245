//! The reference provider as the harness uses it: the default providers of a run
//! (`embedded`), and the commands built on it, `serve` and `mutants` (and `variants`, the suite
//! against each conformant variant, beside `mutants`). This module is the only code of the
//! harness that uses `mimi-reference-provider`, and it is compiled only with the default-on
//! `reference-provider` feature: without it the harness runs against providers given by
//! profiles, such as those `serve` starts. The providers started here are reached through
//! `session::Providers::InProcess`, over HTTPS, like any other.

pub mod embedded;
pub mod mutants;
pub mod pool;
pub mod serve;
pub mod variants;

pub use mimi_reference_provider::faults::{Fault, Faults};
pub use mimi_reference_provider::variants::{Variant, Variants};

use crate::runner::events::EventSink;
use crate::session::{prepare, Prepared, Providers};

/// The correct embedded reference providers, as the providers of a run.
pub fn providers() -> Providers {
    with_faults(Faults::none())
}

/// The embedded reference providers, the one under test with these faults switched on.
pub fn with_faults(faults: Faults) -> Providers {
    with_behaviour(faults, Variants::none())
}

/// The embedded reference providers, the one under test with these faults and variants.
pub fn with_behaviour(faults: Faults, variants: Variants) -> Providers {
    Providers::InProcess(Box::new(embedded::Pair { faults, variants }))
}

/// The correct embedded reference providers, with no case checked beforehand: for tests and the
/// bench, which run cases one by one.
pub fn prepare_embedded() -> Result<Prepared, String> {
    prepare(
        providers(),
        EventSink::discard(),
        false,
        &[],
        Default::default(),
    )
    .map_err(|e| e.message())
}
