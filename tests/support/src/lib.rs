//! Test support for promptops: a benchmark harness, an LLM stub server, temporary projects.
//! Used by the library's and the CLI's tests and by `benches/`; never shipped.

pub mod bench;
pub mod hostile;
pub mod stub;
