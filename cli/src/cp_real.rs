//! `splicelab cp --real`: the three semantics on real files, through `splicelab-realcopy`.
//!
//! This is a thin front end: it resolves SRC and DST the way GNU cp does (a directory DST
//! gets SRC's name; "same file" is refused before anything is opened for writing), opens
//! them, and hands the copy to [`realcopy::copy_file`]. Messages and exit statuses follow
//! GNU cp's: `cp: cannot stat 'x': No such file or directory` and 1; a failed must-share
//! is `cp: failed to clone 'DST' from 'SRC': Operation not supported` with DST as it was
//! (a DST the command created is removed again). `^C` stops the copy between two chunks:
//! DST then holds exactly the first N bytes of SRC, the command says N, and exits 130.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use realcopy::{Copied, Options, Share};

use crate::cp::{EXIT_ABORTED, Reflink};

/// Copies shorter than this get no progress bar (they end before it would be read).
const PROGRESS_MIN: u64 = 64 << 20;

/// Set by the `SIGINT` handler; the copy loop checks it between chunks.
pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Installs the `SIGINT` handler, without `SA_RESTART`: a byte copy in the kernel then
/// returns its partial count at once instead of running to the end of its call.
pub(crate) fn catch_sigint() {
    // SAFETY: a zeroed sigaction with a handler that only stores to an atomic (async-
    // signal-safe), installed for SIGINT; the old action is not needed.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// The semantics of `--reflink=WHEN`.
pub fn share_of(r: Reflink) -> Share {
    match r {
        Reflink::Never => Share::Never,
        Reflink::Auto => Share::May,
        Reflink::Always => Share::Must,
    }
}

/// GNU cp's quoting of a file name in messages.
fn q(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// An `io::Error`'s text without Rust's " (os error N)" suffix, as `strerror` gives it.
fn text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => realcopy::Errno(n).text(),
        None => e.to_string(),
    }
}

/// A progress bar on standard error for a long copy, hidden otherwise.
fn progress_bar(len: u64) -> ProgressBar {
    if len < PROGRESS_MIN || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "[{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "))
    {
        pb.set_style(style);
    }
    pb
}

/// `splicelab cp --real [--reflink=WHEN] [--bs N] SRC DST`: returns the exit status.
pub fn run(reflink: Reflink, bs: Option<u64>, src: &str, dst: &str, verbose: bool) -> i32 {
    match copy(reflink, bs, Path::new(src), Path::new(dst), verbose) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("cp: {msg}");
            1
        }
    }
}

fn copy(
    reflink: Reflink,
    bs: Option<u64>,
    src: &Path,
    dst: &Path,
    verbose: bool,
) -> Result<i32, String> {
    let share = share_of(reflink);
    let smeta =
        std::fs::metadata(src).map_err(|e| format!("cannot stat {}: {}", q(src), text(&e)))?;
    if smeta.is_dir() {
        return Err(format!("-r not specified; omitting directory {}", q(src)));
    }
    // A directory DST receives SRC under its own name.
    let dst: PathBuf = match std::fs::metadata(dst) {
        Ok(m) if m.is_dir() => dst.join(src.file_name().unwrap_or(src.as_os_str())),
        _ => dst.to_path_buf(),
    };
    let existed = match std::fs::metadata(&dst) {
        Ok(m) if (m.dev(), m.ino()) == (smeta.dev(), smeta.ino()) => {
            return Err(format!("{} and {} are the same file", q(src), q(&dst)));
        }
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "cannot overwrite directory {} with non-directory",
                q(&dst)
            ));
        }
        Ok(_) => true,
        Err(_) => false,
    };
    let sfile =
        File::open(src).map_err(|e| format!("cannot open {} for reading: {}", q(src), text(&e)))?;
    // From here on ^C leaves a well-defined DST (the handler is in place before DST
    // exists, which the tests rely on).
    catch_sigint();
    // Not O_TRUNC: the library truncates, and must-share only once every check passed.
    let dfile = OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644 & smeta.mode())
        .open(&dst)
        .map_err(|e| format!("cannot create regular file {}: {}", q(&dst), text(&e)))?;

    let pb = progress_bar(smeta.len());
    let mut on_progress = |p: &realcopy::Progress| pb.set_position(p.done);
    let mut opts = Options {
        interrupt: Some(&INTERRUPTED),
        progress: Some(&mut on_progress),
        ..Options::default()
    };
    if let Some(bs) = bs {
        opts.chunk = bs;
        opts.share_chunk = bs;
    }
    let t0 = Instant::now();
    let res = realcopy::copy_file(&sfile, &dfile, share, &mut opts);
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    match res {
        Ok(c) if c.interrupted => {
            eprintln!(
                "cp: interrupted: {} holds exactly the first {} bytes of {}",
                q(&dst),
                c.bytes,
                q(src)
            );
            Ok(EXIT_ABORTED)
        }
        Ok(c) => {
            if verbose {
                summary(src, &dst, share, &c, secs);
            }
            Ok(0)
        }
        Err(f) => {
            if share == Share::Must {
                // The library put DST back; a DST this command created goes again.
                if !existed {
                    let _ = std::fs::remove_file(&dst);
                } else if let Some(e) = f.restore_failed {
                    eprintln!(
                        "cp: warning: {} could not be put back ({e}): it holds part of the clone",
                        q(&dst)
                    );
                }
                return Err(format!(
                    "failed to clone {} from {}: {}",
                    q(&dst),
                    q(src),
                    f.errno
                ));
            }
            if f.errno == realcopy::Errno::EINTR {
                eprintln!(
                    "cp: interrupted: {} holds exactly the first {} bytes of {}",
                    q(&dst),
                    f.copied,
                    q(src)
                );
                return Ok(EXIT_ABORTED);
            }
            Err(format!(
                "error copying {} to {}: {}{}",
                q(src),
                q(&dst),
                f.errno,
                if f.copied > 0 {
                    format!(" ({} holds exactly the first {} bytes)", q(&dst), f.copied)
                } else {
                    String::new()
                }
            ))
        }
    }
}

/// `-v`: one line on what was done.
fn summary(src: &Path, dst: &Path, share: Share, c: &Copied, secs: f64) {
    let how = match share {
        Share::Never => "copied (never share)".to_string(),
        Share::May if c.fallback_bytes == 0 => "copied (may share: copy_file_range)".to_string(),
        Share::May => format!(
            "copied (may share: {} by read/write)",
            HumanBytes(c.fallback_bytes)
        ),
        Share::Must => "cloned (must share)".to_string(),
    };
    let rate = if secs > 0.0 {
        format!("{}/s", HumanBytes((c.bytes as f64 / secs) as u64))
    } else {
        "-".into()
    };
    println!(
        "{} -> {}: {how} {} bytes ({}) in {} calls, {:.3} s ({rate})",
        q(src),
        q(dst),
        c.bytes,
        HumanBytes(c.bytes),
        c.calls,
        secs
    );
}
