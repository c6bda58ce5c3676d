//! `schema` (print a file format's JSON Schema) and `completions` (shell completion scripts).

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use promptops::schema::{SCHEMAS, find, render};

use crate::args::Cli;
use crate::context::Context;
use crate::diagnose::usage;
use crate::exit::ExitStatus;

/// Flags of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The format: `promptops`, `prompt`, … (default: list them).
    pub name: Option<String>,
}

/// Prints a schema, or the list of schema names.
pub fn schema(args: SchemaArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let SchemaArgs { name } = args;
    let names: Vec<&str> = SCHEMAS.iter().map(|s| s.name).collect();
    match name {
        None => ctx.printer.out(&names.join("\n")),
        Some(name) => {
            let Some(doc) = find(&name) else {
                let mut hints =
                    promptops::error::did_you_mean(&name, names.iter().copied()).into_iter().collect::<Vec<_>>();
                hints.push(format!("schemas: {}", names.join(", ")));
                let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
                return Err(usage(format!("no schema named `{name}`"), &hints));
            };
            ctx.printer.out_raw(&render(doc));
        }
    }
    Ok(ExitStatus::Success)
}

/// Flags of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
    /// A script with the commands and flags only, which never calls promptops back (no names
    /// of prompts, suites, workflows, remotes or runs).
    #[arg(long = "static")]
    pub fixed: bool,
}

/// Prints a completion script for the shell (through the printer: a closed pipe ends quietly).
/// By default the script asks promptops for candidates as you type (clap_complete's
/// `COMPLETE=SHELL promptops` protocol), so names come from the project you are in.
pub fn completions(args: CompletionsArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let CompletionsArgs { shell, fixed } = args;
    let mut script = Vec::new();
    if fixed {
        clap_complete::generate(shell, &mut Cli::command(), "promptops", &mut script);
    } else {
        let shells = clap_complete::env::Shells::builtins();
        let Some(completer) = shells.completer(&shell.to_string()) else {
            return Err(usage(format!("no dynamic completion for {shell}"), &["use `--static`"]));
        };
        // The script calls the binary by name, so it keeps working after an upgrade or a move.
        completer.write_registration("COMPLETE", "promptops", "promptops", "promptops", &mut script)?;
    }
    ctx.printer.out_raw(&String::from_utf8_lossy(&script));
    Ok(ExitStatus::Success)
}
