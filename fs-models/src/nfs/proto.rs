//! The NFSv4.2 vocabulary spoken between [`NfsClient`](super::NfsClient) and
//! [`NfsServer`](super::NfsServer).
//!
//! Only what the model needs: write stability levels and verifiers (RFC 8881 §18.32 WRITE,
//! §18.3 COMMIT), the results of COPY (RFC 7862 §15.2), OFFLOAD_STATUS (§15.9) and
//! CB_OFFLOAD (§16.1), and the status codes the client turns back into errno values. The
//! "wire" is a Rust call; message sizes for the network cost are approximations
//! ([`HDR_BYTES`] per message plus the data payload).

use vfs::clock::Nanos;
use vfs::errno::Errno;

/// Bytes charged for the RPC header and the non-data arguments or results of one message
/// (RPC/COMPOUND framing, SEQUENCE, PUTFH, stateids, attributes).
pub const HDR_BYTES: u64 = 200;

/// `writeverf4`: changes whenever the server may have lost UNSTABLE data (every reboot).
pub type Verifier = u64;

/// `stateid4` naming one asynchronous copy (`wr_callback_id`).
pub type StateId = u64;

/// `stable_how4`: how far written data is committed when the server replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StableHow {
    /// `UNSTABLE4`: in the server's memory only; a COMMIT with the same verifier is needed.
    Unstable4,
    /// `DATA_SYNC4`: data (not all metadata) is stable.
    DataSync4,
    /// `FILE_SYNC4`: data and metadata are stable.
    FileSync4,
}

impl StableHow {
    /// Whether data written with this level survives a server reboot without a COMMIT.
    pub fn is_stable(self) -> bool {
        self != StableHow::Unstable4
    }
}

/// `nfsstat4` values the model produces. Every other backend errno travels as
/// [`NfsStat::Io`], as Linux nfsd maps errno values it has no status for (`nfserrno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NfsStat {
    Perm,
    NoEnt,
    Io,
    Nxio,
    Access,
    Exist,
    XDev,
    NotDir,
    IsDir,
    Inval,
    FBig,
    NoSpc,
    Rofs,
    NameTooLong,
    NotEmpty,
    Stale,
    /// `NFS4ERR_NOTSUPP`: the server (or its file system) cannot do the operation.
    NotSupp,
    /// `NFS4ERR_BAD_STATEID`: e.g. an asynchronous copy the server no longer knows.
    BadStateid,
    /// `NFS4ERR_FILE_OPEN`: stands in for `ETXTBSY` (an active swap file).
    FileOpen,
    /// `NFS4ERR_DELAY`: try again later.
    Delay,
}

impl NfsStat {
    /// The status nfsd would send for a local error.
    pub fn from_errno(e: Errno) -> NfsStat {
        match e {
            Errno::EPERM => NfsStat::Perm,
            Errno::ENOENT => NfsStat::NoEnt,
            Errno::ENXIO => NfsStat::Nxio,
            Errno::EACCES => NfsStat::Access,
            Errno::EEXIST => NfsStat::Exist,
            Errno::EXDEV => NfsStat::XDev,
            Errno::ENOTDIR => NfsStat::NotDir,
            Errno::EISDIR => NfsStat::IsDir,
            Errno::EINVAL => NfsStat::Inval,
            Errno::EFBIG => NfsStat::FBig,
            Errno::ENOSPC => NfsStat::NoSpc,
            Errno::EROFS => NfsStat::Rofs,
            Errno::ENAMETOOLONG => NfsStat::NameTooLong,
            Errno::ENOTEMPTY => NfsStat::NotEmpty,
            Errno::ESTALE => NfsStat::Stale,
            Errno::EOPNOTSUPP | Errno::ENOSYS | Errno::ENOTTY => NfsStat::NotSupp,
            Errno::ETXTBSY => NfsStat::FileOpen,
            Errno::EAGAIN => NfsStat::Delay,
            _ => NfsStat::Io,
        }
    }

    /// The errno the client returns for this status (`nfs4_map_errors`).
    pub fn errno(self) -> Errno {
        match self {
            NfsStat::Perm => Errno::EPERM,
            NfsStat::NoEnt => Errno::ENOENT,
            NfsStat::Io => Errno::EIO,
            NfsStat::Nxio => Errno::ENXIO,
            NfsStat::Access => Errno::EACCES,
            NfsStat::Exist => Errno::EEXIST,
            NfsStat::XDev => Errno::EXDEV,
            NfsStat::NotDir => Errno::ENOTDIR,
            NfsStat::IsDir => Errno::EISDIR,
            NfsStat::Inval => Errno::EINVAL,
            NfsStat::FBig => Errno::EFBIG,
            NfsStat::NoSpc => Errno::ENOSPC,
            NfsStat::Rofs => Errno::EROFS,
            NfsStat::NameTooLong => Errno::ENAMETOOLONG,
            NfsStat::NotEmpty => Errno::ENOTEMPTY,
            NfsStat::Stale => Errno::ESTALE,
            NfsStat::NotSupp => Errno::EOPNOTSUPP,
            NfsStat::BadStateid => Errno::EIO,
            NfsStat::FileOpen => Errno::ETXTBSY,
            NfsStat::Delay => Errno::EAGAIN,
        }
    }

