//! `splicelab cp`: a `cp`-like copy loop over the extended splice, on a scripted setup.
//!
//! The 2013 proposal's use case (spec §1, §3): `cp` keeps its buffer-sized loop but each
//! read+write pair becomes one `splice(2)` between the two files, so the copy gets faster
//! where the filesystem or the server can do better, and stays interruptible between calls.
//! `--reflink=never|auto|always` picks the share semantics (never → flags 0,
//! auto → `SPLICE_F_MAY_SHARE`, always → `SPLICE_F_MUST_SHARE`).
//!
//! The source must exist in the simulated filesystem first: `--setup SCRIPT` runs a
//! splicelab script on the fresh `/` (see `splicelab script --help`), `--size SIZE` writes
//! SRC with a seeded pattern or a fill byte, or both (the script first).
//!
//! After the loop `cp` prints one summary line; after an abort (`--abort-after N`, or a
//! signal planned with `--signal-after-chunks K`) it checks through the simulated process
//! that DST holds exactly the first bytes of SRC that the calls reported, and says so.
//!
//! ```
//! use splicelab::cp::Reflink;
//!
//! assert_eq!(Reflink::parse("auto"), Ok(Reflink::Auto));
//! assert_eq!(Reflink::Always.flags(), syscall::flags::splice::MUST_SHARE);
//! ```

use std::cell::Cell;
use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::{Digest, Md5};
use realcopy::chunked::{self, Ended, Progress, Steps, Watch};
use syscall::api::o;
use syscall::flags::splice as splice_flags;
use syscall::splice::SpliceSteps;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::clock::{Nanos, fmt_nanos};
use vfs::errno::Errno;
use vfs::task::{SignalPlan, TaskStats};

use crate::script::json::Obj;
use crate::script::{Runner, Script, default_fs};

/// GNU cp's minimum buffer (coreutils `IO_BUFSIZE`, 256 KiB since 9.2).
pub const IO_BUFSIZE: u64 = 256 * 1024;

/// Most splice calls with data one `cp` may need (plus the call that sees EOF): beyond it
/// `cp` refuses to start (use a larger `--bs`) instead of running for hours. The script
/// runner's per-command limit, so that a 1 TiB file copies with `--bs 1m`.
pub const MAX_CALLS: u64 = crate::script::MAX_CALLS;

/// Most chunks of byte copy one `cp` makes: past them it stops between calls, as a script's
/// `copy_range` does ([`crate::script::MAX_COMMAND_CHUNKS`], `docs/design.md` A11), and
/// exits 1 after checking that DST holds the prefix copied.
pub const MAX_CHUNKS: u64 = crate::script::MAX_COMMAND_CHUNKS;

/// The size of one `pwrite` when `--size` creates the source (data is lazy, so big calls
/// cost nothing extra).
const CREATE_CALL: u64 = 1 << 30;

/// The size of one `pread` when contents are compared (descriptor-equal ranges compare in
/// O(segments), so big calls are cheap).
const COMPARE_CALL: u64 = 1 << 26;

/// Exit status after an abort (128 + SIGINT, as a shell reports a `^C`).
pub const EXIT_ABORTED: i32 = 130;

/// Arguments of `splicelab cp`.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(after_long_help = long_help())]
pub struct CpArgs {
    /// never = never share (no flag, byte-identical to read+write), auto = may share
    /// (SPLICE_F_MAY_SHARE), always = must share (SPLICE_F_MUST_SHARE); a bare --reflink
    /// means always
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "never",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always"
    )]
    pub reflink: String,
    /// Bytes per splice call (xfs_io size syntax: 1m, 64k, 0x1000) [default: like GNU cp,
    /// the smallest multiple of st_blksize that is at least 256 KiB]
    #[arg(long, value_name = "SIZE")]
    pub bs: Option<String>,
    /// Filesystem model for / as a mount spec MODEL[:key=value,...], e.g. plain,
    /// btrfs-like:size=1g,chunk=64k (default: the setup script's '# fs: MODEL' line, else
    /// btrfs-like, else plain)
    #[arg(long, value_name = "MODEL")]
    pub fs: Option<String>,
    /// Run this splicelab script (file, or - for standard input) first, to create SRC;
    /// its transcript is printed before the copy
    #[arg(long, value_name = "SCRIPT")]
    pub setup: Option<String>,
    /// Create SRC with this many bytes (after --setup, if any)
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// With --size: SRC holds the seeded pseudo-random pattern SEED [default: 1]
    #[arg(long, value_name = "SEED", conflicts_with = "fill")]
    pub pattern: Option<String>,
    /// With --size: every byte of SRC is this value (0xNN or decimal)
    #[arg(long, value_name = "0xNN")]
    pub fill: Option<String>,
    /// Simulate a ^C after N splice calls: stop there, check that DST holds exactly the
    /// bytes copied so far, exit 130
    #[arg(long, value_name = "N")]
    pub abort_after: Option<String>,
    /// Deliver a signal to the copying task once K chunks of byte copy have completed
    /// (0 = at once): the call in flight returns its partial count (EINTR
    /// if none), then cp stops as after --abort-after
    #[arg(long, value_name = "K")]
    pub signal_after_chunks: Option<String>,
    /// After a complete copy, compare DST with SRC through the simulated process and print
    /// "verify: ok" (exit 1 if they differ)
    #[arg(long)]
    pub verify: bool,
    /// After the copy, print md5sum-style lines for SRC and DST (reads every byte: slow for
    /// pattern files of many GiB)
    #[arg(long)]
    pub md5: bool,
    /// Print one JSON object (after the setup script's JSON lines) instead of text
    #[arg(long)]
    pub json: bool,
    /// Copy real files of this machine (paths as given) with splicelab-realcopy instead of
    /// simulated ones: never = pread/pwrite, auto = copy_file_range, always = FICLONERANGE
    /// or fail with DST unchanged
    #[arg(
        long,
        conflicts_with_all = [
            "fs", "setup", "size", "pattern", "fill", "abort_after",
            "signal_after_chunks", "verify", "md5", "json",
        ]
    )]
    pub real: bool,
    /// With --real: print one line saying what was done (GNU cp prints nothing)
    #[arg(short, long, requires = "real")]
    pub verbose: bool,
    /// Source file (in the simulated filesystem, a relative name is under /; with --real,
    /// a path of this machine)
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Destination file, or an existing directory to copy into
    #[arg(value_name = "DST")]
    pub dst: String,
}

