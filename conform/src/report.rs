//! docs/conformance.md (placeholder).
