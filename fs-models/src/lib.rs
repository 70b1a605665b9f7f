//! Filesystem models.
