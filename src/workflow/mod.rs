//! Workflows: LangGraph-style graphs in YAML (`workflows/<name>.yaml`). Owns the file format,
//! static validation, the superstep executor, checkpoints and threads, drawing and the export to
//! LangGraph. Does not call models itself: prompt and router nodes go through a
//! [`ModelCaller`], which the provider layer implements.

pub mod error;
pub mod expr;
pub mod graph;
pub mod load;
pub mod sites;
pub mod source;
pub mod tool;
pub mod topology;
pub mod validate;

pub use error::{Finding, Severity, WorkflowError};
pub use load::Workflow;
pub use source::{Catalog, ProjectPrompts, PromptSource, SourceError, StaticPrompts, VersionLookup};
