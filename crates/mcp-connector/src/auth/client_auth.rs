//! Stub: replaced by the implementation.
