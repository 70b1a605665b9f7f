//! Who waits while one copy runs: the model against the kernel.
//!
//! `splicelab race --compare` runs each cell — one call racing a second task that preads
//! 4 KiB of the source or the destination — on a real filesystem (wall clock, real
//! threads) and on the model paired with it ([`crate::env::PAIRS`]; virtual time), and
//! prints a [`Comparison`]. `splicelab race --compare --json` writes the same as JSON; the
//! committed copy, `conform/data/who-waits.json` ([`DATA`]), is what the section "Who
//! waits" of `docs/conformance.md` renders ([`doc_section`]).
//!
//! Refreshing after a change (the model's column is virtual time and deterministic, the
//! kernel's is a measurement):
//!
//! ```text
//! # the kernel and the model (root, btrfs-progs, xfsprogs, loop devices; ~2 min):
//! splicelab race --compare --runs 5 --json > conform/data/who-waits.json
//! # the model only, keeping the kernel's measurements (no root):
//! splicelab race --compare --kernel-from conform/data/who-waits.json --json > /tmp/w.json
//! mv /tmp/w.json conform/data/who-waits.json
//! # then the document's section:
//! UPDATE_DOCS=1 cargo test -p splicelab-conform who_waits
//! ```
//!
//! The test `who_waits_model_column_is_current` (in `cli/tests/race_real.rs`) runs the
//! model side of every committed cell again and fails when its figures changed.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The committed comparison (`conform/data/who-waits.json`).
pub const DATA: &str = include_str!("../data/who-waits.json");

/// How far the model's wait, as a fraction of its call, may lie from the kernel's (the
/// median of the runs) and still agree: 0.1 of the call.
///
/// Where it comes from (`docs/conformance.md`, "Who waits", has the figures): the kernel's
/// fraction is a wall-clock measurement on 2 shared cores. Over two measurements of 5 runs
/// per cell at full size, taken while other builds kept the load average near 8, one
/// cell's fraction moved by at most [`MEASURED_SPREAD`] (max − min: the reader of the
/// destination of a byte copy on XFS reflink=0, 0 to 3 % of the call). The sampling adds
/// up to one arrival interval on either side, 1/50 of the call with the default 50 calls.
/// The tolerance is the spread plus two intervals (0.073), rounded up. The verdicts the
/// section is about are far apart: a reader blocked for the whole call is near 1, one
/// that waits for a chunk or a page near 0.
pub const TOLERANCE: f64 = 0.1;

/// The widest spread (max − min) of a cell's kernel fraction over 5 runs measured when
/// [`TOLERANCE`] was chosen; see there.
pub const MEASURED_SPREAD: f64 = 0.033;

/// One comparison: every cell, on one kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `uname -r` of the kernel measured.
    pub kernel: String,
    /// The command that produced the kernel side.
    pub command: String,
    /// CPUs online while measuring.
    pub cpus: u64,
    /// Runs of each cell on the kernel.
    pub runs: u64,
    /// Second-task calls spread over each call (on both sides).
    pub calls: u64,
    pub cells: Vec<Cell>,
}

/// One cell: a call and a second task, on a real filesystem and on its model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The real filesystem (`--real` name: `btrfs`, `xfs`, `xfs-noreflink`, `tmpfs`).
    pub fs: String,
    /// The model's mount spec (`btrfs-like`, …).
    pub model: String,
    /// The call on the kernel (`ficlone`, `copy_file_range`, …).
    pub kernel_call: String,
    /// The call on the model (`ficlonerange` for the kernel's `ficlone`: one remap of the
    /// whole file either way).
    pub model_call: String,
    /// `read` or `write`.
    pub op: String,
    /// `src` or `dst`.
    pub target: String,
    /// Bytes of the source.
    pub size: u64,
    /// Extents asked for (the sides report what they got).
    pub extents: u64,
    pub kernel_side: KernelSide,
    pub model_side: Side,
}

/// The kernel's runs of a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelSide {
    /// Extents of the real source (`FIEMAP`).
    pub src_extents: u64,
    /// The call alone, without the second task (its duration spaces the arrivals).
    pub dry_ns: u64,
    pub runs: Vec<Side>,
}

/// One race's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub src_extents: u64,
    /// What the call ended with, if it failed (`EOPNOTSUPP`).
    pub errno: Option<String>,
    /// The call's duration.
    pub copy_ns: u64,
    /// Second-task calls made.
    pub other_calls: u64,
    /// The second task's longest wait, from its call's arrival to its return (kernel) or
    /// to its lock grant (model).
    pub longest_wait_ns: u64,
    pub p99_wait_ns: u64,
}

