//! The script language's grammar as data (from `splicelab script --help`'s synopses and
//! the parser's option strings), with generators of valid lines and of values at every
//! number boundary, in every number form the language accepts.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// What an operand or option argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// An offset where data may land (cvtnum).
    Off,
    /// A length of real data written or read (cvtnum).
    Len,
    /// A length of a copy, clone or dedupe (cvtnum).
    CopyLen,
    /// An offset only looked at (pread, seek, fiemap): cvtnum.
    Probe,
    /// A file size (truncate): cvtnum.
    Size,
    /// An I/O buffer size (`-b`): cvtnum.
    Bs,
    /// `pwrite -S`: strtoul, any u64.
    Seed,
    /// `file N`, `fiemap -n N`, `-f N`: a Rust `i64`.
    I64,
    /// `crash N`: a Rust `usize`.
    Usize,
    /// A path.
    Path,
    /// `splice -F`.
    ShareFlags,
}

/// One command's grammar: the options it takes (with the argument's kind) and the operand
/// lists it accepts.
pub struct Grammar {
    pub name: &'static str,
    pub opts: &'static [(char, Option<Slot>)],
    pub operands: &'static [&'static [Slot]],
    /// Not parsed with getopt (a fixed word pattern).
    pub special: bool,
}

use Slot::*;

const NONE: &[&[Slot]] = &[&[]];

/// Every command of the language. `grammar_covers_every_command` checks this against
/// `help::COMMANDS`, so a new command cannot be left out of the fuzz suite.
pub const GRAMMAR: &[Grammar] = &[
    g(
        "open",
        &[
            ('a', None),
            ('c', None),
            ('f', None),
            ('r', None),
            ('t', None),
        ],
        &[&[], &[Path]],
    ),
    g("file", &[], &[&[], &[I64]]),
    g("close", &[('u', None)], NONE),
    g(
        "pwrite",
        &[
            ('b', Some(Bs)),
            ('S', Some(Seed)),
            ('q', None),
            ('C', None),
            ('w', None),
            ('W', None),
        ],
        &[&[Off, Len]],
    ),
    g(
        "pread",
        &[('b', Some(Bs)), ('q', None), ('v', None), ('C', None)],
        &[&[Probe, Len]],
    ),
    g("truncate", &[], &[&[Size]]),
    g(
        "falloc",
        &[
            ('c', None),
            ('i', None),
            ('k', None),
            ('p', None),
            ('u', None),
        ],
        &[&[Off, CopyLen]],
    ),
    g("fpunch", &[], &[&[Off, CopyLen]]),
    g("fzero", &[('k', None)], &[&[Off, CopyLen]]),
    g("fcollapse", &[], &[&[Off, CopyLen]]),
    g("finsert", &[], &[&[Off, CopyLen]]),
    g("funshare", &[], &[&[Off, CopyLen]]),
    g(
        "seek",
        &[
            ('a', None),
            ('d', None),
            ('h', None),
            ('r', None),
            ('s', None),
        ],
        &[&[Probe]],
    ),
    g("fsync", &[], NONE),
    g("fdatasync", &[], NONE),
    g("sync", &[], NONE),
    g("stat", &[], NONE),
    g(
        "fiemap",
        &[('l', None), ('v', None), ('n', Some(I64))],
        &[&[], &[Probe], &[Probe, Probe]],
    ),
    g(
        "reflink",
        &[('C', None), ('q', None)],
        &[&[Path], &[Path, Off, Off, CopyLen]],
    ),
    g(
        "dedupe",
        &[('C', None), ('q', None)],
        &[&[Path, Off, Off, CopyLen]],
    ),
    g(
        "copy_range",
        &[
            ('s', Some(Off)),
            ('d', Some(Off)),
            ('l', Some(CopyLen)),
            ('f', Some(I64)),
        ],
        &[&[Path]],
    ),
    g(
        "splice",
        &[
            ('s', Some(Off)),
            ('d', Some(Off)),
            ('l', Some(CopyLen)),
            ('f', Some(I64)),
            ('F', Some(ShareFlags)),
            ('n', None),
            ('a', None),
            ('C', None),
            ('q', None),
        ],
        &[&[Path]],
    ),
    special("signal"),
    g("mount", &[], &[&[Path, Path]]),
    g("md5sum", &[], &[&[Path]]),
    g("shared", &[], &[&[Path]]),
    g("mkdir", &[], &[&[Path]]),
    g("rmdir", &[], &[&[Path]]),
    g("rm", &[], &[&[Path]]),
    g("mv", &[], &[&[Path, Path]]),
    special("chattr"),
    g("crash", &[], &[&[], &[Usize]]),
    special("inject"),
    g("fsck", &[], NONE),
    special("echo"),
    g("quit", &[], NONE),
];

