//! Running the suite per filesystem, and `docs/conformance.md`.
//!
//! The document is generated (`splicelab conform --write-doc docs/conformance.md`, or the
//! conformance test with `SPLICELAB_WRITE_DOC=1`); its prose about normalisations, modelled
//! quirks and known divergences lives here, next to the code it describes.

use std::time::{Duration, Instant};

use crate::compare::Divergence;
use crate::env::{PAIRS, Pair, RealSide};
use crate::random::RandomReport;
use crate::scenario::Scenario;
use crate::{SetupError, run_case_confirmed};

/// The hand-written suite on one pair.
#[derive(Clone, Debug)]
pub struct SuiteResult {
    pub pair: Pair,
    /// Why the pair did not run (no root, a missing tool), if it did not.
    pub skipped: Option<String>,
    /// `(scenario name, divergence)` for every scenario run; `None` = agreed.
    pub results: Vec<(String, Option<Divergence>)>,
    /// Scenarios that diverged once and agreed when run again (rule N10).
    pub flaky: Vec<String>,
    /// Steps compared.
    pub steps: u64,
    pub elapsed: Duration,
}

impl SuiteResult {
    /// A pair that could not run, and why.
    pub fn skipped(pair: Pair, why: String) -> SuiteResult {
        SuiteResult {
            pair,
            skipped: Some(why),
            results: Vec::new(),
            flaky: Vec::new(),
            steps: 0,
            elapsed: Duration::ZERO,
        }
    }

    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.1.is_none()).count()
    }

    pub fn total(&self) -> usize {
        self.results.len()
    }

    /// The scenarios that diverged.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Divergence)> {
        self.results
            .iter()
            .filter_map(|(n, d)| d.as_ref().map(|d| (n.as_str(), d)))
    }
}

/// Runs `scenarios` on `pair` (one set of mounts for all of them; `ENOSPC` scenarios get
/// their own small filesystem). `progress(done)` after each.
///
/// # Errors
/// When the mounts or a case cannot be set up.
pub fn run_suite(
    pair: Pair,
    scenarios: &[Scenario],
    progress: &mut dyn FnMut(usize),
) -> Result<SuiteResult, SetupError> {
    let t0 = Instant::now();
    let mut real = RealSide::standard(pair.real).map_err(SetupError::Real)?;
    let mut res = SuiteResult {
        pair,
        skipped: None,
        results: Vec::new(),
        flaky: Vec::new(),
        steps: 0,
        elapsed: Duration::ZERO,
    };
    for (i, sc) in scenarios.iter().enumerate() {
        let (c, flaky) = run_case_confirmed(&mut real, pair, sc)?;
        res.steps += c.steps as u64;
        if flaky {
            res.flaky.push(sc.name.clone());
        }
        res.results.push((sc.name.clone(), c.divergence));
        progress(i + 1);
    }
    res.elapsed = t0.elapsed();
    Ok(res)
}

/// A random run, for the document.
#[derive(Clone, Debug)]
pub struct RandomRun {
    pub pair: Pair,
    pub seed: u64,
    pub report: RandomReport,
}

/// What is compared and how it is normalised (N1–N10).
pub const NORMALISATIONS: &str = "\
- **N1 Descriptors** are symbolic: a scenario names slots, each side maps them to its own
  numbers; an `open` that succeeds compares as `ok`.
- **N2 Data** read by `pread`/`read` compares as length + 64-bit FNV-1a hash.
- **N3 Extents** compare per 4 KiB block inside EOF as one of four classes: `H` hole (no
  extent), `U` unwritten (an `UNWRITTEN` extent, shared or not: XFS remaps only written
  extents, btrfs shares preallocated ones), `D` data (any other extent: written,
  `DELALLOC`, inline), `S` shared (`FIEMAP_EXTENT_SHARED`, not unwritten). Physical addresses, extent
  boundaries and counts, `LAST`, `MERGED`, `ENCODED`, `NOT_ALIGNED` are never compared.
  Blocks at or past EOF are ignored: XFS reports speculative post-EOF preallocation (and
  `KEEP_SIZE` space) there.
- **N4 Write-back before looking**: the state after a step is taken with
  `FIEMAP_FLAG_SYNC`, first on every tracked file and every open descriptor, then again to
  read the extents. The simulator has no page cache; without this, real XFS and btrfs
  show fresh data as `DELALLOC`, and XFS unshares the other file of a clone only when the
  copy-on-write is written back.
