//! Comparing file contents by their [`Data`] descriptors.
//!
//! The reference model keeps every file as a [`Data`] (a short list of fill, zero, pattern
//! or real-byte segments) and the simulator answers reads with one too, so two contents are
//! compared run by run: two constant runs compare in O(1), and only where a side holds real
//! bytes or a pattern are bytes looked at. This is what makes "check every file after every
//! step" cheap enough for 100,000 checked operations per second.

use vfs::Data;
use vfs::data::{Segment, Src, pattern_byte};

/// The byte value of a constant run.
fn const_byte(src: &Src) -> Option<u8> {
    match src {
        Src::Zero => Some(0),
        Src::Fill(b) => Some(*b),
        _ => None,
    }
}

/// The byte at offset `off` of a run from `src`.
fn byte_at(src: &Src, off: u64) -> u8 {
    match src {
        Src::Zero => 0,
        Src::Fill(b) => *b,
        Src::Pattern { seed, pos } => pattern_byte(*seed, pos + off),
        Src::Bytes { buf, start } => buf[start + off as usize],
    }
}

/// Walks a [`Data`] in pieces; past its end it reads as zeroes (I4: extending a file
/// exposes zeroes).
struct Cursor<'a> {
    segs: &'a [Segment],
    i: usize,
    off: u64,
}

const ZERO: Src = Src::Zero;

