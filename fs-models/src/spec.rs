//! Mount specs: `MODEL[:key=value,...]`, e.g. `btrfs-like:size=256m,chunk=64k`.

use vfs::FileSystem;
use vfs::sync::Arc;

use crate::local::LocalOptions;

/// The model names `make` accepts, for help texts and "did you mean" errors.
pub const MODELS: &[&str] = &[
    "plain",
    "tmpfs-like",
    "nfs-like",
    "btrfs-like",
    "ocfs2-like",
    "xfs-like",
];

/// The block size [`cvtnum`]'s `b` suffix multiplies by (xfs_io uses 4096 on non-XFS files).
pub const CVT_BLOCK: u64 = 4096;
/// The sector size [`cvtnum`]'s `s` suffix multiplies by.
pub const CVT_SECTOR: u64 = 512;

/// The smallest value of a mount option that sets how many bytes one step of work moves
/// (`chunk=` of every model; nfs-like's `wsize=`, `copychunk=` and a non-zero `wback=`):
/// one 512-byte sector. Below it the work of a copy, a write-back or a READ would grow
/// with the number of bytes (`chunk=1` is one chunk, both inode locks and a signal check
/// per byte), so such values are refused at mount.
pub const MIN_STEP: u64 = 512;

/// Checks a step-size option against [`MIN_STEP`].
///
/// # Errors
/// `"KEY=VALUE: at least 512 bytes (one sector)"` for a smaller value.
pub fn check_step(key: &str, value: &str, n: u64) -> Result<u64, String> {
    if n < MIN_STEP {
        return Err(format!(
            "{key}={value}: at least {MIN_STEP} bytes (one sector); smaller steps make the \
             work grow with every byte"
        ));
    }
    Ok(n)
}

/// The multiplier of a `cvtnum` suffix (`""` is 1).
///
/// # Errors
/// `not a number` for an unknown suffix or more than one character.
pub fn cvt_multiplier(suffix: &str) -> Result<u64, &'static str> {
    Ok(match suffix {
        "" => 1,
        s if s.len() == 1 => match s.as_bytes()[0].to_ascii_lowercase() {
            b'b' => CVT_BLOCK,
            b's' => CVT_SECTOR,
            b'k' => 1 << 10,
            b'm' => 1 << 20,
            b'g' => 1 << 30,
            b't' => 1 << 40,
            b'p' => 1 << 50,
            b'e' => 1 << 60,
            _ => return Err("not a number"),
        },
        _ => return Err("not a number"),
    })
}

/// xfs_io's `cvtnum`, the number syntax of scripts and mount specs alike: decimal, `0x`
/// hex, leading-`0` octal, with one optional suffix `k m g t p e` (powers of 1024, either
/// case), `s` (512-byte sectors) or `b` (4096-byte blocks); at most `i64::MAX`; negative
/// numbers are errors.
///
/// # Errors
/// A short description of what is wrong (`not a number`, `negative`, `too large`).
pub fn cvtnum(s: &str) -> Result<u64, &'static str> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("negative numbers are not allowed");
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let (radix, digits_start) = if t.starts_with("0x") || t.starts_with("0X") {
        (16, 2)
    } else if t.starts_with('0') && t.len() > 1 {
        (8, 1)
    } else {
        (10, 0)
    };
    let body = &t[digits_start..];
    let end = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    let (digits, suffix) = body.split_at(end);
    let n: u64 = if digits.is_empty() {
        if radix == 8 {
            0 // "0" followed by a non-octal character: strtoll read the 0
        } else {
            return Err("not a number");
        }
    } else {
        u64::from_str_radix(digits, radix).map_err(|_| "too large")?
    };
    let v = n.checked_mul(cvt_multiplier(suffix)?).ok_or("too large")?;
    if v > i64::MAX as u64 {
        return Err("too large");
    }
    Ok(v)
}

/// Parses a size of a mount option or a command-line flag: [`cvtnum`]'s syntax (the same
/// numbers a script takes).
///
/// # Errors
/// `invalid size 'S': WHY` (empty, not a number, negative, unknown suffix, too large).
pub fn parse_size(s: &str) -> Result<u64, String> {
    cvtnum(s).map_err(|why| format!("invalid size '{s}': {why}"))
}

/// A parsed spec: the model name and its `key=value` options in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub model: String,
    pub options: Vec<(String, String)>,
}

impl Spec {
    /// Parses `MODEL[:k=v,...]`. A bare word (`nodatacow`) is a flag: `(word, "")`.
    ///
    /// Only the first `:` separates the model from its options: an option holding another
    /// `:` is refused, so that `nfs-like:server=nfs-like:server=plain` cannot smuggle a
    /// whole spec in as one option's value (an nfs-like server takes a model name; its
    /// options are the client's `size=`, `journal=` and `srvKEY=`).
    ///
    /// # Errors
    /// A message for an empty model or an option holding a `:`.
    pub fn parse(s: &str) -> Result<Spec, String> {
        let (model, opts) = s.split_once(':').unwrap_or((s, ""));
        if model.is_empty() {
            return Err("empty model name".into());
        }
        let mut options = Vec::new();
        for kv in opts.split(',').filter(|x| !x.is_empty()) {
            if kv.contains(':') {
                return Err(format!(
                    "{model}: mount option '{kv}' holds a ':' (a spec is MODEL:key=value,...; \
                     option values are plain words)"
                ));
            }
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            options.push((k.to_string(), v.to_string()));
        }
        Ok(Spec {
            model: model.to_string(),
            options,
        })
    }

