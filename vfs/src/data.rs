//! Lazy file content.
//!
//! A [`Data`] describes the bytes of a range as a short list of segments: zeroes, a fill
//! byte, a seeded pattern, or real bytes. Writing `pwrite -S 0x62 0 1t` therefore costs one
//! segment, not a tebibyte; bytes are produced only when somebody reads them
//! ([`Data::read_into`]). Slicing and concatenating are O(segments). Real bytes live in
//! reference-counted buffers so that slicing never copies them; a *byte copy* of real bytes
//! ([`Data::deep_copy`]) does copy them, because that is what a byte copy costs.

use std::sync::Arc;

/// Where the bytes of one segment come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Src {
    /// All zero (holes, unwritten extents, zeroed tails).
    Zero,
    /// Every byte is this value (`pwrite -S 0xNN`).
    Fill(u8),
    /// A seeded pseudo-random pattern; `pos` is the pattern position of the segment's first
    /// byte, so a slice keeps producing the same bytes.
    Pattern { seed: u64, pos: u64 },
    /// Real bytes: `buf[start..start + len]`.
    Bytes { buf: Arc<[u8]>, start: usize },
}

/// One run of `len` bytes from one [`Src`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub len: u64,
    pub src: Src,
}

/// The content of a byte range, as segments. Invariants: no segment has `len == 0`, and
/// `len` is the sum of the segments' lengths (kept so that [`Data::len`] is O(1): callers
/// that grow a range by many small appends, like a page cache, ask for it at every step).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Data {
    segs: Vec<Segment>,
    len: u64,
}

