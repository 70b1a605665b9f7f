//! The operations of generated sequences, their `splicelab script` form, and generators.
//!
//! Operands pick files by index into the live set (`file % live.len()`), so shrinking a
//! failing sequence keeps every remaining operation meaningful. Every operation renders as
//! lines of the `splicelab script` language (xfs_io's, plus `splice` and lab commands), so a
//! shrunk failure is a script that replays it.

use std::fmt;

use proptest::prelude::*;

/// The three semantics of the extended splice: the VFS's own [`vfs::copy::Share`], with its
/// words (`never`, `may`, `must`) for the script's `splice -F`.
pub type Flag = vfs::copy::Share;

/// The `splice(2)` flag bits that select `flag`.
pub fn flag_bits(flag: Flag) -> u32 {
    syscall::flags::share_flags(flag)
}

/// How many names files can have (`f0` … `f3`).
pub const NAMES: u8 = 4;

/// One operation of a generated sequence.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Create (or open) file `f{n}`.
    Create {
        n: u8,
    },
    Pwrite {
        file: u8,
        off: u64,
        len: u64,
        byte: u8,
    },
    Pread {
        file: u8,
        off: u64,
        len: u64,
    },
    Truncate {
        file: u8,
        size: u64,
    },
    Punch {
        file: u8,
        off: u64,
        len: u64,
    },
    Falloc {
        file: u8,
        off: u64,
        len: u64,
        keep: bool,
    },
    Fsync {
        file: u8,
    },
    /// Close every descriptor of a file that has no name any more (unlinked, or replaced by
    /// a rename): the last close evicts it (script: `close -u`).
    CloseUnlinked,
    /// Rename a live file to `f{to}` (replacing it if it exists).
    Rename {
        file: u8,
        to: u8,
    },
    Unlink {
        file: u8,
    },
    /// The extended splice from `src` into `dst` (`SPLICE_F_NONBLOCK` with `nonblock`).
    Splice {
        src: u8,
        dst: u8,
        soff: u64,
        doff: u64,
        len: u64,
        flag: Flag,
        nonblock: bool,
    },
    /// `copy_file_range(flags = 0)`.
    CopyRange {
        src: u8,
        dst: u8,
        soff: u64,
        doff: u64,
        len: u64,
    },
    /// `FICLONERANGE` (`len` 0 = to the source's EOF).
    Clone {
        src: u8,
        dst: u8,
        soff: u64,
        doff: u64,
        len: u64,
    },
    /// `FIDEDUPERANGE` with one destination.
    Dedupe {
        src: u8,
        dst: u8,
        soff: u64,
        doff: u64,
        len: u64,
    },
    /// Crash to permitted state `pick` (clamped), after checking every permitted state.
    Crash {
        pick: u8,
    },
    /// A media error on the block behind byte `off` of `file`.
    Media {
        file: u8,
        off: u64,
    },
    /// The `n`th allocation from now fails with `ENOSPC`.
    Enospc {
        n: u8,
    },
    /// A signal after `after` more chunks of byte copy.
    Signal {
        after: u8,
    },
    /// The server reboots (nfs-like; other models answer `EOPNOTSUPP`).
    Reboot,
    /// The server reboots once an asynchronous copy has done `bytes` bytes (nfs-like):
    /// a copy lost in flight, which its call must send again.
    RebootInCopy {
        bytes: u64,
    },
}

impl Op {
    /// The file operands: the one that names the file the operation works on (the
    /// destination of copies), and the source of copies.
    pub fn files_mut(&mut self) -> (Option<&mut u8>, Option<&mut u8>) {
        match self {
            Op::Pwrite { file, .. }
            | Op::Pread { file, .. }
            | Op::Truncate { file, .. }
            | Op::Punch { file, .. }
            | Op::Falloc { file, .. }
            | Op::Fsync { file }
            | Op::Rename { file, .. }
            | Op::Unlink { file }
            | Op::Media { file, .. } => (Some(file), None),
            Op::Splice { src, dst, .. }
            | Op::CopyRange { src, dst, .. }
            | Op::Clone { src, dst, .. }
            | Op::Dedupe { src, dst, .. } => (Some(dst), Some(src)),
            Op::Create { .. }
            | Op::Crash { .. }
            | Op::Enospc { .. }
            | Op::Signal { .. }
            | Op::CloseUnlinked => (None, None),
            Op::Reboot | Op::RebootInCopy { .. } => (None, None),
        }
    }

    /// The operand that names the file the operation works on (the destination of copies).
    pub fn target(&self) -> Option<u8> {
        self.clone().files_mut().0.copied()
    }

    /// The source operand of copies.
    pub fn source(&self) -> Option<u8> {
        self.clone().files_mut().1.copied()
    }

    /// Whether the operation needs a live file.
    pub fn needs_file(&self) -> bool {
        self.target().is_some()
    }

