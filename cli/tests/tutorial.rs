//! The documents' examples still do what they show: every command in a ```` ```console ````
//! block of `docs/tutorial.md` and `docs/splice-copy.2.md` is run with the built binary and
//! its output compared with the lines shown under it.
//!
//! # The fence convention
//!
//! ````text
//! ```console
//! $ splicelab script --fs btrfs-like - <<'EOF'
//! open -f a
//! EOF
//! (the output: standard output and standard error as a terminal shows them)
//! $ splicelab tour --size 64m --fs plain
//! (its output)
//! ```
//! ````
//!
//! - A line starting with `$ ` is a command. It must start with `splicelab`; its words are
//!   split on blanks, with `'…'` and `"…"` quoting. `<<'EOF'` (or `<<EOF`) at the end feeds
//!   the lines up to a line `EOF` to standard input.
//! - Every other line up to the next `$ ` line or the end of the block is the expected
//!   output, compared line by line after trailing blank lines are dropped.
//! - `[...]` in an expected line matches any text (for wall-clock times, which change from
//!   run to run; virtual times never do).
//! - Other fences (```` ```sh ````, ```` ```c ````, …) are not run.
//!
//! `UPDATE_DOCS=1 cargo test -p splicelab --test tutorial` rewrites the shown outputs from
//! fresh runs (keeping `[...]` lines that still match); review the diff.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One command of a console block.
#[derive(Debug)]
struct Example {
    /// 1-based line of the `$ ` line in the document.
    line: usize,
    args: Vec<String>,
    stdin: Option<String>,
    /// Expected output lines, and where they sit in the document (0-based line range).
    expected: Vec<String>,
    out_range: (usize, usize),
}

/// Splits a command line into words: blanks separate, quotes group.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                has = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unclosed {c} in {s:?}")),
                    }
                }
            }
            c if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    Ok(out)
}

/// Every command of every console block of `text`.
fn examples(text: &str) -> Result<Vec<Example>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```console" {
            i += 1;
            continue;
        }
        i += 1;
        let end = (i..lines.len())
            .find(|&j| lines[j].starts_with("```"))
            .ok_or(format!("line {i}: console block never closed"))?;
        while i < end {
            let Some(cmd) = lines[i].strip_prefix("$ ") else {
                return Err(format!(
                    "line {}: a console block must start with a '$ ' command",
                    i + 1
                ));
            };
            let line = i + 1;
            let mut args = words(cmd)?;
            let mut stdin = None;
            i += 1;
            if let Some(last) = args.last()
                && let Some(tag) = last.strip_prefix("<<")
            {
                let tag = tag.trim_matches(|c| c == '\'' || c == '"').to_string();
                args.pop();
                let mut body = String::new();
                loop {
                    if i >= end {
                        return Err(format!("line {line}: here-document never ends ({tag})"));
                    }
                    if lines[i] == tag {
                        i += 1;
                        break;
                    }
                    body.push_str(lines[i]);
                    body.push('\n');
                    i += 1;
                }
                stdin = Some(body);
            }
            if args.first().map(String::as_str) != Some("splicelab") {
                return Err(format!("line {line}: only splicelab commands run: {cmd}"));
            }
            args.remove(0);
            let start = i;
            while i < end && !lines[i].starts_with("$ ") {
                i += 1;
            }
            let mut expected: Vec<String> = lines[start..i].iter().map(|s| s.to_string()).collect();
            while expected.last().is_some_and(|l| l.trim().is_empty()) {
                expected.pop();
            }
            out.push(Example {
                line,
                args,
                stdin,
                expected,
                out_range: (start, i),
            });
        }
        i = end + 1;
    }
    Ok(out)
}

/// Runs one example: standard output and standard error through one pipe, as a terminal
/// interleaves them.
fn run(ex: &Example) -> String {
    let (mut r, w) = std::io::pipe().expect("pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args(&ex.args)
        .stdin(Stdio::piped())
        .stdout(w.try_clone().expect("dup"))
        .stderr(w)
        .env("COLUMNS", "100")
        .spawn()
        .expect("splicelab runs");
    let mut stdin = child.stdin.take().expect("piped");
    let body = ex.stdin.clone().unwrap_or_default();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(body.as_bytes());
    });
    let mut out = String::new();
    r.read_to_string(&mut out).expect("read output");
    child.wait().expect("splicelab finishes");
    feeder.join().expect("stdin written");
    out
}

