//! Generator 1: malformed lines, derived from the grammar. Each case is a script of valid
//! lines (blank, comment and whitespace lines among them) with one surely malformed line at
//! line N; the script must be refused with `script:N: …` before anything runs. A quarter
//! of the cases are token soup instead (random words from the grammar): whatever the
//! parser answers, it must not panic, and an error must name a real line.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use splicelab::script::{self, ScriptError, help};

use super::grammar::{GRAMMAR, Grammar, Slot, World};

/// Numbers `cvtnum` refuses: negative, past 2^63-1 in every form, bad suffixes, garbage.
const BAD_CVT: &[&str] = &[
    "-1",
    "-0",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "0x8000000000000000",
    "0xffffffffffffffff",
    "0x10000000000000000",
    "01000000000000000000000",
    "8e",
    "16e",
    "8192p",
    "8388608t",
    "0x2000000000000000b",
    "1q",
    "1kk",
    "1k1",
    "k",
    "0x",
    "0X",
    "1.5",
    "1e3",
    "08",
    "09k",
    "0b1",
    "++1",
    "+-1",
    "0x-1",
    "\u{ff11}",
    "1\u{1}",
    "\0",
    "4k\u{7f}",
    "1_000",
];

/// Numbers `strtoul` (`pwrite -S`) refuses.
const BAD_SEED: &[&str] = &[
    "18446744073709551616",
    "0x10000000000000000",
    "zz",
    "1k",
    "0x",
    "0x1g",
    "1.0",
    "08",
    "-1",
    "",
];

/// Numbers a Rust `i64` refuses, as an operand or an option argument.
const BAD_I64: &[&str] = &[
    "9223372036854775808",
    "-9223372036854775809",
    "x",
    "1k",
    "0x10",
    "1.0",
    "18446744073709551615",
];

/// Numbers a Rust `usize`/`u64` refuses (also as a positional word).
const BAD_U64: &[&str] = &["18446744073709551616", "x", "1k", "0x1", "-1", "1.5"];

/// `splice -F` values that are neither a name nor a `u32`.
const BAD_SHARE: &[&str] = &[
    "sometimes",
    "Never",
    "MUST",
    "4294967296",
    "0x100000000",
    "18446744073709551615",
    "-1",
    "1k",
];

/// Mount specs that must be refused.
const BAD_SPECS: &[&str] = &[
    "zfs-like",
    "",
    ":size=1g",
    "plain:size=1q",
    "plain:size=4k",
    "plain:size=8e",
    "plain:size=-1",
    "plain:chunk=0",
    "plain:chunk=8e",
    "plain:colour=blue",
    "plain:size=1g:chunk=4k",
    "nfs-like:async=yes",
    "nfs-like:server=nfs-like",
    "nfs-like:server=zfs-like",
    "nfs-like:copychunk=0",
    "nfs-like:bw=0",
    "nfs-like:rtt=200",
    "btrfs-like:max_inline=-1",
    "btrfs-like:nodatacow=2",
    "ocfs2-like:cluster=9e",
    "ocfs2-like:reflink=maybe",
    "xfs-like:cluster=64k",
    "tmpfs-like:journal=x",
    "plain:commit=0",
    "plain:commit=86401",
];

fn bad_for(slot: Slot) -> &'static [&'static str] {
    match slot {
        Slot::Seed => BAD_SEED,
        Slot::I64 => BAD_I64,
        Slot::Usize => BAD_U64,
        Slot::ShareFlags => BAD_SHARE,
        Slot::Path => &[],
        _ => BAD_CVT,
    }
}

/// A word of a structured line: the text, and the slot it fills if it is a value.
type Word = (String, Option<Slot>);

