//! `splicelab cp`: a `cp`-like copy loop over the extended splice, on a scripted setup.
//!
//! Not built yet.

/// Arguments of `splicelab cp`.
#[derive(clap::Args, Debug, Clone)]
pub struct CpArgs {
    /// never = never share (default splice), auto = may share, always = must share
    #[arg(long, value_name = "never|auto|always", default_value = "auto")]
    pub reflink: String,
    /// Bytes per splice call (xfs_io size syntax: 1m, 64k)
    #[arg(long, value_name = "N", default_value = "1m")]
    pub bs: String,
    /// Source file (in the simulated filesystem)
    pub src: String,
    /// Destination file (in the simulated filesystem)
    pub dst: String,
}

/// Runs `cp`; returns the exit status.
pub fn run(_args: &CpArgs) -> i32 {
    eprintln!("cp: not implemented yet");
    2
}
