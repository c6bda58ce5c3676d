//! The library's integration tests: one binary, one module per area.

mod eval;
mod schema_drift;
mod store_conformance;