/// The long help of `splicelab cp` (shown by `splicelab cp --help`).
pub fn long_help() -> String {
    format!(
        "\
A cp-like loop over the extended splice(2): each call splices up to --bs bytes from SRC
to DST at the current offsets, the offsets advance by the returned count, and the loop
ends when a call returns 0 (EOF). This is the 2013 proposal's cp: the read+write pair of
its loop becomes one splice with the same buffer size.

--reflink picks the semantics of every call:
  never   flags 0                      never share: byte copy, no shared block (default,
                                       as the proposal asks of cp's default)
  auto    SPLICE_F_MAY_SHARE  (0x10)   share whole blocks where possible, copy the rest
  always  SPLICE_F_MUST_SHARE (0x20)   share everything or fail, DST unchanged
        (cp --reflink=always on plain: 'cp: SRC -> DST: Operation not supported', exit 1)

The buffer size defaults to what GNU cp (coreutils >= 9.2) uses for its read/write loop:
the smallest multiple of the files' st_blksize that is at least 256 KiB, i.e. 256 KiB on
4 KiB-block models. With --reflink=always it must be a multiple of the block size.

The source: --setup SCRIPT runs a splicelab script first (its transcript is printed), on
the --fs model (default: the script's '# fs:' line, else {default}); --size SIZE creates
SRC with a seeded pattern (--pattern SEED, default 1) or a fill byte (--fill 0xNN).
DST is created or truncated (O_WRONLY|O_CREAT|O_TRUNC, like cp); a DST that is a
directory gets SRC's name.

While copying, a progress bar on standard error shows bytes, calls, and the rate in
virtual time (the simulated clock) and in real time; it is hidden when standard error
is not a terminal. At the end one summary line: bytes copied, calls, chunks of byte copy,
blocks of DST shared with another file, virtual time and real time.

Aborting: --abort-after N stops after N calls, as if the user pressed ^C between calls;
--signal-after-chunks K delivers a signal once K chunks of byte copy have completed, so
the call in flight returns its partial count (or EINTR before its first byte). Either way
cp prints how many bytes were copied and checks, through the simulated process, that DST
is exactly that prefix of SRC (its size and every byte), and says so.

--reflink takes its value with '=' as in GNU cp (--reflink=auto); a bare --reflink means
--reflink=always. --json prints one object with every figure (bytes, calls, chunks,
shared_blocks, bytes_copied, bytes_shared, time_ns, real_ns, aborted, prefix_ok, verify,
errno) after the setup script's JSON lines.

Real files: --real copies files of this machine (SRC and DST are ordinary paths) with
the same three semantics, through the splicelab-realcopy library: never = pread/pwrite
(no block of DST is shared afterwards, on any filesystem), auto = copy_file_range with
a read/write fallback, always = FICLONERANGE after every check, or
'cp: failed to clone DST from SRC: ...' with DST as it was. --bs sets the bytes per
call (default 1 MiB for byte copies, 1 GiB per clone). A progress bar shows on long
copies; ^C stops between two calls, says how many bytes DST holds (exactly SRC's first
bytes) and exits 130. Messages and exit statuses are GNU cp's; -v prints what was done.
The lab-only options (--fs, --setup, --size, --abort-after, ...) do not apply.

Exit status: 0 copied (and verified, with --verify); 1 an error (bad value, missing
file, a failed call, a verification mismatch); 130 aborted (128 + SIGINT) with the prefix
checked; 2 a malformed command line (unknown option, missing SRC/DST).

Examples:
  splicelab cp --fs btrfs-like --size 1g --reflink=always a b
      a -> b: copied 1073741824 bytes (1.00 GiB) in 4097 calls of up to 256.00 KiB,
      0 chunks, 262144 blocks shared; virtual time 24.58 ms (40.69 GiB/s), real time ...
  splicelab cp --fs plain --size 1g --reflink=always a b
      cp: a -> b: Operation not supported
  splicelab cp --fs plain --size 64m --bs 1m --abort-after 3 a b      (exit 130)
      a -> b: copied 3145728 bytes (3.00 MiB) in 3 calls of up to 1.00 MiB, 3 chunks, ...
      interrupted after 3 calls (--abort-after 3): b holds exactly the first 3145728
      bytes of a (checked: size and content)
  splicelab cp --fs plain --size 16m --bs 4m --signal-after-chunks 6 a b
      ... call 2 returned 2097152 of 4194304 bytes: b holds exactly the first 6291456
      bytes of a (checked: size and content)
  printf 'open -f /a\\npwrite -S 0x61 0 10m\\n' | splicelab cp --setup - --verify a b
  splicelab cp --real --reflink=never /srv/btrfs/big.img /srv/btrfs/copy.img
",
        default = default_fs()
    )
}

/// `--reflink=WHEN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reflink {
    /// Never share (no flag).
    Never,
    /// May share (`SPLICE_F_MAY_SHARE`).
    Auto,
    /// Must share (`SPLICE_F_MUST_SHARE`).
    Always,
}

impl Reflink {
    /// Parses `never`, `auto` or `always`.
    ///
    /// # Errors
    /// A message naming the bad word and the valid ones.
    pub fn parse(s: &str) -> Result<Reflink, String> {
        match s {
            "never" => Ok(Reflink::Never),
            "auto" => Ok(Reflink::Auto),
            "always" => Ok(Reflink::Always),
            _ => Err(format!(
                "invalid argument '{s}' for '--reflink' (valid: never, auto, always)"
            )),
        }
    }

    /// The word on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Reflink::Never => "never",
            Reflink::Auto => "auto",
            Reflink::Always => "always",
        }
    }

    /// The splice flags of every call.
    pub fn flags(self) -> u32 {
        match self {
            Reflink::Never => 0,
            Reflink::Auto => splice_flags::MAY_SHARE,
            Reflink::Always => splice_flags::MUST_SHARE,
        }
    }

    /// The semantics' name in the docs.
    pub fn semantics(self) -> &'static str {
        match self {
            Reflink::Never => "never share",
            Reflink::Auto => "may share",
            Reflink::Always => "must share",
        }
    }
}

