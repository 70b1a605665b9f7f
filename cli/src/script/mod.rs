//! `splicelab script`: the xfs_io command language (plus `splice` and lab commands) over a
//! simulated process.
//!
//! ```
//! use splicelab::script;
//!
//! let out = script::run_str("open -f a\npwrite -S 0x61 0 64k\n", "plain", false).unwrap();
//! assert!(out.starts_with("wrote 65536/65536 bytes at offset 0\n"));
//! ```
//!
//! The pieces, for tests and other modules that want more control:
//! [`Script::parse`] checks a whole script (a malformed line is a [`UsageError`] naming its
//! line, and nothing runs); [`Runner`] owns a [`syscall::Process`] whose `/` is a fresh
//! filesystem and runs parsed lines ([`Runner::run`] writes the transcript, [`Runner::exec`]
//! returns one command's [`Record`]); [`Runner::process_mut`] gives the process to code that
//! continues where a script left off (as `splicelab cp` does after its setup script).
//!
//! Output conventions (documented in `splicelab script --help`):
//! - lines for commands xfs_io has read like xfs_io's (its format was taken from xfsprogs'
//!   `io/*.c`, `libxcmd` and `libfrog`); errors of system calls read like its `perror`
//!   output (`pwrite: Bad file descriptor`, `XFS_IOC_CLONE_RANGE: Operation not supported`)
//!   and do not stop the script;
//! - everything goes to one stream in order, as `xfs_io … 2>&1` would show it;
//! - timing lines use the task's virtual time, so transcripts are reproducible;
//! - `pwrite`/`pread` use xfs_io's 4096-byte buffer by default and count xfs_io's calls
//!   ("1 MiB, 256 ops"); a run of whole buffers is made as one system call that moves
//!   the same bytes (data is lazy, so a 1 TiB pattern write costs one call, not 268
//!   million), and a call is made alone where the run stopped (`Runner::batch`).

mod exec;
pub mod help;
pub mod json;
pub mod parse;
pub mod xfsfmt;

use std::io::{self, Write};

pub use exec::{FileEntry, Record, Runner};
pub use parse::{Cmd, Line, Script, UsageError};

/// Default buffer size of `pwrite` and `pread`: xfs_io's 4096 bytes.
pub const DEFAULT_IO_BUFFER: u64 = 4096;

/// Most system calls one command's loop makes (`pwrite`, `pread`, `dedupe`, `copy_range`,
/// `splice -a`): beyond it the command stops with an error instead of running for hours.
pub const MAX_CALLS: u64 = 1 << 20;

/// Most chunks of byte copy one command's loop makes (`copy_range`, `splice -a`): beyond
/// them the command stops with an error. A byte copy takes both inode locks per chunk, so
/// its work is O(chunks) even where the source is a hole (`docs/design.md` A11): 2^18
/// chunks are 256 GiB at the default 1 MiB chunk, about a second of host time. Without
/// this bound a copy at unaligned offsets of a 64 TiB sparse file was 2^26 chunks (issue 17).
pub const MAX_COMMAND_CHUNKS: u64 = 1 << 18;

/// The model `--fs` defaults to: `btrfs-like` once that model exists, else `plain`.
pub fn default_fs() -> &'static str {
    if fs_models::spec::make("btrfs-like").is_ok() {
        "btrfs-like"
    } else {
        "plain"
    }
}

/// Why a script could not run to its end.
#[derive(Debug)]
pub enum ScriptError {
    /// A malformed line (nothing ran).
    Usage(UsageError),
    /// The filesystem for `/` could not be built (bad `--fs`).
    Setup(String),
    /// Writing the transcript failed.
    Io(io::Error),
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptError::Usage(u) => u.fmt(f),
            ScriptError::Setup(s) => write!(f, "--fs: {s}"),
            ScriptError::Io(e) => write!(f, "output: {e}"),
        }
    }
}

impl std::error::Error for ScriptError {}