const fn g(
    name: &'static str,
    opts: &'static [(char, Option<Slot>)],
    operands: &'static [&'static [Slot]],
) -> Grammar {
    Grammar {
        name,
        opts,
        operands,
        special: false,
    }
}

const fn special(name: &'static str) -> Grammar {
    Grammar {
        name,
        opts: &[],
        operands: NONE,
        special: true,
    }
}

/// The grammar of `name`.
pub fn grammar(name: &str) -> &'static Grammar {
    GRAMMAR
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no grammar for {name}"))
}

// ------------------------------------------------------------------ numbers

pub const MIB: u64 = 1 << 20;

/// Sizes of the always-on budget: at and around every block, chunk and page boundary, up
/// to 16 MiB of real data.
pub const SMALL: &[u64] = &[
    0,
    1,
    2,
    511,
    512,
    513,
    4095,
    4096,
    4097,
    8191,
    8192,
    12288,
    16384,
    65535,
    65536,
    65537,
    131072,
    MIB - 1,
    MIB,
    MIB + 1,
    4 * MIB,
    16 * MIB - 1,
    16 * MIB,
];

/// Offsets at every integer boundary a number may reach (the language caps numbers at
/// 2^63-1, as `loff_t`).
pub const HUGE: &[u64] = &[
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    (1 << 32) + 1,
    1 << 40,
    (1 << 40) + 4096,
    1 << 50,
    1 << 62,
    (1 << 62) + 4096,
    (1 << 63) - 8192,
    (1 << 63) - 4097,
    (1 << 63) - 4096,
    (1 << 63) - 2,
    (1 << 63) - 1,
];

/// A value from `set`, or a random one below its largest element (block-aligned half the
/// time).
pub fn pick(rng: &mut StdRng, set: &[u64], cap: u64) -> u64 {
    if rng.random_bool(0.8) {
        let v = *set.choose(rng).unwrap();
        return v.min(cap);
    }
    let v = rng.random_range(0..=cap.min(16 * MIB));
    if rng.random_bool(0.5) { v & !4095 } else { v }
}

/// `v` written in one of the forms `cvtnum` reads: decimal, `0x`/`0X` hex, leading-zero
/// octal, a `+` sign, or the largest suffix (`k m g t p e`, `s`, `b`, either case) that
/// divides it.
pub fn fmt_num(rng: &mut StdRng, v: u64) -> String {
    let suffixes: &[(u64, char)] = &[
        (1 << 60, 'e'),
        (1 << 50, 'p'),
        (1 << 40, 't'),
        (1 << 30, 'g'),
        (1 << 20, 'm'),
        (4096, 'b'),
        (1 << 10, 'k'),
        (512, 's'),
    ];
    match rng.random_range(0..6) {
        1 => format!("0x{v:x}"),
        2 => format!("0X{v:X}"),
        3 if v > 0 => format!("0{v:o}"),
        4 => format!("+{v}"),
        5 if v > 0 => {
            let fits: Vec<_> = suffixes
                .iter()
                .filter(|(m, _)| v.is_multiple_of(*m))
                .collect();
            match fits.choose(rng) {
                Some((m, c)) => {
                    let c = if rng.random_bool(0.3) {
                        c.to_ascii_uppercase()
                    } else {
                        *c
                    };
                    format!("{}{c}", v / m)
                }
                None => v.to_string(),
            }
        }
        _ => v.to_string(),
    }
}

// ------------------------------------------------------------------ valid lines

/// What a generated script may do: its size regime, names and limits.
#[derive(Clone, Debug)]
pub struct World {
    /// Offsets (and sizes) may take the huge boundary values.
    pub huge: bool,
    /// Deep run: lengths may be huge too, and the known problems are reachable.
    pub deep: bool,
    /// Deep run with `SPLICELAB_FUZZ_KNOWN=1`: also the shapes that reach the known open
    /// problems (md5sum and `pread -v` of huge files, FICLONE and copies to EOF of huge
    /// files), which the other runs avoid.
    pub known: bool,
    /// Longest copy (`min(16 MiB, chunk × 256)` so a tiny chunk size stays cheap).
    pub max_copy: u64,
    /// File names in play.
    pub names: Vec<String>,
    /// Directories to mount on.
    pub dirs: Vec<String>,
    /// Mount specs the script may mount.
    pub specs: Vec<String>,
}

