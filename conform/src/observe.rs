//! What is compared, and how it is normalised.
//!
//! After every step the runner records the step's [`Outcome`] and, after steps that can
//! change a file, a [`Snapshot`] of every file the scenario names. Both sides are observed
//! through the same [`Syscalls`] interface with the same algorithm, so the comparison is
//! of what a program can see, never of internals. The normalisations (each one documented
//! in `docs/conformance.md` too):
//!
//! - **N1 Descriptors** are never compared by number: an `open` that succeeds is "ok".
//! - **N2 Data** is compared as length + 64-bit FNV-1a hash of the bytes.
//! - **N3 Extents** are compared per 4 KiB block inside EOF, as one of four classes:
//!   `H` hole (no extent), `U` unwritten (an `UNWRITTEN` extent, shared or not:
//!   preallocated space, which XFS does not remap and btrfs shares), `D` data (any other
//!   extent: written, `DELALLOC`, inline), `S` shared (an extent with
//!   `FIEMAP_EXTENT_SHARED` that is not unwritten). A block covered by several extents
//!   takes the strongest class (S > D > U > H). Physical addresses,
//!   extent counts and boundaries, `LAST`, `MERGED`, `ENCODED` and `NOT_ALIGNED` are never
//!   compared. Blocks at or past EOF are ignored: XFS reports speculative post-EOF
//!   preallocation (and `FALLOC_FL_KEEP_SIZE` space) there.
//! - **N4 FIEMAP in the snapshot** is asked with `FIEMAP_FLAG_SYNC`: the simulator has no
//!   page cache, so the comparison is of the state after write-back (without it, real XFS
//!   and btrfs show freshly written data as `DELALLOC`, or as `UNWRITTEN` over
//!   preallocated space, until the flusher runs).
//! - **N5 Content** is read without touching unwritten extents: `SEEK_DATA`/`SEEK_HOLE`
//!   find the data segments, only those are `pread`, holes count as zeros. Reading an
//!   unwritten range on real XFS would put zeroed pages in the page cache, which XFS's
//!   `SEEK_DATA` then reports as data — the observer would change the observed.
//! - **N6 Sizes** (`st_size`) and file kinds are compared; `st_blocks`, inode numbers,
//!   link counts of directories and times are not.
//! - **N7 Positions**: the file position of every open slot (`lseek(fd, 0, SEEK_CUR)`) is
//!   part of the snapshot.

use std::fmt;

use syscall::api::{StatBuf, Syscalls, fiemap_req, o, seek};
use vfs::Data;
use vfs::errno::Errno;
use vfs::extent::{FiemapExtent, fiemap_flags};

/// The block size the extent classes are computed in (every test filesystem uses 4 KiB).
pub const CLASS_BLOCK: u64 = 4096;

/// 64-bit FNV-1a.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Feeds `n` zero bytes in O(log n): a zero byte leaves the xor unchanged, so `n` of
    /// them multiply the state by `prime^n` (a sparse 1 TiB file hashes at once).
    pub fn zeros(&mut self, mut n: u64) {
        let mut p: u64 = 0x0100_0000_01b3;
        let mut acc: u64 = 1;
        while n > 0 {
            if n & 1 == 1 {
                acc = acc.wrapping_mul(p);
            }
            p = p.wrapping_mul(p);
            n >>= 1;
        }
        self.0 = self.0.wrapping_mul(acc);
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

/// The hash of some data (N2).
pub fn hash_data(d: &Data) -> u64 {
    let mut h = Fnv::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0;
    while off < d.len() {
        let n = (d.len() - off).min(buf.len() as u64) as usize;
        d.read_into(off, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n as u64;
    }
    h.finish()
}

/// The value of a successful step, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// No value (`close`, `ftruncate`, `fsync`, a clone, …) or a descriptor (N1).
    Ok,
    /// Bytes written.
    Count(u64),
    /// Bytes read and their hash.
    Data { len: u64, hash: u64 },
    /// An offset (`lseek`).
    Offset(i64),
    /// `copy_file_range`: bytes copied and the offsets as updated in place.
    Copied {
        n: u64,
        off_in: Option<i64>,
        off_out: Option<i64>,
    },
    /// `FIDEDUPERANGE`: `(status, bytes_deduped)` per destination.
    Dedupe(Vec<(i32, u64)>),
    /// `FIEMAP`: the block classes of the requested range inside EOF (N3).
    Extents(String),
    /// `stat`: regular file with its size, or a directory.
    Stat { dir: bool, size: u64 },
    /// [`Step::FillUp`](crate::scenario::Step::FillUp) ended with `ENOSPC`.
    Full,
    /// [`Step::CopySignalled`](crate::scenario::Step::CopySignalled): how the signalled
    /// call ended, whether the destination then held exactly the returned prefix (and
    /// nothing else changed in the copied range), and the bytes copied in all once the copy
    /// was finished.
    Signalled {
        class: SigClass,
        prefix: bool,
        total: u64,
    },
}

/// How a `copy_file_range` with a signal during it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigClass {
    /// Everything the call could copy (the next call copied nothing): the signal did not
    /// stop it.
    Full,
    /// A partial count `0 < n`: the signal stopped the copy after some chunks.
    Partial,
    /// `EINTR`: the signal stopped it before the first chunk.
    Eintr,
}