impl<'a> Cursor<'a> {
    fn new(d: &'a Data) -> Cursor<'a> {
        Cursor {
            segs: d.segments(),
            i: 0,
            off: 0,
        }
    }

    /// The current run and the offset inside it, and how many bytes remain in it.
    fn peek(&self) -> (&'a Src, u64, u64) {
        match self.segs.get(self.i) {
            Some(s) => (&s.src, self.off, s.len - self.off),
            None => (&ZERO, 0, u64::MAX),
        }
    }

    fn advance(&mut self, n: u64) {
        if let Some(s) = self.segs.get(self.i) {
            self.off += n;
            if self.off == s.len {
                self.i += 1;
                self.off = 0;
            }
        }
    }
}

/// First differing index of two runs of `n` bytes, if any.
fn piece_diff(a: (&Src, u64), b: (&Src, u64), n: u64) -> Option<u64> {
    match (const_byte(a.0), const_byte(b.0)) {
        (Some(x), Some(y)) => (x != y).then_some(0),
        (Some(x), None) => run_find(b.0, b.1, n, |v| v != x),
        (None, Some(y)) => run_find(a.0, a.1, n, |v| v != y),
        (None, None) => (0..n).find(|&i| byte_at(a.0, a.1 + i) != byte_at(b.0, b.1 + i)),
    }
}

/// First index in `n` bytes of `src` from `off` where `pred` holds.
fn run_find(src: &Src, off: u64, n: u64, pred: impl Fn(u8) -> bool) -> Option<u64> {
    match src {
        Src::Bytes { buf, start } => {
            let s = start + off as usize;
            buf[s..s + n as usize]
                .iter()
                .position(|&v| pred(v))
                .map(|p| p as u64)
        }
        other => (0..n).find(|&i| pred(byte_at(other, off + i))),
    }
}

/// The first byte offset where `a` and `b` differ (a length difference counts at the
/// shorter length), or `None` when they are byte-identical.
pub fn first_diff(a: &Data, b: &Data) -> Option<u64> {
    let (la, lb) = (a.len(), b.len());
    let n = la.min(lb);
    let (mut ca, mut cb) = (Cursor::new(a), Cursor::new(b));
    let mut pos = 0u64;
    while pos < n {
        let (sa, oa, ra) = ca.peek();
        let (sb, ob, rb) = cb.peek();
        let k = ra.min(rb).min(n - pos);
        if let Some(d) = piece_diff((sa, oa), (sb, ob), k) {
            return Some(pos + d);
        }
        ca.advance(k);
        cb.advance(k);
        pos += k;
    }
    (la != lb).then_some(n)
}

/// Whether `a` and `b` hold the same bytes.
pub fn same(a: &Data, b: &Data) -> bool {
    first_diff(a, b).is_none()
}

/// Whether `got` is a byte-wise mixture of `before` and `after`: its size lies between
/// theirs and every byte equals the byte of `before` or of `after` at that offset (both read
/// as zero past their ends). This is what a crash in the middle of a copy that is journaled
/// piece by piece may leave (spec §6.6: "one of the states the atomicity rule allows").
/// Returns the first offending offset.
pub fn mix_violation(got: &Data, before: &Data, after: &Data) -> Option<u64> {
    let (lg, lb, la) = (got.len(), before.len(), after.len());
    if lg < lb.min(la) || lg > lb.max(la) {
        return Some(lg.min(lb).min(la));
    }
    let (mut cg, mut cb, mut ca) = (Cursor::new(got), Cursor::new(before), Cursor::new(after));
    let mut pos = 0u64;
    while pos < lg {
        let (sg, og, rg) = cg.peek();
        let (sb, ob, rb) = cb.peek();
        let (sa, oa, ra) = ca.peek();
        let k = rg.min(rb).min(ra).min(lg - pos);
        let bad = match (const_byte(sg), const_byte(sb), const_byte(sa)) {
            (Some(g), Some(b), Some(a)) => (g != b && g != a).then_some(0),
            _ => (0..k).find(|&i| {
                let g = byte_at(sg, og + i);
                g != byte_at(sb, ob + i) && g != byte_at(sa, oa + i)
            }),
        };
        if let Some(d) = bad {
            return Some(pos + d);
        }
        cg.advance(k);
        cb.advance(k);
        ca.advance(k);
        pos += k;
    }
    None
}

/// Whether every byte of `got` equals the byte at the same offset of one of `cands` (which
/// read as zero past their ends), and its size lies between theirs. A crash of a network
/// client before COMMIT may keep any subset of its UNSTABLE writes, in any order: this is
/// "every byte comes from some permitted state" (never garbage, never another file's
/// bytes). Returns the first offending offset.
pub fn mixture_violation(got: &Data, cands: &[&Data]) -> Option<u64> {
    let lg = got.len();
    let lo = cands.iter().map(|d| d.len()).min()?;
    let hi = cands.iter().map(|d| d.len()).max()?;
    if lg < lo || lg > hi {
        return Some(lg.min(lo));
    }
    let mut cg = Cursor::new(got);
    let mut cs: Vec<Cursor<'_>> = cands.iter().map(|d| Cursor::new(d)).collect();
    let mut pos = 0u64;
    while pos < lg {
        let (sg, og, rg) = cg.peek();
        let mut k = rg.min(lg - pos);
        for c in &cs {
            k = k.min(c.peek().2);
        }
        let consts: Option<Vec<u8>> = cs.iter().map(|c| const_byte(c.peek().0)).collect();
        let bad = match (const_byte(sg), consts) {
            (Some(g), Some(v)) => (!v.contains(&g)).then_some(0),
            _ => (0..k).find(|&i| {
                let g = byte_at(sg, og + i);
                !cs.iter().any(|c| {
                    let (s, o, _) = c.peek();
                    byte_at(s, o + i) == g
                })
            }),
        };
        if let Some(d) = bad {
            return Some(pos + d);
        }
        cg.advance(k);
        for c in &mut cs {
            c.advance(k);
        }
        pos += k;
    }
    None
}

/// A short human description of the bytes around `off` (for failure messages).
pub fn describe_at(d: &Data, off: u64) -> String {
    if off >= d.len() {
        return format!("EOF (size {})", d.len());
    }
    let n = 8.min(d.len() - off);
    let mut b = vec![0u8; n as usize];
    d.read_into(off, &mut b);
    format!("{b:02x?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_and_bytes_compare_alike() {
        let a = Data::fill(b'a', 10).overlay(3, &Data::zero(2));
        let b = Data::bytes(b"aaa\0\0aaaaa");
        assert_eq!(first_diff(&a, &b), None);
        let c = Data::bytes(b"aaa\0\0aaaab");
        assert_eq!(first_diff(&a, &c), Some(9));
        assert_eq!(first_diff(&a, &Data::fill(b'a', 3)), Some(3));
        assert_eq!(first_diff(&Data::zero(4), &Data::fill(0, 4)), None);
        let p = Data::pattern(7, 0, 100);
        assert_eq!(first_diff(&p, &Data::bytes(&p.to_vec())), None);
        assert!(first_diff(&p.slice(1, 50), &p.slice(0, 50)).is_some());
    }

    #[test]
    fn mixtures() {
        let before = Data::fill(1, 8);
        let after = Data::fill(2, 12);
        assert_eq!(mix_violation(&Data::fill(1, 8), &before, &after), None);
        let m = Data::fill(2, 4).overlay(4, &Data::fill(1, 4));
        assert_eq!(mix_violation(&m, &before, &after), None);
        let m = Data::fill(2, 10);
        assert_eq!(mix_violation(&m, &before, &after), None);
        assert_eq!(mix_violation(&Data::fill(3, 8), &before, &after), Some(0));
        assert!(mix_violation(&Data::fill(1, 13), &before, &after).is_some());
        // Past `before`'s end it reads as zero.
        let m = Data::fill(1, 8).overlay(8, &Data::zero(2));
        assert_eq!(mix_violation(&m, &before, &after), None);
        // Any number of candidates.
        let c = Data::fill(3, 4);
        let m = Data::fill(3, 2).overlay(2, &Data::fill(2, 8));
        assert_eq!(mixture_violation(&m, &[&before, &after, &c]), None);
        assert_eq!(
            mixture_violation(&Data::fill(9, 5), &[&before, &c]),
            Some(0)
        );
        assert_eq!(
            mixture_violation(&Data::fill(1, 2), &[&before, &c]),
            Some(2)
        );
    }
}