    /// The protocol name (`"NFS4ERR_NOTSUPP"`), for reports.
    pub fn name(self) -> &'static str {
        match self {
            NfsStat::Perm => "NFS4ERR_PERM",
            NfsStat::NoEnt => "NFS4ERR_NOENT",
            NfsStat::Io => "NFS4ERR_IO",
            NfsStat::Nxio => "NFS4ERR_NXIO",
            NfsStat::Access => "NFS4ERR_ACCESS",
            NfsStat::Exist => "NFS4ERR_EXIST",
            NfsStat::XDev => "NFS4ERR_XDEV",
            NfsStat::NotDir => "NFS4ERR_NOTDIR",
            NfsStat::IsDir => "NFS4ERR_ISDIR",
            NfsStat::Inval => "NFS4ERR_INVAL",
            NfsStat::FBig => "NFS4ERR_FBIG",
            NfsStat::NoSpc => "NFS4ERR_NOSPC",
            NfsStat::Rofs => "NFS4ERR_ROFS",
            NfsStat::NameTooLong => "NFS4ERR_NAMETOOLONG",
            NfsStat::NotEmpty => "NFS4ERR_NOTEMPTY",
            NfsStat::Stale => "NFS4ERR_STALE",
            NfsStat::NotSupp => "NFS4ERR_NOTSUPP",
            NfsStat::BadStateid => "NFS4ERR_BAD_STATEID",
            NfsStat::FileOpen => "NFS4ERR_FILE_OPEN",
            NfsStat::Delay => "NFS4ERR_DELAY",
        }
    }
}

impl From<Errno> for NfsStat {
    fn from(e: Errno) -> NfsStat {
        NfsStat::from_errno(e)
    }
}

/// The result of one server operation.
pub type NfsResult<T> = Result<T, NfsStat>;

/// `WRITE4resok` and the `write_response4` inside `COPY4resok`: how much was written, how
/// stable it is, and the verifier to compare with a later COMMIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRes {
    pub count: u64,
    pub committed: StableHow,
    pub verf: Verifier,
}

/// `COPY4resok` (RFC 7862 §15.2.2). For an asynchronous copy `callback` is the stateid to
/// wait on and `write.count` is 0; `write.verf` is the verifier when the copy started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRes {
    pub callback: Option<StateId>,
    pub write: WriteRes,
    /// Bytes the server shared rather than copied (a lab extension for reports: a real
    /// COPY result does not say how the server did it).
    pub shared: u64,
}

/// What `CB_OFFLOAD` (RFC 7862 §16.1) tells the client when an asynchronous copy ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offload {
    /// `NFS4_OK`, or the error that stopped the copy (`coa_bytes_copied` then says how far
    /// it got).
    pub status: Result<(), NfsStat>,
    pub write: WriteRes,
    /// Server virtual time at which the copy finished (the callback is sent then).
    pub at: Nanos,
}

/// `OFFLOAD_STATUS4resok` (RFC 7862 §15.9) plus, once complete, the callback's content
/// (the model delivers a late `CB_OFFLOAD` together with the status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadStatus {
    /// `osr_count`: bytes copied so far.
    pub count: u64,
    /// `osr_complete`: present once the copy has ended.
    pub complete: Option<Offload>,
}

/// One step of an asynchronous copy as a waiting client experiences it (see
/// `NfsServer::wait_step`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyProgress {
    /// One more server chunk finished at `end`: `copied` bytes by byte copy, `shared` by
    /// sharing extents.
    Chunk {
        end: Nanos,
        copied: u64,
        shared: u64,
    },
    /// The copy ended; the server sends CB_OFFLOAD.
    Done(Offload),
    /// The server rebooted at `at` and forgot the copy.
    Lost { at: Nanos },
}

/// What a server advertises at mount time (`GETATTR` of file-system attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerCaps {
    /// `clone_blksize` (RFC 7862 §12.2.1): CLONE offsets and count must be multiples.
    pub clone_blksize: u64,
    /// **Lab extension, not in RFC 7862**: the server promises that COPY never makes the
    /// destination share blocks with anything (it always byte-copies). Without it a client
    /// cannot know; this is the open question of the never-share splice over NFS.
    pub nonsharing_copy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notsupp_maps_to_eopnotsupp_and_unknown_errors_to_eio() {
        assert_eq!(NfsStat::from_errno(Errno::EOPNOTSUPP), NfsStat::NotSupp);
        assert_eq!(NfsStat::NotSupp.errno(), Errno::EOPNOTSUPP);
        assert_eq!(NfsStat::from_errno(Errno::EBADR).errno(), Errno::EIO);
        for e in [Errno::ENOSPC, Errno::ESTALE, Errno::EINVAL, Errno::ETXTBSY] {
            assert_eq!(NfsStat::from_errno(e).errno(), e, "{e:?} round trip");
        }
        assert!(!StableHow::Unstable4.is_stable() && StableHow::FileSync4.is_stable());
    }
}