    /// A smaller variant for the shrinker: lengths and offsets halved (None when nothing
    /// can get smaller).
    pub fn halved(&self) -> Option<Op> {
        let h = |x: u64| x / 2;
        let mut op = self.clone();
        let changed = match &mut op {
            Op::Pwrite { off, len, .. }
            | Op::Pread { off, len, .. }
            | Op::Punch { off, len, .. }
            | Op::Falloc { off, len, .. } => {
                let c = *len > 1 || *off > 0;
                *len = h(*len).max(1);
                *off = h(*off);
                c
            }
            Op::Truncate { size, .. } => {
                let c = *size > 0;
                *size = h(*size);
                c
            }
            Op::Splice {
                soff, doff, len, ..
            }
            | Op::CopyRange {
                soff, doff, len, ..
            }
            | Op::Clone {
                soff, doff, len, ..
            }
            | Op::Dedupe {
                soff, doff, len, ..
            } => {
                let c = *len > 1 || *soff > 0 || *doff > 0;
                *len = h(*len).max(1);
                *soff = h(*soff);
                *doff = h(*doff);
                c
            }
            Op::Media { off, .. } => {
                let c = *off > 0;
                *off = h(*off);
                c
            }
            _ => false,
        };
        changed.then_some(op)
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // On a harness of several mounts, `n / NAMES` picks the mount.
            Op::Create { n } if *n >= NAMES => write!(f, "Create(m{}/f{})", n / NAMES, n % NAMES),
            Op::Create { n } => write!(f, "Create(f{n})"),
            Op::Pwrite {
                file,
                off,
                len,
                byte,
            } => {
                write!(f, "Pwrite(#{file} {off}+{len} {byte:#04x})")
            }
            Op::Pread { file, off, len } => write!(f, "Pread(#{file} {off}+{len})"),
            Op::Truncate { file, size } => write!(f, "Truncate(#{file} {size})"),
            Op::Punch { file, off, len } => write!(f, "Punch(#{file} {off}+{len})"),
            Op::Falloc {
                file,
                off,
                len,
                keep,
            } => {
                write!(f, "Falloc(#{file} {off}+{len} keep={keep})")
            }
            Op::Fsync { file } => write!(f, "Fsync(#{file})"),
            Op::Rename { file, to } => write!(f, "Rename(#{file} -> f{})", to % NAMES),
            Op::Unlink { file } => write!(f, "Unlink(#{file})"),
            Op::CloseUnlinked => write!(f, "CloseUnlinked"),
            Op::Splice {
                src,
                dst,
                soff,
                doff,
                len,
                flag,
                nonblock,
            } => {
                write!(
                    f,
                    "Splice(#{src}@{soff} -> #{dst}@{doff} len {len} {}{})",
                    flag.name(),
                    if *nonblock { " nonblock" } else { "" }
                )
            }
            Op::CopyRange {
                src,
                dst,
                soff,
                doff,
                len,
            } => {
                write!(f, "CopyRange(#{src}@{soff} -> #{dst}@{doff} len {len})")
            }
            Op::Clone {
                src,
                dst,
                soff,
                doff,
                len,
            } => {
                write!(f, "Clone(#{src}@{soff} -> #{dst}@{doff} len {len})")
            }
            Op::Dedupe {
                src,
                dst,
                soff,
                doff,
                len,
            } => {
                write!(f, "Dedupe(#{src}@{soff} -> #{dst}@{doff} len {len})")
            }
            Op::Crash { pick } => write!(f, "Crash({pick})"),
            Op::Media { file, off } => write!(f, "Media(#{file} {off})"),
            Op::Enospc { n } => write!(f, "Enospc({n})"),
            Op::Signal { after } => write!(f, "Signal(after {after})"),
            Op::Reboot => write!(f, "Reboot"),
            Op::RebootInCopy { bytes } => write!(f, "RebootInCopy(after {bytes} bytes)"),
        }
    }
}

/// Renders operations as `splicelab script` lines, tracking xfs_io's "current file" so
/// that `open NAME` appears only when the target changes.
#[derive(Clone, Debug, Default)]
pub struct ScriptWriter {
    pub lines: Vec<String>,
    cur: Option<String>,
}

impl ScriptWriter {
    /// An empty script.
    pub fn new() -> ScriptWriter {
        ScriptWriter::default()
    }

    /// Makes `name` the current file.
    fn open(&mut self, name: &str) {
        if self.cur.as_deref() != Some(name) {
            self.lines.push(format!("open {name}"));
            self.cur = Some(name.to_string());
        }
    }

    /// Appends one command on the current file `target` (if any).
    pub fn on(&mut self, target: Option<&str>, cmd: String) {
        if let Some(t) = target {
            self.open(t);
        }
        self.lines.push(cmd);
    }

    /// Appends `open -f NAME` (which also makes it current).
    pub fn create(&mut self, name: &str) {
        self.lines.push(format!("open -f {name}"));
        self.cur = Some(name.to_string());
    }

    /// The current file was unlinked or renamed, or everything was closed: the next
    /// command on a file must open it again.
    pub fn forget_current(&mut self) {
        self.cur = None;
    }

    /// Appends a comment line.
    pub fn comment(&mut self, text: &str) {
        self.lines.push(format!("# {text}"));
    }

    /// The whole script.
    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }
}

/// `-b LEN` when `len` is more than one of xfs_io's default 4096-byte buffers.
fn one_call(len: u64) -> String {
    if len > 4096 {
        format!(" -b {len}")
    } else {
        String::new()
    }
}

