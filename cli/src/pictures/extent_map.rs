//! Extent maps: which blocks of which file point at which physical extent, and how many
//! files share it.
//!
//! An [`ExtentMap`] is built from a filesystem [`Image`] (for nfs-like: the server's). Each
//! file is a row of [`Piece`]s; each piece points into a [`Group`], a run of physical
//! blocks that the same files reference at the same relative offsets (adjacent physical
//! extents with "continuing" back-references are merged, as FIEMAP merges extents, so a
//! byte copy done in 1024 chunks is one group, not 1024). Shared groups (more than one
//! reference) get a letter and a colour; the same group has the same letter and colour in
//! every file that maps it, which is what makes sharing visible.
//!
//! Rendering never walks blocks: text rows are a fixed number of cells, each summarising a
//! range of blocks (its dominant group); SVG rows draw one rectangle per piece with a width
//! proportional to its length, or fixed cells when a row has too many pieces.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use vfs::extent::{FileKind, Image, Ino, PhysKey, ROOT_INO};

use super::svg::{self, esc};

/// A run of physical blocks referenced by the same files at the same relative offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// First physical block.
    pub phys: u64,
    /// Length in blocks.
    pub len: u64,
    /// Reference count (files × mappings that point here).
    pub refs: usize,
    /// `(inode, file block of the group's first block)` of every reference.
    pub users: Vec<(Ino, u64)>,
    /// Letter for text pictures (`A`…`Z`, `a`…`z`, then `*`) when shared, else `None`.
    pub letter: Option<char>,
    /// Index into [`svg::PALETTE`] when shared.
    pub colour: Option<usize>,
}

impl Group {
    /// Whether more than one mapping references the group.
    pub fn shared(&self) -> bool {
        self.refs > 1
    }
}

/// Consecutive file blocks that map consecutive blocks of one [`Group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// First file block.
    pub start: u64,
    /// Length in blocks.
    pub len: u64,
    /// Index into [`ExtentMap::groups`].
    pub group: usize,
    /// Block offset inside the group.
    pub group_off: u64,
    /// Preallocated, never written.
    pub unwritten: bool,
}

/// One file of the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMap {
    pub name: String,
    pub ino: Ino,
    /// Size in bytes.
    pub size: u64,
    pub pieces: Vec<Piece>,
    /// The data is inline in the inode (btrfs-like small files): no extents.
    pub inline: bool,
}

impl FileMap {
    /// Size in blocks (rounded up).
    pub fn blocks(&self, bs: u64) -> u64 {
        let mapped = self.pieces.last().map_or(0, |p| p.start + p.len);
        self.size.div_ceil(bs).max(mapped)
    }
}

/// The extent maps of some files of one filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtentMap {
    /// A caption (`btrfs-like after each copy`).
    pub title: String,
    pub block_size: u64,
    pub files: Vec<FileMap>,
    pub groups: Vec<Group>,
}

