//! `eval`: run suites (the main job of promptops), and `eval list|show|compare` over the runs
//! kept in the store or on a remote. Running lives in `run.rs`, uploading to a remote in
//! `upload.rs`, reading runs in `runs.rs`, rendering in `output::report`.

pub(crate) mod backend;
pub(crate) mod promptfoo;
pub(crate) mod run;
mod runs;
pub(crate) mod select;
pub(crate) mod upload;
mod watch;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::context::Context;
use crate::exit::ExitStatus;

/// `eval`: flags of a run, or a subcommand over stored runs.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalArgs {
    /// Reading stored runs.
    #[command(subcommand)]
    pub command: Option<EvalCommand>,
    /// Running suites.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags of `promptops eval [SUITE…]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Suites to run: names under eval-suites/ or paths (default: every suite not marked `manual`).
    #[arg(value_name = "SUITE", add = clap_complete::ArgValueCandidates::new(crate::complete::suites))]
    pub suites: Vec<String>,
    /// Run on these providers instead of the suites' own (repeatable).
    #[arg(short, long = "provider", value_name = "ID")]
    pub providers: Vec<String>,
    /// Cases in flight at once (default: the suite's `concurrency`, else promptops.yaml's, else 8).
    #[arg(short = 'j', long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Run every case N times (overrides the suites' `repeat`).
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Only cases with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Only the first N cases of each suite (after --tag and --filter).
    #[arg(long, value_name = "N")]
    pub filter_first_n: Option<usize>,
    /// Only N cases of each suite drawn at random (after --tag and --filter); the seed is printed.
    #[arg(long, value_name = "N", conflicts_with = "filter_first_n")]
    pub filter_sample: Option<usize>,
    /// The seed of --filter-sample, to draw the same cases again.
    #[arg(long, value_name = "S", requires = "filter_sample")]
    pub seed: Option<u64>,
    /// Also write the report to FILE; the format comes from the extension (.json, .xml, .md, .csv, .html). Repeatable.
    #[arg(short, long = "output", value_name = "FILE")]
    pub outputs: Vec<PathBuf>,
    /// Fail (exit 1) when the overall pass rate is below RATE (0.9 or 90%), instead of the suites' thresholds.
    #[arg(long, value_name = "RATE")]
    pub fail_under: Option<String>,
    /// Compare with a run (number, `latest`) or the runs of a prompt label; fail on regressions.
    #[arg(long, value_name = "RUN|LABEL", add = clap_complete::ArgValueCandidates::new(crate::complete::runs))]
    pub baseline: Option<String>,
    /// How far the pass rate may drop below the baseline's (0.05 or 5%; default 0).
    #[arg(long, value_name = "RATE", requires = "baseline")]
    pub tolerance: Option<String>,
    /// Only suites that use prompts, partials, datasets or suites changed in git (or not yet committed).
    #[arg(long)]
    pub changed: bool,
    /// With --changed: changes since the merge base with REF (e.g. origin/main) instead of HEAD.
    #[arg(long, value_name = "REF")]
    pub since: Option<String>,
    /// Only staged changes (what the pre-commit hook uses); implies --changed.
    #[arg(long)]
    pub staged: bool,
    /// Finish an interrupted run.
    #[arg(long, value_name = "RUN", add = clap_complete::ArgValueCandidates::new(crate::complete::runs), conflicts_with_all = ["suites", "changed", "staged", "since"])]
    pub resume: Option<String>,
    /// Run, then re-run the suites each change to the project touches, until Ctrl-C.
    #[arg(long, conflicts_with_all = ["resume", "changed", "staged", "since"])]
    pub watch: bool,
    /// Neither read nor write the response cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Stop when this invocation has spent this many dollars.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Evaluate a promptfoo config as it is (default: promptfooconfig.yaml when the directory has no promptops.yaml).
    #[arg(short = 'c', long = "config", value_name = "FILE", conflicts_with_all = ["suites", "resume", "changed", "staged", "since", "watch"])]
    pub config: Option<PathBuf>,
    /// With a promptfoo config: leave out what has no promptops equivalent, with a warning, instead of refusing it.
    #[arg(long)]
    pub skip_unsupported: bool,
    /// Exit 100 when a test fails or errors, as promptfoo does (instead of 1 or 3).
    #[arg(long)]
    pub promptfoo_exit_codes: bool,
    /// Run on the workers of the `--remote` server, with its provider connections (no key needed
    /// here); the report and exit code are a local run's.
    #[arg(long, conflicts_with_all = ["resume", "watch", "config", "no_cache", "max_cost"])]
    pub on_server: bool,
}

/// Subcommands over stored runs.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// List runs, newest first.
    List(runs::ListArgs),
    /// Show a run's report.
    Show(runs::ShowArgs),
    /// Compare two runs: cases that regressed, improved or changed output.
    Compare(runs::CompareArgs),
}

/// Runs `eval`.
pub async fn run(args: EvalArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match args.command {
        Some(EvalCommand::List(args)) => runs::list(args, ctx).await,
        Some(EvalCommand::Show(args)) => runs::show(args, ctx).await,
        Some(EvalCommand::Compare(args)) => runs::compare(args, ctx).await,
        None => run::run(args.run, ctx).await,
    }
}

/// Parses a rate typed as `0.9` or `90%`.
pub fn parse_rate(text: &str, flag: &str) -> anyhow::Result<f64> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match value {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(crate::diagnose::usage(
            format!("`{flag} {text}` is not a rate"),
            &["give a fraction between 0 and 1 (0.9) or a percentage (90%)"],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_fractions_or_percentages() {
        assert_eq!(parse_rate("0.9", "--fail-under").expect("ok"), 0.9);
        assert_eq!(parse_rate("85%", "--fail-under").expect("ok"), 0.85);
        assert!(parse_rate("90", "--fail-under").is_err());
    }
}
