//! Prompts: the YAML file format (one prompt per file under `prompts/`), its validation, its
//! canonical form and content hash, and rendering with minijinja. Does not store versions (that
//! is the registry) or call models (that is the provider layer).

mod check;
mod compose;
mod file;
mod load;
mod name;
mod params;
mod render;
mod sandbox;

pub use check::{MAX_PARTIAL_NAME, check_sent, partial_name_problem};
pub use compose::{
    ComposeError, ComposePromptError, Composer, Edge, FetchError, MAX_DEPTH as MAX_COMPOSE_DEPTH, ReferenceSource,
    Referenced, compose_prompt, has_references,
};
pub use file::{Content, Message, Part, PromptFile, PromptKind, Role, VarType, VariableSpec};
pub use load::{
    LoadedPrompt, PARTIALS_DIR, PartialSet, PromptError, Warning, canonical_json, load_all, load_partials, load_prompt,
    partials_used, prompt_names_on_disk, validate,
};
pub use name::{Label, NameError, PromptName, PromptRef, Selector};
pub use params::{ModelParams, Stop};
pub use render::{CompiledPrompt, RenderError, RenderedPrompt, Vars, check_vars, coerce_cli_value, render};
pub use sandbox::{RenderSandbox, SandboxError, SandboxLimits, WorkerCommand, serve_worker};
