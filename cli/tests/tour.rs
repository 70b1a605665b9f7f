//! `splicelab tour`, end to end: for every row of the table, recompute cells independently
//! (straight through `Process` and `FileSystem` calls, without the tour's code) and compare
//! them with the tour's `--json` output; check that `--html` writes one self-contained,
//! well-formed page.
//!
//! The tour runs once, at a small size (debug builds are slow), and every row test reads
//! the same output.

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;
use syscall::api::o;
use syscall::{Process, Syscalls};
use vfs::Data;
use vfs::errno::Errno;
use vfs::sync::Arc;
use vfs::vfs::Vfs;

/// The size the tests run the tour at.
const SIZE: &str = "8m";
const SIZE_BYTES: u64 = 8 << 20;

fn splicelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args(args)
        .output()
        .expect("splicelab runs")
}

/// The tour's rows, keyed by `(model, method)`.
fn rows() -> &'static HashMap<(String, String), Value> {
    static ROWS: OnceLock<HashMap<(String, String), Value>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let o = splicelab(&["tour", "--json", "--size", SIZE]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).expect("utf-8");
        let mut m = HashMap::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("one JSON object per line");
            let key = (
                v["model"].as_str().unwrap().to_string(),
                v["method"].as_str().unwrap().to_string(),
            );
            assert!(m.insert(key, v).is_none(), "one row per model and method");
        }
        assert_eq!(m.len(), 9 * 5, "9 models x 5 calls");
        m
    })
}

fn row(model: &str, method: &str) -> &'static Value {
    rows()
        .get(&(model.to_string(), method.to_string()))
        .unwrap_or_else(|| panic!("no row for {model} {method}"))
}

/// What an independent run of the same copy produced.
struct Independent {
    bytes: u64,
    errno: Option<Errno>,
    shared_blocks: u64,
    /// Files that reference the physical block behind byte 0 of the source.
    users_of_src_block0: BTreeSet<&'static str>,
}

/// The same copy as the tour's row, done here with the system calls themselves: a fresh
/// filesystem from the row's mount spec, `/src` of pattern data, an empty `/dst`, fsync,
/// then the call in a loop like `cp`.
fn recompute(r: &Value) -> Independent {
    let mount = r["mount"].as_str().unwrap();
    let size = r["size"].as_u64().unwrap();
    let fs = fs_models::spec::make(mount).expect("the row's mount spec builds");
    let vfs = Arc::new(Vfs::new());
    vfs.mount("/", fs).unwrap();
    let mut p = Process::new(vfs.clone(), 7);
    let src = p.open("/src", o::CREAT | o::RDWR, 0o600).unwrap();
    assert_eq!(
        p.pwrite(src, &Data::pattern(42, 0, size), 0).unwrap() as u64,
        size
    );
    let dst = p.open("/dst", o::CREAT | o::RDWR, 0o600).unwrap();
    p.fsync(src).unwrap();
    let (mut bytes, mut errno) = (0u64, None);
    match r["method"].as_str().unwrap() {
        "ficlonerange" => match p.ficlonerange(dst, src, 0, size, 0) {
            Ok(()) => bytes = size,
            Err(e) => errno = Some(e),
        },
        m => {
            let flags = match m {
                "never" => Some(0),
                "may" => Some(0x10),
                "must" => Some(0x20),
                _ => None,
            };
            while bytes < size {
                let left = (size - bytes) as usize;
                let res = match flags {
                    Some(f) => {
                        let (mut a, mut b) = (bytes, bytes);
                        p.splice(src, Some(&mut a), dst, Some(&mut b), left, f)
                    }
                    None => {
                        let (mut a, mut b) = (bytes as i64, bytes as i64);
                        p.copy_file_range(src, Some(&mut a), dst, Some(&mut b), left, 0)
                    }
                };
                match res {
                    Ok(0) => break,
                    Ok(n) => bytes += n as u64,
                    Err(e) => {
                        errno = Some(e);
                        break;
                    }
                }
            }
        }
    }
    let _ = p.fsync(dst);
    let mnt = vfs.mounts()[0].clone();
    let img = mnt.fs.image();
    let bs = img.block_size();
    let (si, di) = (p.fstat(src).unwrap().ino, p.fstat(dst).unwrap().ino);
    let shared_blocks = img.shared_blocks(di, 0, size.div_ceil(bs)).unwrap();
    let pb = img
        .physical_block(si, 0)
        .unwrap()
        .expect("source block 0 is mapped");
    let users_of_src_block0 = img
        .users_of(pb)
        .into_iter()
        .map(|(ino, _)| match ino {
            i if i == si => "src",
            i if i == di => "dst",
            _ => "other",
        })
        .collect();
    Independent {
        bytes,
        errno,
        shared_blocks,
        users_of_src_block0,
    }
}