/// A copy length as `copy_range -l`/`splice -l` take it: xfs_io reads numbers with
/// `strtoll`, which saturates at 2^63 - 1, so a length above it is written as the negative
/// number with its bits (the system call's `size_t` gets them unchanged). `u64::MAX` (-1)
/// is xfs_io's "invalid length": the generators make none.
fn copy_len(len: u64) -> String {
    if len > i64::MAX as u64 {
        (len as i64).to_string()
    } else {
        len.to_string()
    }
}

/// The command line (without the `open`) of `op` whose operands resolved to `dst`/`src`.
pub fn command(op: &Op, src: Option<&str>, dst: Option<&str>) -> String {
    let s = src.unwrap_or("?");
    match op {
        Op::Create { n } => format!("open -f f{n}"),
        // One system call, as the op is: `-b` past xfs_io's 4096-byte default buffer.
        Op::Pwrite { off, len, byte, .. } => {
            format!("pwrite{} -S {byte:#04x} {off} {len}", one_call(*len))
        }
        Op::Pread { off, len, .. } => format!("pread{} {off} {len}", one_call(*len)),
        Op::Truncate { size, .. } => format!("truncate {size}"),
        Op::Punch { off, len, .. } => format!("fpunch {off} {len}"),
        Op::Falloc { off, len, keep, .. } => {
            format!("falloc {}{off} {len}", if *keep { "-k " } else { "" })
        }
        Op::Fsync { .. } => "fsync".into(),
        Op::Rename { to, .. } => {
            // Within the file's directory (its mount's, on a harness of several mounts).
            let from = dst.unwrap_or("?");
            let dir = from
                .rsplit_once('/')
                .map_or(String::new(), |(d, _)| format!("{d}/"));
            format!("mv {from} {dir}f{}", to % NAMES)
        }
        Op::Unlink { .. } => format!("rm {}", dst.unwrap_or("?")),
        Op::CloseUnlinked => "close -u".into(),
        Op::Splice {
            soff,
            doff,
            len,
            flag,
            nonblock,
            ..
        } => {
            format!(
                "splice {}-s {soff} -d {doff} -l {} -F {} {s}",
                if *nonblock { "-n " } else { "" },
                copy_len(*len),
                flag.name()
            )
        }
        Op::CopyRange {
            soff, doff, len, ..
        } => {
            format!("copy_range -s {soff} -d {doff} -l {} {s}", copy_len(*len))
        }
        Op::Clone {
            soff, doff, len, ..
        } => format!("reflink {s} {soff} {doff} {len}"),
        Op::Dedupe {
            soff, doff, len, ..
        } => format!("dedupe {s} {soff} {doff} {len}"),
        Op::Crash { pick } => format!("crash {pick}"),
        Op::Media { off, .. } => format!("inject media {} {off}", dst.unwrap_or("?")),
        Op::Enospc { n } => format!("inject enospc {n}"),
        Op::Signal { after } => format!("signal after {after} chunks"),
        Op::Reboot => "inject reboot".into(),
        Op::RebootInCopy { bytes } => format!("inject reboot after {bytes}"),
    }
}

// ---------------------------------------------------------------------- generators

/// The most operations one generated sequence holds (after the two creates): `check
/// --ops` refuses more, and the generators clamp to it, so that no caller can ask for a
/// sequence that does not fit in memory.
pub const MAX_OPS: usize = 10_000;

/// The current generator ([`GenConfig::generation`]).
pub const GENERATION: u8 = 4;

/// The shape of generated sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// The block (or cluster) that offsets are biased towards.
    pub block: u64,
    /// Files stay within this many blocks.
    pub blocks: u64,
    /// Most operations per sequence (after the initial creates).
    pub max_ops: usize,
    /// Which generator: [`GENERATION`] makes every kind of operation; 3 makes what it made
    /// before ranges near 2^63 and `s_maxbytes` ([`to_huge`]); 2 makes what the
    /// generator made before boundary ranges ([`to_boundary`]); 1 what it made before
    /// near-miss dedupes ([`near_miss`]) and closing unlinked files
    /// ([`Op::CloseUnlinked`]) — only to replay case seeds found then (the named regressions
    /// pin such seeds). Later kinds are drawn from bits already drawn, and boundaries from a
    /// second generator, so a seed's sequence changes only where a new kind replaces an old
    /// operation or a range moves to a boundary.
    pub generation: u8,
    /// Whether to generate faults (media errors, ENOSPC, signals, reboots) and crashes.
    pub faults: bool,
    /// The mounts' `s_maxbytes` (`FileSystem::max_file_size`) when they all have the same,
    /// else `LLONG_MAX`: generation 4 puts offsets at and just below it ([`to_huge`]).
    pub max_bytes: u64,
}

impl GenConfig {
    /// Small files of 12 blocks of `block` bytes, up to `max_ops` operations, with faults.
    pub fn new(block: u64, max_ops: usize) -> GenConfig {
        GenConfig {
            block,
            blocks: 12,
            max_ops,
            faults: true,
            generation: GENERATION,
            max_bytes: i64::MAX as u64,
        }
    }

    /// Largest offset.
    pub fn span(&self) -> u64 {
        self.block * self.blocks
    }
}