impl World {
    /// A value for `slot`.
    pub fn value(&self, rng: &mut StdRng, slot: Slot) -> String {
        let small_or_huge = |rng: &mut StdRng, cap: u64| {
            if self.huge && rng.random_bool(0.4) {
                *HUGE.choose(rng).unwrap()
            } else {
                pick(rng, SMALL, cap)
            }
        };
        match slot {
            Off | Probe | Size => {
                let v = small_or_huge(rng, 16 * MIB);
                fmt_num(rng, v)
            }
            Len => {
                // Real data: at most 16 MiB (4 GiB in a deep run).
                let v = if self.deep && rng.random_bool(0.2) {
                    rng.random_range(0..=4u64 << 30)
                } else {
                    pick(rng, SMALL, 16 * MIB)
                };
                fmt_num(rng, v)
            }
            CopyLen => {
                let v = if self.deep && rng.random_bool(0.4) {
                    *HUGE.choose(rng).unwrap()
                } else {
                    pick(rng, SMALL, self.max_copy)
                };
                fmt_num(rng, v)
            }
            Bs => {
                let v = *[0, 1, 512, 4096, 65536, MIB, 1 << 30, 7 << 60]
                    .choose(rng)
                    .unwrap();
                fmt_num(rng, v)
            }
            Seed => [
                "0",
                "0x61",
                "0xff",
                "0x100",
                "255",
                "18446744073709551615",
                "0777",
            ]
            .choose(rng)
            .unwrap()
            .to_string(),
            I64 => [
                "0",
                "1",
                "2",
                "3",
                "-1",
                "99",
                "2147483648",
                "9223372036854775807",
                "-9223372036854775808",
            ]
            .choose(rng)
            .unwrap()
            .to_string(),
            Usize => ["0", "1", "2", "5", "18446744073709551615"]
                .choose(rng)
                .unwrap()
                .to_string(),
            Path => self.path(rng),
            ShareFlags => {
                if rng.random_bool(0.6) {
                    ["never", "may", "must"].choose(rng).unwrap().to_string()
                } else {
                    let v: u32 = match rng.random_range(0..4) {
                        0 => 1 << rng.random_range(0..32),
                        1 => 0x30,
                        2 => u32::MAX,
                        _ => rng.random_range(0..0x40),
                    };
                    // strtoul's forms: no sign-less suffixes.
                    match rng.random_range(0..3) {
                        0 => format!("0x{v:x}"),
                        1 if v > 0 => format!("0{v:o}"),
                        _ => v.to_string(),
                    }
                }
            }
        }
    }

    /// A path: mostly a name in play, sometimes a hostile one.
    pub fn path(&self, rng: &mut StdRng) -> String {
        if rng.random_bool(0.85) {
            return self.names.choose(rng).unwrap().clone();
        }
        let long = "n".repeat(300);
        let hostile = [
            "/",
            ".",
            "..",
            "a/",
            "a/.",
            "a/..",
            "//a",
            "/a/b/c/d",
            "nonexistent",
            "\u{1}x",
            "a\0b",
            "\u{feff}a",
            "é",
            long.as_str(),
        ];
        hostile.choose(rng).unwrap().to_string()
    }

    /// One valid line (it must parse).
    pub fn line(&self, rng: &mut StdRng) -> String {
        loop {
            let gr = GRAMMAR.choose(rng).unwrap();
            if let Some(l) = self.line_of(rng, gr) {
                return l;
            }
        }
    }

