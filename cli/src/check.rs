//! `splicelab check`: random operation sequences against the reference model.
//!
//! Not built yet.

/// Arguments of `splicelab check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Filesystem model (mount spec MODEL[:key=value,...])
    #[arg(long, value_name = "MODEL")]
    pub fs: Option<String>,
    /// Number of random cases
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub cases: u64,
    /// Seed of the first case
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Run shard I of N (0-based), e.g. 0/4
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

/// Runs `check`; returns the exit status.
pub fn run(_args: &CheckArgs) -> i32 {
    eprintln!("check: not implemented yet");
    2
}