impl SigClass {
    /// Whether a kernel answer `real` agrees with a model answer `sim`. The point in the
    /// call where the kernel's signal lands is a matter of timing: a model that stops the
    /// copy part-way ([`SigClass::Partial`]) agrees with a kernel stopped before the first
    /// chunk ([`SigClass::Eintr`]) and the other way round; [`SigClass::Full`] only with
    /// itself (a call the model does not interrupt must not be interrupted on the kernel,
    /// and one the model interrupts must be interruptible there).
    pub fn agrees(real: SigClass, sim: SigClass) -> bool {
        real == sim || (real != SigClass::Full && sim != SigClass::Full)
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Ok => write!(f, "ok"),
            Ret::Count(n) => write!(f, "{n}"),
            Ret::Data { len, hash } => write!(f, "{len} bytes (hash {hash:016x})"),
            Ret::Offset(o) => write!(f, "offset {o}"),
            Ret::Copied { n, off_in, off_out } => {
                write!(f, "{n}")?;
                if let Some(i) = off_in {
                    write!(f, ", off_in -> {i}")?;
                }
                if let Some(o) = off_out {
                    write!(f, ", off_out -> {o}")?;
                }
                Ok(())
            }
            Ret::Dedupe(v) => {
                let parts: Vec<String> = v
                    .iter()
                    .map(|(s, n)| match *s {
                        0 => format!("SAME {n}"),
                        1 => format!("DIFFERS {n}"),
                        e => format!("{:?} {n}", Errno(-e)),
                    })
                    .collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Ret::Extents(c) => write!(f, "extents {c}"),
            Ret::Stat { dir: true, .. } => write!(f, "directory"),
            Ret::Stat { size, .. } => write!(f, "file of {size} bytes"),
            Ret::Full => write!(f, "full (ENOSPC)"),
            Ret::Signalled {
                class,
                prefix,
                total,
            } => {
                let c = match class {
                    SigClass::Full => "full count",
                    SigClass::Partial => "partial count",
                    SigClass::Eintr => "EINTR",
                };
                let p = if *prefix {
                    "destination holds exactly the prefix"
                } else {
                    "destination NOT the returned prefix"
                };
                write!(f, "{c}, {p}, {total} bytes in all")
            }
        }
    }
}

/// What a step returned.
pub type Outcome = Result<Ret, Errno>;

/// Formats an outcome for reports.
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Ok(r) => r.to_string(),
        Err(e) => format!("{e:?}"),
    }
}

/// One file as the observer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FileObs {
    /// `stat` failed with this errno (usually `ENOENT`).
    Absent(Errno),
    Dir,
    File {
        size: u64,
        /// Hash of the content (N5).
        hash: u64,
        /// Block classes (N3), or the errno of `FIEMAP` (tmpfs: `EOPNOTSUPP`).
        extents: Result<String, Errno>,
    },
}

impl fmt::Display for FileObs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileObs::Absent(e) => write!(f, "absent ({e:?})"),
            FileObs::Dir => write!(f, "directory"),
            FileObs::File {
                size,
                hash,
                extents,
            } => {
                write!(f, "size {size}, hash {hash:016x}, ")?;
                match extents {
                    Ok(c) => write!(f, "extents {c}"),
                    Err(e) => write!(f, "fiemap {e:?}"),
                }
            }
        }
    }
}

/// The state after a step: every tracked file, and every open slot's position (N7).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Snapshot {
    pub files: Vec<(String, FileObs)>,
    pub positions: Vec<(u8, Result<i64, Errno>)>,
}

