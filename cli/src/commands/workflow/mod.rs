//! `workflow list|validate|run|resume|history|threads|fork|draw|export`: the CLI face of
//! `promptops::workflow`. Loading and validation are shared here; running and threads live in
//! their own modules.

mod caller;
mod run;
mod show;
mod threads;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use promptops::config::Project;
use promptops::error::ErrorClass;
use promptops::service::RegistryVersions;
use promptops::workflow::{
    Catalog, Compiled, ExecPolicy, Finding, ProjectPrompts, Severity, Workflow, WorkflowError, prepare,
};

use crate::context::Context;
use crate::diagnose::{DiagnoseExt, Diagnosed};
use crate::exit::ExitStatus;

/// The `workflow` subcommands.
#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// List the project's workflows.
    List,
    /// Check workflows: shape, references, reachability, bounded loops, reads before writes,
    /// concurrent writes, prompt variables (all workflows when none is named).
    Validate {
        /// Workflow names (under workflows/) or file paths.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::workflows))]
        targets: Vec<String>,
    },
    /// Run a workflow in a new thread (validated first).
    Run(RunArgs),
    /// Continue a thread after a human pause (with `--input`), a failure or a crash.
    Resume(ResumeArgs),
    /// Show the committed steps of a thread.
    History {
        /// The thread.
        thread: String,
    },
    /// List threads, newest first.
    Threads {
        /// Only the threads of this workflow.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::workflows))]
        workflow: Option<String>,
    },
    /// Start a new thread from a committed step of another (then `resume` it).
    Fork(ForkArgs),
    /// Draw a workflow's graph (`--format mermaid`, the default, or `--format dot`).
    Draw {
        /// The workflow's name or file.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::workflows))]
        target: String,
    },
    /// Write a workflow as a runnable LangGraph (Python) app.
    Export(ExportArgs),
}

/// How a run reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamMode {
    /// The whole state after each step, as JSON lines.
    Values,
    /// Each task's writes, as JSON lines.
    Updates,
    /// Model output as it arrives, as JSON lines.
    Tokens,
}

/// Flags shared by `run` and `resume`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Print events on stdout as JSON lines while the run goes.
    #[arg(long, value_enum)]
    pub stream: Option<StreamMode>,
    /// Treat a pause at a human node as an error (exit 2) instead of exiting 0.
    #[arg(long)]
    pub non_interactive: bool,
    /// Neither read nor write the response cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// Flags of `workflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow's name (under workflows/) or file.
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::workflows))]
    pub target: String,
    /// The input, a JSON object of the workflow's `input` keys.
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// A JSON or YAML file holding the input (`--input` wins over it).
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
    /// The new thread's id (default: generated).
    #[arg(long, value_name = "ID")]
    pub thread: Option<String>,
    /// Streaming and pausing.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Flags of `workflow resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The thread.
    pub thread: String,
    /// The answer to the human node the thread waits on (JSON).
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// Streaming and pausing.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Flags of `workflow fork`.
#[derive(Debug, Args)]
pub struct ForkArgs {
    /// The thread to fork.
    pub thread: String,
    /// The committed step to continue from (see `workflow history`).
    #[arg(long)]
    pub step: u32,
    /// The new thread's id (default: generated).
    #[arg(long = "thread", value_name = "ID")]
    pub new_thread: Option<String>,
}

/// Flags of `workflow export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The workflow's name or file.
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::workflows))]
    pub target: String,
    /// The target framework.
    #[arg(long, value_enum)]
    pub to: ExportTarget,
    /// The directory to write (default: `export/<workflow>-langgraph`).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// Frameworks a workflow can be exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    /// LangGraph (Python): graph.py, langgraph.json, requirements.txt.
    Langgraph,
}

/// Runs a `workflow` subcommand.
pub async fn run(command: WorkflowCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        WorkflowCommand::List => show::list(ctx),
        WorkflowCommand::Validate { targets } => show::validate(targets, ctx).await,
        WorkflowCommand::Run(args) => run::run(args, ctx).await,
        WorkflowCommand::Resume(args) => run::resume(args, ctx).await,
        WorkflowCommand::History { thread } => threads::history(&thread, ctx).await,
        WorkflowCommand::Threads { workflow } => threads::threads(workflow.as_deref(), ctx).await,
        WorkflowCommand::Fork(args) => threads::fork(args, ctx).await,
        WorkflowCommand::Draw { target } => show::draw(&target, ctx),
        WorkflowCommand::Export(args) => show::export(args, ctx).await,
    }
}

/// The project's prompts: working copy, and stored versions through the registry.
async fn prompts(ctx: &Context, project: &Project) -> anyhow::Result<ProjectPrompts> {
    let registry = ctx.registry(project).await?;
    Ok(ProjectPrompts::new(project.prompts_dir(), Some(Arc::new(RegistryVersions(registry)))))
}

/// Prints findings (errors and warnings, each with its hints) on stderr.
fn print_findings(ctx: &Context, findings: &[Finding]) {
    for finding in findings {
        let label = if finding.severity == Severity::Error { "error" } else { "warning" };
        ctx.printer.error_line(label, &finding.to_string());
        for hint in &finding.hints {
            ctx.printer.error_line("hint", hint);
        }
    }
}

/// Turns a validation failure into printed findings plus a summary error; other errors pass.
fn report_invalid(ctx: &Context, err: WorkflowError) -> anyhow::Error {
    match err {
        WorkflowError::Invalid { name, findings } => {
            print_findings(ctx, &findings);
            let count = findings.iter().filter(|f| f.severity == Severity::Error).count();
            Diagnosed::message(
                ErrorClass::Config,
                format!("workflow `{name}` is invalid: {count} problem(s) found; nothing was run"),
                vec!["fix the problems above; `promptops workflow validate` checks again".to_owned()],
            )
            .into()
        }
        other => Diagnosed::new(other).into(),
    }
}

/// Loads, validates (printing warnings) and compiles a workflow.
async fn load_compiled(ctx: &Context, project: &Project, target: &str) -> anyhow::Result<(Workflow, Arc<Compiled>)> {
    let catalog = Catalog::new(&project.root);
    let workflow = catalog.load(target).diag()?;
    let prompts = prompts(ctx, project).await?;
    let (compiled, warnings) = prepare(&workflow, &prompts, Some(&catalog), &ExecPolicy::Local)
        .await
        .map_err(|err| report_invalid(ctx, err))?;
    print_findings(ctx, &warnings);
    Ok((workflow, compiled))
}
