//! `ab`: compare arms (prompt versions, labels, providers) on the same eval cases with proper
//! statistics, plan sample sizes, and list and show the experiments kept in the store. Running
//! and analysing lives in `compare.rs`, rendering in `render.rs`, stored experiments and
//! planning in `stored.rs`.

mod compare;
mod render;
mod sequential;
mod stored;

use clap::{Args, Subcommand};

use crate::context::Context;
use crate::exit::ExitStatus;

/// `ab`: arms to compare, or a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AbArgs {
    /// Planning and stored experiments.
    #[command(subcommand)]
    pub command: Option<AbCommand>,
    /// Comparing arms.
    #[command(flatten)]
    pub compare: CompareArgs,
}

/// Flags of `promptops ab ARM ARM [ARM…] --suite SUITE` and `promptops ab --runs RUN RUN…`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Arms, the first being the baseline: PROMPT (`support/triage@production`), +PROVIDER
    /// (`+fast`) or PROMPT+PROVIDER (`support/triage@3+fast`). A bare word that is a provider id
    /// and not a prompt is a provider.
    #[arg(value_name = "ARM")]
    pub arms: Vec<String>,
    /// The eval suite every arm runs (name under eval-suites/ or path).
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Analyse stored runs instead of running arms: each target × provider of each run is an arm.
    #[arg(long, value_name = "RUN", num_args = 1.., conflicts_with_all = ["arms", "suite", "repeat"])]
    pub runs: Vec<String>,
    /// Run every case N times per arm (repeats are averaged per case before testing).
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Significance level.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.05)]
    pub alpha: f64,
    /// Power for the detectable-effect and cases-needed figures.
    #[arg(long, value_name = "POWER", default_value_t = 0.8)]
    pub power: f64,
    /// The metric that decides: pass-rate (default), score, latency, cost, or a suite metric's
    /// name. The others are secondary: adjusted together and claimed only after it.
    #[arg(long, value_name = "METRIC")]
    pub primary: Option<String>,
    /// Decide with always-valid confidence sequences, safe to look at again and again.
    #[arg(long)]
    pub sequential: bool,
    /// With --sequential: the number of cases the sequence is tuned for (default: the tuning of the
    /// first sequential experiment on the same arms, else the cases run; with --stop-early, the suite's cases).
    #[arg(long, value_name = "N", requires = "sequential")]
    pub planned: Option<usize>,
    /// With --sequential: run the arms a tenth of the suite at a time and stop as soon as the
    /// pass-rate confidence sequence of every challenger excludes no difference.
    #[arg(long, requires = "sequential", conflicts_with = "runs")]
    pub stop_early: bool,
    /// Also have this provider judge each pair of outputs, in both orders.
    #[arg(long, value_name = "PROVIDER")]
    pub judge: Option<String>,
    /// Exit 1 unless every arm beats the first on pass rate, significantly.
    #[arg(long)]
    pub require_better: bool,
    /// Exit 1 unless every arm's pass rate is no worse than the first's by more than MARGIN (0.02 or 2%).
    #[arg(long, value_name = "MARGIN")]
    pub non_inferiority: Option<String>,
    /// Cases in flight at once (default: the suite's, else promptops.yaml's, else 8).
    #[arg(short = 'j', long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Neither read nor write the response cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Stop when this invocation has spent this many dollars.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Seed of the bootstrap (stored with the experiment).
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,
    /// Run the arms on the workers of the `--remote` server, with its provider connections (no
    /// key needed here); the analysis and exit code are a local comparison's.
    #[arg(long, conflicts_with_all = ["runs", "stop_early", "judge", "no_cache", "max_cost"])]
    pub on_server: bool,
}

/// Subcommands of `ab`.
#[derive(Debug, Subcommand)]
pub enum AbCommand {
    /// Cases needed to tell two pass rates apart.
    Plan(stored::PlanArgs),
    /// List experiments, newest first.
    List(stored::ListArgs),
    /// Show an experiment's analysis again.
    Show(stored::ShowArgs),
}

/// Runs `ab`.
pub async fn run(args: AbArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match args.command {
        Some(AbCommand::Plan(args)) => stored::plan(args, ctx),
        Some(AbCommand::List(args)) => stored::list(args, ctx).await,
        Some(AbCommand::Show(args)) => stored::show(args, ctx).await,
        None => compare::run(args.compare, ctx).await,
    }
}