- **N5 Content** is read without touching unwritten extents: `SEEK_DATA`/`SEEK_HOLE` find
  the data segments, only those are read, holes count as zeroes (reading an unwritten range
  on XFS would put zeroed pages in the page cache, which XFS's `SEEK_DATA` then reports as
  data).
- **N6 Sizes and kinds** (`st_size`, regular file or directory) compare; `st_blocks`,
  inode numbers, link counts, times and directory sizes do not.
- **N7 Positions**: the file position of every open slot is part of the state.
- **N8 Background work** is finished before looking: on XFS `XFS_IOC_FREE_EOFBLOCKS` with
  `XFS_EOF_FLAGS_SYNC` waits for the background inactivation of unlinked inodes (until
  then the other file of a clone still shows `SHARED`, for tens of milliseconds).
- **N9 Power cuts** (`pc_*` scenarios, `power-cut` steps): both sides `sync` first; the real
  side copies each loop image as the device holds it, unmounts, and mounts the copy (log
  recovery runs); the model crashes to the first permitted state that agrees with the
  kernel's through the power cut. The state is observed only at power cuts and after the
  last one (observing reads with `FIEMAP_FLAG_SYNC`, which writes data back). When no
  permitted state agrees, the kernel's background work may have run (the flusher, the XFS
  log worker, btrfs committing under space pressure; seen only under load): the model's
  state with, after some step since the previous cut, some of the scenario's files written
  back and the log forced (or the transaction committed) is accepted too, latest step
  first. The kernel may be more durable than the model's least durable state, never
  less.
- **N10 Flaky cases.** A case that diverges once is run again on fresh directories; if it
  then agrees, it counts as *flaky* — the kernel's answer depended on background timing
  (writeback splitting an extent, a log push under load) — not as a divergence, and the
  report names it. A divergence that recurs counts.
- **`ENOSPC` scenarios** run on a filesystem of their own, filled with `fill-up` (writes
  until `ENOSPC`); the final call compares by errno only, since the real filesystems' exact
  free space (btrfs metadata, XFS reserves) is not modelled.
