//! Workflows: LangGraph-style graphs in YAML (`workflows/<name>.yaml`). Owns the file format,
//! static validation, the superstep executor, checkpoints and threads, drawing and the export to
//! LangGraph. Does not call models itself: prompt and router nodes go through a
//! [`ModelCaller`], which the provider layer implements.

pub mod api;
pub mod caller;
pub mod checkpoint;
pub mod compile;
pub mod draw;
pub mod error;
pub mod exec;
pub mod export;
pub mod expr;
pub mod fake;
pub mod graph;
pub mod load;
pub mod model;
pub mod node;
pub mod shell;
pub mod sites;
pub mod source;
pub mod state;
pub mod threads;
pub mod tool;
pub mod topology;
pub mod trace;
pub mod validate;

pub use api::{EvalRun, WorkflowTarget, prepare};
pub use caller::ProviderCaller;
pub use compile::{Compiled, compile};
pub use error::{Finding, Severity, WorkflowError};
pub use exec::{Runner, new_thread_id};
pub use load::Workflow;
pub use model::{ModelCall, ModelCaller, ModelError, ModelReply};
pub use node::RunOptions;
pub use source::{Catalog, ProjectPrompts, PromptSource, SourceError, StaticPrompts, VersionLookup, VersionReferences};
pub use threads::{StepView, fork, history};
pub use tool::ExecPolicy;
pub use trace::{Event, EventSink, Interrupt, RunOutcome, RunStatus, TaskStatus, TaskTrace};
