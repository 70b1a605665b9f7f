//! The `splicelab` binary, end to end: acceptance cases, help texts, JSON, and the golden
//! transcripts in `tests/golden/` (`NAME.scr` → expected stdout `NAME.out`; a first line
//! `# fs: MODEL` picks the model). Regenerate the transcripts with
//! `UPDATE_GOLDEN=1 cargo test -p splicelab --test cli` and review the diff.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use md5::{Digest, Md5};

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pwrite_then_md5sum_matches_the_real_md5() {
    let o = splicelab(
        &["script", "-"],
        "open -f a\npwrite -S 0x61 0 64k\nmd5sum a\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("wrote 65536/65536 bytes at offset 0\n"),
        "{out}"
    );
    let want: String = Md5::digest(vec![b'a'; 65536])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(out.contains(&format!("{want}  a\n")), "{out}");
}

#[test]
fn a_tebibyte_pwrite_is_lazy() {
    // xfs_io's 268 million calls of 4 KiB, made as one of 1 TiB of fill bytes: extents and
    // segments, not memory per byte nor a call per buffer.
    for args in [&["script", "-"][..], &["script", "--fs", "plain", "-"]] {
        let o = splicelab(args, "open -f big\npwrite -S 0x62 0 1t\nstat\n");
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("wrote 1099511627776/1099511627776 bytes at offset 0\n"),
            "{out}"
        );
        assert!(out.contains("1.000 TiB, 268435456 ops;"), "{out}");
        assert!(out.contains("stat.size = 1099511627776\n"), "{out}");
    }
}

/// Issue 18: `pwrite`/`pread` made one call for the whole length ("1 ops") where xfs_io
/// makes 4096-byte calls ("1 MiB, 256 ops"), so a write that ran out of space part-way
/// differed from the same script under xfs_io; and a write out of space wrote nothing.
#[test]
fn regression_pwrite_uses_xfs_ios_buffer_and_stops_where_space_ends() {
    let o = splicelab(
        &["script", "--fs", "xfs-like", "-"],
        "open -f a\npwrite -S 0x61 0 1m\npread 0 1m\npread -b 64k 0 1m\n",
    );
    let out = stdout(&o);
    assert_eq!(out.matches("1 MiB, 256 ops;").count(), 2, "{out}");
    assert!(out.contains("1 MiB, 16 ops;"), "{out}");
    // The issue's reproducer: 40 MiB of b's 60 fit; then, over b's 40 MiB and on, Linux
    // overwrites them in place and returns that short count (XFS: the hole past them is
    // reserved whole, so the one 100 MiB call stops at EOF).
    let script = "open -f a\npwrite -S 0x61 0 60m\nopen -f b\npwrite -S 0x62 0 60m\nstat\n\
                  pwrite -b 100m -S 0x7a 0 60m\nmd5sum b\n";
    for fs in [
        "xfs-like:size=100m",
        "btrfs-like:size=100m",
        "tmpfs-like:size=100m",
    ] {
        let o = splicelab(&["script", "--fs", fs, "-"], script);
        let out = stdout(&o);
        // 4 KiB calls fill b's 40 MiB, then the next call finds no space: xfs_io prints
        // the error and no summary.
        assert!(out.contains("stat.size = 41943040\n"), "{fs}: {out}");
        let enospc = out.matches("pwrite: No space left on device").count();
        if fs.starts_with("btrfs") {
            // Copy-on-write of every block: the overwrite finds no space at all.
            assert_eq!(enospc, 2, "{fs}: {out}");
        } else {
            assert_eq!(enospc, 1, "{fs}: {out}");
            assert!(
                out.contains("wrote 41943040/62914560 bytes at offset 0\n40 MiB, 1 ops;"),
                "{fs}: {out}"
            );
        }
    }
}

/// Issue 18: the parser refused `copy_range -l 10e` ("too large") where xfs_io hands the
/// wrapped value to the kernel and prints its errno; `pread` at a wrapped offset too.
#[test]
fn regression_numbers_the_kernel_judges_reach_the_kernel() {
    let o = splicelab(
        &["script", "--fs", "xfs-like", "-"],
        "open -f a\npwrite -q 0 6\nopen -f b\ncopy_range -l 10e -d 9223372036854000000 a\n\
         copy_range -l 8e a\nstat\npread 8e 1\npread 99999999999999999999 1\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("copy_range: Value too large for defined data type\n"),
        "{out}"
    );
    assert!(
        out.contains("stat.size = 6\n"),
        "8e is 2^63, shortened to EOF: {out}"
    );
    assert_eq!(out.matches("pread: Invalid argument\n").count(), 2, "{out}");
    // -1 is xfs_io's own "invalid" answer.
    let o = splicelab(&["script", "-"], "open -f a\ncopy_range -l -1 a\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid length -- -1"),
        "{}",
        stderr(&o)
    );
}

