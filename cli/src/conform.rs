//! `splicelab conform`: the same scenarios on the simulator and on the real kernel
//! (loop-mounted btrfs and XFS), compared result by result.
//!
//! Not built yet.

/// Arguments of `splicelab conform`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConformArgs {}

/// Runs `conform`; returns the exit status.
pub fn run(_args: &ConformArgs) -> i32 {
    eprintln!("conform: not implemented yet");
    2
}