impl Side {
    /// The longest wait as a fraction of the call (0 for a call of no time).
    pub fn fraction(&self) -> f64 {
        if self.copy_ns == 0 {
            0.0
        } else {
            self.longest_wait_ns as f64 / self.copy_ns as f64
        }
    }
}

/// The model against the kernel, for one cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within [`TOLERANCE`].
    Agree,
    /// The model makes the second task wait longer than the kernel does.
    Harsher,
    /// The model makes it wait less.
    Kinder,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Harsher => "harsher",
            Verdict::Kinder => "kinder",
        }
    }
}

/// The verdict for fractions `model` and `kernel` (both of their own call).
pub fn verdict(model: f64, kernel: f64) -> Verdict {
    if model > kernel + TOLERANCE {
        Verdict::Harsher
    } else if model < kernel - TOLERANCE {
        Verdict::Kinder
    } else {
        Verdict::Agree
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl KernelSide {
    /// The runs' fractions.
    pub fn fractions(&self) -> Vec<f64> {
        self.runs.iter().map(Side::fraction).collect()
    }

    /// The median fraction over the runs.
    pub fn fraction(&self) -> f64 {
        median(self.fractions())
    }

    /// Max − min of the runs' fractions.
    pub fn spread(&self) -> f64 {
        let f = self.fractions();
        let max = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = f.iter().copied().fold(f64::INFINITY, f64::min);
        if f.is_empty() { 0.0 } else { max - min }
    }

    fn median_ns(&self, get: fn(&Side) -> u64) -> u64 {
        median(self.runs.iter().map(|r| get(r) as f64).collect()) as u64
    }
}

impl Cell {
    pub fn verdict(&self) -> Verdict {
        verdict(self.model_side.fraction(), self.kernel_side.fraction())
    }
}

impl Comparison {
    /// Parses the JSON `splicelab race --compare --json` prints.
    ///
    /// # Errors
    /// Malformed JSON or a missing field, with serde's message.
    pub fn from_json(s: &str) -> Result<Comparison, String> {
        serde_json::from_str(s).map_err(|e| format!("a who-waits comparison: {e}"))
    }

    /// The JSON, pretty-printed with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The widest kernel spread of any cell.
    pub fn widest_spread(&self) -> f64 {
        self.cells
            .iter()
            .map(|c| c.kernel_side.spread())
            .fold(0.0, f64::max)
    }

    /// The table: one row per cell.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| filesystem | call | second task | kernel: call, longest wait (medians) | kernel: wait/call (runs) | model | model: call, longest wait | model: wait/call | model vs kernel |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for c in &self.cells {
            let k = &c.kernel_side;
            let m = &c.model_side;
            let what = if c.extents > 1 {
                format!(
                    "{} of {} in {} extents",
                    c.kernel_call,
                    size(c.size),
                    k.src_extents
                )
            } else {
                format!("{} of {}", c.kernel_call, size(c.size))
            };
            let fr: Vec<String> = k.fractions().iter().map(|f| pct(*f)).collect();
            let kernel_err = k
                .runs
                .iter()
                .find_map(|r| r.errno.clone())
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let model_err = m
                .errno
                .clone()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {what} | {}er of {} | {}, {}{kernel_err} | **{}** ({}) | `{}` | {}, {}{model_err} | **{}** | {} |",
                c.fs,
                c.op,
                c.target,
                nanos(k.median_ns(|r| r.copy_ns)),
                nanos(k.median_ns(|r| r.longest_wait_ns)),
                pct(k.fraction()),
                fr.join(", "),
                c.model,
                nanos(m.copy_ns),
                nanos(m.longest_wait_ns),
                pct(m.fraction()),
                c.verdict().word()
            );
        }
        s
    }
}

/// `12.3 %`.
fn pct(f: f64) -> String {
    if f >= 0.1 || f == 0.0 {
        format!("{:.0} %", f * 100.0)
    } else {
        format!("{:.1} %", f * 100.0)
    }
}

/// `1.23 s`, `45.6 ms`, `789 µs`.
fn nanos(ns: u64) -> String {
    let n = ns as f64;
    if n >= 1e9 {
        format!("{:.2} s", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} ms", n / 1e6)
    } else {
        format!("{:.0} µs", n / 1e3)
    }
}

