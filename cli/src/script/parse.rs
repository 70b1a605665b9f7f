//! Parsing script lines into [`Cmd`]s.
//!
//! The whole script is parsed before anything runs: a malformed line (unknown command,
//! wrong number of arguments, bad number, bad option, unknown filesystem model) stops the
//! script before its first command, so a typo on line 50 never leaves a half-run lab behind.
//!
//! Words are separated by blanks; there is no quoting (as in xfs_io). Options follow GNU
//! `getopt` (clusters such as `-qC`, arguments attached or separate, options may come after
//! operands, `--` ends options). Numbers follow xfs_io's `cvtnum`: decimal, `0x` hex,
//! leading-`0` octal, with one optional suffix `k m g t p e` (powers of 1024), `s`
//! (512-byte sectors) or `b` (4096-byte blocks); negative numbers are errors.

use std::fmt;

use syscall::flags::splice::NONBLOCK as SPLICE_F_NONBLOCK;
use vfs::FileSystem;
use vfs::sync::Arc;

use super::help::{self, CmdInfo};

pub use fs_models::spec::{CVT_BLOCK, CVT_SECTOR, cvt_multiplier, cvtnum};

/// A malformed script line: where, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError {
    /// 1-based line number.
    pub line: usize,
    /// The problem, for people.
    pub message: String,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "script:{}: {}",
            self.line,
            escape_controls(&self.message)
        )
    }
}

/// `text` with every control character but the tab written as an escape (`\x1b`, `\x00`,
/// `\u{9b}`), so that input echoed back (a quoted word in a message, an `echo`) can neither
/// move the cursor nor recolour the terminal, and shows what was there. Tabs stay: xfs_io's
/// own tables (`seek`, `fiemap`) are tab-separated.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let escaped = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(escaped) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !escaped(c) => out.push(c),
            c if (c as u32) < 0x80 => out += &format!("\\x{:02x}", c as u32),
            c => out += &format!("\\u{{{:x}}}", c as u32),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The UTF-8 byte-order mark, skipped at the start of a script.
const BOM: char = '\u{feff}';

/// A script's bytes as text: a UTF-8 byte-order mark at the start is dropped, and bytes
/// that are not UTF-8 are a usage error naming their line (a script is read whole before
/// any line runs).
///
/// # Errors
/// [`UsageError`] for the first line holding bytes that are not UTF-8.
pub fn decode(bytes: &[u8]) -> Result<String, UsageError> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(t.strip_prefix(BOM).unwrap_or(t).to_string()),
        Err(e) => {
            let good = e.valid_up_to();
            let line = 1 + bytes[..good].iter().filter(|&&b| b == b'\n').count();
            let col = good
                - bytes[..good]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
            Err(UsageError {
                line,
                message: format!(
                    "not UTF-8: byte 0x{:02x} at column {}",
                    bytes[good],
                    col + 1
                ),
            })
        }
    }
}

impl std::error::Error for UsageError {}

/// A filesystem built at parse time by `mount` (so an unknown model is a usage error).
#[derive(Clone)]
pub struct MountFs(pub Arc<dyn FileSystem>);

impl fmt::Debug for MountFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MountFs({})", self.0.fs_type())
    }
}

/// Where a copy command takes its source from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A path, opened read-only for the command and closed after it.
    Path(String),
    /// An entry of the file table (`-f N`).
    Index(i64),
}

/// `open`'s flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags {
    /// `-f`/`-c`: `O_CREAT`.
    pub create: bool,
    /// `-r`: `O_RDONLY` (else `O_RDWR`).
    pub readonly: bool,
    /// `-a`: `O_APPEND`.
    pub append: bool,
    /// `-t`: `O_TRUNC`.
    pub trunc: bool,
}

/// What `inject` injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inject {
    /// A media error on the block behind byte `off` of `path`.
    Media { path: String, off: u64 },
    /// The `n`th allocation from now fails with `ENOSPC`, on the mount of `path`.
    Enospc { n: u64, path: Option<String> },
    /// The (nfs-like) server reboots.
    Reboot { path: Option<String> },
    /// The (nfs-like) server reboots once an asynchronous copy has done `bytes` bytes.
    RebootAfter { bytes: u64, path: Option<String> },
    /// The (nfs-like) network drops everything for `ms` milliseconds.
    Partition { ms: u64, path: Option<String> },
}

