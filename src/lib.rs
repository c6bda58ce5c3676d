//! promptops: prompts as code. One library holds every capability; the CLI (`cli/`) and the
//! server are thin front ends over it.
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | error classes (exit codes) and hints |
//! | [`mod@env`] | every `PROMPTOPS_*` variable name |
//! | [`yaml`] | parsing YAML with file:line:col errors (the only serde_yaml user) |
//! | [`money`] | integer micro-dollars |
//! | [`config`] | `promptops.yaml` and project discovery |
//! | [`prompt`] | prompt files, validation, hashing, rendering |
//! | [`schema`] | generated JSON Schemas of the file formats |
//! | [`stats`] | pure statistics for A/B comparisons: tests, intervals, power, bootstrap, ratings |
//! | [`workflow`] | workflow graphs: format, validation, superstep executor, checkpoints, drawing, export |
//!
//! Layers (a module imports only from layers below it): L0 `error env yaml money stats` ·
//! L1 `config prompt schema store access` · L2 `provider registry` · L3 `eval workflow` ·
//! L4 `ab` · L5 `service` · L6 `server remote`.

pub mod access;
pub mod config;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod money;
pub mod prompt;
pub mod registry;
pub mod schema;
pub mod service;
pub mod stats;
pub mod store;
pub mod workflow;
pub mod yaml;