/// `1 GiB`, `64 MiB`.
fn size(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

/// The heading that starts the section in `docs/conformance.md`.
pub const HEADING: &str = "## Who waits: model against kernel";

/// The section "Who waits" of `docs/conformance.md`, from `cmp` (the committed [`DATA`]).
pub fn section(cmp: &Comparison) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{HEADING}\n\n\
<!-- Rendered from conform/data/who-waits.json (conform/src/who_waits.rs); refresh with the commands below. -->\n\n\
One call runs in one thread while a second thread preads 4 KiB of the call's source or \
destination, {calls} times spread evenly over the call (the interval is the call's own \
duration without the reader — the faster of two runs on the kernel — divided by {calls}; on the kernel the reads go on until the \
call returns). A read's wait runs from its planned arrival to its return on the kernel \
(wall clock; each arrival counts as its own thread: a read that arrives while an earlier \
one is blocked in the kernel waits for that one's return first, while the time the \
scheduler takes to wake the one real reading thread does not count), and to its grant of the inode lock on the model (virtual time); the table gives the longest \
wait as a fraction of the call — the share of the call for which someone could be kept \
waiting. Kernel: Linux **{kernel}**, {cpus} CPUs, loop-mounted images (tmpfs in memory), \
the median of {runs} runs with every run's figure in brackets, a source cut into extents \
by writing every other piece and `fsync`ing between the two passes (reference §9). Model: \
`splicelab race` on the paired model, one run (it is deterministic). The kernel's \
`FICLONE` is the model's `FICLONERANGE` over the whole file (one remap either way).\n\n",
        calls = cmp.calls,
        kernel = cmp.kernel,
        cpus = cmp.cpus,
        runs = cmp.runs,
    );
    s += &cmp.table();
    let _ = write!(
        s,
        "\n**Tolerance.** The model agrees when its fraction lies within {tol:.2} of the \
kernel's median. On the kernel side the fraction is wall-clock time on {cpus} cores shared \
with other work: when the tolerance was chosen, the widest spread (max − min) of one \
cell's fraction over 5 runs, in two measurements with the load average near 8, was \
{spread:.3}; in the runs above it is {now:.3}. The sampling adds at most one arrival \
interval (1/{calls} of the call) on either side. The tolerance is that spread plus two \
intervals, rounded up: tight enough to tell a reader \
held for the whole call (near 1) from one held for a chunk or a page (near 0), which is \
the question the comparison answers, and loose enough that noise does not flip a \
verdict. Tests never assert these figures; the table records what was measured.\n\n",
        tol = TOLERANCE,
        spread = MEASURED_SPREAD,
        now = cmp.widest_spread(),
        cpus = cmp.cpus,
        calls = cmp.calls,
    );
    s += WHY;
    let _ = write!(
        s,
        "\nRefresh (the kernel's side needs root, btrfs-progs, xfsprogs and loop devices; the \
model's does not):\n\n```\n\
{command} > conform/data/who-waits.json   # kernel and model\n\
splicelab race --compare --kernel-from conform/data/who-waits.json --json > w.json && mv w.json conform/data/who-waits.json   # the model only\n\
UPDATE_DOCS=1 cargo test -p splicelab-conform who_waits   # this section\n```\n",
        command = cmp.command,
    );
    s
}

/// Why the two sides differ where they do. Generic on purpose: the model's inode lock is
/// being changed (issue 20), and the verdicts above are recomputed from the data, not
/// written here.
const WHY: &str = "**Where the two sides differ, and why.** Two mechanisms decide the \
cells. (1) *The locks a read takes against a remap* — the clone cells. On Linux XFS takes \
its IO lock shared for a buffered read, and a remap holds it shared on the source and \
exclusive on the destination, so a reader of the source runs during a clone and a \
reader of the destination waits for all of it. A btrfs buffered read takes no inode lock \
at all, yet the reader of the destination waits for the whole clone too: the measurement \
does not say on what (a likely candidate is the page-cache invalidation lock, which a \
read takes shared to bring in a page and both filesystems' remaps hold exclusive on the \
destination, whose size grows as extents are cloned). The model's verdicts for these four \
cells are a statement about `vfs::lock` — which lock a read takes, and which locks a remap \
holds on each file — and change with it: an exclusive lock that reads take too makes the \
model's reader of a clone's source wait for the whole call (harsher than the kernel), a \
shared/exclusive lock with the source held shared lets it through. (2) *What a byte copy \
holds, and for how long* — the byte-copy cells. The kernel's `copy_file_range` byte copy \
splices through a pipe, taking the destination's lock for one pipe batch at a time and \
the source's not at all; on XFS a batch's write can sleep in dirty-page throttling while \
it holds the IO lock, which is what a reader of the destination waits for there \
(milliseconds, a few per cent of the call). tmpfs has no write-back and its reads take no \
inode lock, so a reader there should wait for nothing but a CPU: reference §9 recorded \
one 34 ms wait of a reader of the destination, measured as a second process's read \
latency on a busy machine; the table's runs, which leave out the time the scheduler takes \
to wake the reading thread, say whether anything else is left. The model holds the inode locks for one chunk of the mount (1 MiB \
by default) at a time, so its readers wait at most a chunk: a small fraction of a large \
copy, as on the kernel. These cells depend on the chunk size and the cost model, not on \
the read/remap lock semantics.\n";