/// The block classes (N3) of blocks `[first, last)` given FIEMAP's extents, run-length
/// encoded (`D2 S1 H3`). Works on boundaries, never per block, so a sparse file of 2⁶³
/// bytes costs what its extents cost.
pub fn classes(extents: &[FiemapExtent], first: u64, last: u64) -> String {
    if last <= first {
        return "-".into();
    }
    // (first block, end block, class) of every extent that counts, clipped.
    let spans: Vec<(u64, u64, u8)> = extents
        .iter()
        .filter(|e| e.length > 0)
        .map(|e| {
            let b0 = (e.logical / CLASS_BLOCK).max(first);
            let b1 = e
                .logical
                .saturating_add(e.length)
                .div_ceil(CLASS_BLOCK)
                .min(last);
            // Unwritten first: preallocated space is its own class whether shared or not
            // (XFS remaps only written extents; btrfs shares preallocated ones).
            let c = if e.flags & fiemap_flags::UNWRITTEN != 0 {
                b'U'
            } else if e.flags & fiemap_flags::SHARED != 0 {
                b'S'
            } else {
                b'D'
            };
            (b0, b1, c)
        })
        .filter(|(a, b, _)| a < b)
        .collect();
    let mut cuts: Vec<u64> = vec![first, last];
    for (a, b, _) in &spans {
        cuts.push(*a);
        cuts.push(*b);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let rank = |c: u8| match c {
        b'S' => 3,
        b'D' => 2,
        b'U' => 1,
        _ => 0,
    };
    let mut runs: Vec<(u8, u64)> = Vec::new();
    for w in cuts.windows(2) {
        let (p, q) = (w[0], w[1]);
        let c = spans
            .iter()
            .filter(|(a, b, _)| *a <= p && p < *b)
            .map(|s| s.2)
            .max_by_key(|&c| rank(c))
            .unwrap_or(b'H');
        match runs.last_mut() {
            Some((lc, n)) if *lc == c => *n += q - p,
            _ => runs.push((c, q - p)),
        }
    }
    runs.iter()
        .map(|(c, n)| format!("{}{n}", *c as char))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Observes one file by path through `sys`: `stat`, then (regular files) an `O_RDONLY`
/// descriptor for `FIEMAP` (N3, N4) and the content (N5), closed again.
pub fn observe_file(sys: &mut dyn Syscalls, path: &str) -> FileObs {
    let st: StatBuf = match sys.stat(path) {
        Ok(s) => s,
        Err(e) => return FileObs::Absent(e),
    };
    if st.is_dir {
        return FileObs::Dir;
    }
    let fd = match sys.open(path, o::RDONLY, 0) {
        Ok(fd) => fd,
        Err(e) => return FileObs::Absent(e),
    };
    let size = sys.fstat(fd).map(|s| s.size).unwrap_or(st.size);
    let nblocks = size.div_ceil(CLASS_BLOCK);
    let extents = sys
        .fiemap(fd, 0, u64::MAX, fiemap_req::FLAG_SYNC)
        .map(|v| classes(&v, 0, nblocks));
    let hash = content_hash(sys, fd, size);
    let _ = sys.close(fd);
    FileObs::File {
        size,
        hash,
        extents,
    }
}

/// N5: hash of `size` bytes, reading only the data segments `SEEK_DATA`/`SEEK_HOLE` find.
fn content_hash(sys: &mut dyn Syscalls, fd: i32, size: u64) -> u64 {
    let mut h = Fnv::default();
    let mut pos = 0u64;
    while pos < size {
        let data = match sys.lseek(fd, pos as i64, seek::DATA) {
            Ok(d) => (d as u64).min(size),
            // ENXIO: no data after pos; anything else: treat the rest as a hole too (the
            // errno shows in the SEEK steps of scenarios if it matters).
            Err(_) => size,
        };
        h.zeros(data.saturating_sub(pos));
        if data >= size {
            break;
        }
        let hole = match sys.lseek(fd, data as i64, seek::HOLE) {
            Ok(x) => (x as u64).clamp(data + 1, size),
            Err(_) => size,
        };
        let mut at = data;
        while at < hole {
            let want = (hole - at).min(1 << 20);
            match sys.pread(fd, want as usize, at as i64) {
                Ok(d) if !d.is_empty() => {
                    let mut buf = vec![0u8; d.len() as usize];
                    d.read_into(0, &mut buf);
                    h.update(&buf);
                    at += d.len();
                }
                _ => {
                    // Short file or read error: the rest of the segment as zeros keeps
                    // the hash defined; the sizes still differ if the file changed.
                    h.zeros(hole - at);
                    at = hole;
                }
            }
        }
        pos = hole;
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(logical: u64, length: u64, flags: u32) -> FiemapExtent {
        FiemapExtent {
            logical,
            physical: 0,
            length,
            flags,
        }
    }

    #[test]
    fn classes_normalise_flags_and_ignore_post_eof() {
        use fiemap_flags::*;
        let v = [
            e(0, 8192, 0),
            e(8192, 4096, SHARED | LAST),
            e(16384, 8192, UNWRITTEN),
            e(24576, 1 << 20, DELALLOC),
        ];
        assert_eq!(classes(&v, 0, 8), "D2 S1 H1 U2 D2");
        assert_eq!(classes(&v, 2, 4), "S1 H1");
        assert_eq!(classes(&[e(0, 4096, UNWRITTEN | SHARED)], 0, 1), "U1");
        assert_eq!(classes(&[], 0, 3), "H3");
        assert_eq!(classes(&[e(0, 100, DATA_INLINE)], 0, 1), "D1");
        assert_eq!(classes(&[], 0, 0), "-");
    }

    #[test]
    fn fnv_zeros_match_bytes() {
        let mut a = Fnv::default();
        a.zeros(5000);
        let mut b = Fnv::default();
        b.update(&[0; 5000]);
        assert_eq!(a.finish(), b.finish());
        assert_eq!(hash_data(&Data::zero(5000)), a.finish());
    }
}