/// One parsed command.
#[derive(Clone, Debug)]
pub enum Cmd {
    /// `open [-acfrt] [PATH]`.
    Open {
        path: Option<String>,
        flags: OpenFlags,
    },
    /// `file [N]`.
    File { index: Option<i64> },
    /// `close`.
    Close,
    /// `close -u`: every open file without a name left.
    CloseUnlinked,
    /// `pwrite [-qCwW] [-b BS] [-S SEED] OFF LEN`.
    Pwrite {
        off: u64,
        len: u64,
        bs: u64,
        seed: u8,
        quiet: bool,
        compact: bool,
        fsync: bool,
        fdatasync: bool,
    },
    /// `pread [-qvC] [-b BS] OFF LEN`.
    Pread {
        off: u64,
        len: u64,
        bs: u64,
        verbose: bool,
        quiet: bool,
        compact: bool,
    },
    /// `truncate SIZE`.
    Truncate { size: u64 },
    /// `falloc`, `fpunch`, `fzero`, `fcollapse`, `finsert`, `funshare`.
    Falloc { mode: u32, off: u64, len: u64 },
    /// `seek -a|-d|-h [-r] [-s] OFF` (`all` is `-r`, `start` is `-s`).
    Seek {
        data: bool,
        hole: bool,
        all: bool,
        start: bool,
        off: u64,
    },
    /// `fsync`.
    Fsync,
    /// `fdatasync`.
    Fdatasync,
    /// `sync`.
    Sync,
    /// `stat`.
    Stat,
    /// `fiemap [-lv] [-n N] [OFF [LEN]]`.
    Fiemap {
        verbose: bool,
        lflag: bool,
        max: Option<i64>,
        off: Option<u64>,
        len: Option<u64>,
    },
    /// `reflink [-Cq] SRC [SOFF DOFF LEN]`.
    Reflink {
        src: String,
        range: Option<(u64, u64, u64)>,
        quiet: bool,
        compact: bool,
    },
    /// `dedupe [-Cq] SRC SOFF DOFF LEN`.
    Dedupe {
        src: String,
        soff: u64,
        doff: u64,
        len: u64,
        quiet: bool,
        compact: bool,
    },
    /// `copy_range [-s SOFF] [-d DOFF] [-l LEN] SRC | -f N`.
    CopyRange {
        src: Source,
        soff: u64,
        doff: u64,
        /// `None`: from `soff` to the source's EOF.
        len: Option<u64>,
    },
    /// `splice [-aCnq] [-s SOFF] [-d DOFF] [-l LEN] [-F never|may|must|FLAGS] SRC | -f N`.
    Splice {
        src: Source,
        soff: u64,
        doff: u64,
        len: Option<u64>,
        flags: u32,
        all: bool,
        quiet: bool,
        compact: bool,
    },
    /// `signal after N chunks | off`.
    Signal { after_chunks: Option<u64> },
    /// `mount MODEL[:OPTS] DIR` (the filesystem is built while parsing).
    Mount {
        spec: String,
        fs: MountFs,
        dir: String,
    },
    /// `md5sum PATH`.
    Md5sum { path: String },
    /// `shared PATH`: which blocks of PATH another file also references.
    Shared { path: String },
    /// `mkdir PATH`.
    Mkdir { path: String },
    /// `rmdir PATH`.
    Rmdir { path: String },
    /// `rm PATH`.
    Rm { path: String },
    /// `mv OLD NEW`.
    Mv { old: String, new: String },
    /// `chattr (+|-)[iaC] PATH`.
    Chattr {
        /// `(flag letter, set?)` in order.
        changes: Vec<(char, bool)>,
        path: String,
    },
    /// `crash [N]`.
    Crash { pick: Option<usize> },
    /// `inject …`.
    Inject(Inject),
    /// `fsck`.
    Fsck,
    /// `echo TEXT`.
    Echo { text: String },
    /// `quit`.
    Quit,
}

/// A parsed script line.
#[derive(Clone, Debug)]
pub struct Line {
    /// 1-based line number in the script.
    pub lineno: usize,
    /// The command's canonical name (`pwrite` also for `w`).
    pub name: &'static str,
    /// The line as written (trimmed).
    pub text: String,
    pub cmd: Cmd,
}

/// A parsed script.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub lines: Vec<Line>,
    /// The model named by a first-line comment `# fs: MODEL`, if any.
    pub fs_hint: Option<String>,
}

impl Script {
    /// Parses a whole script (a UTF-8 byte-order mark at the start is skipped). A first
    /// line `# fs: MODEL` names the model for `/`; it must be a valid mount spec.
    ///
    /// # Errors
    /// The first malformed line, as a [`UsageError`].
    pub fn parse(text: &str) -> Result<Script, UsageError> {
        let text = text.strip_prefix(BOM).unwrap_or(text);
        let mut script = Script::default();
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let t = raw.trim();
            if i == 0 {
                script.fs_hint = fs_hint(t);
                if let Some(spec) = &script.fs_hint {
                    // A bad model here is this line's fault, whatever --fs says.
                    fs_models::spec::make(spec).map_err(|e| UsageError {
                        line: lineno,
                        message: format!("fs: {e}"),
                    })?;
                }
            }
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let (name, cmd) = parse_line(t).map_err(|message| UsageError {
                line: lineno,
                message,
            })?;
            script.lines.push(Line {
                lineno,
                name,
                text: t.to_string(),
                cmd,
            });
        }
        Ok(script)
    }
}

