//! The command-line shape: global flags (flattened, usable after any subcommand) and one
//! subcommand per capability. Each command's own flags live in its module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    ab, admin, auth, cost, eval, hook, import, init, label, prompt, provider, registry, remote, run, runs, schema,
    serve, traces, workflow,
};
use crate::exit::EXIT_CODES_HELP;

/// Prompts as code: versioned prompts, evaluations, A/B statistics, workflows.
#[derive(Debug, Parser)]
#[command(name = "promptops", version, about, after_help = EXIT_CODES_HELP, propagate_version = true)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The project directory (default: the nearest parent holding promptops.yaml).
    #[arg(long, global = true, value_name = "DIR", env = "PROMPTOPS_PROJECT")]
    pub project: Option<PathBuf>,
    /// Output format of listings and reports, where the command has them (table by default, json,
    /// yaml, …): a format the command does not take is refused with the list of those it does.
    #[arg(long, global = true, value_name = "FORMAT", env = "PROMPTOPS_FORMAT")]
    pub format: Option<String>,
    /// Print only data and errors: no status lines, no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never use colour (also: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Talk to this remote server (from `remotes:` in promptops.yaml) instead of the local store:
    /// status, log, diff, show, checkout, label, rollback, prompt list, commit; eval and ab run
    /// locally and upload their runs and experiments; eval list/show/compare, ab list/show read it.
    #[arg(long, global = true, value_name = "NAME", add = clap_complete::ArgValueCandidates::new(crate::complete::remotes))]
    pub remote: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project: promptops.yaml, prompts/, eval-suites/, workflows/, schemas/.
    Init(init::InitArgs),
    /// Store a new version of every prompt whose content changed.
    Commit(registry::CommitArgs),
    /// Show new, modified and deleted prompts, and where labels point.
    Status,
    /// Show a prompt's versions and label moves.
    Log(registry::LogArgs),
    /// Compare prompt versions (default: working copy against latest).
    Diff(registry::DiffArgs),
    /// Print a prompt version's file.
    Show(registry::ShowArgs),
    /// Write a stored version back to its file.
    Checkout(registry::CheckoutArgs),
    /// Set, list and remove labels.
    #[command(subcommand)]
    Label(label::LabelCommand),
    /// Move a label back to the version it held before.
    Rollback(label::RollbackArgs),
    /// List, create, validate and render prompts.
    #[command(subcommand)]
    Prompt(prompt::PromptCommand),
    /// Run eval suites (default: every suite in eval-suites/), or list, show and compare runs.
    Eval(Box<eval::EvalArgs>),
    /// Compare prompt versions, labels or providers on the same cases, with statistics; plan sizes; list experiments.
    Ab(Box<ab::AbArgs>),
    /// Install or remove the git pre-commit hook that evaluates changed prompts.
    #[command(subcommand)]
    Hook(hook::HookCommand),
    /// Render a prompt and run it against a model.
    Run(run::RunArgs),
    /// Show spend by day, provider or model.
    Cost(cost::CostArgs),
    /// List configured providers or test one; with `--remote`, add, list, remove and set keys of the server's connections.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Store, list and remove API keys in the OS keyring.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Print the JSON Schema of a file format.
    Schema(schema::SchemaArgs),
    /// Print shell completions.
    Completions(schema::CompletionsArgs),
    /// Run the HTTP server (control plane, Langfuse-compatible prompt API, metrics).
    Serve(Box<serve::ServeArgs>),
    /// Bring the database to the current schema and exit.
    Migrate(serve::MigrateArgs),
    /// Re-seal every provider key stored by the server with a new master key.
    RotateMasterKey(serve::RotateArgs),
    /// A render worker of `promptops serve`'s sandbox (started by the server, not by people).
    #[command(hide = true)]
    RenderWorker(serve::RenderWorkerArgs),
    /// List the gateway's requests (traces), newest first.
    Traces(traces::TracesArgs),
    /// Follow or cancel a run on the server (`eval --on-server` starts one).
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Validate, run, resume, draw and export workflow graphs.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// Add, list and remove remote servers (`remotes:` in promptops.yaml).
    #[command(subcommand)]
    Remote(remote::RemoteCommand),
    /// Verify a token for a remote and keep it in the OS keyring.
    Login(remote::LoginArgs),
    /// Forget a remote's token.
    Logout(remote::LogoutArgs),
    /// Send local versions and labels to a remote (conflicts are reported; `--force-label` moves the server's labels).
    Push(remote::PushArgs),
    /// Fetch a remote's versions and labels into the local store (same rules; `--theirs` moves local labels).
    Pull(remote::PullArgs),
    /// Administer a server: tenants, projects, users, members, API tokens, Langfuse keys.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Turn another tool's project into a promptops project (`import promptfoo`).
    #[command(subcommand)]
    Import(import::ImportCommand),
}
