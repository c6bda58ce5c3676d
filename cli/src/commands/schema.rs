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
}

/// Prints a completion script for the shell (through the printer: a closed pipe ends quietly).
pub fn completions(args: CompletionsArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "promptops", &mut script);
    ctx.printer.out_raw(&String::from_utf8_lossy(&script));
    Ok(ExitStatus::Success)
}