/// Replaces the section starting at [`HEADING`] (up to the next `## ` heading) in `doc`
/// with `section`; `None` when `doc` has no such section.
pub fn replace_section(doc: &str, section: &str) -> Option<String> {
    let start = doc.find(HEADING)?;
    let after = start + HEADING.len();
    let end = doc[after..]
        .find("\n## ")
        .map_or(doc.len(), |i| after + i + 1);
    Some(format!("{}{}\n{}", &doc[..start], section, &doc[end..]))
}

/// The section as it stands in `doc`, if there is one.
pub fn current_section(doc: &str) -> Option<&str> {
    let start = doc.find(HEADING)?;
    let after = start + HEADING.len();
    let end = doc[after..]
        .find("\n## ")
        .map_or(doc.len(), |i| after + i + 1);
    Some(&doc[start..end])
}

/// The section from the committed data.
///
/// # Errors
/// The committed JSON does not parse (a test keeps it parsing).
pub fn doc_section() -> Result<String, String> {
    Comparison::from_json(DATA).map(|c| section(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(copy: u64, wait: u64) -> Side {
        Side {
            src_extents: 1,
            errno: None,
            copy_ns: copy,
            other_calls: 50,
            longest_wait_ns: wait,
            p99_wait_ns: wait,
        }
    }

    #[test]
    fn verdicts_use_the_tolerance() {
        assert_eq!(verdict(0.99, 0.01), Verdict::Harsher);
        assert_eq!(verdict(0.01, 0.99), Verdict::Kinder);
        assert_eq!(verdict(0.5, 0.5 + TOLERANCE / 2.0), Verdict::Agree);
        const { assert!(TOLERANCE > MEASURED_SPREAD) };
    }

    #[test]
    fn kernel_side_is_the_median_of_its_runs() {
        let k = KernelSide {
            src_extents: 1,
            dry_ns: 10,
            runs: vec![side(100, 90), side(100, 10), side(100, 50)],
        };
        assert!((k.fraction() - 0.5).abs() < 1e-9);
        assert!((k.spread() - 0.8).abs() < 1e-9);
        assert_eq!(side(0, 5).fraction(), 0.0);
    }

    /// The committed data parses, and `docs/conformance.md` holds the section it renders
    /// (`UPDATE_DOCS=1` rewrites the section first).
    #[test]
    fn who_waits_section_of_the_doc_is_current() {
        let cmp = Comparison::from_json(DATA).expect("conform/data/who-waits.json parses");
        assert!(!cmp.cells.is_empty());
        let want = section(&cmp);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
        let doc = std::fs::read_to_string(path).expect("docs/conformance.md exists");
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let new = replace_section(&doc, &want).expect("the doc has the section");
            std::fs::write(path, new).expect("writing docs/conformance.md");
            return;
        }
        assert_eq!(
            current_section(&doc).map(str::trim_end),
            Some(want.trim_end()),
            "docs/conformance.md's section \"Who waits\" is not what conform/data/who-waits.json renders \
             (UPDATE_DOCS=1 cargo test -p splicelab-conform who_waits rewrites it)"
        );
    }

    /// `splicelab conform --write-doc` (the whole document) renders the same section.
    #[test]
    fn the_whole_document_holds_the_section() {
        let doc = crate::report::render("6.18.0-test", &[], &[], &[]);
        let want = doc_section().expect("the committed data parses");
        assert_eq!(
            current_section(&doc).map(str::trim_end),
            Some(want.trim_end())
        );
        assert_eq!(replace_section(&doc, &want).as_deref(), Some(doc.as_str()));
    }

    #[test]
    fn sections_are_replaced_in_place() {
        let doc = format!("# T\n\n## A\n\na\n\n{HEADING}\n\nold\n\n## C\n\nc\n");
        let new = replace_section(&doc, &format!("{HEADING}\n\nnew\n")).unwrap();
        assert_eq!(
            new,
            format!("# T\n\n## A\n\na\n\n{HEADING}\n\nnew\n\n## C\n\nc\n")
        );
        assert_eq!(
            current_section(&new),
            Some(format!("{HEADING}\n\nnew\n\n").as_str())
        );
        assert!(replace_section("# nothing\n", "x").is_none());
    }
}
