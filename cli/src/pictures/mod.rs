//! Pictures where people would rather look than read numbers: extent maps (which blocks are
//! shared by whom) and blocking timelines (who holds the destination's inode lock when), as
//! terminal text, as SVG, and in one self-contained HTML report.
//!
//! - [`extent_map::ExtentMap`]: built from any filesystem image; [`ExtentMap::text`] and
//!   [`ExtentMap::svg`]. Drawn by extents, never by blocks, so a 1 TiB file is as cheap to
//!   draw as a 4 KiB one.
//! - [`timeline::races`]: a copy racing a reader of the destination, on virtual time;
//!   [`timeline::Race::ascii`] and [`timeline::Race::svg`].
//! - [`html::report`]: the tour's table, one extent map per model and the two timelines in
//!   one HTML file with inline CSS and inline SVG (no script, no external resource).
//! - [`write_svgs`]: one extent-map SVG per mount of a VFS (for `splicelab script --svg`).
//!
//! [`ExtentMap::text`]: extent_map::ExtentMap::text
//! [`ExtentMap::svg`]: extent_map::ExtentMap::svg

pub mod extent_map;
pub mod html;
pub mod svg;
pub mod timeline;

use std::io;
use std::path::{Path, PathBuf};

use syscall::Syscalls;
use syscall::api::o;
use vfs::vfs::Vfs;

use crate::tour::{self, Method, Scenario, copy_with};
use extent_map::ExtentMap;
use timeline::Race;

/// Bytes for people (`1 GiB`, `1.50 MiB`).
pub fn fmt_bytes(n: u64) -> String {
    tour::fmt_size(n)
}

/// The pictures of a tour.
#[derive(Clone, Debug)]
pub struct TourPictures {
    /// Per model: its label and the extent map after every copy (or why it could not run).
    pub maps: Vec<(String, Result<ExtentMap, String>)>,
    /// The never-share and must-share races.
    pub races: Vec<Result<Race, String>>,
}

/// Largest source of the timeline scenario: big enough for many chunks (the tour's size if
/// that is smaller).
pub const RACE_SIZE: u64 = 64 << 20;

/// Extents of the timeline scenario's source: fragmented, as long-lived files are, so that
/// a sharing copy has real work to do (facts: FICLONE of 100,000 extents takes ~0.5 s).
pub const RACE_EXTENTS: u64 = 4096;

/// Reads the racing reader makes.
pub const RACE_READERS: usize = 24;

/// The default tour's third timeline: the must-share race again on a mount that builds
/// remaps outside the inode locks (`remap=swap`, issue 20).
pub const SWAP_RACE: (&str, &str) = ("btrfs-like swap", "btrfs-like:remap=swap");

impl TourPictures {
    /// All pictures as terminal text.
    pub fn text(&self) -> String {
        let mut s = String::from(
            "Extent maps: /src and one copy per call, on one filesystem per model\n\n",
        );
        for (label, m) in &self.maps {
            match m {
                Ok(m) => s.push_str(&m.text(64, 4)),
                Err(e) => s.push_str(&format!("{label}: {e}\n")),
            }
            s.push('\n');
        }
        s.push_str(
            "Blocking timelines: a reader of the destination while the copy runs (virtual time)\n\n",
        );
        for r in &self.races {
            match r {
                Ok(r) => s.push_str(&r.ascii(72)),
                Err(e) => s.push_str(&format!("{e}\n")),
            }
            s.push('\n');
        }
        s
    }
}

/// The extent map of one model after copying `/src` once with every [`Method`], each into
/// its own destination file on the same filesystem (rows named after the call; a call that
/// failed shows its errno and no extents), and then overwriting the second quarter of
/// `/src`: where the source shared its blocks, the write moves it to new ones (copy on
/// write) and the copies keep the old ones; elsewhere it writes in place (or, btrfs-like,
/// to new blocks anyway).
///
/// # Errors
/// A bad spec or a failing setup call.
pub fn copies_map(label: &str, spec: &str, size: u64) -> Result<ExtentMap, String> {
    let dev = 6 * size + (64 << 20);
    let spec = tour::with_device_size(spec, dev.div_ceil(1 << 20) << 20);
    let mut sc = Scenario::new(&spec, size)?;
    let mut files = vec![("src".to_string(), sc.src_ino)];
    for m in Method::ALL {
        let p = &mut sc.proc;
        let path = format!("/{}", m.key());
        let fd = p
            .open(&path, o::CREAT | o::RDWR, 0o644)
            .map_err(|e| format!("open {path}: {e}"))?;
        let c = copy_with(p, sc.src, fd, size, m, None);
        let ino = p.fstat(fd).map_err(|e| format!("fstat {path}: {e}"))?.ino;
        let _ = p.fsync(fd);
        let _ = p.close(fd);
        let name = match c.errno {
            Some(e) if c.bytes == 0 => format!("{} ({})", m.label(), tour::errno_name(e)),
            _ => m.label().to_string(),
        };
        files.push((name, ino));
    }
    // A later write to the source: copy-on-write where it shares, in place where not.
    let q = size / 4 / 4096 * 4096;
    let later = if q > 0 {
        let data = vfs::Data::pattern(0x1a7e, 0, q);
        let r =
            tour::pwrite_all(&mut sc.proc, sc.src, &data, q).and_then(|_| sc.proc.fsync(sc.src));
        match r {
            Ok(()) => format!(
                ", then {} of /src overwritten at {}",
                fmt_bytes(q),
                fmt_bytes(q)
            ),
            Err(e) => format!(", then an overwrite of /src failed: {e}"),
        }
    } else {
        String::new()
    };
    let title = format!(
        "{label}: /src ({}) copied by each call{later}",
        fmt_bytes(size)
    );
    Ok(ExtentMap::build(&title, &sc.image(), &files))
}