/// Every regular file of `img`, as `(path, inode)`, sorted by path.
pub fn regular_files(img: &Image) -> Vec<(String, Ino)> {
    let mut out = Vec::new();
    let mut stack = vec![(ROOT_INO, String::new())];
    while let Some((dir, path)) = stack.pop() {
        let Ok(d) = img.inode(dir) else { continue };
        for (name, &ino) in &d.children {
            let p = format!("{path}/{name}");
            match img.inode(ino).map(|n| n.kind) {
                Ok(FileKind::Directory) => stack.push((ino, p)),
                Ok(FileKind::Regular) => out.push((p, ino)),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// A physical extent: its key, first block, length and sorted back-references.
type PhysRun = (PhysKey, u64, u64, Vec<(Ino, u64)>);

/// Whether extent `next` continues `group` (which ends where `next` starts): the same
/// number of references, each one block-for-block after one of the group's.
fn continues(group: &Group, next_refs: &[(Ino, u64)]) -> bool {
    if group.refs != next_refs.len() {
        return false;
    }
    let mut want: Vec<(Ino, u64)> = group
        .users
        .iter()
        .map(|&(i, f)| (i, f + group.len))
        .collect();
    want.sort_unstable();
    want == next_refs
}

impl ExtentMap {
    /// The extent map of `files` (`(name, inode)`) of `img`. Files that no longer exist are
    /// skipped.
    pub fn build(title: &str, img: &Image, files: &[(String, Ino)]) -> ExtentMap {
        let bs = img.block_size();
        // Physical extents in block order, merged into groups.
        let mut exts: Vec<PhysRun> = img
            .phys
            .iter()
            .map(|(k, e)| {
                let mut refs: Vec<(Ino, u64)> = e.backrefs.iter().copied().collect();
                refs.sort_unstable();
                (k, e.start, e.len, refs)
            })
            .collect();
        exts.sort_by_key(|e| e.1);
        let mut groups: Vec<Group> = Vec::new();
        let mut where_: HashMap<PhysKey, (usize, u64)> = HashMap::new();
        for (key, start, len, refs) in exts {
            let last = groups.len().wrapping_sub(1);
            match groups.last_mut() {
                Some(g) if g.phys + g.len == start && continues(g, &refs) => {
                    where_.insert(key, (last, g.len));
                    g.len += len;
                }
                _ => {
                    where_.insert(key, (groups.len(), 0));
                    groups.push(Group {
                        phys: start,
                        len,
                        refs: refs.len(),
                        users: refs,
                        letter: None,
                        colour: None,
                    });
                }
            }
        }
        let mut out_files = Vec::new();
        for (name, ino) in files {
            let Ok(node) = img.inode(*ino) else { continue };
            let mut pieces: Vec<Piece> = Vec::new();
            for (&s, m) in &node.map {
                let Some(&(group, goff)) = where_.get(&m.phys) else {
                    continue;
                };
                match pieces.last_mut() {
                    Some(p)
                        if p.group == group
                            && p.start + p.len == s
                            && p.group_off + p.len == goff
                            && p.unwritten == m.unwritten =>
                    {
                        p.len += m.len
                    }
                    _ => pieces.push(Piece {
                        start: s,
                        len: m.len,
                        group,
                        group_off: goff,
                        unwritten: m.unwritten,
                    }),
                }
            }
            out_files.push(FileMap {
                name: name.clone(),
                ino: *ino,
                size: node.size,
                pieces,
                inline: node.inline.is_some(),
            });
        }
        // Letters and colours for the shared groups in the picture, in physical order (so
        // that a copy of a file reads A, B, C from left to right).
        let mut pictured: Vec<usize> = out_files
            .iter()
            .flat_map(|f| f.pieces.iter().map(|p| p.group))
            .filter(|&g| groups[g].shared())
            .collect();
        pictured.sort_unstable_by_key(|&g| (groups[g].phys, g));
        pictured.dedup();
        for (i, g) in pictured.into_iter().enumerate() {
            groups[g].letter = Some(letter(i));
            groups[g].colour = Some(i % svg::PALETTE.len());
        }
        ExtentMap {
            title: title.to_string(),
            block_size: bs,
            files: out_files,
            groups,
        }
    }

    /// The extent map of every regular file of `img`.
    pub fn of_image(title: &str, img: &Image) -> ExtentMap {
        ExtentMap::build(title, img, &regular_files(img))
    }

    /// The name of a file by inode, for legends (`inode N` if it is not in the picture).
    fn name_of(&self, ino: Ino) -> String {
        self.files
            .iter()
            .find(|f| f.ino == ino)
            .map_or_else(|| format!("inode {ino}"), |f| f.name.clone())
    }

    /// Shared groups that appear in the picture, in letter order.
    pub fn shared_groups(&self) -> Vec<&Group> {
        let mut v: Vec<&Group> = self.groups.iter().filter(|g| g.letter.is_some()).collect();
        v.sort_by_key(|g| g.phys);
        v
    }

    /// The widest file, in blocks (the common scale of every row).
    pub fn max_blocks(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.blocks(self.block_size))
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// What covers each of `cells` equal ranges of `[0, max_blocks)` in file `f`: the
    /// dominant piece's group (`Some(Some(g))`), a hole (`Some(None)`), or past EOF
    /// (`None`). O(pieces + cells).
    pub fn cells(&self, f: &FileMap, cells: usize) -> Vec<Option<Option<usize>>> {
        let total = self.max_blocks();
        let fblocks = f.blocks(self.block_size);
        let mut out = Vec::with_capacity(cells);
        let mut pi = 0usize;
        for c in 0..cells as u64 {
            let a = total * c / cells as u64;
            let b = (total * (c + 1) / cells as u64).max(a + 1);
            if a >= fblocks {
                out.push(None);
                continue;
            }
            let mut best: BTreeMap<Option<usize>, u64> = BTreeMap::new();
            let mut covered = 0u64;
            while pi < f.pieces.len() && f.pieces[pi].start + f.pieces[pi].len <= a {
                pi += 1;
            }
            let mut j = pi;
            while j < f.pieces.len() && f.pieces[j].start < b {
                let p = &f.pieces[j];
                let ov = (p.start + p.len).min(b) - p.start.max(a);
                *best.entry(Some(p.group)).or_default() += ov;
                covered += ov;
                j += 1;
            }
            let span = b.min(fblocks) - a;
            *best.entry(None).or_default() += span.saturating_sub(covered);
            let dominant = best
                .iter()
                .max_by_key(|(k, n)| (**n, k.is_some()))
                .map(|(k, _)| *k)
                .unwrap_or(None);
            out.push(Some(dominant));
        }
        out
    }

    /// The text picture: one row of `width` cells per file (a shared group's letter, `=`
    /// for unshared data, `.` for a hole), then a FIEMAP-like list of each file's extents
    /// (at most `max_extents` per file) and a key of the shared extents.
    pub fn text(&self, width: usize, max_extents: usize) -> String {
        let bs = self.block_size;
        let mut s = String::new();
        let total = self.max_blocks();
        let _ = writeln!(
            s,
            "{} (1 cell = {}; letters = shared physical extents, '=' = not shared, '.' = hole)",
            self.title,
            super::fmt_bytes(total * bs / width.max(1) as u64)
        );
        let nw = self
            .files
            .iter()
            .map(|f| f.name.chars().count())
            .max()
            .unwrap_or(0);
        for f in &self.files {
            let row: String = if f.inline {
                "i".to_string()
            } else {
                self.cells(f, width)
                    .iter()
                    .map(|c| match c {
                        None => ' ',
                        Some(None) => '.',
                        Some(Some(g)) => self.groups[*g].letter.unwrap_or('='),
                    })
                    .collect()
            };
            let _ = writeln!(
                s,
                "  {:<nw$} |{}| {}, {} extent{}",
                f.name,
                row.trim_end(),
                super::fmt_bytes(f.size),
                f.pieces.len(),
                if f.pieces.len() == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(s, "  extents (file blocks -> physical blocks, references):");
        for f in &self.files {
            let mut lead = format!("  {:<nw$}", f.name);
            if f.inline {
                let _ = writeln!(s, "{lead}  inline data ({} bytes), no extents", f.size);
                continue;
            }
            if f.pieces.is_empty() {
                let _ = writeln!(s, "{lead}  no extents");
                continue;
            }
            for (i, p) in f.pieces.iter().take(max_extents).enumerate() {
                let g = &self.groups[p.group];
                let phys = g.phys + p.group_off;
                let _ = writeln!(
                    s,
                    "{lead}  {i:>2}: [{}..{}] -> {}..{}, {} ref{}{}{}",
                    p.start,
                    p.start + p.len - 1,
                    phys,
                    phys + p.len - 1,
                    g.refs,
                    if g.refs == 1 { "" } else { "s" },
                    g.letter.map(|l| format!(" ({l})")).unwrap_or_default(),
                    if p.unwritten { ", unwritten" } else { "" }
                );
                lead = " ".repeat(nw + 2);
            }
            if f.pieces.len() > max_extents {
                let _ = writeln!(s, "{lead}  … {} more", f.pieces.len() - max_extents);
            }
        }
        let shared = self.shared_groups();
        if !shared.is_empty() {
            let _ = writeln!(s, "  shared extents ({bs}-byte blocks):");
            for g in shared {
                let users: Vec<String> = g
                    .users
                    .iter()
                    .map(|&(i, fb)| format!("{}@{}", self.name_of(i), fb))
                    .collect();
                let _ = writeln!(
                    s,
                    "    {}  physical {}..{} ({}), {} references: {}",
                    g.letter.unwrap_or('*'),
                    g.phys,
                    g.phys + g.len - 1,
                    super::fmt_bytes(g.len * bs),
                    g.refs,
                    users.join(", ")
                );
            }
        }
        s
    }

    /// The SVG picture. `standalone` adds the XML namespace (for a `.svg` file); inline in
    /// HTML it is left out so that the page names no URL at all.
    pub fn svg(&self, standalone: bool) -> String {
        const LABEL_W: f64 = 150.0;
        const BAR_W: f64 = 600.0;
        const INFO_W: f64 = 170.0;
        const ROW_H: f64 = 22.0;
        const GAP: f64 = 8.0;
        const MAX_RECTS: usize = 400;
        const CELLS: usize = 200;
        let bs = self.block_size;
        let total = self.max_blocks() as f64;
        let shared = self.shared_groups();
        let legend_rows = shared.len().min(12) + usize::from(shared.len() > 12);
        let width = LABEL_W + BAR_W + INFO_W;
        let top = 34.0;
        let rows_h = self.files.len() as f64 * (ROW_H + GAP);
        let height = top + rows_h + 26.0 + legend_rows as f64 * 18.0 + 10.0;
        let mut s = svg::open(width, height, standalone, &self.title);
        let _ = writeln!(
            s,
            r#"<text x="4" y="16" class="title">{}</text>"#,
            esc(&self.title)
        );
        let _ = writeln!(
            s,
            r#"<text x="{LABEL_W}" y="28" class="note">0</text><text x="{}" y="28" class="note" text-anchor="end">{}</text>"#,
            LABEL_W + BAR_W,
            esc(&super::fmt_bytes(self.max_blocks() * bs))
        );
        for (i, f) in self.files.iter().enumerate() {
            let y = top + i as f64 * (ROW_H + GAP);
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" class="label" text-anchor="end">{}</text>"#,
                LABEL_W - 6.0,
                y + 15.0,
                esc(&f.name)
            );
            let fw = f.blocks(bs) as f64 / total * BAR_W;
            let _ = writeln!(
                s,
                r#"<rect x="{LABEL_W}" y="{y}" width="{fw:.2}" height="{ROW_H}" class="hole"/>"#
            );
            if f.pieces.len() <= MAX_RECTS {
                for p in &f.pieces {
                    let g = &self.groups[p.group];
                    let x = LABEL_W + p.start as f64 / total * BAR_W;
                    let w = (p.len as f64 / total * BAR_W).max(0.5);
                    let phys = g.phys + p.group_off;
                    let title = format!(
                        "{}: file blocks {}..{} → physical {}..{}, {} reference{}",
                        f.name,
                        p.start,
                        p.start + p.len - 1,
                        phys,
                        phys + p.len - 1,
                        g.refs,
                        if g.refs == 1 { "" } else { "s" }
                    );
                    rect(&mut s, x, y, w, ROW_H, g, p.unwritten, &title);
                }
            } else {
                let cw = BAR_W / CELLS as f64;
                for (c, cell) in self.cells(f, CELLS).iter().enumerate() {
                    if let Some(Some(gi)) = cell {
                        let g = &self.groups[*gi];
                        let title = format!(
                            "{}: blocks around {} (1 cell = {} blocks)",
                            f.name,
                            (total as u64) * c as u64 / CELLS as u64,
                            (total as u64).div_ceil(CELLS as u64)
                        );
                        rect(
                            &mut s,
                            LABEL_W + c as f64 * cw,
                            y,
                            cw,
                            ROW_H,
                            g,
                            false,
                            &title,
                        );
                    }
                }
            }
            let info = format!(
                "{}, {} extent{}",
                super::fmt_bytes(f.size),
                f.pieces.len(),
                if f.pieces.len() == 1 { "" } else { "s" }
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" class="note">{}</text>"#,
                LABEL_W + BAR_W + 6.0,
                y + 15.0,
                esc(&info)
            );
        }
        let mut y = top + rows_h + 14.0;
        let _ = writeln!(
            s,
            r#"<rect x="4" y="{}" width="12" height="12" class="unshared"/><text x="20" y="{}" class="note">not shared</text><rect x="100" y="{}" width="12" height="12" class="hole"/><text x="116" y="{}" class="note">hole</text><text x="170" y="{}" class="note">coloured = one shared physical extent (×N = references); hover for block numbers</text>"#,
            y - 10.0,
            y,
            y - 10.0,
            y,
            y
        );
        for g in shared.iter().take(12) {
            y += 18.0;
            let users: Vec<String> = g.users.iter().map(|&(i, _)| self.name_of(i)).collect();
            let _ = writeln!(
                s,
                r#"<rect x="4" y="{}" width="12" height="12" fill="{}"/><text x="20" y="{}" class="note">{}: physical blocks {}..{} ({}), {} references: {}</text>"#,
                y - 10.0,
                svg::PALETTE[g.colour.unwrap_or(0)],
                y,
                g.letter.unwrap_or('*'),
                g.phys,
                g.phys + g.len - 1,
                esc(&super::fmt_bytes(g.len * bs)),
                g.refs,
                esc(&users.join(", "))
            );
        }
        if shared.len() > 12 {
            y += 18.0;
            let _ = writeln!(
                s,
                r#"<text x="20" y="{y}" class="note">… and {} more shared extents</text>"#,
                shared.len() - 12
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// One rectangle of a piece (or cell) of group `g`.
fn rect(s: &mut String, x: f64, y: f64, w: f64, h: f64, g: &Group, unwritten: bool, title: &str) {
    let class_or_fill = match (g.colour, unwritten) {
        (_, true) => r#"class="unwritten""#.to_string(),
        (Some(c), false) => format!(r#"fill="{}" class="shared""#, svg::PALETTE[c]),
        (None, false) => r#"class="unshared""#.to_string(),
    };
    let _ = write!(
        s,
        r#"<rect x="{x:.2}" y="{y}" width="{w:.2}" height="{h}" {class_or_fill}><title>{}</title></rect>"#,
        esc(title)
    );
    if g.shared() && w >= 34.0 {
        let _ = write!(
            s,
            r#"<text x="{:.2}" y="{}" class="refs" text-anchor="middle">{} ×{}</text>"#,
            x + w / 2.0,
            y + h / 2.0 + 4.0,
            g.letter.unwrap_or('*'),
            g.refs
        );
    }
    s.push('\n');
}

/// The letter of the `i`th shared group.
fn letter(i: usize) -> char {
    const L: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    L.get(i).map_or('*', |&b| b as char)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfs::Data;
    use vfs::extent::Overwrite;

    fn two_files() -> (Image, Ino, Ino) {
        let mut i = Image::new(4096, 1024);
        let a = i.create(ROOT_INO, "a", FileKind::Regular).unwrap();
        let b = i.create(ROOT_INO, "b", FileKind::Regular).unwrap();
        i.write(a, 0, &Data::fill(1, 64 * 4096), Overwrite::CowShared)
            .unwrap();
        i.share(a, 16, b, 0, 32).unwrap();
        i.inode_mut(b).unwrap().size = 32 * 4096;
        (i, a, b)
    }

    #[test]
    fn shared_blocks_get_one_letter_in_both_files() {
        let (img, _, _) = two_files();
        let m = ExtentMap::of_image("t", &img);
        assert_eq!(m.files.len(), 2);
        let a = &m.files[0];
        assert_eq!(a.pieces.len(), 3, "split around the shared middle: {a:?}");
        let shared = m.shared_groups();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].refs, 2);
        assert_eq!(shared[0].len, 32);
        let t = m.text(16, 8);
        assert!(
            t.contains("/a |====AAAAAAAA====| 256 KiB, 3 extents"),
            "{t}"
        );
        assert!(t.contains("/b |AAAAAAAA| 128 KiB, 1 extent"), "{t}");
        assert!(t.contains("2 references: /a@16, /b@0"), "{t}");
    }

    #[test]
    fn svg_is_drawn_by_extents_not_blocks() {
        let mut img = Image::new(4096, 1 << 20);
        let a = img.create(ROOT_INO, "big", FileKind::Regular).unwrap();
        img.write(a, 0, &Data::pattern(1, 0, 1 << 30), Overwrite::CowAlways)
            .unwrap();
        let m = ExtentMap::of_image("big", &img);
        let s = m.svg(true);
        assert_eq!(s.matches("<rect").count(), 1 + 1 + 2, "{s}");
        assert!(s.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(!m.svg(false).contains("http"));
    }

    #[test]
    fn many_extents_become_cells() {
        let mut img = Image::new(4096, 4096);
        let a = img.create(ROOT_INO, "frag", FileKind::Regular).unwrap();
        for b in (0..2000u64).step_by(2).chain((1..2000u64).step_by(2)) {
            img.write(a, b * 4096, &Data::fill(1, 4096), Overwrite::CowShared)
                .unwrap();
        }
        let m = ExtentMap::of_image("frag", &img);
        assert_eq!(m.files[0].pieces.len(), 2000);
        let s = m.svg(true);
        assert!(
            s.matches("<rect").count() <= 200 + 10,
            "cells, not 2000 rects"
        );
    }
}