/// Compares the recomputed cells with the row: result (bytes or errno), shared blocks,
/// and what a media error on the source's first block destroys.
fn check(model: &str, method: &str) {
    let r = row(model, method);
    let ind = recompute(r);
    let errno = ind.errno.map(|e| e.name().unwrap().to_string());
    assert_eq!(
        r["errno"].as_str(),
        errno.as_deref(),
        "{model} {method}: errno"
    );
    assert_eq!(
        r["bytes"].as_u64(),
        Some(ind.bytes),
        "{model} {method}: bytes"
    );
    assert_eq!(
        r["shared_blocks"].as_u64(),
        Some(ind.shared_blocks),
        "{model} {method}: shared blocks"
    );
    let both = ind.users_of_src_block0.contains("dst");
    assert_eq!(
        r["media_error_destroys"].as_str(),
        Some(if both { "both" } else { "1 file" }),
        "{model} {method}: users_of(source block 0) = {:?}",
        ind.users_of_src_block0
    );
    // A byte copy never leaves a shared block behind it; a sharing call shares them all.
    if ind.bytes == SIZE_BYTES && ind.shared_blocks > 0 {
        assert_eq!(ind.shared_blocks, SIZE_BYTES / 4096, "{model} {method}");
    }
}

macro_rules! rows {
    ($($name:ident: $model:literal, $method:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check($model, $method);
            }
        )*
    };
}

rows! {
    btrfs_never: "btrfs-like", "never";
    btrfs_may: "btrfs-like", "may";
    btrfs_must: "btrfs-like", "must";
    btrfs_copy_file_range: "btrfs-like", "copy_file_range";
    btrfs_ficlonerange: "btrfs-like", "ficlonerange";
    ocfs2_never: "ocfs2-like", "never";
    ocfs2_may: "ocfs2-like", "may";
    ocfs2_must: "ocfs2-like", "must";
    ocfs2_copy_file_range: "ocfs2-like", "copy_file_range";
    ocfs2_ficlonerange: "ocfs2-like", "ficlonerange";
    xfs_never: "xfs-like", "never";
    xfs_may: "xfs-like", "may";
    xfs_must: "xfs-like", "must";
    xfs_copy_file_range: "xfs-like", "copy_file_range";
    xfs_ficlonerange: "xfs-like", "ficlonerange";
    btrfs_swap_never: "btrfs-like swap", "never";
    btrfs_swap_may: "btrfs-like swap", "may";
    btrfs_swap_must: "btrfs-like swap", "must";
    btrfs_swap_copy_file_range: "btrfs-like swap", "copy_file_range";
    btrfs_swap_ficlonerange: "btrfs-like swap", "ficlonerange";
    xfs_swap_never: "xfs-like swap", "never";
    xfs_swap_may: "xfs-like swap", "may";
    xfs_swap_must: "xfs-like swap", "must";
    xfs_swap_copy_file_range: "xfs-like swap", "copy_file_range";
    xfs_swap_ficlonerange: "xfs-like swap", "ficlonerange";
    nfs_strict_never: "nfs/btrfs strict", "never";
    nfs_strict_may: "nfs/btrfs strict", "may";
    nfs_strict_must: "nfs/btrfs strict", "must";
    nfs_strict_copy_file_range: "nfs/btrfs strict", "copy_file_range";
    nfs_strict_ficlonerange: "nfs/btrfs strict", "ficlonerange";
    nfs_lenient_never: "nfs/btrfs lenient", "never";
    nfs_lenient_may: "nfs/btrfs lenient", "may";
    nfs_lenient_must: "nfs/btrfs lenient", "must";
    nfs_lenient_copy_file_range: "nfs/btrfs lenient", "copy_file_range";
    nfs_lenient_ficlonerange: "nfs/btrfs lenient", "ficlonerange";
    nfs_plain_never: "nfs/plain", "never";
    nfs_plain_may: "nfs/plain", "may";
    nfs_plain_must: "nfs/plain", "must";
    nfs_plain_copy_file_range: "nfs/plain", "copy_file_range";
    nfs_plain_ficlonerange: "nfs/plain", "ficlonerange";
    plain_never: "plain", "never";
    plain_may: "plain", "may";
    plain_must: "plain", "must";
    plain_copy_file_range: "plain", "copy_file_range";
    plain_ficlonerange: "plain", "ficlonerange";
}

