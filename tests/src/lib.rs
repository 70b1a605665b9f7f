//! Shared helpers for splicelab's cross-crate tests: the reference model and the operation
//! harness that drives the simulator and the model side by side.

pub mod harness;
pub mod reference;
