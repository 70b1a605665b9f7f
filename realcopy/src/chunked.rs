//! The one copy loop: chunks, progress, abort and exact partial counts.
//!
//! A copy is a sequence of *steps*: each moves at most one chunk from `off_in + done` to
//! `off_out + done` and returns how many bytes the destination now holds (0 at the
//! source's EOF). The loop does the bookkeeping every caller of `copy_file_range(2)` or
//! the extended splice has to do — advance by the returned count, stop at EOF, stop on an
//! error, stop between two steps when asked to — and nothing else, so the same loop drives
//! real files ([`crate::copy_range`]) and the lab's simulated splice (`splicelab cp`).
//!
//! ```
//! use realcopy::chunked::{run, Ended, Steps, Watch};
//!
//! // A "file" of 10 bytes, copied 4 bytes per step.
//! struct Ten;
//! impl Steps for Ten {
//!     fn step(&mut self, done: u64, len: u64) -> Result<u64, realcopy::Errno> {
//!         Ok(len.min(10u64.saturating_sub(done)))
//!     }
//! }
//! let out = run(&mut Ten, None, 4, &mut ());
//! assert_eq!((out.done, out.calls, out.ended), (10, 4, Ended::Eof));
//! ```

use crate::Errno;

/// One step of a copy.
pub trait Steps {
    /// Moves at most `len` bytes (`len > 0`), starting `done` bytes into the range.
    /// Returns the bytes the destination now holds from this step; 0 means the source
    /// ended.
    ///
    /// # Errors
    /// The errno of the step. `EINTR` means a signal stopped the step before any byte
    /// moved (a step interrupted after some bytes returns their count instead).
    fn step(&mut self, done: u64, len: u64) -> Result<u64, Errno>;
}

/// Where the loop is, for progress reports and for the decision to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes the destination holds so far (the exact partial count).
    pub done: u64,
    /// Bytes asked for, when known.
    pub total: Option<u64>,
    /// Steps made so far.
    pub calls: u64,
}

/// What the caller of the loop sees between steps. Every method has a default that does
/// nothing, so `&mut ()` is a watch that never stops a copy.
pub trait Watch {
    /// Asked before each step: `true` stops the loop there ([`Ended::Stopped`]).
    fn stop_before(&mut self, _at: &Progress) -> bool {
        false
    }
    /// Told the result of each step (`at` already counts it): `true` stops the loop after
    /// it, as a signal delivered on the way back from a system call does
    /// ([`Ended::Interrupted`]).
    fn interrupted_after(&mut self, _at: &Progress, _ret: &Result<u64, Errno>) -> bool {
        false
    }
    /// Told after every step that moved bytes.
    fn progress(&mut self, _at: &Progress) {}
}

impl Watch for () {}

/// Why the loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A step returned 0: the source ended.
    Eof,
    /// All of the asked length was copied.
    Done,
    /// [`Watch::stop_before`] asked to stop between two steps.
    Stopped,
    /// A signal: a step returned `EINTR`, or [`Watch::interrupted_after`] said so.
    Interrupted,
    /// A step failed with this errno; `done` bytes were copied before it.
    Failed(Errno),
}

/// What the loop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes the destination holds from the range's start: the exact count, whatever the
    /// end.
    pub done: u64,
    /// Steps made (including the one that returned 0, failed or was interrupted).
    pub calls: u64,
    pub ended: Ended,
    /// The last step's result, if any step ran.
    pub last: Option<Result<u64, Errno>>,
}

/// Ends the first step at a block boundary, so that every later step starts on one and a
/// sharing call can share all of its whole blocks. Used by may-share copies, on real files
/// and in the lab alike: a `copy_file_range` that starts inside a block shares nothing
/// (Linux's remap refuses an unaligned offset and the call byte-copies), so without this
/// a copy from offset 100 would share nothing at all. Offsets that are not congruent
/// modulo the block can never share; their steps are left as they are.
pub struct HeadToBlock<S> {
    pub inner: S,
    /// Bytes up to the first block boundary (0 when there is none to reach).
    head: u64,
}

impl<S> HeadToBlock<S> {
    /// Wraps `inner` for a copy from `off_in` to `off_out` on a filesystem sharing
    /// `block`-byte blocks.
    pub fn new(inner: S, off_in: u64, off_out: u64, block: u64) -> HeadToBlock<S> {
        let block = block.max(1);
        let head = if off_in % block == off_out % block {
            (block - off_in % block) % block
        } else {
            0
        };
        HeadToBlock { inner, head }
    }
}

impl<S: Steps> Steps for HeadToBlock<S> {
    fn step(&mut self, done: u64, len: u64) -> Result<u64, Errno> {
        let len = if done < self.head {
            len.min(self.head - done)
        } else {
            len
        };
        self.inner.step(done, len)
    }
}

