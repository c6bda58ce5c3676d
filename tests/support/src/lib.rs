//! Test support for promptops.
