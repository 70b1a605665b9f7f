//! `splicelab cp`, end to end through the built binary: the three `--reflink` modes on
//! plain and btrfs-like, `--verify`/`--md5`, aborts after N calls and by a signal in the
//! middle of a call (exact prefixes), the setup script, JSON, and clear errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use md5::{Digest, Md5};
use serde_json::Value;

fn splicelab(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("splicelab runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("splicelab finishes")
}

fn cp(args: &[&str]) -> Output {
    let mut all = vec!["cp"];
    all.extend_from_slice(args);
    splicelab(&all, "")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// The number just before `word` in the summary line (`"… 12 blocks shared"`).
fn number_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(word)
        .unwrap_or_else(|| panic!("no '{word}' in:\n{text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before '{word}' in:\n{text}"))
}

/// The number after `copied` in the summary line.
fn copied(text: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.contains(": copied "))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    let rest = &line[line.find(": copied ").unwrap() + ": copied ".len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// The one JSON object `cp --json` prints last.
fn json_last(o: &Output) -> Value {
    let out = stdout(o);
    let line = out.lines().last().unwrap_or_else(|| panic!("{}", show(o)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn reflink_always_on_plain_fails_with_eopnotsupp() {
    let o = cp(&[
        "--fs",
        "plain",
        "--size",
        "1m",
        "--reflink=always",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("cp: a -> b: Operation not supported"),
        "{}",
        show(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", show(&o));
}

#[test]
fn reflink_always_on_btrfs_like_shares_every_block() {
    let o = cp(&[
        "--fs",
        "btrfs-like",
        "--size",
        "8m",
        "--reflink=always",
        "--verify",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert_eq!(copied(&out), 8 << 20, "{out}");
    assert_eq!(number_before(&out, "blocks shared"), 2048, "{out}");
    assert_eq!(
        number_before(&out, "chunks"),
        0,
        "must share copies no byte: {out}"
    );
    assert!(out.contains("verify: ok"), "{out}");
}

#[test]
fn reflink_auto_shares_on_btrfs_like_and_copies_on_plain() {
    let o = cp(&[
        "--fs",
        "btrfs-like",
        "--size",
        "4m",
        "--reflink=auto",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        number_before(&stdout(&o), "blocks shared") > 0,
        "{}",
        show(&o)
    );
    let o = cp(&[
        "--fs",
        "plain",
        "--size",
        "4m",
        "--reflink=auto",
        "--verify",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert_eq!(number_before(&out, "blocks shared"), 0, "{out}");
    assert!(out.contains("verify: ok"), "{out}");
}

#[test]
fn reflink_never_shares_nothing_and_the_content_matches() {
    for fs in ["btrfs-like", "plain", "xfs-like"] {
        let o = cp(&[
            "--fs",
            fs,
            "--size",
            "3m",
            "--pattern",
            "42",
            "--reflink=never",
            "--verify",
            "--md5",
            "a",
            "b",
        ]);
        assert_eq!(o.status.code(), Some(0), "{fs}: {}", show(&o));
        let out = stdout(&o);
        assert_eq!(copied(&out), 3 << 20, "{fs}: {out}");
        assert_eq!(number_before(&out, "blocks shared"), 0, "{fs}: {out}");
        assert!(out.contains("verify: ok"), "{fs}: {out}");
        let sums: Vec<&str> = out
            .lines()
            .filter(|l| l.ends_with("  a") || l.ends_with("  b"))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(sums.len(), 2, "{fs}: {out}");
        assert_eq!(sums[0], sums[1], "md5 of src and dst: {out}");
    }
}

#[test]
fn the_default_is_never_share_with_gnu_cps_buffer() {
    let o = cp(&["--fs", "btrfs-like", "--size", "1m", "--json", "a", "b"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let j = json_last(&o);
    assert_eq!(j["reflink"], "never");
    assert_eq!(j["flags"], 0);
    assert_eq!(j["bs"], 256 * 1024);
    // Four full calls and the one that sees EOF.
    assert_eq!(j["calls"], 5);
    assert_eq!(j["shared_blocks"], 0);
    assert_eq!(j["bytes"], 1 << 20);
}

#[test]
fn setup_script_creates_the_source_and_md5_matches_the_real_md5() {
    let o = splicelab(
        &[
            "cp", "--setup", "-", "--verify", "--md5", "--bs", "4k", "x", "y",
        ],
        "# fs: plain\nopen -f x\npwrite -S 0x61 0 10000\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("wrote 10000/10000 bytes at offset 0\n"),
        "{out}"
    );
    assert_eq!(copied(&out), 10000, "{out}");
    assert_eq!(
        number_before(&out, "calls of up to"),
        4,
        "3 calls + EOF: {out}"
    );
    let want: String = Md5::digest(vec![b'a'; 10000])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(out.contains(&format!("{want}  x\n")), "{out}");
    assert!(out.contains(&format!("{want}  y\n")), "{out}");
}

#[test]
fn abort_after_n_calls_leaves_exactly_n_buffers() {
    for (fs, reflink) in [
        ("plain", "never"),
        ("plain", "auto"),
        ("btrfs-like", "never"),
        ("btrfs-like", "auto"),
        ("btrfs-like", "always"),
        ("xfs-like", "always"),
    ] {
        let flag = format!("--reflink={reflink}");
        let o = cp(&[
            "--fs",
            fs,
            "--size",
            "10m",
            "--bs",
            "1m",
            &flag,
            "--abort-after",
            "3",
            "a",
            "b",
        ]);
        assert_eq!(o.status.code(), Some(130), "{fs} {reflink}: {}", show(&o));
        let out = stdout(&o);
        assert_eq!(copied(&out), 3 << 20, "{fs} {reflink}: {out}");
        assert!(
            out.contains(
                "interrupted after 3 calls (--abort-after 3): b holds exactly the first \
                 3145728 bytes of a (checked: size and content)"
            ),
            "{fs} {reflink}: {out}"
        );
    }
}

#[test]
fn abort_after_zero_calls_leaves_an_empty_destination() {
    let o = cp(&[
        "--fs",
        "plain",
        "--size",
        "1m",
        "--abort-after",
        "0",
        "--json",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(130), "{}", show(&o));
    let j = json_last(&o);
    assert_eq!(j["bytes"], 0);
    assert_eq!(j["calls"], 0);
    assert_eq!(j["aborted"], "calls");
    assert_eq!(j["prefix_ok"], true);
}

#[test]
fn a_signal_in_the_middle_of_a_call_leaves_the_exact_partial_prefix() {
    // 4 MiB calls over 1 MiB chunks: call 1 does chunks 1-4, call 2 is stopped after chunk
    // 6 and returns 2 MiB of its 4 MiB; 6 MiB are copied in all.
    for reflink in ["never", "auto"] {
        let flag = format!("--reflink={reflink}");
        let o = cp(&[
            "--fs",
            "plain",
            "--size",
            "16m",
            "--bs",
            "4m",
            &flag,
            "--signal-after-chunks",
            "6",
            "a",
            "b",
        ]);
        assert_eq!(o.status.code(), Some(130), "{reflink}: {}", show(&o));
        let out = stdout(&o);
        assert_eq!(copied(&out), 6 << 20, "{out}");
        assert!(
            out.contains("call 2 returned 2097152 of 4194304 bytes"),
            "{out}"
        );
        assert!(
            out.contains(
                "b holds exactly the first 6291456 bytes of a (checked: size and content)"
            ),
            "{out}"
        );
    }
    // Smaller chunks (a mount option): the prefix is still exact, not rounded to calls.
    let o = cp(&[
        "--fs",
        "btrfs-like:chunk=64k",
        "--size",
        "5m",
        "--bs",
        "1m",
        "--signal-after-chunks",
        "37",
        "--json",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(130), "{}", show(&o));
    let j = json_last(&o);
    assert_eq!(j["bytes"], 37 * 65536);
    assert_eq!(j["calls"], 3);
    assert_eq!(j["aborted"], "signal");
    assert_eq!(j["prefix_ok"], true);
}

#[test]
fn a_signal_before_the_first_chunk_is_eintr_with_nothing_copied() {
    let o = cp(&[
        "--fs",
        "plain",
        "--size",
        "1m",
        "--signal-after-chunks",
        "0",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(130), "{}", show(&o));
    let out = stdout(&o);
    assert_eq!(copied(&out), 0, "{out}");
    assert!(
        out.contains("call 1 returned EINTR before moving a byte"),
        "{out}"
    );
    assert!(
        out.contains("b holds exactly the first 0 bytes of a"),
        "{out}"
    );
}

#[test]
fn a_signal_planned_past_the_end_never_arrives() {
    let o = cp(&[
        "--fs",
        "plain",
        "--size",
        "2m",
        "--signal-after-chunks",
        "100",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("the planned signal never arrived"),
        "{}",
        show(&o)
    );
}

#[test]
fn reflink_always_with_an_unaligned_buffer_is_einval_with_a_hint() {
    let o = cp(&[
        "--fs",
        "btrfs-like",
        "--size",
        "1m",
        "--bs",
        "1000",
        "--reflink=always",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(err.contains("cp: a -> b: Invalid argument"), "{err}");
    assert!(err.contains("not a multiple"), "{err}");
}

#[test]
fn copying_into_a_directory_uses_the_source_name() {
    let o = splicelab(
        &["cp", "--fs", "plain", "--setup", "-", "--verify", "a", "d"],
        "mkdir d\nopen -f a\npwrite -S 0x7a 0 5000\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("a -> d/a: copied 5000 bytes"),
        "{}",
        show(&o)
    );
}

#[test]
fn bad_input_gets_one_clear_error_and_status_1() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--fs", "zfs-like", "--size", "1m", "a", "b"],
            "unknown filesystem model 'zfs-like'",
        ),
        (&["--size", "12q", "a", "b"], "--size: invalid size '12q'"),
        (
            &["--size", "1m", "--bs", "0", "a", "b"],
            "--bs: must be at least 1 byte",
        ),
        (
            &["--size", "1m", "--bs", "lots", "a", "b"],
            "--bs: invalid size 'lots'",
        ),
        (
            &["--size", "1m", "--reflink=sometimes", "a", "b"],
            "invalid argument 'sometimes' for '--reflink'",
        ),
        (
            &["--size", "1m", "--fill", "0x1ff", "a", "b"],
            "invalid --fill '0x1ff'",
        ),
        (
            &["--size", "1m", "--abort-after", "x", "a", "b"],
            "invalid --abort-after 'x'",
        ),
        (&["a", "b"], "give --setup SCRIPT or --size SIZE"),
        (
            &["--setup", "/nonexistent/setup.scr", "a", "b"],
            "--setup: cannot read /nonexistent/setup.scr",
        ),
        (
            &["--fs", "plain", "--size", "1m", "a", "a"],
            "'a' and 'a' are the same file",
        ),
        (
            &["--fs", "plain", "--size", "1m", "a", "nodir/b"],
            "cannot create regular file 'nodir/b': No such file or directory",
        ),
        (
            &["--fs", "plain", "--size", "1m", "nodir/a", "b"],
            "--size: cannot create 'nodir/a': No such file or directory",
        ),
        (
            &["--fs", "plain", "--size", "2g", "--bs", "1k", "a", "b"],
            "more than splicelab's limit",
        ),
        (
            &["--fs", "plain:size=1m", "--size", "1g", "a", "b"],
            "No space left on device",
        ),
    ];
    for (args, want) in cases {
        let o = cp(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", show(&o));
        let err = stderr(&o);
        assert!(
            err.contains(want),
            "{args:?}: want '{want}' in:\n{}",
            show(&o)
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line:\n{err}");
    }
    // A setup script that does not create the source.
    let o = splicelab(
        &["cp", "--fs", "plain", "--setup", "-", "a", "b"],
        "open -f other\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("cp: cannot open 'a' for reading: No such file or directory"),
        "{}",
        show(&o)
    );
    // A malformed setup line names its line.
    let o = splicelab(
        &["cp", "--fs", "plain", "--setup", "-", "a", "b"],
        "open -f a\nfrobnicate\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains(":2:") && err.contains("frobnicate"),
        "{}",
        show(&o)
    );
}

#[test]
fn json_reports_every_figure() {
    let o = cp(&[
        "--fs",
        "btrfs-like",
        "--size",
        "2m",
        "--bs",
        "1m",
        "--reflink=auto",
        "--verify",
        "--json",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", show(&o));
    let j = json_last(&o);
    assert_eq!(j["cmd"], "cp");
    assert_eq!(j["ok"], true);
    assert_eq!(j["flags"], 0x10);
    assert_eq!(j["bytes"], 2 << 20);
    assert_eq!(j["calls"], 3);
    assert_eq!(j["shared_blocks"], 512);
    assert_eq!(j["verify"], "ok");
    assert!(j["time_ns"].as_u64().unwrap() > 0);
    assert!(j["real_ns"].is_u64());
    let o = cp(&[
        "--fs",
        "plain",
        "--size",
        "1m",
        "--reflink=always",
        "--json",
        "a",
        "b",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let j = json_last(&o);
    assert_eq!(j["ok"], false);
    assert_eq!(j["errno"], "EOPNOTSUPP");
}

#[test]
fn help_documents_the_loop_and_has_an_example() {
    let o = splicelab(&["cp", "--help"], "");
    assert!(o.status.success(), "{}", show(&o));
    let out = stdout(&o);
    for want in [
        "--reflink",
        "SPLICE_F_MAY_SHARE",
        "SPLICE_F_MUST_SHARE",
        "--abort-after",
        "--signal-after-chunks",
        "256 KiB",
        "Examples:",
        "Exit status:",
    ] {
        assert!(
            out.contains(want),
            "'{want}' missing from cp --help:\n{out}"
        );
    }
}

/// Issue 17 (design A11): a byte copy's work is a step per chunk, so one `cp` stops after
/// `MAX_CHUNKS` of them — between calls, DST checked to hold the prefix — with a clear
/// error and exit 1 (a 64 TiB never-share copy was 2^26 chunks). Here 4 KiB chunks, so
/// the limit is 1 GiB of the 2 GiB source.
#[test]
fn a_copy_stops_after_the_chunk_limit_with_a_clear_error() {
    let limit = splicelab::cp::MAX_CHUNKS;
    let o = cp(&[
        "--fs",
        "plain:chunk=4k",
        "--size",
        "2g",
        "--bs",
        "1g",
        "/a",
        "/b",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let want = format!(
        "cp: stopped after {limit} chunks of byte copy (splicelab's limit per command: \
         {limit}): /b holds exactly the first {} bytes of /a (checked: size and content)",
        limit * 4096
    );
    assert_eq!(stderr(&o).trim_end(), want, "{}", show(&o));
}