impl From<UsageError> for ScriptError {
    fn from(e: UsageError) -> ScriptError {
        ScriptError::Usage(e)
    }
}

impl From<io::Error> for ScriptError {
    fn from(e: io::Error) -> ScriptError {
        ScriptError::Io(e)
    }
}

/// Parses `text` and runs it on a fresh `fs` (a mount spec such as `"plain"` or
/// `"btrfs-like:size=1g"`), writing the transcript (or JSON lines) to `out`.
///
/// # Errors
/// [`ScriptError::Usage`] for a malformed line (before anything runs),
/// [`ScriptError::Setup`] for a bad `fs`, [`ScriptError::Io`] if `out` fails.
pub fn run_to(text: &str, fs: &str, json: bool, out: &mut dyn Write) -> Result<(), ScriptError> {
    let script = Script::parse(text)?;
    let mut runner = Runner::new(fs, json).map_err(ScriptError::Setup)?;
    runner.run(&script, out)?;
    Ok(())
}

/// [`run_to`] into a string.
///
/// # Errors
/// As [`run_to`].
pub fn run_str(text: &str, fs: &str, json: bool) -> Result<String, ScriptError> {
    let mut out = Vec::new();
    run_to(text, fs, json, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A script file's bytes as `splicelab script` reads them: decoded ([`parse::decode`]: a
/// byte-order mark is skipped, bytes that are not UTF-8 name their line) and parsed
/// ([`Script::parse`]). Nothing runs.
///
/// # Errors
/// The first malformed line, as a [`UsageError`] (`script:LINE: problem`).
pub fn parse_bytes(bytes: &[u8]) -> Result<Script, UsageError> {
    Script::parse(&parse::decode(bytes)?)
}

/// Arguments of `splicelab script`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScriptArgs {
    /// Filesystem model for / as a mount spec MODEL[:key=value,...], e.g. plain,
    /// btrfs-like:size=1g (default: the script's '# fs: MODEL' first line, else btrfs-like,
    /// else plain)
    #[arg(long, value_name = "MODEL")]
    pub fs: Option<String>,
    /// Print one JSON object per command instead of xfs_io-style text
    #[arg(long)]
    pub json: bool,
    /// After the script, write one extent-map SVG per mount into DIR (extent-map-1.svg, …)
    #[arg(long, value_name = "DIR")]
    pub svg: Option<std::path::PathBuf>,
    /// The script file, or - for standard input
    #[arg(value_name = "FILE|-")]
    pub file: String,
}

/// `splicelab script`: returns the exit status (0 ran to the end, 1 bad input).
pub fn run(args: &ScriptArgs) -> i32 {
    let bytes = if args.file == "-" {
        let mut b = Vec::new();
        match io::Read::read_to_end(&mut io::stdin(), &mut b) {
            Ok(_) => b,
            Err(e) => {
                eprintln!("splicelab: cannot read standard input: {e}");
                return 1;
            }
        }
    } else {
        match std::fs::read(&args.file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("splicelab: cannot read {}: {e}", args.file);
                return 1;
            }
        }
    };
    let script = match parse_bytes(&bytes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let fs = args
        .fs
        .clone()
        .or_else(|| script.fs_hint.clone())
        .unwrap_or_else(|| default_fs().to_string());
    let mut runner = match Runner::new(&fs, args.json) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("splicelab: --fs {fs}: {e}");
            return 1;
        }
    };
    let mut out = crate::out::stdout();
    let r = runner.run(&script, &mut out).and_then(|()| out.flush());
    let wrote_all = r.is_ok();
    let status = crate::out::exit_status(&mut out, r.map(|()| 0), "splicelab: writing output", 1);
    if let (true, Some(dir)) = (wrote_all, &args.svg) {
        match crate::pictures::write_svgs(dir, &runner.process().vfs) {
            Ok(paths) => {
                for p in paths {
                    eprintln!("splicelab: wrote {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("splicelab: --svg {}: {e}", dir.display());
                return 1;
            }
        }
    }
    status
}
