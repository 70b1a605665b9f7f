//! The `splicelab` binary: argument parsing only; the work is in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use splicelab::{check, conform, cp, race, script, tour};

/// A userspace VFS laboratory for copy offload.
///
/// splice(2) between files with never/may/must-share semantics, next to copy_file_range,
/// FICLONE, FIDEDUPERANGE and FIEMAP, over simulated btrfs-like, ocfs2-like/xfs-like,
/// nfs-like and plain filesystems. With no command, runs the tour.
#[derive(Parser, Debug)]
#[command(name = "splicelab", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every model × every semantics copying a 1 GiB file, in one table (the default)
    Tour(tour::TourArgs),
    /// Run a script in xfs_io's command language (plus splice and lab commands)
    #[command(after_long_help = script::help::long_help())]
    Script(script::ScriptArgs),
    /// Copy a file with a cp-like splice loop (--reflink=never|auto|always), with progress
    Cp(cp::CpArgs),
    /// Random operation sequences against a reference model, with every invariant checked
    Check(check::CheckArgs),
    /// Compare the simulator with the real kernel on loop-mounted btrfs and XFS
    Conform(conform::ConformArgs),
    /// One copy against a second task reading or writing its source or destination: who waits
    Race(race::RaceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.cmd.unwrap_or(Cmd::Tour(tour::TourArgs::default())) {
        Cmd::Tour(a) => tour::run(&a),
        Cmd::Script(a) => script::run(&a),
        Cmd::Cp(a) => cp::run(&a),
        Cmd::Check(a) => check::run(&a),
        Cmd::Conform(a) => conform::run(&a),
        Cmd::Race(a) => race::run(&a),
    };
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
