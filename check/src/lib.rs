//! splicelab's checking engine, shared by the property tests in `tests/` and by
//! `splicelab check`: the reference model (files as byte vectors) and the harness that runs
//! the same operations on the simulator and the model and compares them after every step.

pub mod harness;
pub mod reference;