/// A valid line of `gr` as words, with its operand count and whether `-f N` was given.
fn structured(rng: &mut StdRng, w: &World, gr: &Grammar) -> (Vec<Word>, usize, bool) {
    let mut words: Vec<Word> = vec![(gr.name.to_string(), None)];
    let mut has_f = false;
    let mut has_mode = false;
    for &(c, arg) in gr.opts {
        if c == 'f' && matches!(gr.name, "copy_range" | "splice") && !rng.random_bool(0.2) {
            continue;
        }
        if !rng.random_bool(0.3) {
            continue;
        }
        has_f |= c == 'f';
        has_mode |= matches!(c, 'a' | 'd' | 'h');
        words.push((format!("-{c}"), None));
        if let Some(slot) = arg {
            words.push((w.value(rng, slot), Some(slot)));
        }
    }
    if gr.name == "seek" && !has_mode {
        words.push(("-d".into(), None));
    }
    let mut n = 0;
    if !(has_f && matches!(gr.name, "copy_range" | "splice")) {
        let ops = *gr.operands.choose(rng).unwrap();
        n = ops.len();
        for &s in ops {
            let v = match s {
                Slot::I64 | Slot::Usize => ["0", "1", "7"].choose(rng).unwrap().to_string(),
                s => w.value(rng, s),
            };
            words.push((v, Some(s)));
        }
    }
    (words, n, has_f)
}