/// Offsets biased towards block boundaries and their neighbours, where bugs live.
pub fn offset(cfg: &GenConfig) -> BoxedStrategy<u64> {
    let (bs, n) = (cfg.block, cfg.blocks);
    prop_oneof![
        3 => (0..n).prop_map(move |b| b * bs),
        1 => (1..n, -2i64..=2).prop_map(move |(b, d)| ((b * bs) as i64 + d) as u64),
        2 => 0..n * bs,
    ]
    .boxed()
}

/// Lengths: small, whole blocks, or large.
pub fn length(cfg: &GenConfig) -> BoxedStrategy<u64> {
    let (bs, n) = (cfg.block, cfg.blocks);
    prop_oneof![
        1 => 1..64u64,
        3 => (1..5u64).prop_map(move |b| b * bs),
        2 => 1..n * bs / 2,
        1 => n * bs / 2..=n * bs,
    ]
    .boxed()
}

fn copy_args(cfg: &GenConfig) -> BoxedStrategy<(u8, u8, u64, u64, u64)> {
    (
        any::<u8>(),
        any::<u8>(),
        offset(cfg),
        offset(cfg),
        length(cfg),
    )
        .boxed()
}

/// One operation.
pub fn op(cfg: &GenConfig) -> BoxedStrategy<Op> {
    let off = || offset(cfg);
    let len = || length(cfg);
    let f = || any::<u8>();
    let fault_w = if cfg.faults { 1 } else { 0 };
    let cfg_block = cfg.block;
    prop_oneof![
        2 => (0..NAMES).prop_map(|n| Op::Create { n }),
        8 => (f(), off(), len(), any::<u8>())
            .prop_map(|(file, off, len, byte)| Op::Pwrite { file, off, len, byte }),
        1 => (f(), off(), len()).prop_map(|(file, off, len)| Op::Pread { file, off, len }),
        2 => (f(), off()).prop_map(|(file, size)| Op::Truncate { file, size }),
        2 => (f(), off(), len()).prop_map(|(file, off, len)| Op::Punch { file, off, len }),
        1 => (f(), off(), len(), any::<bool>())
            .prop_map(|(file, off, len, keep)| Op::Falloc { file, off, len, keep }),
        2 => f().prop_map(|file| Op::Fsync { file }),
        1 => (f(), 0..NAMES).prop_map(|(file, to)| Op::Rename { file, to }),
        1 => f().prop_map(|file| Op::Unlink { file }),
        1 => Just(Op::CloseUnlinked),
        9 => (copy_args(cfg), prop_oneof![Just(Flag::Never), Just(Flag::May), Just(Flag::Must)],
              prop_oneof![3 => Just(false), 1 => Just(true)])
            .prop_map(|((src, dst, soff, doff, len), flag, nonblock)| Op::Splice {
                src, dst, soff, doff, len, flag, nonblock,
            }),
        2 => copy_args(cfg).prop_map(|(src, dst, soff, doff, len)| Op::CopyRange { src, dst, soff, doff, len }),
        3 => (copy_args(cfg), prop_oneof![3 => Just(false), 1 => Just(true)])
            .prop_map(|((src, dst, soff, doff, len), to_eof)| Op::Clone {
                src, dst, soff, doff, len: if to_eof { 0 } else { len },
            }),
        2 => copy_args(cfg).prop_map(|(src, dst, soff, doff, len)| Op::Dedupe { src, dst, soff, doff, len }),
        fault_w => any::<u8>().prop_map(|pick| Op::Crash { pick }),
        fault_w => (f(), off()).prop_map(|(file, off)| Op::Media { file, off }),
        fault_w => (1..4u8).prop_map(|n| Op::Enospc { n }),
        fault_w => (0..3u8).prop_map(|after| Op::Signal { after }),
        fault_w => Just(Op::Reboot),
        fault_w => (1..=4u64).prop_map(move |b| Op::RebootInCopy { bytes: b * cfg_block }),
    ]
    .boxed()
}

/// A dedupe whose two ranges are equal but for one byte — the boundaries where a compare
/// that is one byte short, or starts one byte late, passes unnoticed: the source range is
/// copied over the destination (never-share splice), then `variant` picks the byte that
/// differs: 0 the first of the range, 1 the last (the range is whole blocks), 2 the last
/// byte of a partial EOF block (both files are first cut to end with the range, so the
/// kernel compares up to EOF), 3 none (the dedupe must say SAME). The offsets are rounded
/// down to `block`, as dedupe requires.
pub fn near_miss(
    (src, dst): (u8, u8),
    (soff, doff, len): (u64, u64, u64),
    variant: u8,
    byte: u8,
    block: u64,
) -> Vec<Op> {
    let (soff, doff) = (soff / block * block, doff / block * block);
    let whole = (len / block).max(1) * block;
    let len = if variant % 4 == 2 {
        whole - 1 - u64::from(byte) % (block - 1).max(1)
    } else {
        whole
    };
    let mut v = Vec::new();
    if variant % 4 == 2 {
        v.push(Op::Truncate {
            file: src,
            size: soff + len,
        });
        v.push(Op::Truncate {
            file: dst,
            size: doff + len,
        });
    }
    v.push(Op::Splice {
        src,
        dst,
        soff,
        doff,
        len,
        flag: Flag::Never,
        nonblock: false,
    });
    let at = match variant % 4 {
        0 => Some(doff),
        1 | 2 => Some(doff + len - 1),
        _ => None,
    };
    if let Some(off) = at {
        v.push(Op::Pwrite {
            file: dst,
            off,
            len: 1,
            byte,
        });
    }
    v.push(Op::Dedupe {
        src,
        dst,
        soff,
        doff,
        len,
    });
    v
}