- **N11 Signalled copies** (`copy_file_range_sig`) compare the first call's class (full
  count, partial count, `EINTR`), not its count: a partial count and `EINTR` agree with
  each other (where the kernel's signal lands is timing), the full count only with itself.
  Both sides must leave exactly the returned prefix in the destination (checked over the
  first 64 MiB of the range) and copy the same bytes in all once the runner has finished
  the copy with `pread`/`pwrite` (not `copy_file_range`, which could share from where the
  kernel stopped and copy from where the model did); the files are then compared as after
  any step.";

/// Kernel behaviours found by this harness and modelled, with the scenario that pins each.
pub const MODELLED: &[(&str, &str, &str)] = &[
    (
        "btrfs",
        "`FIEMAP_EXTENT_SHARED` is per extent (`btrfs_is_data_extent_shared`): after a clone, overwriting one block of the copy leaves that block of the original reported shared, because the original extent is still referenced by the copy's other blocks. The model tracks each block's allocation (`PhysExtent::origin`, `Image::fiemap_per_extent`); a write past an unaligned EOF and the zeroed EOF block form one allocation, as one btrfs write-back does.",
        "write_after_clone_unshares_one_block, rnd_extend_write_is_one_extent",
    ),
    (
        "btrfs",
        "`lseek`: `SEEK_DATA` from a negative offset is `ENXIO`, `SEEK_HOLE` from a negative offset starts at 0 (XFS and tmpfs: `ENXIO` for both).",
        "seek_negative",
    ),
    (
        "btrfs",
        "`SEEK_HOLE` quick path (`find_desired_extent`): an inode that never had space preallocated (`BTRFS_INODE_PREALLOC`) and whose allocated bytes equal its size answers `i_size` at once — so in a clone of preallocated space `SEEK_HOLE` finds no hole though `SEEK_DATA` skips it.",
        "clone_preallocated_source",
    ),
    (
        "btrfs",
        "A shrinking `ftruncate` leaves a shared EOF block shared (no copy-on-write); the next extension zeroes its tail with a real write. Growing a file (truncate, write or clone past EOF, fallocate past EOF even with `KEEP_SIZE`) writes a zeroed EOF block even where it is a hole or preallocated, and a tiny hole-only file becomes inline data.",
        "truncate_cloned_dst_unaligned, rnd_truncate_up_hole_eof_block, rnd_clone_into_hole_only_small_file",
    ),
    (
        "btrfs",
        "A punch that starts in a hole a clone made can write a zeroed block. `btrfs_punch_hole`'s `find_first_non_hole` asks `btrfs_get_extent` about `round_down(start)` for `round_up(len)` bytes; a clone drops the destination's cached extent maps, and an uncached hole comes back exactly as long as asked — one block short of the punch's end when the start's offset in its block exceeds the end's — so the punch goes on from there and, the rest lying inside one block, zeroes that block with a real write (`btrfs_truncate_block`). A hole that a write past EOF, a truncate or a punch made is one cached map and is skipped whole; so is one a read cached (what it read ahead: 4 blocks for a 1-block read at offset 0). The model keeps which holes have no cached map (`InodeImage::em_uncached`, `Image::punch_first_hole`). Found by the random mode (seed 3): `fallocate 2 0x0 12288 1`, `ficlone 0 2`, `fallocate 0 0x3 1 4096`.",
        "punch_hole_made_by_clone, punch_hole_made_by_clone_after_read_ahead",
    ),
    (
        "btrfs",
        "Punching part of a preallocated block writes zeroes into it (`btrfs_truncate_block`); XFS leaves it unwritten. `fallocate` implements only allocation, `PUNCH_HOLE` and `ZERO_RANGE`.",
        "rnd_punch_partial_preallocated, falloc_collapse, falloc_insert, falloc_unshare",
    ),
    (
        "XFS",
        "`SEEK_DATA`/`SEEK_HOLE` count unwritten blocks whose pages are in the page cache (after a read) as data (iomap's `mapping_seek_hole_data`); punching or zeroing the range drops them again.",
        "falloc_zero_range, rnd_seek_after_reading_unwritten",
    ),
    (
        "XFS",
        "Zeroing before a size change is a real write: a shared EOF block is copied on write when the file grows past it (truncate up, write past EOF, clone past EOF, `INSERT_RANGE`) and when a shrink leaves a partial block; punching a partial shared block copies it too. Holes and unwritten blocks are skipped.",
        "clonerange_tail_to_eof_past_dst_eof, rnd_insert_range_shared_eof_block, punch_cloned_partial",
    ),
    (
        "XFS",
        "`fallocate` implements `ZERO_RANGE`, `COLLAPSE_RANGE`, `INSERT_RANGE` and `UNSHARE_RANGE` (reflink=0 too: unshare is a no-op there); collapse and insert need block-aligned ranges and must stay inside EOF (`EINVAL`). `FIEMAP_FLAG_XATTR` is accepted (the attribute fork, empty here; btrfs: `EBADR`).",
        "falloc_collapse, falloc_insert, falloc_unshare, rnd_fiemap_dir_and_xattr",
    ),
    (
        "XFS",
        "A clone remaps written extents only (`xfs_reflink_remap_extent`): where the source is preallocated (unwritten) the destination gets a hole, its old data gone; btrfs shares the preallocated extent (unwritten and shared). Seen once N3 compared unwritten extents as their own class.",
        "clone_preallocated_into_data, clone_preallocated_source, rnd_unshare_allocates",
    ),
    (
        "XFS",
        "A buffered write reserves delalloc space per extent mapping (`xfs_buffered_write_iomap_begin`): out of space, it returns the bytes before the first hole or copy-on-write range that does not fit whole — 1 MiB into a hole with 64 KiB free is `ENOSPC`, where btrfs and tmpfs write the 64 KiB.",
        "enospc_short_write_into_hole",
    ),
    (
        "XFS reflink=0",
        "Paired with `xfs-like:reflink=0`, not `plain`: XFS has a `->remap_file_range` that answers `EOPNOTSUPP`, so `FIDEDUPERANGE` reports `-EOPNOTSUPP` per destination while tmpfs fails the whole ioctl, and clone answers `EOPNOTSUPP` before any alignment `EINVAL`.",
        "dedupe_same, clonerange_unaligned_src_off",
    ),
    (
        "tmpfs",
        "`fallocate` over pages an earlier `fallocate` left `!uptodate` initialises them, so they become data for `SEEK_DATA` (`SGP_FALLOC`).",
        "rnd_falloc_twice_tmpfs",
    ),
    (
        "all",
        "A write that runs out of space part-way returns the bytes written before the reservation that failed (`generic_perform_write`): XFS and tmpfs overwrite allocated data in place on a full filesystem and stop where new space is needed; btrfs copies on write, so the same write is `ENOSPC`. Page by page on btrfs and tmpfs (the longest block-aligned prefix that fits).",
        "enospc_short_write_in_place, enospc_short_write_into_hole",
    ),
    (
        "all",
        "Lengths and offsets xfs_io hands over unchecked (`copy_range -l 10e`: `0xa000000000000000`) reach the entry points, whose checks answer: `EOVERFLOW` when an offset plus the length wraps 64 bits, else the copy is shortened to EOF; `pread` at a negative offset `EINVAL`.",
        "cfr_xfs_io_wrapped_lengths, cfr_len_wraps",
    ),
    (
        "all",
        "`FICLONE`/`FICLONERANGE` check the files (`EXDEV`, `EISDIR`, `EINVAL`, `EBADF`, `EOPNOTSUPP`) before the range (`remap_verify_area`): a huge offset across filesystems is `EXDEV`, on tmpfs `EOPNOTSUPP` (Linux 6.18; older kernels checked the range first).",
        "clonerange_huge_offset, clonerange_huge_offset_cross_fs, clonerange_wraps",
    ),
    (
        "all",
        "`fallocate` mode rules of Linux 6.13+: exactly one operation; `PUNCH_HOLE` needs `KEEP_SIZE`; `COLLAPSE_RANGE`/`INSERT_RANGE` with `KEEP_SIZE` and unknown bits (`NO_HIDE_STALE`) are `EOPNOTSUPP` (older kernels: `EINVAL` for some).",
        "falloc_punch_needs_keep_size, falloc_punch_and_zero, falloc_unknown_mode",
    ),
    (
        "all",
        "`pread`/`pwrite`/`read`/`write` run `rw_verify_area` (pos + count past `LLONG_MAX`: `EINVAL`); `SEEK_END`/`SEEK_CUR` that overflow are `EINVAL`; `O_RDONLY|O_TRUNC` truncates; `FIEMAP` on a directory is `EOPNOTSUPP`.",
        "rnd_pread_write_verify_area, rnd_lseek_end_overflow, rnd_open_rdonly_trunc, rnd_fiemap_dir_and_xattr",
    ),
];

/// Divergences that are known, explained, and not modelled (with how the harness avoids
/// them, if it does).
pub const KNOWN: &[(&str, &str)] = &[
    (
        "btrfs and tmpfs: the last page below 2^63",
        "When a file's data reaches the last 4 KiB below `LLONG_MAX`, btrfs and tmpfs compute `SEEK_HOLE`'s answer as the end of that block, which wraps to `LLONG_MIN`; tmpfs's `SEEK_DATA` also misses that page. An arithmetic overflow in the kernels, not modelled; the random mode puts no data there: its offsets near 2^63 (issue 19: copies to `s_maxbytes` and just below it, sums that pass 2^63 or wrap past 2^64, a write at `LLONG_MAX`, an allocation past 2^63) go only to calls the kernel refuses or that move nothing, and its other huge offsets stay 1 GiB below `LLONG_MAX`.",
    ),
    (
        "`lseek` on directories",
        "A directory's `i_size` is the filesystem's own format (btrfs: twice the name bytes, XFS shortform: 6 + 8 + name length per entry) and tmpfs directories accept only `SEEK_SET`/`SEEK_CUR`; the models keep no directory format. Not modelled; the random mode never seeks a directory.",
    ),
    (
        "XFS readahead into unwritten extents",
        "Reading data next to an unwritten extent may read ahead into it, which makes XFS's `SEEK_DATA` see those blocks as data (see the modelled quirk above). The models record only the blocks a call reads; page-cache hits (data written by the same run) do not read ahead. The random mode meets it about once in 2000 cases with some seeds (seed 6): `fallocate 1 0x0 1 4096`, `pread 1 0 1`, `lseek 1 0 HOLE` → XFS 4097 (block 1 was read ahead), model 4096.",
    ),
    (
        "Free space",
        "How much a real filesystem can still hold (btrfs metadata chunks, XFS reserve pools) is not modelled; `ENOSPC` scenarios compare the final call by errno only (unless, as for the short writes, the answer does not depend on it) and the models are given their own small size. XFS reserves worst-case bmbt blocks beside every delalloc extent (`xfs_bmap_worst_indlen`), so a filled-up XFS keeps back blocks from buffered writes that a `fallocate` still gets (measured: one 4 KiB `fallocate` succeeds after `fill-up`); btrfs pins freed extents until the transaction commits (measured: a 1-byte write after truncating a 2-block file on a filled-up btrfs is `ENOSPC`). The random mode's filled-up cases (3%) therefore compare their steps by errno only and draw only steps that free nothing: reads, seeks, FIEMAP, fsync, opens without `O_TRUNC`, closes and writes.",
    ),
    (
        "btrfs: an inline extent before regular ones",
        "btrfs keeps a small file's inline first extent when data is later added past the first sector by a copy (measured: `copy_file_range` of 1 byte to offset 4096 of a 1-byte file leaves `[inline][data]`); the models keep a file either inline or in extents and move the inline data out. N3 counts inline extents as `D`, so only the sharing that follows can differ (`falloc_keeps_inline_extent` pins the measured case where the extent stays alone).",
    ),
    (
        "Signals",
        "A `copy_file_range_sig` step (`sig_*` scenarios; 3% of random cases end with one) sends a real `SIGUSR2` (handler installed without `SA_RESTART`, it only sets an atomic; the previous disposition and mask are restored after the step) to the copying thread once the call has made progress (the destination grew) or 300 µs after it began (a signal that reached the thread only after the call had returned, on a loaded machine, tested nothing: the call is made again, up to 8 times, which leaves the same state since the copy is idempotent); the model makes its signal pending after the step's number of chunks. Then it checks on both sides that the destination holds exactly the returned prefix and nothing else in the range changed, and finishes the copy with `pread`/`pwrite` (N11). Pinned on the kernel: a byte copy (XFS reflink=0, tmpfs; offsets not block-congruent on btrfs and XFS reflink=1) stops between chunks (Linux checks `signal_pending` before each pipe-sized chunk it writes, `splice_from_pipe_next`) with a partial count; a sharing copy (btrfs, XFS reflink=1) returns the full count; a one-chunk copy (64 KiB) completes; argument errors come first; a copy between two mounts of one kind is `EXDEV` (no filesystem here has its own `copy_file_range`). Where the signal lands is timing: a partial count and `EINTR` agree with each other, the full count only with itself. Not pinned by the kernel: `EINTR` itself (the harness cannot aim a signal between the call's entry and its first chunk; a 50 µs timer did it on XFS reflink=0, once in 6; it stays pinned by the model's tests, `syscall/tests/splice.rs`, `cli/tests/cp.rs`); a signal landing inside a sharing call (a single-extent remap takes ~30 µs, over before the signal; reference §9: a FICLONE of 100,000 extents waited for it); the partial count's value. Two differences in where a copy stops, found by the random mode and not modelled: Linux checks for a signal every 16 pages (its internal pipe) and a chunk ends at a page boundary of the source, the model checks every chunk (1 MiB, `chunk=`) and a chunk ends 1 MiB after where it began. So a copy between 64 KiB and 1 MiB is interruptible on the kernel and not on the model (btrfs: `pwrite 6 0 262144 0x61`, `copy_file_range_sig 6 100 0 100 33554332 1` → kernel partial, model full count), and a caller that goes on with `copy_file_range` after a partial count of an unaligned copy on btrfs or XFS reflink=1 continues from a page-aligned offset on the kernel, which then shares the rest, and from an unaligned one on the model, which copies it (a 32 MiB copy from offset 100: kernel `D64 S8128`, model `D8192`). The random mode's signalled copies are 16 MiB or more and N11 finishes them with `pread`/`pwrite`; `SA_RESTART` (measured: a partial count is returned with it too). A signal handled before the call starts changes nothing (measured: full count). A regular-file `write` is stopped only by a fatal signal on Linux (`fatal_signal_pending`); the lab's signals are not fatal and never shorten a write.",
    ),
];

fn mark(d: &Option<Divergence>) -> &'static str {
    if d.is_none() { "✓" } else { "✗" }
}

