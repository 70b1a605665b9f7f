//! Filesystem models for splicelab.
//!
//! Each model is a type implementing [`vfs::FileSystem`]:
//!
//! | model | type | sharing | overwrite | crash keeps |
//! |---|---|---|---|---|
//! | plain | [`plain::PlainFs`] | none | in place | any prefix of journaled ops |
//! | btrfs-like | [`btrfs::BtrfsFs`] | block (4 KiB), inline files copied | CoW always (nodatacow: CoW if shared) | the last commit |
//! | ocfs2-like | [`ocfs2::Ocfs2Fs`] | cluster (4 KiB–1 MiB), refcount tree per file group | in place, CoW if shared | any prefix of journaled ops |
//! | xfs-like | [`ocfs2::Ocfs2Fs`] | block (4 KiB) | in place, CoW if shared | any prefix of journaled ops |
//! | nfs-like | [`nfs::NfsClient`] | the server backend's (CLONE; COPY may reflink: `policy=`) | the backend's, after COMMIT | server reboot: the backend's durable state; client crash: what the server received |
//!
//! [`spec::make`] builds a model from a mount spec such as `btrfs-like:size=256m`.

pub mod btrfs;
pub mod cow;
pub mod local;
pub mod nfs;
pub mod ocfs2;
pub mod plain;
pub mod spec;