/// Runs `steps` over `total` bytes (`None`: until a step returns 0) in steps of at most
/// `chunk` bytes (0 is taken as 1).
pub fn run(
    steps: &mut impl Steps,
    total: Option<u64>,
    chunk: u64,
    watch: &mut impl Watch,
) -> Outcome {
    let chunk = chunk.max(1);
    let mut at = Progress {
        done: 0,
        total,
        calls: 0,
    };
    let mut last = None;
    let ended = loop {
        let want = match total {
            Some(t) if at.done >= t => break Ended::Done,
            Some(t) => chunk.min(t - at.done),
            None => chunk,
        };
        if watch.stop_before(&at) {
            break Ended::Stopped;
        }
        let ret = steps.step(at.done, want);
        at.calls += 1;
        last = Some(ret);
        // A step never reports more than it was asked for; a broken one must not make the
        // count lie.
        if let Ok(n) = ret {
            at.done += n.min(want);
        }
        if ret == Err(Errno::EINTR) || watch.interrupted_after(&at, &ret) {
            break Ended::Interrupted;
        }
        match ret {
            Ok(0) => break Ended::Eof,
            Ok(_) => watch.progress(&at),
            Err(e) => break Ended::Failed(e),
        }
    };
    Outcome {
        done: at.done,
        calls: at.calls,
        ended,
        last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source of `size` bytes whose step `fail_at` (1-based) fails with `errno`.
    struct Source {
        size: u64,
        fail_at: Option<(u64, Errno)>,
        calls: u64,
    }

    impl Steps for Source {
        fn step(&mut self, done: u64, len: u64) -> Result<u64, Errno> {
            self.calls += 1;
            if let Some((k, e)) = self.fail_at
                && k == self.calls
            {
                return Err(e);
            }
            Ok(len.min(self.size.saturating_sub(done)))
        }
    }

    fn source(size: u64) -> Source {
        Source {
            size,
            fail_at: None,
            calls: 0,
        }
    }

    #[test]
    fn until_eof_needs_one_more_call_that_returns_zero() {
        let out = run(&mut source(10), None, 5, &mut ());
        assert_eq!((out.done, out.calls, out.ended), (10, 3, Ended::Eof));
        assert_eq!(out.last, Some(Ok(0)));
    }

    #[test]
    fn a_known_length_stops_without_probing_eof() {
        let out = run(&mut source(100), Some(10), 5, &mut ());
        assert_eq!((out.done, out.calls, out.ended), (10, 2, Ended::Done));
    }

    #[test]
    fn a_zero_length_makes_no_call() {
        let out = run(&mut source(100), Some(0), 5, &mut ());
        assert_eq!((out.done, out.calls, out.ended), (0, 0, Ended::Done));
    }

    #[test]
    fn a_failure_keeps_the_count_of_earlier_steps() {
        let mut s = source(100);
        s.fail_at = Some((3, Errno::ENOSPC));
        let out = run(&mut s, None, 10, &mut ());
        assert_eq!(
            (out.done, out.calls, out.ended),
            (20, 3, Ended::Failed(Errno::ENOSPC))
        );
    }

    #[test]
    fn eintr_is_an_interruption_with_the_partial_count() {
        let mut s = source(100);
        s.fail_at = Some((2, Errno::EINTR));
        let out = run(&mut s, None, 10, &mut ());
        assert_eq!((out.done, out.ended), (10, Ended::Interrupted));
    }

    struct StopAfter(u64);
    impl Watch for StopAfter {
        fn stop_before(&mut self, at: &Progress) -> bool {
            at.calls == self.0
        }
    }

    #[test]
    fn stopping_between_steps_leaves_the_steps_done() {
        let out = run(&mut source(100), None, 10, &mut StopAfter(3));
        assert_eq!((out.done, out.calls, out.ended), (30, 3, Ended::Stopped));
    }

    /// Records the (done, len) of every step.
    struct Recorder(Vec<(u64, u64)>);
    impl Steps for Recorder {
        fn step(&mut self, done: u64, len: u64) -> Result<u64, Errno> {
            self.0.push((done, len));
            Ok(len)
        }
    }

    #[test]
    fn head_to_block_ends_only_the_first_step_at_a_boundary() {
        let mut s = HeadToBlock::new(Recorder(Vec::new()), 100, 4196, 4096);
        run(&mut s, Some(10_000), 4096, &mut ());
        assert_eq!(s.inner.0, [(0, 3996), (3996, 4096), (8092, 1908)]);
        // Offsets that differ modulo the block: nothing to align.
        let mut s = HeadToBlock::new(Recorder(Vec::new()), 100, 0, 4096);
        run(&mut s, Some(5000), 4096, &mut ());
        assert_eq!(s.inner.0, [(0, 4096), (4096, 904)]);
    }

    struct Overreport;
    impl Steps for Overreport {
        fn step(&mut self, _: u64, len: u64) -> Result<u64, Errno> {
            Ok(len * 2)
        }
    }

    #[test]
    fn a_step_that_reports_too_much_is_capped_at_what_it_was_asked() {
        let out = run(&mut Overreport, Some(10), 4, &mut ());
        assert_eq!((out.done, out.calls), (10, 3));
    }
}