    /// Applies the options every local model understands (`size`, `chunk`, `journal`,
    /// `commit`) and
    /// returns the rest for the model.
    ///
    /// # Errors
    /// A message for a bad size.
    pub fn local_options(
        &self,
        mut base: LocalOptions,
    ) -> Result<(LocalOptions, Vec<(String, String)>), String> {
        let mut rest = Vec::new();
        for (k, v) in &self.options {
            match k.as_str() {
                "size" => base.size = key_size(k, v)?,
                "chunk" => base.chunk_size = check_step(k, v, key_size(k, v)?)?,
                "journal" => {
                    base.journal_ops = v.parse().map_err(|_| format!("bad journal={v}"))?
                }
                "commit" => match v.parse::<u64>() {
                    Ok(secs @ 1..=86_400) => {
                        base.commit_interval = Some(secs * vfs::clock::SEC);
                    }
                    _ => {
                        return Err(format!(
                            "bad commit={v}: seconds between periodic commits, 1 to 86400"
                        ));
                    }
                },
                _ => rest.push((k.clone(), v.clone())),
            }
        }
        if base.size < base.block_size * 16 {
            return Err(format!(
                "size {} is too small (minimum 16 blocks)",
                base.size
            ));
        }
        Ok((base, rest))
    }
}

/// The size of mount option `key`: `key: invalid size 'V': WHY` when it does not parse.
fn key_size(key: &str, v: &str) -> Result<u64, String> {
    parse_size(v).map_err(|e| format!("{key}: {e}"))
}

/// A boolean mount option: bare (`nodatacow`) or `1/0`, `on/off`, `yes/no`, `true/false`.
fn parse_flag(model: &str, k: &str, v: &str) -> Result<bool, String> {
    match v {
        "" | "1" | "on" | "yes" | "true" => Ok(true),
        "0" | "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{model}: mount option '{k}={v}' is not a boolean")),
    }
}

/// `remap=locked|swap` of the sharing models: how a clone or dedupe holds the inode locks
/// (see [`LocalOptions::remap_swap`]).
fn parse_remap(model: &str, v: &str) -> Result<bool, String> {
    match v {
        "swap" => Ok(true),
        "locked" => Ok(false),
        _ => Err(format!(
            "{model}: bad remap={v}: locked (build the remap under the inode locks, as Linux \
             does) or swap (build it outside them and install it under them)"
        )),
    }
}

/// `btrfs-like[:max_inline=SIZE,nodatacow,datacow,remap=locked|swap]`.
fn make_btrfs(sp: &Spec) -> Result<Arc<dyn FileSystem>, String> {
    use crate::btrfs::{Btrfs, cost_model};
    let base = LocalOptions {
        cost: cost_model(),
        ..LocalOptions::default()
    };
    let (mut opts, rest) = sp.local_options(base)?;
    let mut flavor = Btrfs::default();
    for (k, v) in &rest {
        match k.as_str() {
            "max_inline" => flavor.max_inline = key_size(k, v)?,
            "nodatacow" => flavor.nodatacow = parse_flag(&sp.model, k, v)?,
            "datacow" => flavor.nodatacow = !parse_flag(&sp.model, k, v)?,
            "remap" => opts.remap_swap = parse_remap(&sp.model, v)?,
            _ => return Err(format!("{}: unknown mount option '{k}'", sp.model)),
        }
    }
    Ok(Arc::new(crate::btrfs::btrfs(flavor, opts)))
}

/// `ocfs2-like[:cluster=SIZE,reflink=0|1,remap=locked|swap]` and
/// `xfs-like[:reflink=0|1,remap=locked|swap]`.
fn make_ocfs2(sp: &Spec) -> Result<Arc<dyn FileSystem>, String> {
    use crate::ocfs2::Ocfs2;
    let xfs = sp.model == "xfs-like";
    // The cluster is the allocation unit, so it must be known before `size` is checked.
    let cluster = sp.options.iter().rev().find(|(k, _)| k == "cluster");
    let mut flavor = match cluster {
        _ if xfs => Ocfs2::xfs(),
        Some((k, v)) => Ocfs2::with_cluster(key_size(k, v)?)?,
        None => Ocfs2::with_cluster(4096)?,
    };
    let (mut opts, rest) = sp.local_options(flavor.options(LocalOptions::default()))?;
    for (k, v) in &rest {
        match k.as_str() {
            "cluster" if !xfs => {}
            "reflink" => flavor.reflink = parse_flag(&sp.model, k, v)?,
            "remap" => opts.remap_swap = parse_remap(&sp.model, v)?,
            _ => return Err(format!("{}: unknown mount option '{k}'", sp.model)),
        }
    }
    if opts.remap_swap && !flavor.reflink {
        return Err(format!(
            "{}: remap=swap needs reflink=1 (without reflink nothing is remapped)",
            sp.model
        ));
    }
    Ok(Arc::new(crate::ocfs2::ocfs2(flavor, opts)))
}

