//! Tests of the real `promptops` binary in temporary projects: stdout, stderr, exit code and
//! the files left behind.

mod support;

mod ab;
mod admin;
mod ci_files;
mod diagnostics;
mod eval;
mod eval_extras;
mod eval_run;
mod eval_store;
mod hook;
mod init;
mod labels;
mod on_server;
mod output;
mod precommit;
mod promptfoo;
mod prompts;
mod readme;
mod registry;
mod remote;
mod remote_conflicts;
mod render_sandbox;
mod run;
mod serve;
mod server_runs;
mod terminal;
mod workflows;
