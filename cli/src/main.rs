//! The `promptops` binary: parse the command line, build the context, dispatch, and turn any
//! error into `error:` / `caused by:` / `hint:` lines and an exit code.

mod args;
mod commands;
mod complete;
mod context;
mod diagnose;
mod exit;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::Cli;
use crate::context::Context;
use crate::output::Printer;

fn main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=zsh promptops -- …`) is answered and the
    // process ends here.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    // Parsing first: `--version` and `--help` answer before any runtime starts.
    let cli = Cli::parse();
    if let args::Command::RenderWorker(args) = &cli.command {
        // A worker is one thread under a data-size limit: no runtime, no printer.
        return match promptops::prompt::serve_worker(args.memory) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.no_color);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            printer.error_line("error", &format!("failed to start the async runtime: {err}"));
            return exit::ExitStatus::Usage.into();
        }
    };
    let ctx = Context::new(printer.clone(), cli.global.format, cli.global.project.clone(), cli.global.remote.clone());
    let outcome = runtime.block_on(commands::dispatch(cli.command, &ctx));
    // The reader of stdout went away (`| head`): end quietly, as a process killed by SIGPIPE
    // would, whatever the command concluded (its work, stores and `-o` files, is done).
    let status = match (printer.stdout_failure(), outcome) {
        (Some(err), _) if err.kind() == std::io::ErrorKind::BrokenPipe => exit::ExitStatus::BrokenPipe,
        (Some(err), Err(failure)) => {
            diagnose::report(&printer, &failure);
            diagnose::report(&printer, &diagnose::output_failed(err))
        }
        (Some(err), Ok(_)) => diagnose::report(&printer, &diagnose::output_failed(err)),
        (None, Ok(status)) => status,
        (None, Err(err)) => diagnose::report(&printer, &err),
    };
    status.into()
}