/// `# fs: MODEL` → `MODEL`.
fn fs_hint(line: &str) -> Option<String> {
    let rest = line.strip_prefix('#')?.trim_start();
    let model = rest.strip_prefix("fs:")?.trim();
    (!model.is_empty()).then(|| model.to_string())
}

/// `strtoul(s, &end, 0)` that must consume the whole word (seeds, counts).
///
/// # Errors
/// `"not a number"`, or `"too large"` for a number above `u64::MAX`.
fn strtoul(s: &str) -> Result<u64, &'static str> {
    let t = s.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8)
    } else {
        t.parse()
    };
    r.map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => "too large",
        _ => "not a number",
    })
}

/// Parses `what` (for messages) with [`cvtnum`].
fn num(cmd: &str, what: &str, s: &str) -> Result<u64, String> {
    cvtnum(s).map_err(|why| format!("{cmd}: bad {what} '{s}': {why}"))
}

/// xfs_io's `cvtnum` as C computes it, for the operands xfs_io hands to the kernel without
/// a range check of its own (`copy_range -l`, `pread`'s offset): `strtoll` (a sign, base
/// from the prefix, saturating at `LLONG_MIN`/`LLONG_MAX`), then the suffix's multiplier
/// with two's-complement wrap-around — so `10e` is `0xa000000000000000` and `16e` is 0.
/// The system call then judges the value (`EINVAL`, `EOVERFLOW`, `EFBIG`).
///
/// # Errors
/// Only what is not a number at all (no digits, an unknown or second suffix).
fn cvtnum_unchecked(s: &str) -> Result<i64, &'static str> {
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, body) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let end = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    let (digits, suffix) = body.split_at(end);
    if digits.is_empty() && radix != 8 {
        return Err("not a number");
    }
    // strtoll: the magnitude saturates.
    let mut mag: u128 = 0;
    for c in digits.chars() {
        mag = (mag * radix as u128 + c.to_digit(radix).unwrap_or(0) as u128).min(1 << 64);
    }
    let v: i64 = match (neg, mag) {
        (false, m) if m > i64::MAX as u128 => i64::MAX,
        (true, m) if m > 1 << 63 => i64::MIN,
        (false, m) => m as i64,
        (true, m) => (m as i128).wrapping_neg() as i64,
    };
    let mult = cvt_multiplier(suffix)? as i64;
    Ok(v.wrapping_mul(mult))
}

/// `copy_range -l`/`splice -l`: anything [`cvtnum_unchecked`] reads but -1, which xfs_io
/// takes for its own "invalid" answer (`invalid length -- -1`); the bits go to the system
/// call's `size_t len` unchanged.
fn copy_len(cmd: &str, s: &str) -> Result<u64, String> {
    match cvtnum_unchecked(s) {
        Ok(-1) => Err(format!("{cmd}: invalid length -- {s}")),
        Ok(v) => Ok(v as u64),
        Err(why) => Err(format!("{cmd}: bad length '{s}': {why}")),
    }
}

/// Options and operands after GNU `getopt`.
struct Opts<'a> {
    flags: Vec<(char, Option<&'a str>)>,
    args: Vec<&'a str>,
}

impl<'a> Opts<'a> {
    fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }

    /// The argument of the last `-c`, parsed by `parse` — after every earlier `-c`'s
    /// argument was parsed too: a repeated option is checked each time it is given, even
    /// though only the last one counts (as with `getopt`, where each one is handled).
    fn last<T>(
        &self,
        c: char,
        mut parse: impl FnMut(&'a str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        let mut last = None;
        for (_, v) in self.flags.iter().filter(|(f, _)| *f == c) {
            if let Some(v) = v {
                last = Some(parse(v)?);
            }
        }
        Ok(last)
    }
}