/// What `--size` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    Pattern(u64),
    Fill(u8),
}

impl Content {
    fn data(self, off: u64, len: u64) -> Data {
        match self {
            Content::Pattern(seed) => Data::pattern(seed, off, len),
            Content::Fill(b) => Data::fill(b, len),
        }
    }
}

/// The checked arguments.
#[derive(Clone, Debug)]
struct Config {
    reflink: Reflink,
    bs: Option<u64>,
    size: Option<u64>,
    content: Content,
    abort_after: Option<u64>,
    signal_after: Option<u64>,
}

/// A count: decimal or `0x` hexadecimal.
fn parse_count(s: &str, opt: &str, what: &str) -> Result<u64, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => {
            format!(
                "invalid {opt} '{s}' ({what}): too large (at most {})",
                u64::MAX
            )
        }
        _ => format!("invalid {opt} '{s}' ({what})"),
    })
}

fn parse_size(s: &str, opt: &str) -> Result<u64, String> {
    fs_models::spec::parse_size(s).map_err(|e| format!("{opt}: {e}"))
}

impl Config {
    fn from_args(a: &CpArgs) -> Result<Config, String> {
        let reflink = Reflink::parse(&a.reflink)?;
        let bs = a.bs.as_deref().map(parse_bs).transpose()?;
        let size = a
            .size
            .as_deref()
            .map(|s| parse_size(s, "--size"))
            .transpose()?;
        if size.is_none() && (a.pattern.is_some() || a.fill.is_some()) {
            return Err("--pattern and --fill describe the data of --size SIZE".into());
        }
        let content = match (&a.pattern, &a.fill) {
            (Some(_), Some(_)) => return Err("--pattern and --fill exclude each other".into()),
            (Some(p), None) => Content::Pattern(parse_count(p, "--pattern", "a seed")?),
            (None, Some(f)) => {
                let v = parse_count(f, "--fill", "a byte value 0..=255")?;
                let b = u8::try_from(v)
                    .map_err(|_| format!("invalid --fill '{f}' (a byte value 0..=255)"))?;
                Content::Fill(b)
            }
            (None, None) => Content::Pattern(1),
        };
        let abort_after = a
            .abort_after
            .as_deref()
            .map(|s| parse_count(s, "--abort-after", "a number of calls"))
            .transpose()?;
        let signal_after = a
            .signal_after_chunks
            .as_deref()
            .map(|s| parse_count(s, "--signal-after-chunks", "a number of chunks"))
            .transpose()?;
        if a.setup.is_none() && size.is_none() {
            return Err(format!(
                "{}: the source must be created first: give --setup SCRIPT or --size SIZE",
                a.src
            ));
        }
        Ok(Config {
            reflink,
            bs,
            size,
            content,
            abort_after,
            signal_after,
        })
    }
}

