//! promptops: prompts as code. One library holds every capability; the CLI (`cli/`) and the
//! server are thin front ends over it.
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | error classes (exit codes) and hints |
//! | [`env`] | every `PROMPTOPS_*` variable name |
//! | [`yaml`] | parsing YAML with file:line:col errors (the only serde_yaml user) |
//! | [`money`] | integer micro-dollars |
//! | [`git`] | the project's git repository: HEAD, changed files, the pre-commit hook |
//! | [`config`] | `promptops.yaml` and project discovery |
//! | [`prompt`] | prompt files, validation, hashing, rendering |
//! | [`schema`] | generated JSON Schemas of the file formats |
//! | [`store`] | persistence: prompt versions, labels, eval runs and results |
//! | [`registry`] | prompt versions and labels over the store |
//! | [`eval`] | eval suites, datasets, assertions, the runner, report data |
//!
//! Layers (a module imports only from layers below it): L0 `error env yaml money stats` ·
//! L1 `config prompt schema store access` · L2 `provider registry` · L3 `eval workflow` ·
//! L4 `ab` · L5 `service` · L6 `server remote`.

pub mod access;
pub mod config;
pub mod env;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod git;
pub mod money;
pub mod prompt;
pub mod registry;
pub mod schema;
pub mod service;
pub mod store;
pub mod yaml;