/// Whether `got` matches `want`, where `[...]` in `want` matches any text.
fn line_matches(want: &str, got: &str) -> bool {
    let parts: Vec<&str> = want.split("[...]").collect();
    if parts.len() == 1 {
        return want == got;
    }
    let mut rest = got;
    for (k, p) in parts.iter().enumerate() {
        if k == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if k == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn got_lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(|l| l.trim_end().to_string()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

fn doc(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(name)
}

/// Checks (or, with `UPDATE_DOCS=1`, rewrites) every example of one document.
fn check_doc(name: &str, min_examples: usize) {
    let path = doc(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let exs = examples(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        exs.len() >= min_examples,
        "{name}: only {} console examples",
        exs.len()
    );
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut failures = Vec::new();
    // Back to front, so that rewriting one output keeps the earlier ranges valid.
    for ex in exs.iter().rev() {
        let out = run(ex);
        let got = got_lines(&out);
        assert!(!out.contains("panicked"), "{name}:{}: {out}", ex.line);
        let same = got.len() == ex.expected.len()
            && ex
                .expected
                .iter()
                .zip(&got)
                .all(|(w, g)| line_matches(w.trim_end(), g));
        if same {
            continue;
        }
        if update {
            let new: Vec<String> = got
                .iter()
                .enumerate()
                .map(|(k, g)| match ex.expected.get(k) {
                    Some(w) if line_matches(w.trim_end(), g) => w.clone(),
                    _ => g.clone(),
                })
                .collect();
            lines.splice(ex.out_range.0..ex.out_range.1, new);
        } else {
            let diff: Vec<String> = (0..got.len().max(ex.expected.len()))
                .filter_map(|k| {
                    let (w, g) = (ex.expected.get(k), got.get(k));
                    match (w, g) {
                        (Some(w), Some(g)) if line_matches(w.trim_end(), g) => None,
                        _ => Some(format!(
                            "    line {k}: shown {:?}\n            got   {:?}",
                            w.map(String::as_str).unwrap_or("(nothing)"),
                            g.map(String::as_str).unwrap_or("(nothing)")
                        )),
                    }
                })
                .take(5)
                .collect();
            failures.push(format!(
                "{name}:{}: `splicelab {}` no longer prints what the document shows:\n{}",
                ex.line,
                ex.args.join(" "),
                diff.join("\n")
            ));
        }
    }
    if update {
        let mut s = lines.join("\n");
        s.push('\n');
        if s != text {
            std::fs::write(&path, s).expect("rewrite the document");
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(UPDATE_DOCS=1 rewrites the outputs; review the diff)",
        failures.join("\n")
    );
}

#[test]
fn tutorial_examples_print_what_the_tutorial_shows() {
    check_doc("tutorial.md", 10);
}

#[test]
fn man_page_examples_print_what_the_page_shows() {
    check_doc("splice-copy.2.md", 2);
}

#[test]
fn the_convention_parses_as_documented() {
    let text = "x\n```console\n$ splicelab script - <<'EOF'\nopen -f a\nEOF\nout 1\n\n$ splicelab tour --fs 'nfs/btrfs strict'\nt\n```\n```sh\n$ rm -rf /\n```\n";
    let exs = examples(text).unwrap();
    assert_eq!(exs.len(), 2);
    assert_eq!(exs[0].args, ["script", "-"]);
    assert_eq!(exs[0].stdin.as_deref(), Some("open -f a\n"));
    assert_eq!(exs[0].expected, ["out 1"]);
    assert_eq!(exs[1].args, ["tour", "--fs", "nfs/btrfs strict"]);
    assert!(examples("```console\n$ rm x\n```\n").is_err());
    assert!(line_matches("real time [...] (x)", "real time 3 ms (x)"));
    assert!(!line_matches(
        "real time [...] (x)",
        "virtual time 3 ms (x)"
    ));
    assert!(line_matches("[...]", "anything"));
}