/// An absolute path: `a` means `/a`, as in scripts.
fn abs(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// GNU cp's `io_blksize`: the smallest multiple of `blksize` that is at least
/// [`IO_BUFSIZE`].
fn io_blksize(blksize: u64) -> u64 {
    if blksize == 0 {
        IO_BUFSIZE
    } else {
        IO_BUFSIZE.div_ceil(blksize) * blksize
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The default buffer: the least common multiple of both files' `io_blksize`, or the
/// destination's if that would be absurd (as GNU cp does).
fn default_bs(src_blksize: u64, dst_blksize: u64) -> u64 {
    let (a, b) = (io_blksize(src_blksize), io_blksize(dst_blksize));
    match (a / gcd(a, b)).checked_mul(b) {
        Some(l) if l <= 1 << 30 => l,
        _ => b,
    }
}

/// Why the loop stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abort {
    /// `--abort-after N`: stopped before call N + 1.
    Calls(u64),
    /// [`MAX_CHUNKS`] chunks of byte copy were made (this many): stopped between calls.
    Chunks(u64),
    /// The signal planned after `after` chunks arrived during or at the end of call `call`,
    /// which was asked for `asked` bytes and returned `ret` (`EINTR` before any byte).
    Signal {
        after: u64,
        call: u64,
        asked: u64,
        ret: Result<u64, Errno>,
    },
}

/// How the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Eof,
    Aborted(Abort),
    Failed(Errno),
}

/// What the loop did.
#[derive(Clone, Debug)]
struct Outcome {
    end: End,
    copied: u64,
    calls: u64,
    stats: TaskStats,
    vtime: Nanos,
    rtime: Duration,
}

/// `rate` bytes per second for people.
fn rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        "-".to_string()
    } else {
        format!("{}/s", HumanBytes((bytes as f64 / secs) as u64))
    }
}

fn real_nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn progress_bar(len: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("[{bar:24}] {bytes}/{total_bytes} {wide_msg}")
        .map(|s| s.progress_chars("=> "))
    {
        pb.set_style(style);
    }
    pb
}

fn progress_msg(copied: u64, calls: u64, vt: Nanos, rt: Duration) -> String {
    format!(
        "{calls} calls · virtual {} ({}) · real {} ({})",
        fmt_nanos(vt),
        rate(copied, vt as f64 / 1e9),
        fmt_nanos(real_nanos(rt)),
        rate(copied, rt.as_secs_f64()),
    )
}

/// The lab's splice as the loop's steps, noting after each call what the watch needs from
/// the simulated task (the steps hold the process).
struct LabSteps<'p, 'c> {
    splice: SpliceSteps<'p>,
    /// Chunks of byte copy done and the task's virtual time, after the last call.
    seen: &'c Cell<(u64, Nanos)>,
}

impl Steps for LabSteps<'_, '_> {
    fn step(&mut self, done: u64, len: u64) -> Result<u64, realcopy::Errno> {
        let r = self.splice.step(done, len);
        let task = &self.splice.proc.task;
        self.seen.set((task.stats().chunks, task.now()));
        r
    }
}

/// `--abort-after`, `--signal-after-chunks` and the progress bar, between the calls.
struct LabWatch<'c, 'b> {
    abort_after: Option<u64>,
    signal_after: Option<u64>,
    seen: &'c Cell<(u64, Nanos)>,
    pb: &'b ProgressBar,
    t0: Nanos,
    r0: Instant,
    last_msg: Instant,
}

impl Watch for LabWatch<'_, '_> {
    fn stop_before(&mut self, at: &Progress) -> bool {
        self.abort_after == Some(at.calls) || self.seen.get().0 >= MAX_CHUNKS
    }

    // The signal "arrives" once K chunks have completed: a call still running then stops
    // before its next chunk (partial count, or EINTR before any byte); a call whose last
    // chunk was the K-th returns in full and the signal is delivered on the way back to
    // user space. Either way the process stops after this call.
    fn interrupted_after(&mut self, _at: &Progress, ret: &Result<u64, realcopy::Errno>) -> bool {
        let chunks = self.seen.get().0;
        self.signal_after
            .is_some_and(|k| matches!(ret, Ok(n) if *n > 0) && chunks >= k)
    }

    fn progress(&mut self, at: &Progress) {
        self.pb.set_position(at.done);
        let now = Instant::now();
        if now.duration_since(self.last_msg) >= Duration::from_millis(100) {
            self.last_msg = now;
            let vt = self.seen.get().1 - self.t0;
            self.pb
                .set_message(progress_msg(at.done, at.calls, vt, now - self.r0));
        }
    }
}

/// The splice loop (the heart of `cp`): [`realcopy::chunked::run`], the loop that also
/// copies real files, over the lab's splice.
fn copy_loop(
    proc: &mut Process,
    sfd: i32,
    dfd: i32,
    bs: u64,
    cfg: &Config,
    pb: &ProgressBar,
) -> Outcome {
    // Count the loop's own figures (the longest lock hold is a maximum, not a sum), then
    // fold them back into the task's totals.
    let saved = proc.task.take_stats();
    let t0 = proc.task.now();
    let r0 = Instant::now();
    if let Some(k) = cfg.signal_after {
        proc.task.plan_signal(SignalPlan {
            after_chunks: Some(k),
        });
    }
    pb.set_message(progress_msg(0, 0, 0, Duration::ZERO));
    let seen = Cell::new((0, t0));
    let mut steps = LabSteps {
        splice: SpliceSteps {
            proc,
            fd_in: sfd,
            off_in: 0,
            fd_out: dfd,
            off_out: 0,
            flags: cfg.reflink.flags(),
        },
        seen: &seen,
    };
    let mut watch = LabWatch {
        abort_after: cfg.abort_after,
        signal_after: cfg.signal_after,
        seen: &seen,
        pb,
        t0,
        r0,
        last_msg: r0,
    };
    let out = chunked::run(&mut steps, None, bs, &mut watch);
    let errno = |e: realcopy::Errno| Errno(e.0);
    let end = match out.ended {
        Ended::Eof | Ended::Done => End::Eof,
        Ended::Stopped if cfg.abort_after == Some(out.calls) => {
            End::Aborted(Abort::Calls(out.calls))
        }
        Ended::Stopped => End::Aborted(Abort::Chunks(seen.get().0)),
        Ended::Interrupted => End::Aborted(Abort::Signal {
            after: cfg.signal_after.unwrap_or(0),
            call: out.calls,
            asked: bs,
            ret: out.last.unwrap_or(Ok(0)).map_err(errno),
        }),
        Ended::Failed(e) => End::Failed(errno(e)),
    };
    // A planned signal that never arrived must not linger into the checks below.
    proc.task.plan_signal(SignalPlan::default());
    let stats = proc.task.take_stats();
    proc.task.with_stats(|t| {
        *t = saved.clone();
        t.absorb(&stats);
    });
    Outcome {
        end,
        copied: out.done,
        calls: out.calls,
        stats,
        vtime: proc.task.now() - t0,
        rtime: r0.elapsed(),
    }
}