/// GNU `getopt` with permutation. `spec` is an optstring (`"b:S:q"`).
fn getopt<'a>(info: &CmdInfo, words: &[&'a str], spec: &str) -> Result<Opts<'a>, String> {
    let name = info.name;
    let mut flags = Vec::new();
    let mut args = Vec::new();
    let mut it = words.iter();
    while let Some(&w) = it.next() {
        if w == "--" {
            args.extend(it.by_ref().copied());
            break;
        }
        if w.len() < 2 || !w.starts_with('-') {
            args.push(w);
            continue;
        }
        if w[1..].starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "{name}: negative numbers are not allowed: '{w}' (usage: {})",
                info.usage()
            ));
        }
        let chars: Vec<char> = w[1..].chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            // ':' marks arguments in the optstring; it is never an option itself.
            let Some(pos) = spec.find(c).filter(|_| c != ':') else {
                return Err(format!(
                    "{name}: invalid option -- '{c}' (usage: {})",
                    info.usage()
                ));
            };
            if spec[pos + c.len_utf8()..].starts_with(':') {
                let rest: String = chars[i + 1..].iter().collect();
                let val = if !rest.is_empty() {
                    // Attached argument: the rest of this word.
                    let start = w.len() - rest.len();
                    &w[start..]
                } else {
                    *it.next().ok_or_else(|| {
                        format!(
                            "{name}: option requires an argument -- '{c}' (usage: {})",
                            info.usage()
                        )
                    })?
                };
                flags.push((c, Some(val)));
                break;
            }
            flags.push((c, None));
            i += 1;
        }
    }
    Ok(Opts { flags, args })
}

fn nargs(info: &CmdInfo, o: &Opts<'_>, allowed: &[usize]) -> Result<(), String> {
    if allowed.contains(&o.args.len()) {
        return Ok(());
    }
    Err(format!(
        "{}: takes {}, got {} (usage: {})",
        info.name,
        arg_count_words(allowed),
        o.args.len(),
        info.usage()
    ))
}

/// How many arguments a command takes, in words: `no arguments`, `1 argument`,
/// `at most 2 arguments`, `1 or 4 arguments`.
fn arg_count_words(allowed: &[usize]) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let contiguous_from_0 = allowed.iter().enumerate().all(|(i, &n)| i == n);
    match allowed {
        [] | [0] => "no arguments".into(),
        [n] => format!("{n} argument{}", plural(*n)),
        [.., last] if contiguous_from_0 => format!("at most {last} argument{}", plural(*last)),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|n| n.to_string()).collect();
            format!("{} or {last} arguments", init.join(", "))
        }
    }
}