/// Moves a quarter of the ranges to a boundary, where off-by-one bugs live — so that the
/// CI-size run reaches them, not only a deep one: a range that ends at the last byte of a
/// block, one byte before it or one byte after it (1–3 blocks after its start block); a
/// one-byte range at the first or the last byte of a block; and a truncate to the first
/// or the last byte of a block, which leaves a partial EOF block whose first or last byte
/// is the file's last (copies ending at EOF then end there); and a splice or
/// `copy_file_range` whose source offset is within a block below 2^63 - 1, with 1–3
/// blocks to copy, so that `off + len` passes what `loff_t` holds (Linux checks only that
/// the sum does not wrap around 2^64, then shortens the count to the source's EOF: 0
/// bytes). (Sums that wrap, destination offsets at `s_maxbytes` and lengths near 2^63
/// come in generation 4: [`to_huge`].)
/// The offsets the generator already biases towards block boundaries (`b * bs ± 2`) are
/// where the other ranges start.
pub fn to_boundary(mut op: Op, bs: u64, rng: &mut rand::rngs::StdRng) -> Op {
    use rand::Rng;
    if rng.random_range(0..4) != 0 {
        return op;
    }
    let shape = rng.random_range(0..5u8);
    let (d, k) = (rng.random_range(-1i64..=1), rng.random_range(1..=3u64));
    // The length from `off` to the end of the `k`th block after its own, moved by `d`.
    let to_block_end = |off: u64| -> u64 {
        let end = (off / bs + k) * bs;
        (end as i64 + d) as u64 - off
    };
    let near_2_63 = i64::MAX as u64 - rng.random_range(0..bs);
    match &mut op {
        Op::Splice { soff, len, .. } | Op::CopyRange { soff, len, .. } if shape == 4 => {
            (*soff, *len) = (near_2_63, k * bs);
        }
        Op::Truncate { size, .. } => {
            *size = *size / bs * bs + if shape % 2 == 0 { 1 } else { bs - 1 };
        }
        Op::Pwrite { off, len, .. }
        | Op::Pread { off, len, .. }
        | Op::Punch { off, len, .. }
        | Op::Falloc { off, len, .. }
        | Op::Splice { doff: off, len, .. }
        | Op::CopyRange { doff: off, len, .. }
        | Op::Clone { doff: off, len, .. }
        | Op::Dedupe { doff: off, len, .. } => match shape {
            0 | 1 => *len = to_block_end(*off).max(1),
            2 => (*off, *len) = (*off / bs * bs, 1),
            3 => (*off, *len) = (*off / bs * bs + bs - 1, 1),
            _ => {}
        },
        _ => {}
    }
    op
}

/// One in this many operations that [`to_huge`] can move is moved.
pub const HUGE_ONE_IN: u32 = 12;

/// Moves now and then a range to the top of the offset space (generation 4), where a
/// wrong bound or an overflowing `pos + len` hides — so that the CI-size run meets them:
/// - copies (splice, `copy_file_range`) to a destination offset at `LLONG_MAX` (`EFBIG`,
///   whatever the source holds) or at `s_maxbytes` (`EFBIG`); to just below it — `s_maxbytes - 1`,
///   `s_maxbytes - block`, the last block below 2^63 — from a source offset past every
///   EOF (0 bytes: `generic_write_check_limits` shortens, it does not refuse); from a
///   source offset at `s_maxbytes` or near 2^63 with a length whose sum passes 2^63
///   (0 bytes) or wraps past 2^64 (`EOVERFLOW`); and with a length that makes the
///   destination's sum pass 2^63 (a splice: shortened to the source's EOF) or wrap past
///   2^64 (`EOVERFLOW`);
/// - a `pwrite` at `s_maxbytes` or `LLONG_MAX` (`EFBIG`, or `EINVAL` from
///   `rw_verify_area` when `pos + len` passes `LLONG_MAX`);
/// - a `fallocate` or punch that starts a block or two below `s_maxbytes` or 2^63 and
///   ends past it (`EFBIG`).
///
/// Nothing it makes writes data near 2^63: the reference model holds whole files.
/// `max_bytes` is the smallest `s_maxbytes` of the mounts; the harness computes the
/// answer from the destination's own.
pub fn to_huge(mut op: Op, bs: u64, max_bytes: u64, rng: &mut rand::rngs::StdRng) -> Op {
    use rand::Rng;
    if rng.random_range(0..HUGE_ONE_IN) != 0 {
        return op;
    }
    let top = i64::MAX as u64;
    let max = max_bytes.min(top);
    let shape = rng.random_range(0..6u8);
    let r = rng.random_range(0..3u64);
    let k = rng.random_range(1..=3u64);
    // At the limit (refused) and just below it (allowed, nothing to copy).
    let at = [max, top, max.saturating_add(r).min(top)][rng.random_range(0..3)];
    let below = [max - 1, max - bs, top / bs * bs - bs, max - 1 - r][rng.random_range(0..4)];
    // A source offset past every EOF near the top, and lengths whose sum with an offset
    // passes 2^63 or wraps past 2^64.
    let src_top = [max, top - r, top / bs * bs, max - bs][rng.random_range(0..4)];
    // `copy_range` repeats `copy_file_range` until the length is done, as xfs_io does: a
    // copy within one file with a length near 2^63 would go on copying the tail it just
    // wrote, 65,536 times. Its lengths near 2^63 are the ones that wrap instead.
    let shape = if matches!(op, Op::CopyRange { .. }) && shape == 4 {
        5
    } else {
        shape
    };
    match &mut op {
        Op::Splice {
            soff, doff, len, ..
        }
        | Op::CopyRange {
            soff, doff, len, ..
        } => match shape {
            0 => *doff = top,
            1 => (*soff, *doff) = (src_top, at),
            2 => (*soff, *doff) = (src_top, below),
            3 => {
                *soff = src_top;
                *len = if r == 0 {
                    k * bs
                } else {
                    (u64::MAX - src_top) + k
                };
            }
            4 => *len = (top - *doff) + k,
            // Not u64::MAX: that is -1, xfs_io's "invalid length" ([`copy_len`]).
            _ => *len = u64::MAX - 1 - r,
        },
        Op::Pwrite { off, .. } => *off = at,
        Op::Falloc { off, len, .. } | Op::Punch { off, len, .. } => {
            // Ends past `s_maxbytes`, or past 2^63 from a block-aligned start.
            let base = if shape % 2 == 0 { max } else { top + 1 };
            *off = base - k * bs;
            *len = k * bs + [1, bs, bs + r][rng.random_range(0..3)];
        }
        _ => {}
    }
    op
}