    /// A valid line of `gr`, or `None` when this world does not allow it.
    pub fn line_of(&self, rng: &mut StdRng, gr: &Grammar) -> Option<String> {
        let mut words: Vec<String> = vec![gr.name.to_string()];
        match gr.name {
            "signal" => {
                return Some(match rng.random_range(0..4) {
                    0 => "signal off".into(),
                    1 => "signal none".into(),
                    _ => format!(
                        "signal after {} {}",
                        ["0", "1", "2", "7", "18446744073709551615"]
                            .choose(rng)
                            .unwrap(),
                        ["chunk", "chunks"].choose(rng).unwrap()
                    ),
                });
            }
            "chattr" => {
                let mode = ["+i", "-i", "+a", "-a", "+C", "-C", "+iaC", "-iaC", "+i-a"]
                    .choose(rng)
                    .unwrap();
                return Some(format!("chattr {mode} {}", self.path(rng)));
            }
            "echo" => {
                return Some(format!(
                    "echo {}",
                    ["", "hello", "\u{1b}[31mred", "a\tb", "-n x", "%s%n"]
                        .choose(rng)
                        .unwrap()
                ));
            }
            "inject" => return Some(self.inject(rng)),
            "md5sum" if self.huge && !self.known => return None,
            "quit" if rng.random_bool(0.9) => return None,
            "crash" | "mount" if rng.random_bool(0.5) => return None,
            "mount" => {
                return Some(format!(
                    "mount {} {}",
                    self.specs.choose(rng).unwrap(),
                    self.dirs.choose(rng).unwrap()
                ));
            }
            _ => {}
        }
        let operands = *gr.operands.choose(rng).unwrap();
        // FICLONE of a huge file is a known problem (stats overflow): ranges only, unless deep.
        if gr.name == "reflink" && operands.len() == 1 && self.huge && !self.known {
            return None;
        }
        // Each option with its argument is one unit (one or two words).
        let mut opts: Vec<Vec<String>> = Vec::new();
        let mut has_len = false;
        let mut has_f = false;
        let mut verbose = false;
        let mut bs = None;
        for &(c, arg) in gr.opts {
            if !rng.random_bool(0.3) {
                continue;
            }
            match arg {
                None => {
                    verbose |= c == 'v';
                    opts.push(vec![format!("-{c}")]);
                }
                Some(slot) => {
                    let v = self.value(rng, slot);
                    has_len |= c == 'l';
                    has_f |= c == 'f';
                    if c == 'b' {
                        bs = fs_models::spec::cvtnum(&v).ok();
                    }
                    if rng.random_bool(0.3) {
                        opts.push(vec![format!("-{c}{v}")]);
                    } else {
                        opts.push(vec![format!("-{c}"), v]);
                    }
                }
            }
        }
        match gr.name {
            "seek"
                if !opts
                    .iter()
                    .any(|o| o[0] == "-a" || o[0] == "-d" || o[0] == "-h") =>
            {
                opts.push(vec![["-a", "-d", "-h"].choose(rng).unwrap().to_string()]);
            }
            // Copies to EOF only where sizes stay small.
            "copy_range" | "splice"
                if !has_len && ((self.huge && !self.known) || self.max_copy < 16 * MIB) =>
            {
                opts.push(vec!["-l".into(), self.value(rng, CopyLen)]);
            }
            _ => {}
        }
        let mut args: Vec<String> = operands
            .iter()
            .map(|&s| match s {
                // A positional number may not look like an option.
                I64 => [
                    "0",
                    "1",
                    "2",
                    "3",
                    "99",
                    "2147483648",
                    "9223372036854775807",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
                s => self.value(rng, s),
            })
            .collect();
        if has_f && matches!(gr.name, "copy_range" | "splice") {
            args.clear();
        }
        if gr.name == "pwrite" || gr.name == "pread" {
            let len = fs_models::spec::cvtnum(&args[1]).unwrap();
            let bs = bs.unwrap_or(1 << 30);
            // At most 256 calls per command in the always-on budget.
            if bs > 0 && len.div_ceil(bs) > if self.deep { 1 << 16 } else { 256 } {
                return None;
            }
            if verbose && len > 4096 && !self.known {
                return None;
            }
        }
        // Options before, between or after the operands (getopt permutes).
        let mut units: Vec<Vec<String>> = args.into_iter().map(|a| vec![a]).collect();
        for o in opts {
            let at = rng.random_range(0..=units.len());
            units.insert(at, o);
        }
        words.extend(units.into_iter().flatten());
        let sep = if rng.random_bool(0.1) { "\t " } else { " " };
        Some(words.join(sep))
    }

    fn inject(&self, rng: &mut StdRng) -> String {
        let p = if rng.random_bool(0.5) {
            format!(" {}", self.path(rng))
        } else {
            String::new()
        };
        let ms: &[&str] = if self.deep {
            &["0", "1", "1000", "60000", "4398046511104"]
        } else {
            &["0", "1", "10", "1000", "60000"]
        };
        match rng.random_range(0..5) {
            0 => format!("inject media {} {}", self.path(rng), self.value(rng, Off)),
            1 => format!(
                "inject enospc {}{p}",
                ["0", "1", "2", "3", "10", "18446744073709551615"]
                    .choose(rng)
                    .unwrap()
            ),
            2 => format!("inject reboot{p}"),
            3 => format!("inject reboot after {}{p}", self.value(rng, Len)),
            _ => format!("inject partition {}{p}", ms.choose(rng).unwrap()),
        }
    }
}