fn no_extra(model: &str, rest: &[(String, String)]) -> Result<(), String> {
    match rest.first() {
        Some((k, _)) => Err(format!("{model}: unknown mount option '{k}'")),
        None => Ok(()),
    }
}

/// Builds a filesystem from a mount spec.
///
/// # Errors
/// A message naming an unknown model (with the list of known ones) or a bad option.
pub fn make(spec: &str) -> Result<Arc<dyn FileSystem>, String> {
    let sp = Spec::parse(spec)?;
    match sp.model.as_str() {
        "plain" | "tmpfs-like" => {
            let (opts, rest) = sp.local_options(LocalOptions::default())?;
            no_extra(&sp.model, &rest)?;
            let flavor = crate::plain::Plain {
                tmpfs: sp.model == "tmpfs-like",
            };
            Ok(Arc::new(crate::local::LocalFs::new(flavor, opts)))
        }
        "nfs-like" => crate::nfs::make(&sp),
        "btrfs-like" => make_btrfs(&sp),
        "ocfs2-like" | "xfs-like" => make_ocfs2(&sp),
        other => Err(format!(
            "unknown filesystem model '{other}' (known: {})",
            MODELS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_xfs_io() {
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("1t"), Ok(1 << 40));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("0x10"), Ok(16));
        assert_eq!(parse_size("3s"), Ok(1536));
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999e").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn sizes_take_every_number_form_of_scripts() {
        assert_eq!(parse_size("2b"), Ok(8192), "4096-byte blocks");
        assert_eq!(parse_size("010"), Ok(8), "leading zero is octal");
        assert_eq!(parse_size("0x10k"), Ok(16 << 10));
        assert_eq!(cvtnum("12kk"), Err("not a number"));
        assert_eq!(
            parse_size("-1").unwrap_err(),
            "invalid size '-1': negative numbers are not allowed"
        );
    }

    #[test]
    fn size_errors_name_the_option() {
        for (spec, want) in [
            ("btrfs-like:max_inline=-1", "max_inline: invalid size '-1'"),
            ("plain:size=lots", "size: invalid size 'lots': not a number"),
            ("plain:chunk=1q", "chunk: invalid size '1q'"),
            (
                "ocfs2-like:cluster=9e",
                "cluster: invalid size '9e': too large",
            ),
        ] {
            let e = make(spec).err().unwrap();
            assert!(e.contains(want), "{spec}: {e}");
        }
        assert!(make("btrfs-like:max_inline=0x800").is_ok());
        assert!(make("plain:size=4096b").is_ok());
    }

    #[test]
    fn regression_step_sizes_below_a_sector_are_refused() {
        // Issue 17: chunk=1 was accepted and a copy then took one chunk (two inode locks,
        // a signal check) per byte; the same for nfs-like's wsize, copychunk and wback.
        for spec in [
            "plain:chunk=1",
            "btrfs-like:chunk=511",
            "xfs-like:chunk=0",
            "nfs-like:chunk=1",
            "nfs-like:wsize=1",
            "nfs-like:copychunk=100",
            "nfs-like:wback=1",
            "nfs-like:srvchunk=1",
        ] {
            let e = make(spec)
                .err()
                .unwrap_or_else(|| panic!("{spec} accepted"));
            assert!(
                e.contains(": at least 512 bytes (one sector)"),
                "{spec}: {e}"
            );
        }
        for spec in [
            "plain:chunk=512",
            "nfs-like:chunk=1s,wsize=512,copychunk=1k,wback=0",
            "nfs-like:wback=512",
        ] {
            assert!(make(spec).is_ok(), "{spec}");
        }
        assert_eq!(
            make("plain:chunk=1").err().unwrap(),
            "chunk=1: at least 512 bytes (one sector); smaller steps make the work grow with \
             every byte"
        );
    }

    #[test]
    fn an_option_cannot_hold_a_nested_spec() {
        for spec in [
            "nfs-like:server=nfs-like:server=plain",
            "nfs-like:server=btrfs-like:size=1g",
            "plain:size=1g:chunk=4k",
        ] {
            let e = make(spec)
                .err()
                .unwrap_or_else(|| panic!("{spec} accepted"));
            assert!(e.contains("holds a ':'"), "{spec}: {e}");
        }
        assert!(make("nfs-like:server=plain,size=1g").is_ok());
    }

    #[test]
    fn unknown_model_and_option_are_clear_errors() {
        let e = make("zfs-like").err().unwrap();
        assert!(e.contains("unknown filesystem model 'zfs-like'"), "{e}");
        let e = make("plain:colour=blue").err().unwrap();
        assert!(e.contains("unknown mount option 'colour'"), "{e}");
        assert!(make("plain:size=1m,chunk=4k").is_ok());
    }
}
