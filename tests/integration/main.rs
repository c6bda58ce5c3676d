//! Library integration tests.