/// Parses one non-empty, non-comment line into its canonical name and command.
///
/// # Errors
/// A message describing the problem (without the line number).
pub fn parse_line(line: &str) -> Result<(&'static str, Cmd), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&first, rest)) = words.split_first() else {
        return Err("empty command".into());
    };
    let info = help::lookup(first).ok_or_else(|| {
        let mut m = format!("unknown command '{first}'");
        if let Some(s) = help::suggest(first) {
            m.push_str(&format!(" (did you mean '{s}'?)"));
        }
        m.push_str("; see 'splicelab script --help'");
        m
    })?;
    let name = info.name;
    let cmd = match name {
        "open" => {
            let o = getopt(info, rest, "acfrt")?;
            nargs(info, &o, &[0, 1])?;
            Cmd::Open {
                path: o.args.first().map(|s| s.to_string()),
                flags: OpenFlags {
                    create: o.has('f') || o.has('c'),
                    readonly: o.has('r'),
                    append: o.has('a'),
                    trunc: o.has('t'),
                },
            }
        }
        "file" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[0, 1])?;
            let index = match o.args.first() {
                Some(s) => Some(
                    s.parse::<i64>()
                        .map_err(|_| format!("file: bad file number '{s}'"))?,
                ),
                None => None,
            };
            Cmd::File { index }
        }
        "close" => {
            let o = getopt(info, rest, "u")?;
            nargs(info, &o, &[0])?;
            if o.has('u') {
                Cmd::CloseUnlinked
            } else {
                Cmd::Close
            }
        }
        "fsync" | "fdatasync" | "sync" | "stat" | "fsck" | "quit" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[0])?;
            match name {
                "fsync" => Cmd::Fsync,
                "fdatasync" => Cmd::Fdatasync,
                "sync" => Cmd::Sync,
                "stat" => Cmd::Stat,
                "fsck" => Cmd::Fsck,
                _ => Cmd::Quit,
            }
        }
        "pwrite" => {
            let o = getopt(info, rest, "b:S:qCwW")?;
            nargs(info, &o, &[2])?;
            let bs = o
                .last('b', |b| num(name, "buffer size", b))?
                .unwrap_or(super::DEFAULT_IO_BUFFER);
            // xfs_io fills with the seed's low byte (memset), so 0x161 fills with 0x61.
            let seed = o
                .last('S', |s| match strtoul(s) {
                    Ok(v) => Ok(v as u8),
                    Err("too large") => Err(format!("pwrite: seed too large -- {s}")),
                    Err(_) => Err(format!("pwrite: non-numeric seed -- {s}")),
                })?
                .unwrap_or(0xcd);
            let len = num(name, "length", o.args[1])?;
            Cmd::Pwrite {
                off: num(name, "offset", o.args[0])?,
                len,
                bs,
                seed,
                quiet: o.has('q'),
                compact: o.has('C'),
                fsync: o.has('W'),
                fdatasync: o.has('w'),
            }
        }
        "pread" => {
            let o = getopt(info, rest, "b:qvC")?;
            nargs(info, &o, &[2])?;
            let bs = o
                .last('b', |b| num(name, "buffer size", b))?
                .unwrap_or(super::DEFAULT_IO_BUFFER);
            // xfs_io's pread checks no offset: the kernel's EINVAL answers a negative one.
            let off = cvtnum_unchecked(o.args[0])
                .map_err(|why| format!("pread: bad offset '{}': {why}", o.args[0]))?;
            Cmd::Pread {
                off: off as u64,
                len: num(name, "length", o.args[1])?,
                bs,
                verbose: o.has('v'),
                quiet: o.has('q'),
                compact: o.has('C'),
            }
        }
        "truncate" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[1])?;
            Cmd::Truncate {
                size: num(name, "size", o.args[0])?,
            }
        }
        "falloc" | "fpunch" | "fzero" | "fcollapse" | "finsert" | "funshare" => {
            use vfs::fs::falloc_flags::*;
            let spec = match name {
                "falloc" => "cikpu",
                "fzero" => "k",
                _ => "",
            };
            let o = getopt(info, rest, spec)?;
            nargs(info, &o, &[2])?;
            let mut mode = match name {
                "fpunch" => PUNCH_HOLE | KEEP_SIZE,
                "fzero" => ZERO_RANGE,
                "fcollapse" => COLLAPSE_RANGE,
                "finsert" => INSERT_RANGE,
                "funshare" => UNSHARE_RANGE,
                _ => 0,
            };
            // falloc: the last mode option wins, as in xfs_io.
            for (c, _) in &o.flags {
                mode = match (name, c) {
                    ("falloc", 'c') => COLLAPSE_RANGE,
                    ("falloc", 'i') => INSERT_RANGE,
                    ("falloc", 'k') => KEEP_SIZE,
                    ("falloc", 'p') => PUNCH_HOLE | KEEP_SIZE,
                    ("falloc", 'u') => UNSHARE_RANGE,
                    ("fzero", 'k') => mode | KEEP_SIZE,
                    _ => mode,
                };
            }
            Cmd::Falloc {
                mode,
                off: num(name, "offset", o.args[0])?,
                len: num(name, "length", o.args[1])?,
            }
        }
        "seek" => {
            let o = getopt(info, rest, "adhrs")?;
            nargs(info, &o, &[1])?;
            let all = o.has('a');
            let (data, hole) = (all || o.has('d'), all || o.has('h'));
            if !data && !hole {
                return Err(format!(
                    "seek: one of -a, -d or -h is required (usage: {})",
                    info.usage()
                ));
            }
            Cmd::Seek {
                data,
                hole,
                all: o.has('r'),
                start: o.has('s'),
                off: num(name, "offset", o.args[0])?,
            }
        }
        "fiemap" => {
            let o = getopt(info, rest, "alvn:")?;
            if o.has('a') {
                return Err("fiemap: -a (attribute fork) is not supported by splicelab".into());
            }
            nargs(info, &o, &[0, 1, 2])?;
            let max = o.last('n', |s| {
                s.parse::<i64>()
                    .map_err(|_| format!("fiemap: bad extent count '{s}'"))
            })?;
            Cmd::Fiemap {
                verbose: o.has('v'),
                lflag: o.has('l'),
                max,
                off: o.args.first().map(|s| num(name, "offset", s)).transpose()?,
                len: o.args.get(1).map(|s| num(name, "length", s)).transpose()?,
            }
        }
        "reflink" => {
            let o = getopt(info, rest, "Cq")?;
            nargs(info, &o, &[1, 4])?;
            let range = if o.args.len() == 4 {
                Some((
                    num(name, "source offset", o.args[1])?,
                    num(name, "destination offset", o.args[2])?,
                    num(name, "length", o.args[3])?,
                ))
            } else {
                None
            };
            Cmd::Reflink {
                src: o.args[0].to_string(),
                range,
                quiet: o.has('q'),
                compact: o.has('C'),
            }
        }
        "dedupe" => {
            let o = getopt(info, rest, "Cq")?;
            nargs(info, &o, &[4])?;
            Cmd::Dedupe {
                src: o.args[0].to_string(),
                soff: num(name, "source offset", o.args[1])?,
                doff: num(name, "destination offset", o.args[2])?,
                len: num(name, "length", o.args[3])?,
                quiet: o.has('q'),
                compact: o.has('C'),
            }
        }
        "copy_range" => {
            let o = getopt(info, rest, "s:d:l:f:")?;
            let src = source(info, &o)?;
            Cmd::CopyRange {
                src,
                soff: o.last('s', |s| num(name, "source offset", s))?.unwrap_or(0),
                doff: o
                    .last('d', |s| num(name, "destination offset", s))?
                    .unwrap_or(0),
                len: o.last('l', |s| copy_len(name, s))?,
            }
        }
        "splice" => {
            let o = getopt(info, rest, "s:d:l:f:F:naCq")?;
            let src = source(info, &o)?;
            let mut flags = o
                .last('F', |s| match vfs::copy::Share::from_name(s) {
                    Some(share) => Ok(syscall::flags::share_flags(share)),
                    None => strtoul(s)
                        .ok()
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| {
                            format!(
                                "splice: bad -F '{s}': expected never, may, must or a flag value"
                            )
                        }),
                })?
                .unwrap_or(0);
            if o.has('n') {
                flags |= SPLICE_F_NONBLOCK;
            }
            Cmd::Splice {
                src,
                soff: o.last('s', |s| num(name, "source offset", s))?.unwrap_or(0),
                doff: o
                    .last('d', |s| num(name, "destination offset", s))?
                    .unwrap_or(0),
                len: o.last('l', |s| copy_len(name, s))?,
                flags,
                all: o.has('a'),
                quiet: o.has('q'),
                compact: o.has('C'),
            }
        }
        "signal" => parse_signal(info, rest)?,
        "mount" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[2])?;
            let spec = o.args[0].to_string();
            let fs = fs_models::spec::make(&spec).map_err(|e| format!("mount: {e}"))?;
            Cmd::Mount {
                spec,
                fs: MountFs(fs),
                dir: o.args[1].to_string(),
            }
        }
        "md5sum" | "shared" | "mkdir" | "rmdir" | "rm" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[1])?;
            let path = o.args[0].to_string();
            match name {
                "md5sum" => Cmd::Md5sum { path },
                "shared" => Cmd::Shared { path },
                "mkdir" => Cmd::Mkdir { path },
                "rmdir" => Cmd::Rmdir { path },
                _ => Cmd::Rm { path },
            }
        }
        "mv" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[2])?;
            Cmd::Mv {
                old: o.args[0].to_string(),
                new: o.args[1].to_string(),
            }
        }
        "chattr" => parse_chattr(info, rest)?,
        "crash" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[0, 1])?;
            let pick = match o.args.first() {
                Some(s) => Some(
                    s.parse::<usize>()
                        .map_err(|_| format!("crash: bad state number '{s}'"))?,
                ),
                None => None,
            };
            Cmd::Crash { pick }
        }
        "inject" => Cmd::Inject(parse_inject(info, rest)?),
        "echo" => {
            let text = line[first.len()..].trim_start().to_string();
            Cmd::Echo { text }
        }
        other => unreachable!("command table entry '{other}' has no parser"),
    };
    Ok((name, cmd))
}

