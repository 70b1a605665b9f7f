//! Open files: an inode on a mount, an access mode and a file position.

use crate::errno::{Errno, KResult};
use crate::fs::Stat;
use crate::sync::{Arc, Mutex};
use crate::vfs::{Inode, Mount};

/// How a file was opened (`f_mode` bits that matter here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    pub read: bool,
    pub write: bool,
    /// `O_APPEND`: every write goes to EOF.
    pub append: bool,
}

/// An open file description (`struct file`).
pub struct OpenFile {
    pub mnt: Arc<Mount>,
    pub inode: Arc<Inode>,
    pub mode: Mode,
    /// The path it was opened by (for messages and reports).
    pub path: String,
    pos: Mutex<u64>,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenFile({} {:?})", self.path, self.mode)
    }
}

impl OpenFile {
    /// Opens `inode` of `mnt` (counts the open; [`Drop`] counts the close).
    pub fn new(mnt: Arc<Mount>, inode: Arc<Inode>, mode: Mode, path: String) -> OpenFile {
        mnt.opened(&inode);
        OpenFile {
            mnt,
            inode,
            mode,
            path,
            pos: Mutex::new(0),
        }
    }

    /// The file position.
    pub fn pos(&self) -> u64 {
        *self.pos.lock()
    }

    /// Sets the file position.
    pub fn set_pos(&self, pos: u64) {
        *self.pos.lock() = pos;
    }

    /// `stat` of the inode.
    ///
    /// # Errors
    /// `ESTALE` if the inode vanished (after a crash).
    pub fn stat(&self) -> KResult<Stat> {
        self.mnt.fs.getattr(self.inode.ino)
    }

    /// Whether two open files are on the same filesystem (super block).
    pub fn same_fs(&self, other: &OpenFile) -> bool {
        self.mnt.dev == other.mnt.dev
    }

    /// Whether two open files are the same inode.
    pub fn same_inode(&self, other: &OpenFile) -> bool {
        self.same_fs(other) && self.inode.ino == other.inode.ino
    }

    /// `EBADF` unless open for reading.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn check_readable(&self) -> KResult<()> {
        if self.mode.read {
            Ok(())
        } else {
            Err(Errno::EBADF)
        }
    }

    /// `EBADF` unless open for writing.
    ///
    /// # Errors
    /// `EBADF`.
    pub fn check_writable(&self) -> KResult<()> {
        if self.mode.write {
            Ok(())
        } else {
            Err(Errno::EBADF)
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.mnt.closed(&self.inode);
    }
}
