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

use syscall::flags::splice::{
    MAY_SHARE as SPLICE_F_MAY_SHARE, MUST_SHARE as SPLICE_F_MUST_SHARE,
    NONBLOCK as SPLICE_F_NONBLOCK,
};
use vfs::FileSystem;
use vfs::sync::Arc;

use super::help::{self, CmdInfo};

/// The block size `cvtnum`'s `b` suffix multiplies by (xfs_io uses 4096 on non-XFS files).
pub const CVT_BLOCK: u64 = 4096;
/// The sector size `cvtnum`'s `s` suffix multiplies by.
pub const CVT_SECTOR: u64 = 512;

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
        write!(f, "script:{}: {}", self.line, self.message)
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
    /// Parses a whole script.
    ///
    /// # Errors
    /// The first malformed line, as a [`UsageError`].
    pub fn parse(text: &str) -> Result<Script, UsageError> {
        let mut script = Script::default();
        for (i, raw) in text.lines().enumerate() {
            let lineno = i + 1;
            let t = raw.trim();
            if i == 0 {
                script.fs_hint = fs_hint(t);
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

/// xfs_io's `cvtnum`: see the module documentation.
///
/// # Errors
/// A short description of what is wrong (`not a number`, `negative`, `too large`).
pub fn cvtnum(s: &str) -> Result<u64, &'static str> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("negative numbers are not allowed");
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let (radix, digits_start) = if t.starts_with("0x") || t.starts_with("0X") {
        (16, 2)
    } else if t.starts_with('0') && t.len() > 1 {
        (8, 1)
    } else {
        (10, 0)
    };
    let body = &t[digits_start..];
    let end = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    let (digits, suffix) = body.split_at(end);
    let n: u64 = if digits.is_empty() {
        if radix == 8 {
            0 // "0" followed by a non-octal character: strtoll read the 0
        } else {
            return Err("not a number");
        }
    } else {
        u64::from_str_radix(digits, radix).map_err(|_| "too large")?
    };
    let mult: u64 = match suffix {
        "" => 1,
        s if s.len() == 1 => match s.as_bytes()[0].to_ascii_lowercase() {
            b'b' => CVT_BLOCK,
            b's' => CVT_SECTOR,
            b'k' => 1 << 10,
            b'm' => 1 << 20,
            b'g' => 1 << 30,
            b't' => 1 << 40,
            b'p' => 1 << 50,
            b'e' => 1 << 60,
            _ => return Err("not a number"),
        },
        _ => return Err("not a number"),
    };
    let v = n.checked_mul(mult).ok_or("too large")?;
    if v > i64::MAX as u64 {
        return Err("too large");
    }
    Ok(v)
}

/// `strtoul(s, &end, 0)` that must consume the whole word (seeds, counts).
fn strtoul(s: &str) -> Option<u64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// Parses `what` (for messages) with [`cvtnum`].
fn num(cmd: &str, what: &str, s: &str) -> Result<u64, String> {
    cvtnum(s).map_err(|why| format!("{cmd}: bad {what} '{s}': {why}"))
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

    /// The argument of the last `-c`.
    fn val(&self, c: char) -> Option<&'a str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == c)
            .and_then(|(_, v)| *v)
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
            let Some(pos) = spec.find(c) else {
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
    let want = match allowed {
        [n] => format!("{n}"),
        [a, b] => format!("{a} or {b}"),
        _ => format!("{allowed:?}"),
    };
    Err(format!(
        "{}: expected {want} argument{}, got {} (usage: {})",
        info.name,
        if allowed == [1] { "" } else { "s" },
        o.args.len(),
        info.usage()
    ))
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
        "close" | "fsync" | "fdatasync" | "sync" | "stat" | "fsck" | "quit" => {
            let o = getopt(info, rest, "")?;
            nargs(info, &o, &[0])?;
            match name {
                "close" => Cmd::Close,
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
            let bs = match o.val('b') {
                Some(b) => num(name, "buffer size", b)?,
                None => super::DEFAULT_IO_BUFFER,
            };
            let seed = match o.val('S') {
                Some(s) => {
                    strtoul(s).ok_or_else(|| format!("pwrite: non-numeric seed -- {s}"))? as u8
                }
                None => 0xcd,
            };
            let len = num(name, "length", o.args[1])?;
            if bs > 0 && len.div_ceil(bs) > super::MAX_CALLS {
                return Err(format!(
                    "pwrite: {len} bytes in {bs}-byte calls would take {} calls (at most {}); use a larger -b",
                    len.div_ceil(bs),
                    super::MAX_CALLS
                ));
            }
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
            let bs = match o.val('b') {
                Some(b) => num(name, "buffer size", b)?,
                None => super::DEFAULT_IO_BUFFER,
            };
            Cmd::Pread {
                off: num(name, "offset", o.args[0])?,
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
            let max = match o.val('n') {
                Some(s) => Some(
                    s.parse::<i64>()
                        .map_err(|_| format!("fiemap: bad extent count '{s}'"))?,
                ),
                None => None,
            };
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
                soff: o
                    .val('s')
                    .map(|s| num(name, "source offset", s))
                    .transpose()?
                    .unwrap_or(0),
                doff: o
                    .val('d')
                    .map(|s| num(name, "destination offset", s))
                    .transpose()?
                    .unwrap_or(0),
                len: o.val('l').map(|s| num(name, "length", s)).transpose()?,
            }
        }
        "splice" => {
            let o = getopt(info, rest, "s:d:l:f:F:naCq")?;
            let src = source(info, &o)?;
            let mut flags = match o.val('F') {
                None => 0,
                Some("never") => 0,
                Some("may") => SPLICE_F_MAY_SHARE,
                Some("must") => SPLICE_F_MUST_SHARE,
                Some(s) => strtoul(s)
                    .filter(|&v| v <= u64::from(u32::MAX))
                    .ok_or_else(|| {
                        format!("splice: bad -F '{s}': expected never, may, must or a flag value")
                    })? as u32,
            };
            if o.has('n') {
                flags |= SPLICE_F_NONBLOCK;
            }
            Cmd::Splice {
                src,
                soff: o
                    .val('s')
                    .map(|s| num(name, "source offset", s))
                    .transpose()?
                    .unwrap_or(0),
                doff: o
                    .val('d')
                    .map(|s| num(name, "destination offset", s))
                    .transpose()?
                    .unwrap_or(0),
                len: o.val('l').map(|s| num(name, "length", s)).transpose()?,
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
    match o.val('f') {
        Some(n) => {
            nargs(info, o, &[0])?;
            let i = n
                .parse::<i64>()
                .map_err(|_| format!("{}: bad file number '{n}'", info.name))?;
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
            "chattr: expected 2 arguments, got {} (usage: {})",
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
        ["partition", ms, tail @ ..] if tail.len() <= 1 => Ok(Inject::Partition {
            ms: plain("duration (ms)", ms)?,
            path: path(tail.first()),
        }),
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
            ("pwrite 0", "expected 2 arguments, got 1"),
            ("pwrite -x 0 1", "invalid option -- 'x'"),
            ("pwrite -S 0 1", "expected 2 arguments, got 1"),
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