/// `SRC` or `-f N` of `copy_range` and `splice`.
fn source(info: &CmdInfo, o: &Opts<'_>) -> Result<Source, String> {
    let index = o.last('f', |n| {
        n.parse::<i64>()
            .map_err(|_| format!("{}: bad file number '{n}'", info.name))
    })?;
    match index {
        Some(i) => {
            nargs(info, o, &[0])?;
            Ok(Source::Index(i))
        }
        None => {
            nargs(info, o, &[1])?;
            Ok(Source::Path(o.args[0].to_string()))
        }
    }
}

fn parse_signal(info: &CmdInfo, rest: &[&str]) -> Result<Cmd, String> {
    match rest {
        ["off"] | ["none"] => Ok(Cmd::Signal { after_chunks: None }),
        ["after", n, unit] if matches!(*unit, "chunk" | "chunks") => {
            let n = n
                .parse::<u64>()
                .map_err(|_| format!("signal: bad chunk count '{n}'"))?;
            Ok(Cmd::Signal {
                after_chunks: Some(n),
            })
        }
        _ => Err(format!("signal: usage: {}", info.usage())),
    }
}

fn parse_chattr(info: &CmdInfo, rest: &[&str]) -> Result<Cmd, String> {
    let [mode, path] = rest else {
        return Err(format!(
            "chattr: takes 2 arguments, got {} (usage: {})",
            rest.len(),
            info.usage()
        ));
    };
    let mut changes = Vec::new();
    let mut set = None;
    for c in mode.chars() {
        match c {
            '+' => set = Some(true),
            '-' => set = Some(false),
            'i' | 'a' | 'C' => {
                let s = set
                    .ok_or_else(|| format!("chattr: bad mode '{mode}': must start with + or -"))?;
                changes.push((c, s));
            }
            _ => {
                return Err(format!(
                    "chattr: bad mode '{mode}': unknown attribute '{c}' (known: i a C)"
                ));
            }
        }
    }
    if changes.is_empty() {
        return Err(format!("chattr: bad mode '{mode}': no attribute given"));
    }
    Ok(Cmd::Chattr {
        changes,
        path: path.to_string(),
    })
}