thread_local! {
    /// Bytes of lazy data (zero, fill, pattern) this thread has materialised into buffers.
    static MATERIALISED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_materialised(n: usize) {
    MATERIALISED.with(|c| c.set(c.get() + n as u64));
}

/// Bytes of lazy data (zero, fill byte, seeded pattern — not real bytes) the calling
/// thread has materialised into buffers so far: the measure tests use to show that a
/// command's memory and work are bounded by its pieces, not by the bytes it covers.
pub fn materialised() -> u64 {
    MATERIALISED.with(std::cell::Cell::get)
}

/// Zeroes fed by [`Data::feed`] without building them.
static ZEROS: [u8; FEED_PIECE] = [0; FEED_PIECE];

/// The largest piece [`Data::feed`] hands over.
pub const FEED_PIECE: usize = 64 * 1024;

/// [`Data::compact`]: a range of more segments than this whose bytes average at most
/// [`COMPACT_BYTES_PER_SEGMENT`] per segment becomes one buffer (a segment descriptor is
/// 32 bytes, so the buffer is at most twice the list it replaces).
pub const COMPACT_MIN_SEGMENTS: u64 = 16;

/// See [`COMPACT_MIN_SEGMENTS`].
pub const COMPACT_BYTES_PER_SEGMENT: u64 = 64;

/// The byte at pattern position `pos` of pattern `seed` (splitmix64 of the 8-byte word).
pub fn pattern_byte(seed: u64, pos: u64) -> u8 {
    pattern_word(seed, pos >> 3)[(pos & 7) as usize]
}

/// Pattern bytes `8 * index .. 8 * index + 8`: one splitmix64 per 8 bytes.
fn pattern_word(seed: u64, index: u64) -> [u8; 8] {
    splitmix64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes()
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Src {
    fn slice(&self, off: u64) -> Src {
        match self {
            Src::Zero => Src::Zero,
            Src::Fill(b) => Src::Fill(*b),
            Src::Pattern { seed, pos } => Src::Pattern {
                seed: *seed,
                pos: pos + off,
            },
            Src::Bytes { buf, start } => Src::Bytes {
                buf: buf.clone(),
                start: start + off as usize,
            },
        }
    }

    fn fill(&self, out: &mut [u8]) {
        if !matches!(self, Src::Bytes { .. }) {
            count_materialised(out.len());
        }
        match self {
            Src::Zero => out.fill(0),
            Src::Fill(b) => out.fill(*b),
            Src::Pattern { seed, pos } => {
                // A word at a time: the unaligned head, then whole words, then the tail.
                let mut at = *pos;
                let mut rest = out;
                while !rest.is_empty() {
                    let word = pattern_word(*seed, at >> 3);
                    let skip = (at & 7) as usize;
                    let n = (8 - skip).min(rest.len());
                    let (head, tail) = rest.split_at_mut(n);
                    head.copy_from_slice(&word[skip..skip + n]);
                    rest = tail;
                    at += n as u64;
                }
            }
            Src::Bytes { buf, start } => out.copy_from_slice(&buf[*start..*start + out.len()]),
        }
    }

    /// Whether `next` continues `self` after `len` bytes, so the two can be one segment.
    fn continues(&self, len: u64, next: &Src) -> bool {
        match (self, next) {
            (Src::Zero, Src::Zero) => true,
            (Src::Fill(a), Src::Fill(b)) => a == b,
            (Src::Pattern { seed: a, pos: p }, Src::Pattern { seed: b, pos: q }) => {
                a == b && p + len == *q
            }
            (Src::Bytes { buf: a, start: s }, Src::Bytes { buf: b, start: t }) => {
                Arc::ptr_eq(a, b) && *s + len as usize == *t
            }
            _ => false,
        }
    }
}

impl Data {
    /// An empty range.
    pub fn new() -> Data {
        Data::default()
    }

    /// `len` zero bytes.
    pub fn zero(len: u64) -> Data {
        Data::from_src(len, Src::Zero)
    }

    /// `len` bytes of value `byte`.
    pub fn fill(byte: u8, len: u64) -> Data {
        Data::from_src(len, Src::Fill(byte))
    }

    /// `len` bytes of the seeded pattern starting at pattern position `pos`.
    pub fn pattern(seed: u64, pos: u64, len: u64) -> Data {
        Data::from_src(len, Src::Pattern { seed, pos })
    }

    /// The given bytes (copied once into a shared buffer).
    pub fn bytes(b: &[u8]) -> Data {
        let buf: Arc<[u8]> = Arc::from(b);
        Data::from_src(b.len() as u64, Src::Bytes { buf, start: 0 })
    }

    /// One segment of `len` bytes from `src`.
    pub fn from_src(len: u64, src: Src) -> Data {
        let mut d = Data::new();
        d.push(len, src);
        d
    }

    /// Total length in bytes (O(1)).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segs
    }

    /// Whether every byte is zero (without materialising anything but real-byte segments).
    pub fn is_zero(&self) -> bool {
        self.segs.iter().all(|s| match &s.src {
            Src::Zero => true,
            Src::Fill(b) => *b == 0,
            Src::Pattern { .. } => false,
            Src::Bytes { buf, start } => {
                buf[*start..*start + s.len as usize].iter().all(|&b| b == 0)
            }
        })
    }

    /// Whether the content uses real bytes anywhere (then copying it costs memory).
    pub fn has_bytes(&self) -> bool {
        self.segs.iter().any(|s| matches!(s.src, Src::Bytes { .. }))
    }

    /// Appends `len` bytes from `src`, merging with the last segment when it continues it.
    pub fn push(&mut self, len: u64, src: Src) {
        if len == 0 {
            return;
        }
        self.len += len;
        if let Some(last) = self.segs.last_mut()
            && last.src.continues(last.len, &src)
        {
            last.len += len;
            return;
        }
        self.segs.push(Segment { len, src });
    }

    /// Appends another range.
    pub fn append(&mut self, other: Data) {
        for s in other.segs {
            self.push(s.len, s.src);
        }
    }

    /// The sub-range `[off, off + len)`, clamped to the range's length.
    pub fn slice(&self, off: u64, len: u64) -> Data {
        let mut out = Data::new();
        out.append_slice(self, off, len);
        out
    }

    /// Appends `other.slice(off, len)` without building it: the same segments, merged the
    /// same way (a reader assembling a file from its extents calls this once per extent).
    pub fn append_slice(&mut self, other: &Data, off: u64, len: u64) {
        let end = off.saturating_add(len);
        let mut pos = 0u64;
        for s in &other.segs {
            let (s_start, s_end) = (pos, pos + s.len);
            pos = s_end;
            if s_end <= off {
                continue;
            }
            if s_start >= end {
                break;
            }
            let from = off.max(s_start);
            let to = end.min(s_end);
            self.push(to - from, s.src.slice(from - s_start));
        }
    }

    /// This range with `[off, off + other.len())` replaced by `other`. Bytes past the end
    /// are appended; a gap between the end and `off` is filled with zeroes.
    pub fn overlay(&self, off: u64, other: &Data) -> Data {
        let len = self.len();
        let mut out = self.slice(0, off);
        if off > len {
            out.push(off - len, Src::Zero);
        }
        out.append(other.clone());
        let after = off + other.len();
        if after < len {
            out.append(self.slice(after, len - after));
        }
        out
    }

    /// Materialises `[off, off + buf.len())` into `buf`. Bytes past the end read as zero.
    pub fn read_into(&self, off: u64, buf: &mut [u8]) {
        let want = buf.len() as u64;
        let mut done = 0u64;
        for s in self.slice(off, want).segs {
            s.src.fill(&mut buf[done as usize..(done + s.len) as usize]);
            done += s.len;
        }
        // Past the end of the data.
        buf[done as usize..].fill(0);
    }

    /// Feeds the content to `f` in order, in pieces of at most [`FEED_PIECE`] bytes, without
    /// building it: zero runs come from one static buffer, a fill run from one buffer filled
    /// once (at most one piece), real bytes straight from their buffer; only pattern data is
    /// generated, a piece at a time into a reused buffer. Memory is O(1) whatever the length
    /// (for hashing: `md5sum`).
    pub fn feed(&self, mut f: impl FnMut(&[u8])) {
        let mut scratch: Vec<u8> = Vec::new();
        for s in &self.segs {
            let mut left = s.len;
            match &s.src {
                Src::Zero => {
                    while left > 0 {
                        let n = left.min(FEED_PIECE as u64) as usize;
                        f(&ZEROS[..n]);
                        left -= n as u64;
                    }
                }
                Src::Fill(b) => {
                    let piece = left.min(FEED_PIECE as u64) as usize;
                    scratch.clear();
                    scratch.resize(piece, *b);
                    count_materialised(piece);
                    while left > 0 {
                        let n = left.min(piece as u64) as usize;
                        f(&scratch[..n]);
                        left -= n as u64;
                    }
                }
                Src::Pattern { .. } => {
                    let mut at = 0u64;
                    while left > 0 {
                        let n = left.min(FEED_PIECE as u64) as usize;
                        scratch.resize(n, 0);
                        s.src.slice(at).fill(&mut scratch[..n]);
                        f(&scratch[..n]);
                        at += n as u64;
                        left -= n as u64;
                    }
                }
                Src::Bytes { buf, start } => {
                    let bytes = &buf[*start..*start + s.len as usize];
                    for piece in bytes.chunks(FEED_PIECE) {
                        f(piece);
                    }
                }
            }
        }
    }

    /// Turns a range cut into many tiny segments into one buffer of real bytes, when that
    /// is no bigger than the segment list it replaces: on average at most
    /// [`COMPACT_BYTES_PER_SEGMENT`] bytes per segment, and more than
    /// [`COMPACT_MIN_SEGMENTS`] segments. Thousands of 3-byte writes into one block
    /// otherwise leave it as a list of thousands of descriptors that every later write of
    /// that block slices and rebuilds (the fuzz suite's 100,000 small unaligned copies:
    /// ≈ 1,600 segments per block); with this, a block holds at most ≈ 64. Lazy data (zero,
    /// fill, pattern) in long segments is never materialised by it.
    pub fn compact(&mut self) {
        let n = self.segs.len() as u64;
        if n > COMPACT_MIN_SEGMENTS && self.len <= n * COMPACT_BYTES_PER_SEGMENT {
            *self = Data::bytes(&self.to_vec());
        }
    }

    /// Materialises the whole range. Only for ranges known to be small.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len() as usize];
        self.read_into(0, &mut v);
        v
    }

    /// A copy whose real-byte segments live in new buffers (a byte copy really moves real
    /// bytes; descriptors of fills and patterns stay descriptors).
    pub fn deep_copy(&self) -> Data {
        let mut out = Data::new();
        for s in &self.segs {
            match &s.src {
                Src::Bytes { buf, start } => {
                    let fresh: Arc<[u8]> = Arc::from(&buf[*start..*start + s.len as usize]);
                    out.push(
                        s.len,
                        Src::Bytes {
                            buf: fresh,
                            start: 0,
                        },
                    );
                }
                other => out.push(s.len, other.clone()),
            }
        }
        out
    }

    /// Compares the content of two ranges byte for byte, materialising only where the
    /// descriptors differ.
    pub fn same_content(&self, other: &Data) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if self == other {
            return true;
        }
        const STEP: u64 = 64 * 1024;
        let len = self.len();
        let (mut a, mut b) = (vec![0u8; STEP as usize], vec![0u8; STEP as usize]);
        let mut off = 0;
        while off < len {
            let n = STEP.min(len - off) as usize;
            self.read_into(off, &mut a[..n]);
            other.read_into(off, &mut b[..n]);
            if a[..n] != b[..n] {
                return false;
            }
            off += n as u64;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_slice_is_append_of_the_slice() {
        let mut d = Data::zero(100);
        d.push(50, Src::Fill(7));
        d.append(Data::pattern(3, 10, 1000));
        d.append(Data::bytes(&[1, 2, 3, 4, 5]));
        let mut head = Data::pattern(3, 0, 10);
        head.push(5, Src::Zero);
        for (off, len) in [
            (0, 2000),
            (0, 100),
            (99, 3),
            (120, 40),
            (150, 1000),
            (1151, 9),
        ] {
            let mut a = head.clone();
            a.append(d.slice(off, len));
            let mut b = head.clone();
            b.append_slice(&d, off, len);
            assert_eq!(a, b, "{off} {len}");
            assert_eq!(b.len(), head.len() + len.min(d.len() - off));
        }
    }

    #[test]
    fn feed_gives_the_bytes_and_materialises_only_patterns() {
        let mut d = Data::zero(200_000);
        d.push(150_000, Src::Fill(0x61));
        d.append(Data::pattern(9, 5, 100_000));
        d.append(Data::bytes(&[1, 2, 3]));
        let before = materialised();
        let mut got = Vec::new();
        d.feed(|p| {
            assert!(!p.is_empty() && p.len() <= FEED_PIECE);
            got.extend_from_slice(p);
        });
        let fed = materialised() - before;
        assert_eq!(got, d.to_vec());
        // One piece of the fill run, and the pattern: never the zeroes or the bytes.
        assert_eq!(fed, FEED_PIECE as u64 + 100_000);
    }

    #[test]
    fn fill_of_a_tebibyte_is_one_segment() {
        let d = Data::fill(0x62, 1 << 40);
        assert_eq!(d.len(), 1 << 40);
        assert_eq!(d.segments().len(), 1);
        let mut b = [0u8; 4];
        d.read_into((1 << 40) - 2, &mut b);
        assert_eq!(b, [0x62, 0x62, 0, 0]);
    }

    #[test]
    fn pattern_reads_agree_with_pattern_byte_at_every_alignment() {
        let d = Data::pattern(7, 3, 64);
        // Offsets near the start and across the end (which reads zeroes).
        for off in (0..20).chain(50..70) {
            for len in [0usize, 1, 5, 8, 13, 30] {
                let mut b = vec![0xffu8; len];
                d.read_into(off, &mut b);
                let want: Vec<u8> = (0..len as u64)
                    .map(|i| {
                        if off + i < 64 {
                            pattern_byte(7, 3 + off + i)
                        } else {
                            0
                        }
                    })
                    .collect();
                assert_eq!(b, want, "off {off} len {len}");
            }
        }
    }

    #[test]
    fn overlay_splits_and_merges() {
        let d = Data::fill(b'a', 10).overlay(4, &Data::bytes(b"xy"));
        assert_eq!(d.to_vec(), b"aaaaxyaaaa");
        let back = d.overlay(4, &Data::fill(b'a', 2));
        assert_eq!(back.segments().len(), 1, "adjacent equal fills merge");
        let gap = Data::fill(b'a', 2).overlay(4, &Data::fill(b'b', 1));
        assert_eq!(gap.to_vec(), b"aa\0\0b");
    }

    #[test]
    fn a_range_cut_into_tiny_segments_becomes_one_buffer_of_the_same_bytes() {
        // 4 KiB written as 3-byte fills every 5 bytes: ~1,600 segments.
        let mut d = Data::zero(4096);
        for i in 0..800 {
            d = d.overlay(i * 5 + 1, &Data::fill(b'a' + (i % 7) as u8, 3));
        }
        let want = d.to_vec();
        assert!(d.segments().len() > 1000);
        d.compact();
        assert_eq!(d.segments().len(), 1);
        assert_eq!(d.to_vec(), want);
        // Long lazy segments stay lazy, however many.
        let mut lazy = Data::new();
        for i in 0..100u64 {
            lazy.append(Data::fill(i as u8, 4096));
        }
        lazy.compact();
        assert_eq!(lazy.segments().len(), 100);
        // A few short segments stay as they are.
        let mut few = Data::fill(1, 3);
        few.append(Data::fill(2, 3));
        few.compact();
        assert_eq!(few.segments().len(), 2);
    }

    #[test]
    fn pattern_slices_are_consistent() {
        let d = Data::pattern(7, 0, 100);
        let whole = d.to_vec();
        assert_eq!(d.slice(13, 50).to_vec(), &whole[13..63]);
        let mut rejoined = d.slice(0, 13);
        rejoined.append(d.slice(13, 87));
        assert_eq!(rejoined.segments().len(), 1);
        assert!(rejoined.same_content(&d));
    }

    #[test]
    fn same_content_compares_bytes_not_descriptors() {
        assert!(Data::fill(0, 10).same_content(&Data::zero(10)));
        assert!(Data::bytes(b"aaa").same_content(&Data::fill(b'a', 3)));
        assert!(!Data::bytes(b"aab").same_content(&Data::fill(b'a', 3)));
        assert!(Data::bytes(&[0, 0]).is_zero());
    }

    #[test]
    fn deep_copy_does_not_share_buffers() {
        let d = Data::bytes(b"hello");
        let c = d.deep_copy();
        assert_eq!(c.to_vec(), b"hello");
        match (&d.segments()[0].src, &c.segments()[0].src) {
            (Src::Bytes { buf: a, .. }, Src::Bytes { buf: b, .. }) => assert!(!Arc::ptr_eq(a, b)),
            _ => unreachable!(),
        }
    }
}
