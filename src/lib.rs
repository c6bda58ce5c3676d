//! promptops: prompts as code. One library holds every capability; the CLI (`cli/`) and the
//! server are thin front ends over it.
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | error classes (exit codes) and hints |
//! | [`mod@env`] | every `PROMPTOPS_*` variable name |
//! | [`yaml`] | parsing YAML with file:line:col errors (the only serde_yaml user) |
//! | [`money`] | integer micro-dollars |
//! | [`template`] | the bounded minijinja setup every template renders through (fuel, output size, depth) |
//! | [`git`] | the project's git repository: HEAD, changed files, the pre-commit hook |
//! | [`config`] | `promptops.yaml` and project discovery |
//! | [`prompt`] | prompt files, validation, hashing, composition (`@@@langfusePrompt@@@` references), rendering |
//! | [`json_schema`] | checking that a user-given JSON Schema is valid |
//! | [`schema`] | the catalog of generated JSON Schemas of the file formats |
//! | [`secret`] | API keys: redacted strings, environment then OS keyring |
//! | [`store`] | persistence: prompt versions, labels, response cache, usage ledger, eval runs, workflow checkpoints; SQLite and PostgreSQL backends, opened by URL |
//! | [`provider`] | model providers (wire protocols) and the inference layers around them |
//! | [`stats`] | pure statistics for A/B comparisons: tests, intervals, power, bootstrap, ratings |
//! | [`registry`] | prompt versions and labels over the store |
//! | [`eval`] | eval suites, datasets, assertions, the runner, report data |
//! | [`promptfoo`] | promptfoo configs read and translated into prompts, providers and a suite; promptfoo-shaped results |
//! | [`ab`] | A/B comparisons: arms, paired and unpaired tests, verdicts, judging, planning, experiments |
//! | [`workflow`] | workflow graphs: format, validation, superstep executor, checkpoints, drawing, export |
//! | [`remote`] | the client of `promptops serve`: remotes in promptops.yaml, tokens, the HTTP service implementations |
//! | [`api`] | the HTTP wire types of `/api/v1`, shared by the server and the remote client |
//! | [`server`] | `promptops serve`: REST API, Langfuse-compatible API, auth, RBAC, audit, metrics |
//! | [`session`] | the eval and A/B use cases, over an executor chosen once: here, here then uploaded, or a server's workers |
//!
//! Layers (a module imports only from layers below it): L0 `error env yaml money secret stats
//! json_schema git template` · L1 `config prompt store access api` · L2 `provider registry` · L3 `eval workflow` ·
//! L4 `ab promptfoo` · L5 `service schema` · L6 `server remote` · L7 `session`.

pub mod ab;
pub mod access;
pub mod api;
pub mod config;
pub mod env;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod gateway;
pub mod git;
pub mod json_schema;
pub mod money;
pub mod prompt;
pub mod promptfoo;
pub mod provider;
pub mod registry;
pub mod remote;
pub mod runs;
pub mod schema;
pub mod secret;
pub mod server;
pub mod service;
pub mod session;
pub mod stats;
pub mod store;
pub mod template;
pub mod vault;
pub mod workflow;
pub mod yaml;
