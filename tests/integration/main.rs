//! The library's integration tests: one binary, one module per area.

mod eval;
mod providers;
mod schema_drift;
mod server;
mod store_conformance;
mod workflow;