/// The tour's pictures: one extent map per model, and a never-share and a must-share copy
/// of a fragmented [`RACE_SIZE`] source racing a reader, on `fs` (a tour label or spec)
/// or, by default, btrfs-like.
///
/// # Errors
/// A bad `fs`.
pub fn tour_pictures(
    models: &[(String, String)],
    size: u64,
    fs: Option<&str>,
) -> Result<TourPictures, String> {
    let (label, spec) = match fs {
        None => ("btrfs-like".to_string(), "btrfs-like".to_string()),
        Some(_) => models
            .first()
            .cloned()
            .ok_or_else(|| "no model selected".to_string())?,
    };
    let race_size = RACE_SIZE.min(size);
    let ext = timeline::extent_size_for(race_size, RACE_EXTENTS, 4096);
    let methods = [Method::SpliceNever, Method::SpliceMust];
    // The races and each model's map are independent: one thread each.
    let (maps, races) = std::thread::scope(|s| {
        let races = s.spawn(|| {
            let mut runs = vec![(label.as_str(), spec.as_str(), &methods[..])];
            if fs.is_none() {
                // The same must-share with remap=swap: the reader no longer waits for it.
                runs.push((SWAP_RACE.0, SWAP_RACE.1, &methods[1..]));
            }
            let mut all = Vec::new();
            for (label, spec, methods) in runs {
                match timeline::races(label, spec, race_size, methods, Some(ext), RACE_READERS) {
                    Ok(v) => all.extend(v.into_iter().map(Ok)),
                    Err(e) => all.push(Err(format!("{label}: {e}"))),
                }
            }
            all
        });
        let handles: Vec<_> = models
            .iter()
            .map(|(label, spec)| s.spawn(move || (label.clone(), copies_map(label, spec, size))))
            .collect();
        let maps: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("picture thread"))
            .collect();
        (maps, races.join().expect("timeline thread"))
    });
    Ok(TourPictures { maps, races })
}

/// Writes one extent-map SVG per mount of `vfs` into `dir` (created if missing):
/// `extent-map-1.svg` for the first mount, and so on. Returns the paths written.
///
/// # Errors
/// Creating the directory or writing a file.
pub fn write_svgs(dir: &Path, vfs: &Vfs) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (i, m) in vfs.mounts().iter().enumerate() {
        let title = format!("{} on {}", m.fs.fs_type(), m.path);
        let map = ExtentMap::of_image(&title, &m.fs.image());
        let path = dir.join(format!("extent-map-{}.svg", i + 1));
        std::fs::write(&path, map.svg(true))?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_map_of_btrfs_shows_the_shared_extent_and_the_cow_split() {
        let m = copies_map("btrfs-like", "btrfs-like", 1 << 20).unwrap();
        assert_eq!(m.files.len(), 6);
        let shared = m.shared_groups();
        let t = m.text(32, 4);
        // src, may, must, copy_file_range, FICLONERANGE share the first and last quarters;
        // the overwritten quarter of src moved, so only the four copies share it.
        let refs: Vec<usize> = shared.iter().map(|g| g.refs).collect();
        assert_eq!(refs, vec![5, 4, 5], "{t}");
        assert!(
            t.contains("src             |AAAAAAAA========CCCCCCCCCCCCCCCC|"),
            "{t}"
        );
        assert!(
            t.contains("splice MAY      |AAAAAAAABBBBBBBBCCCCCCCCCCCCCCCC|"),
            "{t}"
        );
        let plain = copies_map("plain", "plain", 1 << 20).unwrap();
        assert!(plain.shared_groups().is_empty());
        assert!(
            plain.files[3].name.contains("EOPNOTSUPP"),
            "{:?}",
            plain.files[3]
        );
    }

    #[test]
    fn svgs_per_mount() {
        let dir = std::env::temp_dir().join(format!("splicelab-svg-{}", std::process::id()));
        let out = crate::script::run_str("open -f a\npwrite 0 64k\n", "plain", false).unwrap();
        assert!(out.contains("wrote"));
        let vfs = Vfs::new();
        vfs.mount("/", fs_models::spec::make("plain").unwrap())
            .unwrap();
        let paths = write_svgs(&dir, &vfs).unwrap();
        assert_eq!(paths.len(), 1);
        assert!(
            std::fs::read_to_string(&paths[0])
                .unwrap()
                .starts_with("<?xml")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