/// The longest `inject partition MS` (2^42 ms, about 139 years): its end must still fit
/// the 64-bit nanosecond virtual clock with room for the calls that wait for it.
pub const MAX_PARTITION_MS: u64 = 1 << 42;

fn parse_inject(info: &CmdInfo, rest: &[&str]) -> Result<Inject, String> {
    let usage = || format!("inject: usage: {}", info.usage());
    let num_arg =
        |what: &str, s: &str| cvtnum(s).map_err(|why| format!("inject: bad {what} '{s}': {why}"));
    let plain = |what: &str, s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("inject: bad {what} '{s}'"))
    };
    let path = |p: Option<&&str>| p.map(|s| s.to_string());
    match rest {
        ["media", p, off] => Ok(Inject::Media {
            path: p.to_string(),
            off: num_arg("offset", off)?,
        }),
        ["enospc", n, tail @ ..] if tail.len() <= 1 => Ok(Inject::Enospc {
            n: plain("allocation count", n)?,
            path: path(tail.first()),
        }),
        ["reboot", "after", bytes, tail @ ..] if tail.len() <= 1 => Ok(Inject::RebootAfter {
            bytes: num_arg("size", bytes)?,
            path: path(tail.first()),
        }),
        ["reboot", tail @ ..] if tail.len() <= 1 => Ok(Inject::Reboot {
            path: path(tail.first()),
        }),
        ["partition", ms, tail @ ..] if tail.len() <= 1 => {
            let n = plain("duration (ms)", ms)?;
            if n > MAX_PARTITION_MS {
                return Err(format!(
                    "inject: partition of {n} ms is too long (at most {MAX_PARTITION_MS} ms,                      about 139 years: virtual time is 64-bit nanoseconds)"
                ));
            }
            Ok(Inject::Partition {
                ms: n,
                path: path(tail.first()),
            })
        }
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvtnum_like_xfs_io() {
        assert_eq!(cvtnum("64k"), Ok(65536));
        assert_eq!(cvtnum("1t"), Ok(1 << 40));
        assert_eq!(cvtnum("0x10"), Ok(16));
        assert_eq!(cvtnum("0x10k"), Ok(16 << 10));
        assert_eq!(
            cvtnum("010"),
            Ok(8),
            "leading zero is octal, as strtoll(…, 0)"
        );
        assert_eq!(cvtnum("0"), Ok(0));
        assert_eq!(cvtnum("2b"), Ok(8192));
        assert_eq!(cvtnum("3s"), Ok(1536));
        assert_eq!(cvtnum("1G"), Ok(1 << 30));
        assert!(cvtnum("08").is_err());
        assert!(cvtnum("-1").is_err());
        assert!(cvtnum("").is_err());
        assert!(cvtnum("k").is_err());
        assert!(cvtnum("12kk").is_err());
        assert!(cvtnum("8e").is_err(), "2^63 does not fit loff_t");
        assert!(cvtnum("99999999999999999999999").is_err());
        assert_eq!(cvtnum("9223372036854775807"), Ok(i64::MAX as u64));
    }

    #[test]
    fn numbers_the_kernel_judges_wrap_as_in_c() {
        assert_eq!(
            cvtnum_unchecked("10e"),
            Ok(0xa000_0000_0000_0000_u64 as i64)
        );
        assert_eq!(cvtnum_unchecked("16e"), Ok(0));
        assert_eq!(cvtnum_unchecked("8e"), Ok(i64::MIN));
        assert_eq!(cvtnum_unchecked("99999999999999999999"), Ok(i64::MAX));
        assert_eq!(cvtnum_unchecked("-99999999999999999999"), Ok(i64::MIN));
        assert_eq!(cvtnum_unchecked("-2"), Ok(-2));
        assert_eq!(cvtnum_unchecked("0x10k"), Ok(16 << 10));
        assert_eq!(cvtnum_unchecked("010"), Ok(8));
        assert!(cvtnum_unchecked("zz").is_err());
        assert!(cvtnum_unchecked("1kk").is_err());
        assert_eq!(copy_len("copy_range", "10e"), Ok(0xa000_0000_0000_0000));
        assert_eq!(copy_len("copy_range", "-2"), Ok(u64::MAX - 1));
        assert!(
            copy_len("copy_range", "-1")
                .unwrap_err()
                .contains("invalid length -- -1")
        );
    }

    #[test]
    fn options_permute_and_cluster() {
        let (_, c) = parse_line("pwrite 0 4k -qS0x61").unwrap();
        match c {
            Cmd::Pwrite {
                seed, quiet, len, ..
            } => {
                assert_eq!((seed, quiet, len), (0x61, true, 4096));
            }
            _ => panic!(),
        }
        let (n, _) = parse_line("w -S 0x62 -b 4k 0 8k").unwrap();
        assert_eq!(n, "pwrite");
    }

    #[test]
    fn malformed_lines_name_the_problem() {
        for (l, want) in [
            ("bogus 1 2", "unknown command 'bogus'"),
            ("pwrite 0", "pwrite: takes 2 arguments, got 1"),
            ("pwrite -x 0 1", "invalid option -- 'x'"),
            ("pwrite -S 0 1", "takes 2 arguments, got 1"),
            ("pwrite 0 -1", "negative numbers are not allowed"),
            ("pwrite zz 1", "bad offset 'zz'"),
            ("pwrite -S zz 0 1", "non-numeric seed"),
            ("pwrite -b", "option requires an argument -- 'b'"),
            ("seek 0", "one of -a, -d or -h"),
            ("mount zfs-like /x", "unknown filesystem model 'zfs-like'"),
            ("splice -F sometimes a", "bad -F 'sometimes'"),
            ("signal after x chunks", "bad chunk count"),
            ("chattr i a", "must start with + or -"),
            ("inject media a", "inject: usage"),
            ("crash -1", "negative numbers"),
            ("pwritee 0 1", "did you mean 'pwrite'"),
        ] {
            let e = parse_line(l).err().unwrap_or_else(|| panic!("{l} parsed"));
            assert!(e.contains(want), "{l}: {e}");
        }
    }

    #[test]
    fn repeated_options_are_each_checked_and_the_last_wins() {
        assert!(parse_line("pwrite -b zz -b 4k 0 4k").is_err());
        assert!(parse_line("pwrite -b 4k -b zz 0 4k").is_err());
        match parse_line("pwrite -b 1m -b 4k 0 8k").unwrap().1 {
            Cmd::Pwrite { bs, .. } => assert_eq!(bs, 4096),
            _ => panic!(),
        }
        let e = parse_line("splice -F bogus -F must a").unwrap_err();
        assert!(e.contains("'bogus'"), "{e}");
        match parse_line("splice -F must -F may a").unwrap().1 {
            Cmd::Splice { flags, .. } => assert_eq!(flags, syscall::flags::splice::MAY_SHARE),
            _ => panic!(),
        }
        let e = parse_line("pwrite -: 0 4k").unwrap_err();
        assert!(e.contains("invalid option -- ':'"), "{e}");
    }

    #[test]
    fn argument_counts_in_words() {
        assert_eq!(arg_count_words(&[0]), "no arguments");
        assert_eq!(arg_count_words(&[1]), "1 argument");
        assert_eq!(arg_count_words(&[2]), "2 arguments");
        assert_eq!(arg_count_words(&[0, 1]), "at most 1 argument");
        assert_eq!(arg_count_words(&[0, 1, 2]), "at most 2 arguments");
        assert_eq!(arg_count_words(&[1, 4]), "1 or 4 arguments");
    }

    #[test]
    fn seeds_that_overflow_are_too_large() {
        assert_eq!(strtoul("0x61"), Ok(0x61));
        assert_eq!(strtoul("99999999999999999999999"), Err("too large"));
        assert_eq!(strtoul("zz"), Err("not a number"));
        let e = parse_line("pwrite -S 99999999999999999999999 0 1").unwrap_err();
        assert!(e.contains("seed too large"), "{e}");
    }

    #[test]
    fn input_is_decoded_with_line_numbers_and_control_characters_escaped() {
        assert_eq!(decode(b"\xef\xbb\xbfopen a\n").unwrap(), "open a\n");
        let e = decode(b"open a\nstat\npwrite \xff\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.message, "not UTF-8: byte 0xff at column 8");
        assert_eq!(
            escape_controls("a\x1b[0m\x07\tb\u{9b}"),
            "a\\x1b[0m\\x07\tb\\u{9b}"
        );
        let e = UsageError {
            line: 1,
            message: "unknown command '\x1b'".into(),
        };
        assert_eq!(e.to_string(), "script:1: unknown command '\\x1b'");
        let s = Script::parse("\u{feff}open -f a\n").unwrap();
        assert_eq!(s.lines[0].name, "open");
        let e = Script::parse("# fs: bogus\nopen -f a\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(
            e.message
                .starts_with("fs: unknown filesystem model 'bogus'")
        );
    }

    #[test]
    fn script_skips_comments_and_reads_the_fs_hint() {
        let s = Script::parse("# fs: plain\n\n  # comment\nopen -f a\n").unwrap();
        assert_eq!(s.fs_hint.as_deref(), Some("plain"));
        assert_eq!(s.lines.len(), 1);
        assert_eq!(s.lines[0].lineno, 4);
        let e = Script::parse("open -f a\nbogus 1 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("script:2: unknown command"));
    }
}
