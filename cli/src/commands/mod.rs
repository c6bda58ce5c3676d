//! One module per command group; `dispatch` routes a parsed command to its `run`.

pub mod ab;
pub mod admin;
pub mod auth;
pub mod cost;
pub mod eval;
pub mod hook;
pub mod import;
pub mod init;
pub mod label;
pub mod prompt;
pub mod provider;
pub mod registry;
pub mod remote;
pub mod run;
pub mod runs;
pub mod schema;
pub mod serve;
pub mod traces;
pub mod workflow;
mod workspace;

use crate::args::Command;
use crate::context::Context;
use crate::diagnose::usage;
use crate::exit::ExitStatus;

/// Runs the command.
pub async fn dispatch(command: Command, ctx: &Context) -> anyhow::Result<ExitStatus> {
    if let Some(remote) = ctx.remote() {
        check_remote_support(&command, remote)?;
    }
    match command {
        Command::Init(args) => init::run(args, ctx),
        Command::Import(command) => import::run(command, ctx),
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
        Command::Completions(args) => schema::completions(args, ctx),
        Command::Serve(args) => serve::serve(*args, ctx).await,
        Command::Migrate(args) => serve::migrate(args, ctx).await,
        Command::RotateMasterKey(args) => serve::rotate(args, ctx).await,
        Command::RenderWorker(_) => unreachable!("main runs the render worker before any runtime starts"),
        Command::Traces(args) => traces::run(args, ctx).await,
        Command::Runs(command) => runs::run(command, ctx).await,
        Command::Workflow(command) => workflow::run(command, ctx).await,
        Command::Remote(command) => remote::run(command, ctx),
        Command::Login(args) => remote::login(args, ctx).await,
        Command::Logout(args) => remote::logout(args, ctx),
        Command::Push(args) => remote::push(args, ctx).await,
        Command::Pull(args) => remote::pull(args, ctx).await,
        Command::Admin(command) => admin::run(command, ctx).await,
    }
}

/// `--remote` reaches the registry, eval and A/B commands; elsewhere it would be silently
/// ignored, so it is refused.
fn check_remote_support(command: &Command, remote: &str) -> anyhow::Result<()> {
    let supported = matches!(
        command,
        Command::Commit(_)
            | Command::Status
            | Command::Log(_)
            | Command::Diff(_)
            | Command::Show(_)
            | Command::Checkout(_)
            | Command::Label(_)
            | Command::Rollback(_)
            | Command::Prompt(prompt::PromptCommand::List)
            | Command::Push(_)
            | Command::Pull(_)
            | Command::Admin(_)
            | Command::Eval(_)
            | Command::Provider(
                provider::ProviderCommand::List
                    | provider::ProviderCommand::Add { .. }
                    | provider::ProviderCommand::Rm { .. }
                    | provider::ProviderCommand::SetKey { .. }
            )
            | Command::Traces(_)
            | Command::Runs(_)
            | Command::Cost(_)
    ) || matches!(command, Command::Ab(args) if !matches!(args.command, Some(ab::AbCommand::Plan(_))));
    if supported {
        return Ok(());
    }
    Err(usage(
        format!("this command does not take `--remote {remote}`"),
        &[
            "`--remote` works with commit, status, log, diff, show, checkout, label, rollback, prompt list, push, pull, admin, \
             eval (uploads the runs; list, show, compare read the server's), ab (keeps the experiment on the server; \
             list, show, --runs read the server's), provider add/list/rm/set-key, traces, cost and runs",
        ],
    ))
}