/// A sequence: two creates, then up to `max_ops` operations (a near-miss dedupe counts as
/// one).
pub fn ops(cfg: &GenConfig) -> BoxedStrategy<Vec<Op>> {
    let max = cfg.max_ops.clamp(1, MAX_OPS);
    let block = cfg.block;
    let group = prop_oneof![
        24 => op(cfg).prop_map(|o| vec![o]),
        1 => (copy_args(cfg), 0..4u8, any::<u8>()).prop_map(
            move |((src, dst, soff, doff, len), variant, byte)| {
                near_miss((src, dst), (soff, doff, len), variant, byte, block)
            }
        ),
    ];
    proptest::collection::vec(group, 1..=max)
        .prop_map(|rest| {
            let mut v = vec![Op::Create { n: 0 }, Op::Create { n: 1 }];
            v.extend(rest.into_iter().flatten());
            v
        })
        .boxed()
}

/// Only the basic data operations (no copies, faults or namespace changes).
pub fn basic_op(cfg: &GenConfig) -> BoxedStrategy<Op> {
    let off = || offset(cfg);
    let len = || length(cfg);
    let f = || any::<u8>();
    prop_oneof![
        1 => (0..NAMES).prop_map(|n| Op::Create { n }),
        4 => (f(), off(), len(), any::<u8>())
            .prop_map(|(file, off, len, byte)| Op::Pwrite { file, off, len, byte }),
        1 => (f(), off(), len()).prop_map(|(file, off, len)| Op::Pread { file, off, len }),
        2 => (f(), off()).prop_map(|(file, size)| Op::Truncate { file, size }),
        2 => (f(), off(), len()).prop_map(|(file, off, len)| Op::Punch { file, off, len }),
        1 => (f(), off(), len(), any::<bool>())
            .prop_map(|(file, off, len, keep)| Op::Falloc { file, off, len, keep }),
        1 => f().prop_map(|file| Op::Fsync { file }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------- seeded generator

/// The same distributions as [`ops`], drawn from a seeded `StdRng` (what `splicelab check`
/// uses: several times faster than proptest's value trees, and replayable by seed).
pub fn random_ops(cfg: &GenConfig, seed: u64) -> Vec<Op> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (bs, n) = (cfg.block, cfg.blocks);
    let off = |rng: &mut rand::rngs::StdRng| -> u64 {
        match rng.random_range(0..6) {
            0..=2 => rng.random_range(0..n) * bs,
            3 => ((rng.random_range(1..n) * bs) as i64 + rng.random_range(-2i64..=2)) as u64,
            _ => rng.random_range(0..n * bs),
        }
    };
    let len = |rng: &mut rand::rngs::StdRng| -> u64 {
        match rng.random_range(0..7) {
            0 => rng.random_range(1..64),
            1..=3 => rng.random_range(1..5u64) * bs,
            4 | 5 => rng.random_range(1..n * bs / 2),
            _ => rng.random_range(n * bs / 2..=n * bs),
        }
    };
    let fault_w = if cfg.faults { 1 } else { 0 };
    // (weight, kind) as in `op`.
    let table: [(u32, u8); 18] = [
        (2, 0),
        (8, 1),
        (1, 2),
        (2, 3),
        (2, 4),
        (1, 5),
        (2, 6),
        (1, 7),
        (1, 8),
        (9, 9),
        (2, 10),
        (3, 11),
        (2, 12),
        (fault_w, 13),
        (fault_w, 14),
        (fault_w, 15),
        (fault_w, 16),
        (fault_w, 17),
    ];
    let total: u32 = table.iter().map(|t| t.0).sum();
    // Boundaries come from a generator of their own, so that the main one draws exactly
    // what it drew before them (generation 2 and earlier replay unchanged).
    let mut edges = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6564_6765_7321_b0de);
    // And ranges near 2^63 from a third (generation 3 replays unchanged).
    let mut huge = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6875_6765_2f32_5e63);
    let count = rng.random_range(1..=cfg.max_ops.clamp(1, MAX_OPS));
    let mut out = vec![Op::Create { n: 0 }, Op::Create { n: 1 }];
    for _ in 0..count {
        let mut pick = rng.random_range(0..total);
        let kind = table
            .iter()
            .find(|t| {
                if pick < t.0 {
                    true
                } else {
                    pick -= t.0;
                    false
                }
            })
            .map_or(1, |t| t.1);
        let f: u8 = rng.random();
        let g: u8 = rng.random();
        let op = match kind {
            0 => Op::Create {
                n: rng.random_range(0..NAMES),
            },
            1 => Op::Pwrite {
                file: f,
                off: off(&mut rng),
                len: len(&mut rng),
                byte: rng.random(),
            },
            2 => Op::Pread {
                file: f,
                off: off(&mut rng),
                len: len(&mut rng),
            },
            3 => Op::Truncate {
                file: f,
                size: off(&mut rng),
            },
            4 => Op::Punch {
                file: f,
                off: off(&mut rng),
                len: len(&mut rng),
            },
            5 => Op::Falloc {
                file: f,
                off: off(&mut rng),
                len: len(&mut rng),
                keep: rng.random(),
            },
            6 => Op::Fsync { file: f },
            7 => Op::Rename {
                file: f,
                to: rng.random_range(0..NAMES),
            },
            8 => Op::Unlink { file: f },
            9 => Op::Splice {
                src: f,
                dst: g,
                soff: off(&mut rng),
                doff: off(&mut rng),
                len: len(&mut rng),
                flag: Flag::ALL[rng.random_range(0..3)],
                // From bits the operand pick does not use (it takes `g % live`, live ≤ 4),
                // so that adding the flag left every earlier seed's sequence as it was:
                // the named regressions replay generated cases by seed.
                nonblock: g >> 6 == 3,
            },
            10 => Op::CopyRange {
                src: f,
                dst: g,
                soff: off(&mut rng),
                doff: off(&mut rng),
                len: len(&mut rng),
            },
            11 => {
                let (soff, doff, l) = (off(&mut rng), off(&mut rng), len(&mut rng));
                Op::Clone {
                    src: f,
                    dst: g,
                    soff,
                    doff,
                    len: if rng.random_range(0..4) == 0 { 0 } else { l },
                }
            }
            12 => Op::Dedupe {
                src: f,
                dst: g,
                soff: off(&mut rng),
                doff: off(&mut rng),
                len: len(&mut rng),
            },
            13 => Op::Crash { pick: rng.random() },
            14 => Op::Media {
                file: f,
                off: off(&mut rng),
            },
            15 => Op::Enospc {
                n: rng.random_range(1..4),
            },
            16 => Op::Signal {
                after: rng.random_range(0..3),
            },
            // Half the reboots are armed to fire inside a later asynchronous copy (chosen
            // from drawn bits, for the same reason as `nonblock`).
            _ if f & 0x80 != 0 => Op::RebootInCopy {
                bytes: (1 + u64::from(g % 4)) * bs,
            },
            _ => Op::Reboot,
        };
        let op = if cfg.generation >= 3 {
            to_boundary(op, bs, &mut edges)
        } else {
            op
        };
        let op = if cfg.generation >= 4 {
            to_huge(op, bs, cfg.max_bytes, &mut huge)
        } else {
            op
        };
        // Half the dedupes (from a bit the operand pick does not use) become a near miss.
        match op {
            Op::Dedupe {
                src,
                dst,
                soff,
                doff,
                len,
            } if cfg.generation >= 2 && src & 0x40 != 0 => out.extend(near_miss(
                (src, dst),
                (soff, doff, len),
                dst >> 6,
                (soff ^ len) as u8,
                bs,
            )),
            // Half the unlinks (from a bit the operand pick does not use) are followed by
            // closing every unlinked file, so that eviction at the last close runs.
            Op::Unlink { file } if cfg.generation >= 2 && file & 0x40 != 0 => {
                out.push(op);
                out.push(Op::CloseUnlinked);
            }
            op => out.push(op),
        }
    }
    out
}

