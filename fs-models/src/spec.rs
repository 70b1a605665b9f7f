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

/// Parses a size with `xfs_io`'s suffixes: `k`, `m`, `g`, `t`, `p`, `e` (powers of 1024,
/// either case), `s` (512-byte sectors); a `0x` prefix for hexadecimal.
///
/// # Errors
/// A message naming the bad size (empty, not a number, unknown suffix, overflow).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size '{s}'");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).map_err(|_| bad());
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "s" => 512,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        "e" => 1 << 60,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
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
    /// # Errors
    /// A message for an empty model.
    pub fn parse(s: &str) -> Result<Spec, String> {
        let (model, opts) = s.split_once(':').unwrap_or((s, ""));
        if model.is_empty() {
            return Err("empty model name".into());
        }
        let mut options = Vec::new();
        for kv in opts.split(',').filter(|x| !x.is_empty()) {
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
                "size" => base.size = parse_size(v)?,
                "chunk" => {
                    base.chunk_size = parse_size(v)?;
                    if base.chunk_size == 0 {
                        return Err("chunk must be at least 1 byte".into());
                    }
                }
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

/// A boolean mount option: bare (`nodatacow`) or `1/0`, `on/off`, `yes/no`, `true/false`.
fn parse_flag(model: &str, k: &str, v: &str) -> Result<bool, String> {
    match v {
        "" | "1" | "on" | "yes" | "true" => Ok(true),
        "0" | "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{model}: mount option '{k}={v}' is not a boolean")),
    }
}

/// `btrfs-like[:max_inline=SIZE,nodatacow,datacow]`.
fn make_btrfs(sp: &Spec) -> Result<Arc<dyn FileSystem>, String> {
    use crate::btrfs::{Btrfs, cost_model};
    let base = LocalOptions {
        cost: cost_model(),
        ..LocalOptions::default()
    };
    let (opts, rest) = sp.local_options(base)?;
    let mut flavor = Btrfs::default();
    for (k, v) in &rest {
        match k.as_str() {
            "max_inline" => flavor.max_inline = parse_size(v)?,
            "nodatacow" => flavor.nodatacow = parse_flag(&sp.model, k, v)?,
            "datacow" => flavor.nodatacow = !parse_flag(&sp.model, k, v)?,
            _ => return Err(format!("{}: unknown mount option '{k}'", sp.model)),
        }
    }
    Ok(Arc::new(crate::btrfs::btrfs(flavor, opts)))
}

/// `ocfs2-like[:cluster=SIZE,reflink=0|1]` and `xfs-like[:reflink=0|1]`.
fn make_ocfs2(sp: &Spec) -> Result<Arc<dyn FileSystem>, String> {
    use crate::ocfs2::Ocfs2;
    let xfs = sp.model == "xfs-like";
    // The cluster is the allocation unit, so it must be known before `size` is checked.
    let cluster = sp.options.iter().rev().find(|(k, _)| k == "cluster");
    let mut flavor = match cluster {
        _ if xfs => Ocfs2::xfs(),
        Some((_, v)) => Ocfs2::with_cluster(parse_size(v)?)?,
        None => Ocfs2::with_cluster(4096)?,
    };
    let (opts, rest) = sp.local_options(flavor.options(LocalOptions::default()))?;
    for (k, v) in &rest {
        match k.as_str() {
            "cluster" if !xfs => {}
            "reflink" => flavor.reflink = parse_flag(&sp.model, k, v)?,
            _ => return Err(format!("{}: unknown mount option '{k}'", sp.model)),
        }
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
    fn unknown_model_and_option_are_clear_errors() {
        let e = make("zfs-like").err().unwrap();
        assert!(e.contains("unknown filesystem model 'zfs-like'"), "{e}");
        let e = make("plain:colour=blue").err().unwrap();
        assert!(e.contains("unknown mount option 'colour'"), "{e}");
        assert!(make("plain:size=1m,chunk=4k").is_ok());
    }
}