/// Blocks of `[0, len)` of the file behind `fd` whose extent another reference shares.
fn shared_blocks(proc: &Process, fd: i32, len: u64) -> u64 {
    let Ok(f) = proc.file(fd) else {
        return 0;
    };
    if len == 0 {
        return 0;
    }
    let img = f.mnt.fs.image();
    let bs = img.block_size().max(1);
    img.shared_blocks(f.inode.ino, 0, len.div_ceil(bs))
        .unwrap_or(0)
}

/// Reads `[off, off + len)` of `fd` completely (several `pread`s if needed).
fn read_range(proc: &mut Process, fd: i32, off: u64, len: u64) -> Result<Data, Errno> {
    let mut out = Data::new();
    while out.len() < len {
        let at = off + out.len();
        let want = (len - out.len()).min(COMPARE_CALL);
        let d = proc.pread(fd, want as usize, at as i64)?;
        if d.is_empty() {
            break;
        }
        out.append(d);
    }
    Ok(out)
}

/// The first offset below `len` where the two files differ (a short file differs where it
/// ends), or `None` when their first `len` bytes are equal. Reads through the process.
fn first_difference(proc: &mut Process, a: i32, b: i32, len: u64) -> Result<Option<u64>, Errno> {
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(COMPARE_CALL);
        let (da, db) = (read_range(proc, a, off, n)?, read_range(proc, b, off, n)?);
        if da.len() == n && db.len() == n && da.same_content(&db) {
            off += n;
            continue;
        }
        // Find the byte: compare in small pieces.
        const STEP: u64 = 64 * 1024;
        let m = da.len().min(db.len());
        let (mut x, mut y) = (vec![0u8; STEP as usize], vec![0u8; STEP as usize]);
        let mut at = 0u64;
        while at < m {
            let k = STEP.min(m - at) as usize;
            da.read_into(at, &mut x[..k]);
            db.read_into(at, &mut y[..k]);
            if let Some(i) = x[..k].iter().zip(&y[..k]).position(|(p, q)| p != q) {
                return Ok(Some(off + at + i as u64));
            }
            at += k as u64;
        }
        return Ok(Some(off + m));
    }
    Ok(None)
}

/// The largest file `md5sum` and `cp --md5` hash: 4 GiB, about ten seconds at MD5's speed
/// here (every byte is hashed, holes included; there is no shortcut over zeroes).
pub const MD5_MAX_BYTES: u64 = 4 << 30;

/// The MD5 of a whole file, read through the process.
fn md5_of(proc: &mut Process, fd: i32) -> Result<String, Errno> {
    md5_file(proc, fd).map(|(hex, _)| hex)
}

/// The MD5 (lowercase hex) of the file open as `fd` and its length, read through the
/// process in 1 MiB `pread`s from offset 0 to EOF, as `md5sum` reads. The data is hashed
/// piece by piece as it comes ([`vfs::Data::feed`]): holes and fill runs from reused
/// buffers, real bytes in place; nothing is built per byte but pattern data, a piece at
/// a time. Every byte is still hashed (MD5 has no shortcut for a run of zeroes), so the
/// time is MD5's throughput; the memory is O(1).
///
/// # Errors
/// `EFBIG` for a file of more than [`MD5_MAX_BYTES`] (MD5 cannot skip a hole: every byte
/// of a 1 TiB sparse file would be hashed, about 50 minutes); the first failing `pread`.
pub fn md5_file(proc: &mut Process, fd: i32) -> Result<(String, u64), Errno> {
    const CHUNK: u64 = 1 << 20;
    if proc.fstat(fd)?.size > MD5_MAX_BYTES {
        return Err(Errno::EFBIG);
    }
    let mut h = Md5::new();
    let mut off = 0u64;
    loop {
        let d = proc.pread(fd, CHUNK as usize, off as i64)?;
        if d.is_empty() {
            break;
        }
        d.feed(|piece| h.update(piece));
        off += d.len();
    }
    Ok((
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        off,
    ))
}

/// Whether DST is exactly the first `len` bytes of SRC: `Ok(None)` if so, else what is
/// wrong.
fn check_prefix(proc: &mut Process, sfd: i32, dfd: i32, len: u64) -> Result<Option<String>, Errno> {
    let dsize = proc.fstat(dfd)?.size;
    if dsize != len {
        return Ok(Some(format!("its size is {dsize}, not {len}")));
    }
    Ok(first_difference(proc, sfd, dfd, len)?.map(|at| format!("it differs at byte {at}")))
}

