//! Linux error numbers.
//!
//! [`Errno`] carries the x86-64/generic Linux value, so a result from the simulator can be
//! compared with `errno` from a real syscall without translation. The text is the usual
//! `strerror(3)` wording that tools such as `xfs_io` print (`copy_range: Invalid argument`).

use std::fmt;

/// A Linux error number (positive, as in `errno`; syscalls return its negation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

/// The result type of every simulated kernel entry point.
pub type KResult<T> = Result<T, Errno>;

macro_rules! errnos {
    ($( $name:ident = $num:expr, $text:expr; )*) => {
        impl Errno {
            $( #[doc = $text] pub const $name: Errno = Errno($num); )*

            /// The symbolic name (`"EINVAL"`), or `None` for a number this table lacks.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $( $num => Some(stringify!($name)), )* _ => None }
            }

            /// The `strerror(3)` text (`"Invalid argument"`).
            pub fn text(self) -> &'static str {
                match self.0 { $( $num => $text, )* _ => "Unknown error" }
            }

            /// Looks an errno up by its symbolic name (`"EINVAL"`).
            pub fn from_name(name: &str) -> Option<Errno> {
                match name { $( stringify!($name) => Some(Errno::$name), )* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    ETXTBSY = 26, "Text file busy";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    EBADE = 52, "Invalid exchange";
    EBADR = 53, "Invalid request descriptor";
    EOVERFLOW = 75, "Value too large for defined data type";
    EOPNOTSUPP = 95, "Operation not supported";
    ETIMEDOUT = 110, "Connection timed out";
    ESTALE = 116, "Stale file handle";
    ECANCELED = 125, "Operation canceled";
}

impl Errno {
    /// Builds an errno from a raw positive number (as read from `errno`).
    pub const fn from_raw(n: i32) -> Errno {
        Errno(n)
    }

    /// The raw positive number.
    pub const fn raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_text_match_linux() {
        assert_eq!(Errno::EINVAL.raw(), 22);
        assert_eq!(Errno::EXDEV.raw(), 18);
        assert_eq!(Errno::EOPNOTSUPP.raw(), 95);
        assert_eq!(Errno::EOVERFLOW.raw(), 75);
        assert_eq!(Errno::EINVAL.to_string(), "Invalid argument");
        assert_eq!(format!("{:?}", Errno::EBADF), "EBADF");
        assert_eq!(Errno::from_name("ENOSPC"), Some(Errno::ENOSPC));
        assert_eq!(Errno(4242).name(), None);
        assert_eq!(Errno(4242).text(), "Unknown error");
    }
}