/// The contract, read off the table: never-share leaves nothing shared on every model but
/// the lenient nfs policy (whose COPY the server implements with a reflink — the open
/// question the lab makes visible); must-share either shares everything or fails.
#[test]
fn the_three_semantics_as_the_table_shows_them() {
    for ((model, method), r) in rows() {
        let shared = r["shared_blocks"].as_u64().unwrap();
        match method.as_str() {
            "never" if model == "nfs/btrfs lenient" => assert!(shared > 0, "{model}"),
            "never" => assert_eq!(shared, 0, "{model}: never share"),
            "must" => assert!(
                r["errno"].is_string() || shared == SIZE_BYTES / 4096,
                "{model}: must share = all or nothing"
            ),
            _ => {}
        }
        if r["errno"].is_null() {
            let after = &r["crash_after_fsync"]["summary"];
            assert_eq!(after, "kept", "{model} {method}: fsync keeps the copy");
        }
    }
    // Overwrites need new space exactly where the model copies on write.
    let ow = |m: &str, k: &str| {
        row(m, k)["overwrite_when_full"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        ow("btrfs-like", "never"),
        "ENOSPC",
        "btrfs CoWs every write"
    );
    assert_eq!(ow("xfs-like", "never"), "ok");
    assert_eq!(ow("xfs-like", "may"), "ENOSPC", "a shared block needs CoW");
    assert_eq!(ow("plain", "may"), "ok");
    // remap=swap changes who waits, not what is shared or kept.
    for model in ["btrfs-like", "xfs-like"] {
        for method in ["never", "may", "must", "copy_file_range", "ficlonerange"] {
            let (locked, swap) = (row(model, method), row(&format!("{model} swap"), method));
            for key in ["bytes", "errno", "shared_blocks", "overwrite_when_full"] {
                assert_eq!(locked[key], swap[key], "{model} {method}: {key}");
            }
        }
    }
}

#[test]
fn the_text_table_has_a_line_per_row_and_a_legend() {
    let o = splicelab(&["tour", "--size", "1m", "--fs", "plain"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("model  call"), "{out}");
    for call in [
        "splice ",
        "splice MAY",
        "splice MUST",
        "copy_file_range",
        "FICLONERANGE",
    ] {
        assert!(out.contains(call), "{call} in {out}");
    }
    assert!(out.contains("EOPNOTSUPP"), "{out}");
    assert!(out.contains("dst lock   the longest single hold"), "{out}");
}

#[test]
fn bad_arguments_are_one_clear_line_and_a_failure() {
    for (args, want) in [
        (&["tour", "--size", "0"][..], "--size"),
        (&["tour", "--size", "12q"][..], "invalid size '12q'"),
        (&["tour", "--size", "9t"][..], "limit"),
        (
            &["tour", "--fs", "zfs-like"][..],
            "unknown filesystem model 'zfs-like'",
        ),
    ] {
        let o = splicelab(args);
        assert!(!o.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A minimal well-formedness check: every tag closes in order (void elements written as
/// `<x/>`), comments and the doctype are skipped. Returns the element names in order.
fn parse_tags(html: &str) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").ok_or("unclosed comment")?;
            rest = &rest[end + 3..];
            continue;
        }
        let end = rest.find('>').ok_or("unclosed tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("<{open}> closed by </{name}>"));
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.is_empty() {
            return Err(format!("bad tag <{tag}>"));
        }
        seen.push(name.clone());
        if !tag.ends_with('/') {
            if name == "style" {
                // CSS may hold '>' (selectors); skip to the closing tag.
                let end = rest.find("</style>").ok_or("unclosed <style>")?;
                rest = &rest[end + "</style>".len()..];
                continue;
            }
            stack.push(name);
        }
    }
    match stack.pop() {
        Some(open) => Err(format!("<{open}> never closed")),
        None => Ok(seen),
    }
}

#[test]
fn html_report_is_self_contained_and_well_formed() {
    let dir = std::env::temp_dir().join(format!("splicelab-tour-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tour.html");
    let o = splicelab(&["tour", "--size", "4m", "--html", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&path).unwrap();
    let tags = parse_tags(&html).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    assert_eq!(tags.first().map(String::as_str), Some("html"));
    let svgs = tags.iter().filter(|t| *t == "svg").count();
    assert_eq!(
        svgs,
        9 + 3,
        "one extent map per model and three timelines (the last with remap=swap)"
    );
    for model in [
        "btrfs-like",
        "ocfs2-like",
        "xfs-like",
        "btrfs-like swap",
        "xfs-like swap",
        "nfs/btrfs strict",
        "nfs/btrfs lenient",
        "nfs/plain",
        "plain",
    ] {
        assert!(
            html.contains(&format!("<title>{model}: /src")),
            "an extent map for {model}"
        );
    }
    let lower = html.to_ascii_lowercase();
    for bad in [
        "http://", "https://", "<script", "<link", "<img", "src=", "url(",
    ] {
        assert!(!lower.contains(bad), "external reference or script: {bad}");
    }
    assert!(tags.iter().any(|t| t == "table"));
    assert!(tags.iter().any(|t| t == "style"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn script_svg_writes_one_extent_map_per_mount() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = std::env::temp_dir().join(format!("splicelab-script-svg-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_splicelab"))
        .args([
            "script",
            "--fs",
            "xfs-like",
            "--svg",
            dir.to_str().unwrap(),
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"open -f a\npwrite -S 0x61 0 1m\nopen -f b\nreflink a 0 0 512k\nmkdir m\nmount plain m\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = std::fs::read_to_string(dir.join("extent-map-1.svg")).unwrap();
    assert!(first.starts_with("<?xml") && first.contains("xmlns="));
    assert!(
        first.contains("A ×2"),
        "the shared half of /a and /b: {first}"
    );
    assert!(first.contains("2 references: /a, /b"), "{first}");
    let second = std::fs::read_to_string(dir.join("extent-map-2.svg")).unwrap();
    assert!(second.contains("plain on /m"), "{second}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_html_checker_catches_broken_pages() {
    assert!(parse_tags("<html><body></html>").is_err());
    assert!(parse_tags("<html><br></html>").is_err());
    assert!(parse_tags("<html><br/><p>x</p></html>").is_ok());
}