/// The Markdown of `docs/conformance.md`.
pub fn render(
    kernel: &str,
    scenarios: &[Scenario],
    suites: &[SuiteResult],
    randoms: &[RandomRun],
) -> String {
    let mut s = String::new();
    s += "# Conformance with the real Linux kernel\n\n";
    s += "<!-- Generated by `splicelab conform --write-doc docs/conformance.md` (conform/src/report.rs); do not edit by hand. -->\n\n";
    s += &format!(
        "Measured on Linux **{kernel}** with loop-mounted btrfs and XFS images and tmpfs. Every \
hand-written scenario runs step by step on the real filesystem and on the model that \
claims to behave like it; after every step the results, the errno, the bytes done, the \
file contents and the per-block sharing are compared ([`conform`](../conform/src/lib.rs)).\n\n"
    );
    s += "| real filesystem | model | hand-written scenarios | random cases |\n|---|---|---|---|\n";
    for p in PAIRS {
        let suite = suites.iter().find(|r| r.pair == p);
        let sc = match suite {
            Some(r) if r.skipped.is_some() => {
                format!("skipped: {}", r.skipped.as_deref().unwrap_or(""))
            }
            Some(r) => format!("{}/{} agree", r.passed(), r.total()),
            None => "not run".into(),
        };
        let rnd: Vec<String> = randoms
            .iter()
            .filter(|r| r.pair == p)
            .map(|r| {
                format!(
                    "{} cases (seed {}), {} divergences",
                    r.report.cases, r.seed, r.report.divergences
                )
            })
            .collect();
        let rnd = if rnd.is_empty() {
            "—".to_string()
        } else {
            rnd.join("; ")
        };
        s += &format!("| {} | `{}` | {sc} | {rnd} |\n", p.real, p.model);
    }
    s += "\nReproduce (as root; btrfs-progs, xfsprogs and loop devices needed):\n\n```\n";
    s += "cargo test -p splicelab-tests --test conformance -- --nocapture   # all scenarios, 4 filesystems, 100 random cases each\n";
    s += "splicelab conform --real btrfs                                   # the hand-written scenarios on one filesystem\n";
    s += "splicelab conform --real xfs --cases 2000 --seed 1              # random differential mode\n";
    s += "splicelab conform --real btrfs --replay FILE                     # one scenario (the text a shrunk divergence prints)\n";
    s += "splicelab conform --write-doc docs/conformance.md --cases 2000 --seeds 1,2,3   # this document\n```\n\n";

    for r in suites.iter().filter(|r| r.skipped.is_none()) {
        let fails: Vec<(&str, &Divergence)> = r.failures().collect();
        if !fails.is_empty() {
            s += &format!("## Divergences on {}\n\n", r.pair.real);
            for (n, d) in fails {
                s += &format!("- `{n}`: {d}\n");
            }
            s += "\n";
        }
    }

    s += "## What is compared\n\n";
    s += NORMALISATIONS;
    s += "\n\n## Kernel behaviours the models reproduce\n\n";
    s += "Each was found by this harness (the hand-written suite or the random mode) and is \
now modelled; the scenarios named pin it.\n\n| filesystem | behaviour | scenarios |\n|---|---|---|\n";
    for (fs, what, scs) in MODELLED {
        let scs: Vec<String> = scs.split(", ").map(|x| format!("`{x}`")).collect();
        s += &format!("| {fs} | {what} | {} |\n", scs.join(", "));
    }
    s += "\n## Known divergences (explained, not modelled)\n\n";
    for (what, why) in KNOWN {
        s += &format!("- **{what}.** {why}\n");
    }
    s += "\n";
    s += &crate::who_waits::doc_section().unwrap_or_else(|e| format!("{e}\n"));
    s += "\n## The scenarios\n\n| scenario | what it pins |";
    for p in PAIRS {
        s += &format!(" {} |", p.real);
    }
    s += "\n|---|---|";
    for _ in PAIRS {
        s += "---|";
    }
    s += "\n";
    for sc in scenarios {
        s += &format!("| `{}` | {} |", sc.name, sc.about.replace('|', "\\|"));
        for p in PAIRS {
            let cell = suites
                .iter()
                .find(|r| r.pair == p && r.skipped.is_none())
                .and_then(|r| r.results.iter().find(|(n, _)| *n == sc.name))
                .map_or("—", |(_, d)| mark(d));
            s += &format!(" {cell} |");
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_without_any_run() {
        let scs = crate::scenarios::all();
        let doc = render("6.18.0-test", &scs, &[], &[]);
        assert!(doc.contains("Linux **6.18.0-test**"));
        assert!(doc.contains("| `cfr_basic` |"));
        assert!(doc.contains("not run"));
        for (_, _, names) in MODELLED {
            for n in names.split(", ") {
                assert!(
                    scs.iter().any(|s| s.name == n),
                    "MODELLED names unknown scenario {n}"
                );
            }
        }
    }
}