fn join(words: &[Word]) -> String {
    words
        .iter()
        .map(|(w, _)| w.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A surely malformed line (as bytes: some are not UTF-8) and what is wrong with it.
fn malformed(rng: &mut StdRng, w: &World) -> (Vec<u8>, &'static str) {
    let getopt: Vec<&Grammar> = GRAMMAR.iter().filter(|g| !g.special).collect();
    loop {
        let gr = *getopt.choose(rng).unwrap();
        let kind = rng.random_range(0..10);
        let (mut words, n, has_f) = structured(rng, w, gr);
        match kind {
            0 => {
                // An unknown command word.
                let mut word: String = match rng.random_range(0..7) {
                    0 => format!("{}x", gr.name),
                    1 => gr.name[1..].to_string(),
                    2 => gr.name.to_uppercase(),
                    3 => format!("{}\u{1}", gr.name),
                    4 => format!("\0{}", gr.name),
                    5 => "\u{1b}[2J".into(),
                    _ => [
                        "é",
                        "pwrite\u{301}",
                        "-",
                        "--",
                        "0",
                        "4k",
                        "\u{fffd}",
                        "?",
                        "!",
                    ]
                    .choose(rng)
                    .unwrap()
                    .to_string(),
                };
                if help::lookup(&word).is_some() || word.contains(char::is_whitespace) {
                    continue;
                }
                if word.starts_with('#') {
                    word.insert(0, 'x');
                }
                words[0] = (word, None);
                return (join(&words).into_bytes(), "unknown command");
            }
            1 => {
                // One operand too many or too few.
                let allowed: Vec<usize> = if matches!(gr.name, "copy_range" | "splice") {
                    vec![usize::from(!has_f)]
                } else {
                    gr.operands.iter().map(|o| o.len()).collect()
                };
                if rng.random_bool(0.5) && !allowed.contains(&(n + 1)) {
                    words.push(("extra".into(), None));
                } else if n > 0 && !allowed.contains(&(n - 1)) {
                    words.pop();
                } else {
                    continue;
                }
                return (join(&words).into_bytes(), "argument count");
            }
            2 => {
                // A value out of its slot's range.
                // Not the numbers xfs_io hands to the kernel unchecked (pread's offset,
                // copy_range/splice -l): out of range there is the kernel's to answer.
                let judged = |s: Slot| {
                    (gr.name == "pread" && s == Slot::Probe)
                        || (matches!(gr.name, "copy_range" | "splice") && s == Slot::CopyLen)
                };
                let slots: Vec<usize> = (0..words.len())
                    .filter(|&i| {
                        words[i]
                            .1
                            .is_some_and(|s| !bad_for(s).is_empty() && !judged(s))
                    })
                    .collect();
                let Some(&i) = slots.choose(rng) else {
                    continue;
                };
                let bad = *bad_for(words[i].1.unwrap()).choose(rng).unwrap();
                if bad.is_empty() {
                    // An empty option argument: drop the value, the next word is taken.
                    continue;
                }
                words[i].0 = bad.to_string();
                return (join(&words).into_bytes(), "bad number");
            }
            3 => {
                // An option the command does not take.
                let c = loop {
                    let c = *b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:?"
                        .choose(rng)
                        .unwrap() as char;
                    if !gr.opts.iter().any(|(o, _)| *o == c) {
                        break c;
                    }
                };
                let at = rng.random_range(1..=words.len());
                words.insert(at, (format!("-{c}"), None));
                return (join(&words).into_bytes(), "unknown option");
            }
            4 => {
                // An option that needs an argument, at the end of the line.
                let Some(&(c, _)) = gr
                    .opts
                    .iter()
                    .filter(|(_, a)| a.is_some())
                    .collect::<Vec<_>>()
                    .choose(rng)
                else {
                    continue;
                };
                words.push((format!("-{c}"), None));
                return (join(&words).into_bytes(), "missing option argument");
            }
            5 => {
                // The same option twice, one of them bad.
                let with_num: Vec<&(char, Option<Slot>)> = gr
                    .opts
                    .iter()
                    .filter(|(_, a)| a.is_some_and(|s| !bad_for(s).is_empty()))
                    .collect();
                let Some(&&(c, Some(slot))) = with_num.choose(rng) else {
                    continue;
                };
                if c == 'f' {
                    continue; // -f changes the operand count
                }
                let bad = *bad_for(slot).choose(rng).unwrap();
                if bad.is_empty() {
                    continue;
                }
                let good = w.value(rng, slot);
                let (x, y) = if rng.random_bool(0.5) {
                    (good, bad.to_string())
                } else {
                    (bad.to_string(), good)
                };
                for v in [y, x] {
                    words.insert(1, (v, None));
                    words.insert(1, (format!("-{c}"), None));
                }
                return (join(&words).into_bytes(), "repeated option");
            }
            6 => return (special(rng).into_bytes(), "special form"),
            7 => {
                let l = match rng.random_range(0..4) {
                    0 => "x".repeat(100_000),
                    1 => format!("pwrite {}", "0 ".repeat(50_000)),
                    2 => format!("pwrite {} 4k", "1".repeat(10_000)),
                    _ => format!("open {} {}", "p".repeat(70_000), "q"),
                };
                return (l.into_bytes(), "very long line");
            }
            _ => {
                // Bytes that are not UTF-8, anywhere in an otherwise valid line.
                let mut b = w.line(rng).into_bytes();
                let bad: &[u8] = [
                    &[0xff][..],
                    &[0xc0, 0x80],
                    &[0xed, 0xa0, 0x80],
                    &[0xe2, 0x82],
                    &[0xf8, 0x88, 0x80, 0x80, 0x80],
                    &[0x80],
                ]
                .choose(rng)
                .unwrap();
                let at = rng.random_range(0..=b.len());
                b.splice(at..at, bad.iter().copied());
                return (b, "not UTF-8");
            }
        }
    }
}

/// Malformed forms of the commands that are not parsed with getopt, and of the checks
/// made after getopt.
fn special(rng: &mut StdRng) -> String {
    let forms: &[&str] = &[
        "seek 0",
        "seek -r -s 4k",
        "fiemap -a",
        "fiemap -av 0 4k",
        "signal",
        "signal after 1",
        "signal after 1 chunkz",
        "signal after x chunks",
        "signal after -1 chunks",
        "signal after 18446744073709551616 chunks",
        "signal on",
        "signal off extra",
        "inject",
        "inject media a",
        "inject media a 1 2",
        "inject media a -1",
        "inject media a 8e",
        "inject enospc",
        "inject enospc x",
        "inject enospc -1",
        "inject enospc 1k",
        "inject enospc 1 a b",
        "inject reboot a b",
        "inject reboot after x",
        "inject reboot after 9223372036854775808",
        "inject partition",
        "inject partition 1k",
        "inject partition 18446744073709551616",
        "inject partition 18446744073709551615",
        "inject partition 4398046511105",
        "inject bogus",
        "chattr i a",
        "chattr +x a",
        "chattr + a",
        "chattr - a",
        "chattr +i",
        "chattr +i a b",
        "chattr",
        "crash -1",
        "crash x",
        "crash 1 2",
        "crash 18446744073709551616",
        "file -1",
        "file x",
        "file 0x1",
        "mount plain",
        "mount plain d e",
    ];
    if rng.random_bool(0.3) {
        return format!("mount {} d", BAD_SPECS.choose(rng).unwrap())
            .trim_end()
            .to_string();
    }
    forms.choose(rng).unwrap().to_string()
}

/// Random words from the grammar (command words, options, numbers good and bad, paths).
fn soup(rng: &mut StdRng, w: &World) -> String {
    let n = rng.random_range(0..8);
    let mut words = Vec::new();
    for i in 0..n {
        let word = match rng.random_range(0..6) {
            0 if i == 0 || rng.random_bool(0.2) => GRAMMAR.choose(rng).unwrap().name.to_string(),
            1 => format!("-{}", *b"abcdfhlnqrstvCFSWw:".choose(rng).unwrap() as char),
            2 => BAD_CVT.choose(rng).unwrap().to_string(),
            3 => w.value(rng, Slot::Off),
            4 => w.path(rng),
            _ => [
                "--", "-", "after", "chunks", "media", "enospc", "\u{a0}", "\r", "\u{85}",
            ]
            .choose(rng)
            .unwrap()
            .to_string(),
        };
        words.push(word);
    }
    words.join(" ")
}

/// Blank, whitespace-only and comment lines (never `# fs:`).
fn filler(rng: &mut StdRng) -> String {
    [
        "",
        " ",
        "\t",
        "  \t ",
        "# a comment",
        "#",
        "#fs",
        "\u{a0}",
        "# fs is not on line 1",
    ]
    .choose(rng)
    .unwrap()
    .to_string()
}

/// One case: returns `Err(message)` when a property fails.
pub fn case(seed: u64, w: &World) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let before = rng.random_range(0..6);
    let after = rng.random_range(0..4);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let soup_case = rng.random_bool(0.25);
    for _ in 0..before {
        let l = if rng.random_bool(0.3) {
            filler(&mut rng)
        } else {
            w.line(&mut rng)
        };
        lines.push(l.into_bytes());
    }
    let (bad, what) = if soup_case {
        (soup(&mut rng, w).into_bytes(), "soup")
    } else if lines.is_empty() && rng.random_bool(0.1) {
        (
            format!(
                "# fs: {}",
                // Not "": an empty model is no hint at all (a comment).
                BAD_SPECS
                    .iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .choose(&mut rng)
                    .unwrap()
            )
            .into_bytes(),
            "bad fs hint",
        )
    } else {
        malformed(&mut rng, w)
    };
    lines.push(bad);
    let bad_line = lines.len();
    for _ in 0..after {
        let l = match rng.random_range(0..3) {
            0 => filler(&mut rng),
            1 => soup(&mut rng, w),
            _ => w.line(&mut rng),
        };
        lines.push(l.into_bytes());
    }
    let eol: &[u8] = if rng.random_bool(0.2) { b"\r\n" } else { b"\n" };
    let mut bytes = lines.join(eol);
    if rng.random_bool(0.5) {
        bytes.extend_from_slice(eol);
    }
    if rng.random_bool(0.1) {
        bytes.splice(0..0, "\u{feff}".bytes());
    }
    let shown = String::from_utf8_lossy(&bytes);
    let shown: String = shown.chars().take(600).collect();
    let ctx =
        |m: String| format!("{what} on line {bad_line}: {m}\nscript (first 600 chars): {shown:?}");

    let r = script::parse_bytes(&bytes);
    let err = match (r, soup_case) {
        (Ok(_), true) => return Ok(()),
        (Ok(_), false) => return Err(ctx("the script parsed".into())),
        (Err(e), _) => e,
    };
    let text = err.to_string();
    if !soup_case && err.line != bad_line {
        return Err(ctx(format!("the error names line {}: {text}", err.line)));
    }
    if soup_case && (err.line < 1 || err.line > lines.len()) {
        return Err(ctx(format!("the error names line {}: {text}", err.line)));
    }
    if !text.starts_with(&format!("script:{}: ", err.line)) || text.len() <= 10 {
        return Err(ctx(format!(
            "the error does not read script:LINE: …: {text:?}"
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ctx(format!(
            "the error holds raw control characters: {text:?}"
        )));
    }
    // The library entry point the command uses for text: refused the same way, and
    // nothing ran (no transcript).
    if let Ok(t) = std::str::from_utf8(&bytes) {
        let mut out = Vec::new();
        match script::run_to(t, "plain:size=1m", false, &mut out) {
            Err(ScriptError::Usage(e)) if e == err => {}
            other => {
                return Err(ctx(format!(
                    "run_to answered {other:?}, parse_bytes {text}"
                )));
            }
        }
        if !out.is_empty() {
            return Err(ctx(format!(
                "a refused script printed: {}",
                String::from_utf8_lossy(&out)
            )));
        }
    }
    Ok(())
}
