//! Standard output of every subcommand, and the one rule for a reader that went away.
//!
//! `splicelab … | head` closes the pipe before the subcommand is done. Rust ignores
//! SIGPIPE, so the next write fails with `EPIPE` ([`io::ErrorKind::BrokenPipe`]); a
//! subcommand then stops at that write and exits quietly with status 0, as `cat` or `ls`
//! killed by SIGPIPE would end the pipeline without a word: nobody is left to read the
//! rest, and a message on stderr would only be noise. The subcommand stops by *returning*
//! (the `?` on the failed write), never by `std::process::exit`, so that everything with a
//! `Drop` — `conform`'s loop mounts above all — is cleaned up on the way out.
//!
//! Every subcommand writes through [`stdout`] (or a writer handed down from it), turns its
//! other failures into [`failure`] errors, and maps its result with [`exit_status`].

use std::io::{self, Write};

/// Standard output, line-buffered and locked for the whole subcommand.
pub fn stdout() -> io::LineWriter<io::StdoutLock<'static>> {
    io::LineWriter::new(io::stdout().lock())
}

/// Whether a failed write means that the reader of the output went away (`| head`).
pub fn closed(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// An error that carries a message for the user (bad arguments, a set-up failure), as
/// opposed to a failed write.
pub fn failure(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// The exit status of a subcommand that returned `r` after writing to `out`.
///
/// - `Ok(status)`: `out` is flushed and the status returned; if the flush finds the
///   reader gone, the status still stands (everything was computed; only output was lost).
/// - an error for which [`closed`] holds: status 0 and no message.
/// - any other error: `PREFIX: MESSAGE` on stderr and `status_on_error`.
pub fn exit_status(
    out: &mut dyn Write,
    r: io::Result<i32>,
    prefix: &str,
    status_on_error: i32,
) -> i32 {
    let r = r.and_then(|status| match out.flush() {
        Err(e) if closed(&e) => Ok(status),
        other => other.map(|()| status),
    });
    match r {
        Ok(status) => status,
        Err(e) if closed(&e) => 0,
        Err(e) => {
            // The reader may be gone by now, but stderr is another stream.
            let _ = out.flush();
            eprintln!("{prefix}: {e}");
            status_on_error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader went away after `room` bytes.
    struct Pipe {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pipe(room: usize) -> Pipe {
        Pipe {
            room,
            got: Vec::new(),
        }
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_success() {
        let mut p = pipe(0);
        let r = writeln!(p, "hello").map(|()| 1);
        assert!(closed(r.as_ref().unwrap_err()));
        assert_eq!(exit_status(&mut p, r, "x", 2), 0);
    }

    #[test]
    fn statuses_and_failures_pass_through() {
        let mut p = pipe(100);
        assert_eq!(exit_status(&mut p, Ok(1), "x", 2), 1);
        assert_eq!(exit_status(&mut p, Err(failure("bad")), "x", 2), 2);
        assert_eq!(failure("bad --fs").to_string(), "bad --fs");
        assert!(!closed(&failure("bad")));
    }
}
