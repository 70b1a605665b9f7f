//! Real kernel backend.
