//! Filesystem models for splicelab.
//!
//! Each model is a type implementing [`vfs::FileSystem`]:
//!
//! | model | type | sharing | overwrite | crash keeps |
//! |---|---|---|---|---|
//! | plain | [`plain::PlainFs`] | none | in place | any prefix of journaled ops |
//!
//! [`spec::make`] builds a model from a mount spec such as `btrfs-like:size=256m`.

pub mod local;
pub mod plain;
pub mod spec;
