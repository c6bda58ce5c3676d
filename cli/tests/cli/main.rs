//! Tests of the real `promptops` binary in temporary projects: stdout, stderr, exit code and
//! the files left behind.

mod support;

mod ab;
mod eval;
mod eval_run;
mod hook;
mod init;
mod labels;
mod output;
mod prompts;
mod registry;
mod remote;
mod run;
mod serve;
mod workflows;
