//! `splicelab tour` (the default): every model × every semantics in one table.
//!
//! Not built yet.

/// Arguments of `splicelab tour`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TourArgs {}

/// Runs the tour; returns the exit status.
pub fn run(_args: &TourArgs) -> i32 {
    eprintln!("tour: not implemented yet");
    2
}
