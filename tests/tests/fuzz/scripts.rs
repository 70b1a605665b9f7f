//! Generator 2: hostile valid scripts. Random sequences of valid commands with hostile but
//! well-formed arguments (every number boundary, hostile paths, every `-F` bit, faults,
//! crashes, mounts) over every model and mount spec — small disks so `ENOSPC` happens,
//! chunk sizes from 1 byte to 7 EiB, nfs-like asynchronous and over every back end.
//! Properties: the script parses (status 0 semantics: it runs to its end), no panic, no
//! `fsck` command in it reports a problem, `fsck` of every mount is clean after it, and
//! every line finishes within the per-call limit.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use splicelab::script::{Cmd, Script};

use super::grammar::{MIB, World};
use super::harness::Progress;

/// Mount specs for `/`: every model, small and big disks, tiny and huge chunks.
pub const SPECS: &[&str] = &[
    "plain",
    "plain:size=256k",
    "plain:size=16m,chunk=4k",
    "plain:size=4m,chunk=512",
    "plain:chunk=7e",
    "tmpfs-like:size=1m",
    "tmpfs-like:size=64m,chunk=64k,journal=0",
    "btrfs-like:size=256k",
    "btrfs-like:size=64m,chunk=16k",
    "btrfs-like:size=8m,max_inline=0",
    "btrfs-like:nodatacow,size=4m",
    "btrfs-like:size=1m,chunk=512,commit=1",
    "ocfs2-like:cluster=64k,size=4m",
    "ocfs2-like:cluster=1m,size=64m",
    "ocfs2-like:reflink=0,size=2m",
    "xfs-like:size=512k",
    "xfs-like:reflink=0,chunk=4k,size=8m",
    "xfs-like:commit=1,journal=0",
    "nfs-like",
    "nfs-like:size=1m",
    "nfs-like:async=1",
    "nfs-like:async=1,server=xfs-like,size=1m",
    "nfs-like:server=plain,copy=bytes,size=8m",
    "nfs-like:policy=lenient,server=ocfs2-like,size=16m",
    "nfs-like:async=1,copychunk=16k,size=4m",
    "nfs-like:timeo=2s,size=8m",
    "nfs-like:wsize=4k,wback=0,size=8m",
    "nfs-like:chunk=4k,server=btrfs-like,size=2m",
];

/// Specs a script may `mount` on a directory (a second and third filesystem: `EXDEV`).
const MOUNTS: &[&str] = &[
    "plain:size=1m",
    "btrfs-like:size=1m",
    "xfs-like:size=1m",
    "ocfs2-like:size=1m,cluster=16k",
    "tmpfs-like:size=256k",
    "nfs-like:size=1m,async=1",
    "btrfs-like:size=7e",
];

/// The byte-copy chunk a spec sets (1 MiB by default).
fn chunk_of(spec: &str) -> u64 {
    let opts = spec.split_once(':').map_or("", |(_, o)| o);
    let mut chunk = MIB;
    for kv in opts.split(',') {
        if let Some(v) = kv
            .strip_prefix("chunk=")
            .or_else(|| kv.strip_prefix("copychunk="))
        {
            chunk = chunk.min(fs_models::spec::cvtnum(v).expect("a valid chunk"));
        }
    }
    chunk
}

/// The world of a case over `spec`.
pub fn world(spec: &str, huge: bool, deep: bool) -> World {
    World {
        huge,
        deep,
        known: deep && super::harness::known(),
        max_copy: (chunk_of(spec).saturating_mul(256)).min(16 * MIB),
        names: ["a", "b", "c", "d/e", "m/x", "m/y", "n/z"]
            .map(String::from)
            .to_vec(),
        dirs: ["m", "n", "d", "a", "zz"].map(String::from).to_vec(),
        specs: MOUNTS.iter().map(|s| s.to_string()).collect(),
    }
}

/// Generates case `seed`: its mount spec and its script.
pub fn generate(seed: u64, deep: bool) -> (String, String) {
    let mut rng = StdRng::seed_from_u64(seed);
    let spec = SPECS.choose(&mut rng).unwrap().to_string();
    let huge = deep || rng.random_bool(0.5);
    let w = world(&spec, huge, deep);
    let mut lines = vec!["mkdir d".to_string(), "mkdir m".into(), "mkdir n".into()];
    if rng.random_bool(0.7) {
        lines.push(format!("mount {} m", MOUNTS.choose(&mut rng).unwrap()));
    }
    for name in ["a", "b"] {
        lines.push(format!("open -f {name}"));
        lines.push(format!(
            "pwrite -S 0x{:x} 0 {}",
            rng.random::<u8>(),
            w.value(&mut rng, super::grammar::Slot::Len)
        ));
    }
    let n = rng.random_range(10..60);
    for _ in 0..n {
        lines.push(w.line(&mut rng));
    }
    lines.push("fsck".into());
    (spec, lines.join("\n") + "\n")
}

/// One case: parse, run line by line under the watchdog, check fsck.
pub fn case(spec: &str, text: &str, json: bool, progress: &Progress) -> Result<(), String> {
    let script = Script::parse(text)
        .map_err(|e| format!("a generated valid script was refused: {e}\n{text}"))?;
    let mut runner = splicelab::script::Runner::new(spec, json)
        .map_err(|e| format!("--fs {spec} refused: {e}"))?;
    let mut transcript = Vec::new();
    for line in &script.lines {
        if runner.quitted() {
            break;
        }
        progress.step(format!("{} (line {}, --fs {spec})", line.text, line.lineno));
        let rec = runner.exec(line);
        if json {
            transcript.push(rec.to_json(line.lineno, line.name).to_line());
        } else {
            transcript.extend(rec.lines.iter().cloned());
        }
        if matches!(line.cmd, Cmd::Fsck) && !rec.ok {
            return Err(format!(
                "line {} ({}): {}\n--- script (replay: splicelab script --fs {spec} FILE):\n{text}",
                line.lineno,
                line.text,
                rec.lines.join("\n")
            ));
        }
        // Keep memory bounded: the transcript is not the point.
        if transcript.len() > 100_000 {
            transcript.clear();
        }
    }
    progress.step("fsck of every mount after the script");
    for m in runner.process().vfs.mounts() {
        let problems = m.fs.fsck();
        if !problems.is_empty() {
            return Err(format!(
                "fsck of {} ({}) after the script: {}\n--- script (replay: splicelab script --fs {spec} FILE):\n{text}",
                m.path,
                m.fs.fs_type(),
                problems.join("; ")
            ));
        }
    }
    Ok(())
}