/// Found by the script fuzzer (seed 17008) after the 4 KiB default: `-b 0` divided by zero
/// in the batching of whole buffers (a panic); it makes one empty call, as before.
#[test]
fn regression_a_zero_buffer_makes_one_empty_call() {
    let o = splicelab(
        &["script", "--fs", "plain", "-"],
        "open -f a\npwrite -b 0 0 64k\npwrite 0 8k\npread -b 0 0 8k\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("wrote 0/65536 bytes at offset 0\n"),
        "{out}"
    );
    assert!(out.contains("read 0/8192 bytes at offset 0\n"), "{out}");
}

#[test]
fn a_malformed_line_is_a_usage_error_and_nothing_runs() {
    let o = splicelab(&["script", "-"], "open -f a\nbogus 1 2\n");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("script:2: unknown command 'bogus'"),
        "{err}"
    );
    assert_eq!(stdout(&o), "", "nothing runs when a line is malformed");
    for (script, line, what) in [
        ("pwrite 0\n", 1, "takes 2 arguments"),
        ("open -f a\n\n# c\npwrite -Z 0 1\n", 4, "invalid option"),
        ("pread 0 -5\n", 1, "negative"),
        ("truncate 99999999999999999999\n", 1, "too large"),
        (
            "mount zfs-like /x\n",
            1,
            "unknown filesystem model 'zfs-like'",
        ),
        ("seek 0\n", 1, "-a, -d or -h"),
    ] {
        let o = splicelab(&["script", "-"], script);
        assert_eq!(o.status.code(), Some(1), "{script:?}");
        let err = stderr(&o);
        assert!(
            err.starts_with(&format!("script:{line}: ")) && err.contains(what),
            "{script:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    }
}

#[test]
fn bad_fs_and_missing_file_are_clear_errors() {
    let o = splicelab(&["script", "--fs", "zfs-like", "-"], "sync\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown filesystem model 'zfs-like'"));
    let o = splicelab(&["script", "/nonexistent/x.scr"], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read /nonexistent/x.scr"));
}

#[test]
fn regression_check_refuses_more_ops_than_its_limit() {
    // Issue 17: `check --ops 18446744073709551615` aborted (allocation failure).
    for ops in ["18446744073709551615", "10001"] {
        let o = splicelab(
            &["check", "--fs", "plain", "--cases", "1", "--ops", ops],
            "",
        );
        assert_eq!(o.status.code(), Some(2), "{ops}");
        assert_eq!(
            stderr(&o).trim(),
            format!("splicelab check: --ops {ops}: at most 10000 operations per case")
        );
    }
    let o = splicelab(
        &["check", "--fs", "plain", "--cases", "1", "--ops", "10000"],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn regression_a_copy_loop_failing_after_progress_shows_the_progress_then_the_error() {
    // Issue 17: `splice -a` and `copy_range` loops whose later call failed printed only
    // the error, hiding what the earlier calls had copied.
    let setup = "open -f a\npwrite -q -S 0x61 0 40m\nfsync\nopen -f c\n";
    let o = splicelab(
        &["script", "--fs", "plain:size=64m", "-"],
        &format!("{setup}splice -a a\n"),
    );
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "spliced 25165824/41943040 bytes at offset 0",
        "{out}"
    );
    assert!(
        lines[1].starts_with("24 MiB, 1 ops, 24 chunks, 0 blocks shared; "),
        "{out}"
    );
    assert_eq!(lines[2], "splice: No space left on device", "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    // copy_range: nothing on success (as xfs_io); progress and error on a later failure.
    let o = splicelab(
        &["script", "--fs", "plain:size=64m", "-"],
        &format!("{setup}copy_range -l 8m a\ncopy_range -s 8m -d 8m a\n"),
    );
    assert_eq!(
        stdout(&o),
        "copied 16777216/33554432 bytes at offset 8388608\n\
         copy_range: No space left on device\n"
    );
}

#[test]
fn syscall_errors_print_like_xfs_io_and_the_script_goes_on() {
    let o = splicelab(
        &["script", "--fs", "plain", "-"],
        "pwrite 0 1\nopen -f a\nopen -r a\npwrite 0 4k\nopen -f b\nreflink a 0 0 4k\necho still here\n",
    );
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "no files are open, try 'help open'\n\
         pwrite: Bad file descriptor\n\
         XFS_IOC_CLONE_RANGE: Operation not supported\n\
         still here\n"
    );
}

#[test]
fn json_is_one_object_per_command() {
    let o = splicelab(
        &["script", "--fs", "plain", "--json", "-"],
        "open -f a\npwrite -S 0x61 0 64k\nopen -r a\npwrite 0 1\nfile 0\nreflink a 0 0 4k\nmd5sum a\n",
    );
    assert!(o.status.success());
    let out = stdout(&o);
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(objs.len(), 7, "{out}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .starts_with(r#"{"line":2,"cmd":"pwrite","ok":true,"#),
        "{out}"
    );
    assert_eq!(objs[1]["bytes"], 65536);
    assert_eq!(objs[1]["offset"], 0);
    assert_eq!(objs[3]["ok"], false);
    assert_eq!(objs[3]["errno"], "EBADF");
    assert_eq!(objs[3]["error"], "Bad file descriptor");
    assert_eq!(objs[4]["cmd"], "file");
    assert_eq!(objs[5]["cmd"], "reflink");
    assert_eq!(objs[5]["errno"], "EOPNOTSUPP");
    assert_eq!(objs[5]["error"], "Operation not supported");
    assert_eq!(objs[6]["md5"].as_str().map(str::len), Some(32));
}

#[test]
fn help_texts_describe_every_subcommand_and_script_command() {
    let o = splicelab(&["--help"], "");
    assert!(o.status.success());
    let h = stdout(&o);
    for sub in ["tour", "script", "cp", "check", "conform"] {
        assert!(h.contains(sub), "{sub} missing from:\n{h}");
    }
    let o = splicelab(&["script", "--help"], "");
    assert!(o.status.success());
    let h = stdout(&o);
    for c in splicelab::script::help::COMMANDS {
        assert!(h.contains(&c.usage()), "{} missing from:\n{h}", c.name);
    }
    for sub in ["tour", "cp", "check", "conform"] {
        let o = splicelab(&[sub, "--help"], "");
        assert!(o.status.success(), "{sub} --help");
    }
}

#[test]
fn weird_input_never_panics() {
    // Fuzz-think: odd words, numbers at the edges, commands in the wrong state.
    let words = [
        "open",
        "-f",
        "-r",
        "-a",
        "-t",
        "a",
        "/",
        "d/x",
        "pwrite",
        "pread",
        "-v",
        "-S",
        "0xff",
        "truncate",
        "falloc",
        "-k",
        "-p",
        "fpunch",
        "fzero",
        "seek",
        "-a",
        "-r",
        "-h",
        "-d",
        "stat",
        "fiemap",
        "-l",
        "-n",
        "reflink",
        "dedupe",
        "copy_range",
        "-s",
        "-d",
        "-l",
        "splice",
        "-F",
        "may",
        "must",
        "never",
        "0x30",
        "close",
        "file",
        "0",
        "1",
        "4k",
        "1m",
        "9223372036854775807",
        "0x7fffffffffffffff",
        "4611686018427387904",
        "7e",
        "mkdir",
        "rm",
        "mv",
        "chattr",
        "+i",
        "-i",
        "+C",
        "crash",
        "inject",
        "media",
        "enospc",
        "fsck",
        "sync",
        "fsync",
        "fdatasync",
        "signal",
        "after",
        "chunks",
        "md5sum",
        "echo",
        "",
        "\t",
        "#",
        "01777",
        "0x",
        "08",
        "1b",
        "3s",
        "-1",
        "--",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut runs = 0;
    for _ in 0..400 {
        let n = 1 + next() % 5;
        let line: Vec<&str> = (0..n)
            .map(|_| words[(next() % words.len() as u64) as usize])
            .collect();
        let text = format!("open -f a\npwrite 0 8k\nmkdir d\n{}\n", line.join(" "));
        // Parse errors are fine; panics are not (run_str would propagate one).
        if let Ok(out) =
            std::panic::catch_unwind(|| splicelab::script::run_str(&text, "plain:size=64m", false))
        {
            runs += usize::from(out.is_ok());
        } else {
            panic!("panicked on {text:?}");
        }
    }
    assert!(
        runs > 20,
        "most random lines should at least parse ({runs})"
    );
}

// ---------------------------------------------------------------------- goldens

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// A line diff good enough to read: `-expected` / `+actual` around the first difference.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let mut s = format!("first difference at line {}:\n", first + 1);
    for l in w.iter().skip(first).take(12) {
        s.push_str(&format!("-{l}\n"));
    }
    for l in g.iter().skip(first).take(12) {
        s.push_str(&format!("+{l}\n"));
    }
    s
}

#[test]
fn golden_transcripts() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "scr"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty());
    let mut failures = Vec::new();
    for scr in &scripts {
        let o = Command::new(env!("CARGO_BIN_EXE_splicelab"))
            .arg("script")
            .arg(scr)
            .output()
            .expect("splicelab runs");
        let got = stdout(&o);
        let name = scr.file_name().unwrap().to_string_lossy().into_owned();
        if !o.status.success() {
            failures.push(format!("{name}: exit {:?}: {}", o.status, stderr(&o)));
            continue;
        }
        let out = scr.with_extension("out");
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if want != got {
            if update {
                std::fs::write(&out, &got).expect("write golden");
                eprintln!("updated {}", out.display());
            } else {
                failures.push(format!("{name}:\n{}", diff(&want, &got)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden transcripts differ (UPDATE_GOLDEN=1 rewrites them):\n{}",
        failures.join("\n")
    );
}

/// Runs `splicelab ARGS` with its standard output a pipe whose reader is already gone, as
/// in `splicelab … | head -c0` once `head` has exited: every write fails with EPIPE.
fn with_stdout_closed(args: &[&str], stdin: &str) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("splicelab runs");
    // A subcommand that does not read its input may be gone already.
    let _ = child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("splicelab finishes")
}

#[test]
fn a_closed_stdout_ends_every_subcommand_quietly() {
    let script = "open -f a\npwrite -S 0x61 0 64k\nmd5sum a\n";
    let cases: &[&[&str]] = &[
        &[],
        &["tour", "--size", "4m"],
        &["tour", "--size", "4m", "--json"],
        &["script", "-"],
        &["script", "--json", "-"],
        &["cp", "--size", "1m", "a", "b"],
        &["cp", "--json", "--size", "1m", "a", "b"],
        &["check", "--fs", "plain", "--cases", "1", "--seed", "1"],
        &["check", "--plant", "list"],
        &["conform", "--list"],
    ];
    for args in cases {
        let args: Vec<&str> = if args.is_empty() {
            vec!["tour", "--size", "1m"]
        } else {
            args.to_vec()
        };
        let o = with_stdout_closed(&args, script);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

#[test]
fn a_closed_stdout_is_not_mistaken_for_success_of_bad_arguments() {
    // The usage error comes first; the closed pipe does not hide it.
    let o = with_stdout_closed(&["check", "--shard", "4/4"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("splicelab check: --shard"),
        "{}",
        stderr(&o)
    );
    let o = with_stdout_closed(&["script", "-"], "bogus\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("script:1:"), "{}", stderr(&o));
}

/// `conform` whose reader goes away while the real file systems are mounted: it returns
/// through the loop mounts' `Drop` (nothing stays mounted) and exits 0 without a word.
#[test]
fn a_closed_stdout_unmounts_conform_quietly() {
    use host::mounts::{RealFs, ready_or_skip};
    use std::io::BufRead;
    if !ready_or_skip(RealFs::Tmpfs, "a_closed_stdout_unmounts_conform_quietly") {
        return;
    }
    let tmp = std::env::temp_dir().join(format!("splicelab-epipe-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("a temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args(["conform", "--real", "tmpfs", "--verbose"])
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("splicelab runs");
    // Read the heading, then go away: the first transcript is written with tmpfs mounted.
    let mut first = String::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped"));
    lines.read_line(&mut first).expect("the heading");
    assert!(first.starts_with("conform: "), "{first}");
    drop(lines);
    let o = child.wait_with_output().expect("splicelab finishes");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let left: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(tmp.to_str().expect("utf-8 temp dir")))
        .collect();
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(left.is_empty(), "still mounted: {left:?}");
}

/// [`splicelab`] with raw bytes on standard input (not necessarily UTF-8).
fn splicelab_bytes(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("splicelab runs");
    let _ = child.stdin.take().expect("piped").write_all(stdin);
    child.wait_with_output().expect("splicelab finishes")
}

/// Each malformed script gets one line on stderr, `script:LINE: MESSAGE`, naming the bad
/// value; nothing runs.
#[test]
fn hostile_scripts_get_one_clear_line_naming_the_problem() {
    let cases: &[(&[u8], usize, &str)] = &[
        // Repeated options are each checked, whichever comes last.
        (
            b"pwrite -b zz -b 4k 0 4k\n",
            1,
            "pwrite: bad buffer size 'zz': not a number",
        ),
        (
            b"open -f a\npwrite -b 4k -b zz 0 4k\n",
            2,
            "bad buffer size 'zz'",
        ),
        (b"splice -F bogus -F must a\n", 1, "splice: bad -F 'bogus'"),
        (b"copy_range -s zz -s 0 a\n", 1, "bad source offset 'zz'"),
        (b"pread -b 0x -b 4k 0 4k\n", 1, "bad buffer size '0x'"),
        // ':' marks arguments in an optstring; it is never an option (getopt).
        (b"pwrite -: 0 4k\n", 1, "pwrite: invalid option -- ':'"),
        (b"open -:f a\n", 1, "open: invalid option -- ':'"),
        // A bad model on the first line is that line's fault, not --fs's.
        (
            b"# fs: bogus\nopen -f a\n",
            1,
            "script:1: fs: unknown filesystem model 'bogus'",
        ),
        // Bytes that are not UTF-8, on the line that holds them.
        (
            b"open -f a\nstat\npwrite 0 \xff\n",
            3,
            "not UTF-8: byte 0xff at column 10",
        ),
        // Argument counts in words.
        (
            b"fiemap 0 1 2\n",
            1,
            "fiemap: takes at most 2 arguments, got 3",
        ),
        (
            b"reflink a 0 0\n",
            1,
            "reflink: takes 1 or 4 arguments, got 3",
        ),
        (b"close x\n", 1, "close: takes no arguments, got 1"),
        (b"truncate\n", 1, "truncate: takes 1 argument, got 0"),
        // Control characters in quoted input come back escaped.
        (b"bogus\x1b[31m\n", 1, "unknown command 'bogus\\x1b[31m'"),
        // Mount specs: no nested spec in an option; sizes name their key.
        (
            b"mount nfs-like:server=nfs-like:server=plain /n\n",
            1,
            "mount option 'server=nfs-like:server=plain' holds a ':'",
        ),
        (
            b"mount btrfs-like:max_inline=-1 /n\n",
            1,
            "mount: max_inline: invalid size '-1'",
        ),
        (
            b"mount plain:size=lots /n\n",
            1,
            "mount: size: invalid size 'lots'",
        ),
        // An overflowing seed is too large, not non-numeric.
        (
            b"pwrite -S 99999999999999999999999 0 4k\n",
            1,
            "pwrite: seed too large -- 99999999999999999999999",
        ),
        (b"pwrite -S zz 0 4k\n", 1, "pwrite: non-numeric seed -- zz"),
    ];
    for (script, line, want) in cases {
        let shown = String::from_utf8_lossy(script);
        let o = splicelab_bytes(&["script", "--fs", "plain", "-"], script);
        assert_eq!(o.status.code(), Some(1), "{shown:?}");
        let err = stderr(&o);
        assert!(
            err.starts_with(&format!("script:{line}: ")) && err.contains(want),
            "{shown:?}: want line {line} and '{want}', got: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert!(!err.contains('\x1b'), "no raw control character: {err:?}");
        assert!(!err.contains("--fs"), "{shown:?}: {err}");
        assert_eq!(stdout(&o), "", "{shown:?}: nothing runs");
    }
}

#[test]
fn a_byte_order_mark_is_skipped_and_bad_fs_still_blames_the_flag() {
    let o = splicelab_bytes(
        &["script", "-"],
        b"\xef\xbb\xbf# fs: plain\nopen -f a\nstat\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("stat.size = 0"), "{}", stdout(&o));
    // The hint is checked even when --fs overrides it: it is a line of the script.
    let o = splicelab(&["script", "--fs", "plain", "-"], "# fs: zfs-like\nsync\n");
    assert!(stderr(&o).starts_with("script:1: fs: unknown filesystem model"));
    let o = splicelab(&["script", "--fs", "zfs-like", "-"], "sync\n");
    assert!(
        stderr(&o).starts_with("splicelab: --fs zfs-like: "),
        "{}",
        stderr(&o)
    );
    // cp's setup script is read the same way.
    let o = splicelab_bytes(&["cp", "--setup", "-", "a", "b"], b"open -f a\n\xc3\x28\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--setup -: script:2: not UTF-8: byte 0xc3 at column 1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_overflowing_pattern_seed_is_too_large() {
    let o = splicelab(
        &[
            "cp",
            "--size",
            "1m",
            "--pattern",
            "99999999999999999999999",
            "a",
            "b",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("too large"), "{}", stderr(&o));
}
