//! One module per command group; `dispatch` routes a parsed command to its `run`.

pub mod ab;
pub mod auth;
pub mod cost;
pub mod eval;
pub mod hook;
pub mod init;
pub mod label;
pub mod prompt;
pub mod provider;
pub mod registry;
pub mod run;
pub mod schema;
pub mod serve;
pub mod workflow;
mod workspace;

use crate::args::Command;
use crate::context::Context;
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn dispatch(command: Command, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Init(args) => init::run(args, ctx),
        Command::Commit(args) => registry::commit(args, ctx).await,
        Command::Status => registry::status(ctx).await,
        Command::Log(args) => registry::log(args, ctx).await,
        Command::Diff(args) => registry::diff(args, ctx).await,
        Command::Show(args) => registry::show(args, ctx).await,
        Command::Checkout(args) => registry::checkout(args, ctx).await,
        Command::Label(command) => label::run(command, ctx).await,
        Command::Rollback(args) => label::rollback(args, ctx).await,
        Command::Prompt(command) => prompt::run(command, ctx).await,
        Command::Eval(args) => eval::run(*args, ctx).await,
        Command::Ab(args) => ab::run(*args, ctx).await,
        Command::Hook(command) => hook::run(command, ctx),
        Command::Run(args) => run::run(args, ctx).await,
        Command::Cost(args) => cost::run(args, ctx).await,
        Command::Auth(command) => auth::run(command, ctx).await,
        Command::Provider(command) => provider::run(command, ctx).await,
        Command::Schema(args) => schema::schema(args, ctx),
        Command::Completions(args) => schema::completions(args),
        Command::Serve(args) => serve::serve(args, ctx).await,
        Command::Migrate(args) => serve::migrate(args, ctx).await,
        Command::Workflow(command) => workflow::run(command, ctx).await,
    }
}