/// [`random_ops`] placed on `mounts` mounts (a multi-mount harness, `harness::multi`): the
/// same operations, drawn from the same seed, with every `Create` put on a mount drawn from
/// a second generator (`Create { n }` with `n / NAMES` the mount). The sequence starts with
/// `f0` on every mount and `f1` on a random one, so copies between mounts come at once.
pub fn random_multi_ops(cfg: &GenConfig, mounts: usize, seed: u64) -> Vec<Op> {
    use rand::{Rng, SeedableRng};
    let mounts = mounts.clamp(1, usize::from(u8::MAX / NAMES)) as u8;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6d75_6c74_692d_6d6e);
    let ops = random_ops(cfg, seed);
    let mut out: Vec<Op> = (0..mounts).map(|m| Op::Create { n: m * NAMES }).collect();
    for op in ops.into_iter().skip(1) {
        out.push(match op {
            Op::Create { n } => Op::Create {
                n: n % NAMES + NAMES * rng.random_range(0..mounts),
            },
            op => op,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boundary ranges reach what they are for: ranges that end one byte before, at
    /// and one byte after a block's end; one-byte ranges at a block's first and last byte;
    /// files cut to a block's first and last byte.
    #[test]
    fn boundary_ranges_reach_every_edge() {
        use rand::SeedableRng;
        let bs = 4096;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (mut ends, mut singles, mut cuts) = ([false; 3], [false; 2], [false; 2]);
        for i in 0..2000u64 {
            let off = i * 777 % (12 * bs);
            let w = Op::Pwrite {
                file: 0,
                off,
                len: 5,
                byte: 1,
            };
            if let Op::Pwrite { off, len, .. } = to_boundary(w, bs, &mut rng) {
                match ((off + len) % bs, len) {
                    (_, 1) if off % bs == 0 => singles[0] = true,
                    (_, 1) if off % bs == bs - 1 => singles[1] = true,
                    (0, _) => ends[1] = true,
                    (1, _) => ends[2] = true,
                    (r, _) if r == bs - 1 => ends[0] = true,
                    _ => {}
                }
            }
            let t = to_boundary(Op::Truncate { file: 0, size: off }, bs, &mut rng);
            if let Op::Truncate { size, .. } = t {
                cuts[0] |= size % bs == 1;
                cuts[1] |= size % bs == bs - 1;
            }
        }
        assert_eq!((ends, singles, cuts), ([true; 3], [true; 2], [true; 2]));
        // Copies from just below 2^63, whose end is past 2^63 - 1.
        let mut past = false;
        for _ in 0..200 {
            let c = Op::CopyRange {
                src: 0,
                dst: 1,
                soff: 0,
                doff: 0,
                len: 1,
            };
            if let Op::CopyRange { soff, len, .. } = to_boundary(c, bs, &mut rng)
                && soff > i64::MAX as u64 - bs
            {
                past |= soff
                    .checked_add(len)
                    .is_some_and(|end| end > i64::MAX as u64);
            }
        }
        assert!(past);
    }

    /// Generation 4 reaches the top of the offset space: copies to `s_maxbytes` and to
    /// `LLONG_MAX`, to just below `s_maxbytes` from past every EOF, sums past 2^63 and
    /// past 2^64, writes at `s_maxbytes`, allocations ending past it — with each mount's
    /// limit (ocfs2-like: far below 2^63) — and generation 3 replays unchanged.
    #[test]
    fn huge_ranges_reach_the_top() {
        let top = i64::MAX as u64;
        for max in [top, (4096 << 32) - 4096] {
            let cfg = GenConfig {
                max_bytes: max,
                ..GenConfig::new(4096, 40)
            };
            let mut seen = [false; 7];
            for seed in 0..400 {
                for op in random_ops(&cfg, seed) {
                    match op {
                        Op::Splice {
                            soff, doff, len, ..
                        }
                        | Op::CopyRange {
                            soff, doff, len, ..
                        } => {
                            seen[0] |= doff == max;
                            seen[1] |= doff == top;
                            seen[2] |= doff < max && doff > max - 8192 && soff > max - 8192;
                            seen[3] |= wrapping(soff, len) || wrapping(doff, len);
                            seen[4] |= !wrapping(doff, len) && doff + len > top && doff < 1 << 20;
                        }
                        Op::Pwrite { off, .. } => seen[5] |= off == max,
                        Op::Falloc { off, len, .. } | Op::Punch { off, len, .. } => {
                            seen[6] |= off < max && off + len > max;
                        }
                        _ => {}
                    }
                }
            }
            assert_eq!(seen, [true; 7], "s_maxbytes {max}");
        }
        let old = GenConfig {
            generation: 3,
            ..GenConfig::new(4096, 40)
        };
        let mut moved = 0;
        for seed in 0..50 {
            let (a, b) = (
                random_ops(&old, seed),
                random_ops(&GenConfig::new(4096, 40), seed),
            );
            assert_eq!(a.len(), b.len());
            moved += a.iter().zip(&b).filter(|(x, y)| x != y).count();
        }
        assert!(moved > 0);
    }

    fn wrapping(off: u64, len: u64) -> bool {
        off.checked_add(len).is_none()
    }

    /// Generation 2 (before boundary ranges) replays as it was: the boundaries come from a
    /// second generator, so only moved ranges differ.
    #[test]
    fn boundaries_move_ranges_and_nothing_else() {
        let old = GenConfig {
            generation: 2,
            ..GenConfig::new(4096, 40)
        };
        let new = GenConfig::new(4096, 40);
        for seed in 0..50 {
            let (a, b) = (random_ops(&old, seed), random_ops(&new, seed));
            assert_eq!(a.len(), b.len(), "seed {seed}");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y));
                assert_eq!((x.target(), x.source()), (y.target(), y.source()));
            }
        }
    }
}