/// Writes a line to standard output; a closed pipe is not an error worth a message.
fn say(out: &mut dyn Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

/// Reads the setup script.
fn read_setup(path: &str) -> Result<String, String> {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        io::stdin()
            .read_to_end(&mut b)
            .map_err(|e| format!("--setup: cannot read standard input: {e}"))?;
        b
    } else {
        std::fs::read(path).map_err(|e| format!("--setup: cannot read {path}: {e}"))?
    };
    crate::script::parse::decode(&bytes).map_err(|e| format!("--setup {path}: {e}"))
}

/// Builds the process: runs the setup script (printing its transcript) on a fresh `/`.
fn prepare(args: &CpArgs, out: &mut dyn Write) -> Result<(Runner, String), String> {
    let script = match &args.setup {
        Some(p) => {
            let text = read_setup(p)?;
            Some(Script::parse(&text).map_err(|e| format!("--setup {p}: {e}"))?)
        }
        None => None,
    };
    let fs = args
        .fs
        .clone()
        .or_else(|| script.as_ref().and_then(|s| s.fs_hint.clone()))
        .unwrap_or_else(|| default_fs().to_string());
    let mut runner = Runner::new(&fs, args.json).map_err(|e| format!("--fs {fs}: {e}"))?;
    if let Some(s) = &script {
        match runner.run(s, out) {
            // A closed pipe (`| head`) is not an error worth a message.
            Err(e) if !crate::out::closed(&e) => {
                return Err(format!("writing the setup transcript: {e}"));
            }
            _ => {}
        }
    }
    Ok((runner, fs))
}

/// `--size`: (re)creates SRC with the configured content.
fn create_source(
    proc: &mut Process,
    name: &str,
    size: u64,
    content: Content,
) -> Result<(), String> {
    let path = abs(name);
    let fd = proc
        .open(&path, o::WRONLY | o::CREAT | o::TRUNC, 0o644)
        .map_err(|e| format!("--size: cannot create '{name}': {e}"))?;
    let mut off = 0u64;
    let res = loop {
        if off >= size {
            break Ok(());
        }
        let n = CREATE_CALL.min(size - off);
        match proc.pwrite(fd, &content.data(off, n), off as i64) {
            Ok(0) => {
                break Err(format!(
                    "--size: writing '{name}' made no progress at byte {off}"
                ));
            }
            Ok(w) => off += w as u64,
            Err(e) => break Err(format!("--size: writing '{name}' at byte {off}: {e}")),
        }
    };
    let _ = proc.close(fd);
    res
}

/// The last component of a path.
fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

/// Everything `cp` reports, for the JSON object.
struct Report {
    obj: Obj,
}

impl Report {
    fn new() -> Report {
        let mut obj = Obj::new();
        obj.set("cmd", "cp");
        obj.set("ok", true);
        Report { obj }
    }

    fn set(&mut self, k: &str, v: impl Into<serde_json::Value>) {
        self.obj.set(k, v);
    }

    fn errno(&mut self, e: Errno) {
        self.set("ok", false);
        self.set(
            "errno",
            e.name().map_or_else(|| e.0.to_string(), str::to_string),
        );
        self.set("error", e.text());
    }
}

/// `splicelab cp`: returns the exit status (0 copied, 1 error, 130 aborted).
pub fn run(args: &CpArgs) -> i32 {
    if args.real {
        return run_real(args);
    }
    let mut out = crate::out::stdout();
    let mut rep = Report::new();
    let r = run_inner(args, &mut out, &mut rep);
    if let Err(msg) = &r
        && rep.obj.get("ok") == Some(&serde_json::Value::Bool(true))
    {
        rep.set("ok", false);
        rep.set("error", msg.as_str());
    }
    if args.json {
        say(&mut out, &rep.obj.to_line());
    }
    crate::out::exit_status(&mut out, r.map_err(crate::out::failure), "cp", 1)
}

/// `splicelab cp --real`: the arguments checked here, the copy in [`crate::cp_real`].
fn run_real(args: &CpArgs) -> i32 {
    let parsed = Reflink::parse(&args.reflink).and_then(|r| {
        let bs = args.bs.as_deref().map(parse_bs).transpose()?;
        Ok((r, bs))
    });
    match parsed {
        Ok((reflink, bs)) => crate::cp_real::run(reflink, bs, &args.src, &args.dst, args.verbose),
        Err(msg) => {
            eprintln!("cp: {msg}");
            1
        }
    }
}

/// `--bs`: at least one byte, at most `SSIZE_MAX`.
fn parse_bs(s: &str) -> Result<u64, String> {
    let bs = parse_size(s, "--bs")?;
    if bs == 0 {
        return Err("--bs: must be at least 1 byte".into());
    }
    // A call's length is a size_t; beyond isize::MAX the kernel's own checks would see a
    // negative ssize_t.
    if bs > isize::MAX as u64 {
        return Err(format!("--bs: {bs} is larger than SSIZE_MAX"));
    }
    Ok(bs)
}

