//! splicelab's checking engine, shared by the property tests in `tests/` and by
//! `splicelab check`.
//!
//! - [`reference`](mod@reference): the reference model (files as byte vectors, plus the sharing each block
//!   must have);
//! - [`ops`]: operations, their `splicelab script` form, and generators;
//! - [`harness`]: the same operations on the simulator and the model, with spec §6's
//!   properties 1–7 checked after every step;
//! - [`durability`]: the crash states a model may recover to and the checks on each
//!   (properties 5, 6, 9), on `Image`s directly;
//! - [`enumerate`]: systematic crash-state enumeration over all short workloads (property 9);
//! - [`runner`]: seeded, sharded, shrinking case runner behind `splicelab check`;
//! - [`profile`]: what the checks need to know about a model, asked from the model.

pub mod content;
pub mod durability;
pub mod enumerate;
pub mod harness;
pub mod ops;
pub mod profile;
pub mod reference;
pub mod runner;