fn run_inner(args: &CpArgs, out: &mut dyn Write, rep: &mut Report) -> Result<i32, String> {
    let cfg = Config::from_args(args)?;
    rep.set("src", args.src.as_str());
    rep.set("dst", args.dst.as_str());
    rep.set("reflink", cfg.reflink.name());
    rep.set("flags", cfg.reflink.flags());
    let (mut runner, fs) = prepare(args, out)?;
    rep.set("fs", fs.as_str());
    let proc = runner.process_mut();
    if let Some(size) = cfg.size {
        create_source(proc, &args.src, size, cfg.content)?;
    }

    // Open SRC, then DST as cp does (checking "same file" before truncating anything).
    let src = args.src.as_str();
    let sfd = proc
        .open(&abs(src), o::RDONLY, 0)
        .map_err(|e| format!("cannot open '{src}' for reading: {e}"))?;
    let sst = proc
        .fstat(sfd)
        .map_err(|e| format!("cannot fstat '{src}': {e}"))?;
    if sst.is_dir {
        return Err(format!("-r not specified; omitting directory '{src}'"));
    }
    if !sst.is_regular {
        return Err(format!("'{src}' is not a regular file"));
    }
    let mut dst = args.dst.clone();
    if let Ok(st) = proc.stat(&abs(&dst))
        && st.is_dir
    {
        dst = format!("{}/{}", dst.trim_end_matches('/'), basename(src));
    }
    let dst = dst.as_str();
    if let Ok(st) = proc.stat(&abs(dst))
        && (st.dev, st.ino) == (sst.dev, sst.ino)
    {
        return Err(format!("'{src}' and '{dst}' are the same file"));
    }
    rep.set("dst", dst);
    let wfd = proc
        .open(&abs(dst), o::WRONLY | o::CREAT | o::TRUNC, 0o644)
        .map_err(|e| format!("cannot create regular file '{dst}': {e}"))?;
    let dst_blksize = proc.fstat(wfd).map(|s| s.blksize).unwrap_or(0);
    let bs = cfg
        .bs
        .unwrap_or_else(|| default_bs(sst.blksize, dst_blksize));
    rep.set("bs", bs);
    rep.set("size", sst.size);
    let needed = sst.size.div_ceil(bs);
    if needed > MAX_CALLS && cfg.abort_after.is_none_or(|n| n > MAX_CALLS) {
        return Err(format!(
            "{src}: {} bytes with --bs {bs} need {needed} calls, more than splicelab's \
             limit of {MAX_CALLS}; use a larger --bs",
            sst.size
        ));
    }

    let pb = progress_bar(sst.size);
    let res = copy_loop(proc, sfd, wfd, bs, &cfg, &pb);
    pb.finish_and_clear();
    let shared = shared_blocks(proc, wfd, res.copied);
    // DST is open write-only, as cp opens it; the checks read it through a second
    // descriptor.
    let dfd = proc
        .open(&abs(dst), o::RDONLY, 0)
        .map_err(|e| format!("cannot open '{dst}' for reading: {e}"))?;

    rep.set("bytes", res.copied);
    rep.set("calls", res.calls);
    rep.set("chunks", res.stats.chunks);
    rep.set("shared_blocks", shared);
    rep.set("bytes_copied", res.stats.bytes_copied);
    rep.set("bytes_shared", res.stats.bytes_shared);
    rep.set("extents_remapped", res.stats.extents_remapped);
    rep.set("longest_hold_ns", res.stats.longest_hold);
    rep.set("time_ns", res.vtime);
    rep.set("real_ns", real_nanos(res.rtime));

    let summary = format!(
        "{src} -> {dst}: copied {} bytes ({}) in {} calls of up to {}, {} chunks, {shared} \
         blocks shared; virtual time {} ({}), real time {} ({})",
        res.copied,
        HumanBytes(res.copied),
        res.calls,
        HumanBytes(bs),
        res.stats.chunks,
        fmt_nanos(res.vtime),
        rate(res.copied, res.vtime as f64 / 1e9),
        fmt_nanos(real_nanos(res.rtime)),
        rate(res.copied, res.rtime.as_secs_f64()),
    );
    let text = !args.json;

    let code = match res.end {
        End::Failed(e) => {
            rep.errno(e);
            eprintln!("cp: {src} -> {dst}: {e}");
            if e == Errno::EINVAL && cfg.reflink == Reflink::Always {
                let rbs = proc
                    .file(sfd)
                    .map(|f| f.mnt.fs.remap_block_size())
                    .unwrap_or(0);
                if rbs > 1 && !bs.is_multiple_of(rbs) {
                    eprintln!(
                        "cp: hint: --reflink=always shares whole blocks: --bs {bs} is not a \
                         multiple of the filesystem's {rbs}-byte block"
                    );
                }
            }
            if res.copied > 0 {
                match check_prefix(proc, sfd, dfd, res.copied) {
                    Ok(None) => eprintln!(
                        "cp: {} bytes were copied in {} calls before the error; {dst} holds \
                         exactly the first {} bytes of {src} (checked: size and content)",
                        res.copied,
                        res.calls - 1,
                        res.copied
                    ),
                    Ok(Some(why)) => eprintln!(
                        "cp: {} bytes were copied before the error, but {dst} is not the first \
                         {} bytes of {src}: {why}",
                        res.copied, res.copied
                    ),
                    Err(e) => eprintln!("cp: checking {dst}: {e}"),
                }
            }
            1
        }
        End::Aborted(how) => {
            if text {
                say(out, &summary);
            }
            let why = match how {
                Abort::Calls(n) => {
                    rep.set("aborted", "calls");
                    format!("interrupted after {n} calls (--abort-after {n})")
                }
                Abort::Chunks(n) => {
                    rep.set("aborted", "chunks");
                    rep.set("ok", false);
                    format!(
                        "stopped after {n} chunks of byte copy (splicelab's limit per command: \
                         {MAX_CHUNKS})"
                    )
                }
                Abort::Signal {
                    after,
                    call,
                    asked,
                    ret,
                } => {
                    rep.set("aborted", "signal");
                    let during = match ret {
                        Err(e) => format!(
                            "call {call} returned {} before moving a byte",
                            e.name().unwrap_or("an error")
                        ),
                        Ok(n) if n < asked => {
                            format!("call {call} returned {n} of {asked} bytes")
                        }
                        Ok(n) => format!("call {call} had returned all {n} bytes"),
                    };
                    format!(
                        "interrupted by a signal after {after} chunks of byte copy \
                         (--signal-after-chunks {after}); {during}"
                    )
                }
            };
            rep.set("interrupted", why.as_str());
            match check_prefix(proc, sfd, dfd, res.copied) {
                Ok(None) => {
                    rep.set("prefix_ok", true);
                    let line = format!(
                        "{why}: {dst} holds exactly the first {} bytes of {src} \
                         (checked: size and content)",
                        res.copied
                    );
                    if matches!(how, Abort::Chunks(_)) {
                        rep.set("error", why.as_str());
                        eprintln!("cp: {line}");
                        1
                    } else {
                        if text {
                            say(out, &line);
                        }
                        EXIT_ABORTED
                    }
                }
                Ok(Some(what)) => {
                    rep.set("prefix_ok", false);
                    rep.set("ok", false);
                    rep.set("error", format!("prefix check failed: {what}"));
                    eprintln!(
                        "cp: {why}: {dst} is NOT the first {} bytes of {src}: {what}",
                        res.copied
                    );
                    1
                }
                Err(e) => return Err(format!("checking {dst} after the abort: {e}")),
            }
        }
        End::Eof => {
            if text {
                say(out, &summary);
            }
            if cfg.signal_after.is_some() {
                rep.set("aborted", serde_json::Value::Null);
                if text {
                    say(
                        out,
                        &format!(
                            "the planned signal never arrived: only {} chunks of byte copy ran",
                            res.stats.chunks
                        ),
                    );
                }
            }
            0
        }
    };
    if code == 1 || matches!(res.end, End::Failed(_)) {
        return Ok(code);
    }

    let mut code = code;
    if args.verify && res.end == End::Eof {
        let (ssize, dsize) = (
            proc.fstat(sfd)
                .map_err(|e| format!("verify: fstat '{src}': {e}"))?
                .size,
            proc.fstat(dfd)
                .map_err(|e| format!("verify: fstat '{dst}': {e}"))?
                .size,
        );
        let verdict = if ssize != dsize {
            Some(format!("sizes differ ({src}: {ssize}, {dst}: {dsize})"))
        } else {
            first_difference(proc, sfd, dfd, ssize)
                .map_err(|e| format!("verify: reading: {e}"))?
                .map(|at| format!("{src} and {dst} differ at byte {at}"))
        };
        match verdict {
            None => {
                rep.set("verify", "ok");
                if text {
                    say(
                        out,
                        &format!("verify: ok ({dst} is identical to {src}, {ssize} bytes)"),
                    );
                }
            }
            Some(what) => {
                rep.set("verify", "failed");
                rep.set("ok", false);
                rep.set("error", format!("verify: {what}"));
                eprintln!("cp: verify: FAILED: {what}");
                code = 1;
            }
        }
    }
    if args.md5 {
        let ms = md5_of(proc, sfd).map_err(|e| format!("md5: reading '{src}': {e}"))?;
        let md = md5_of(proc, dfd).map_err(|e| format!("md5: reading '{dst}': {e}"))?;
        if text {
            say(out, &format!("{ms}  {src}"));
            say(out, &format!("{md}  {dst}"));
        }
        rep.set("md5_src", ms);
        rep.set("md5_dst", md);
    }
    for fd in [sfd, wfd, dfd] {
        let _ = proc.close(fd);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_size_like_gnu_cp() {
        assert_eq!(io_blksize(4096), 256 * 1024);
        assert_eq!(io_blksize(0), IO_BUFSIZE);
        assert_eq!(io_blksize(1 << 20), 1 << 20);
        assert_eq!(io_blksize(3000), 87 * 3000 + 3000);
        assert_eq!(default_bs(4096, 4096), 256 * 1024);
        assert_eq!(default_bs(4096, 1 << 20), 1 << 20);
    }

    #[test]
    fn reflink_maps_to_the_share_flags() {
        assert_eq!(Reflink::parse("never").unwrap().flags(), 0);
        assert_eq!(
            Reflink::parse("auto").unwrap().flags(),
            splice_flags::MAY_SHARE
        );
        assert_eq!(
            Reflink::parse("always").unwrap().flags(),
            splice_flags::MUST_SHARE
        );
        assert!(
            Reflink::parse("sometimes")
                .unwrap_err()
                .contains("never, auto, always")
        );
    }

    #[test]
    fn basenames() {
        assert_eq!(basename("/x/y"), "y");
        assert_eq!(basename("y"), "y");
        assert_eq!(basename("/x/y/"), "y");
    }
}
