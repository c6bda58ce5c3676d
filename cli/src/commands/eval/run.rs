//! `promptops eval [SUITE…]`: plan every suite (reporting every problem at once, before any
//! model call), run them with a progress bar on a terminal, Ctrl-C to stop after the cases in
//! flight, then report: the terminal summary or `--format`, `-o` files, GitHub annotations and
//! job summary, and the exit code (0 passed, 1 below threshold / regression, 2 bad input,
//! 3 provider errors only).

use std::path::PathBuf;
use std::sync::Arc;

use promptops::config::{CONFIG_FILE, Project};
use promptops::eval::{Cancel, Overrides, ProjectPrompts, Subset};
use promptops::git::{Changes, staged_tree};
use promptops::promptfoo::output::PromptLabels;
use promptops::service::{LocalRuns, RunService};
use promptops::session::{EvalOutcome, EvalSession, EvalSettings, SessionError, SuiteOutcome, Verdict};
use promptops::store::RunStatus;

use super::backend::{BackendOptions, execution};
use super::select::{ChangeFilter, Chosen, suites};
use super::{RunArgs, parse_rate};
use crate::commands::workspace::report_all;
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, Diagnosed, usage};
use crate::exit::ExitStatus;
use crate::output::Format;
use crate::output::progress::TerminalEvents;
use crate::output::report;

/// The formats `eval` prints to stdout.
const FORMATS: &[Format] = &[
    Format::Table,
    Format::Json,
    Format::Yaml,
    Format::Junit,
    Format::Markdown,
    Format::Csv,
    Format::Html,
    Format::PromptfooJson,
];

/// Everything resolved from the flags, once.
pub(crate) struct Settings {
    format: Format,
    outputs: Vec<(PathBuf, Format)>,
    overrides: Overrides,
    concurrency: Option<usize>,
    fail_under: Option<f64>,
    pub(crate) baseline: Option<(String, f64)>,
    promptfoo_exit_codes: bool,
    /// `--on-server`: the suites run on the remote's workers.
    on_server: bool,
    /// promptfoo's labels of the prompts, for `promptfoo-json` (a promptfoo config's run).
    pub(crate) labels: PromptLabels,
}

pub(crate) fn settings(args: &RunArgs, ctx: &Context) -> anyhow::Result<Settings> {
    let RunArgs {
        suites: _,
        providers,
        concurrency,
        repeat,
        tags,
        filter,
        filter_first_n,
        filter_sample,
        seed,
        outputs,
        fail_under,
        baseline,
        tolerance,
        changed: _,
        since: _,
        staged: _,
        resume: _,
        watch: _,
        no_cache: _,
        max_cost: _,
        config: _,
        skip_unsupported: _,
        promptfoo_exit_codes,
        on_server,
    } = args;
    let format = ctx.format(FORMATS, "eval")?;
    let outputs = outputs
        .iter()
        .map(|path| match report::format_for_path(path) {
            // `--format promptfoo-json` writes JSON files in promptfoo's shape too.
            Some(Format::Json) if format == Format::PromptfooJson => Ok((path.clone(), Format::PromptfooJson)),
            Some(format) => Ok((path.clone(), format)),
            None => Err(usage(
                format!("cannot tell the report format of `{}` from its extension", path.display()),
                &["use .json, .xml (JUnit), .md, .csv or .html"],
            )),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if *concurrency == Some(0) {
        return Err(usage("`--concurrency 0` would run nothing", &["give at least 1"]));
    }
    let tolerance = tolerance.as_deref().map(|t| parse_rate(t, "--tolerance")).transpose()?.unwrap_or(0.0);
    Ok(Settings {
        format,
        outputs,
        overrides: Overrides {
            providers: providers.clone(),
            repeat: *repeat,
            tags: tags.clone(),
            filter: filter.clone(),
            subset: subset(ctx, *filter_first_n, *filter_sample, *seed)?,
        },
        concurrency: *concurrency,
        fail_under: fail_under.as_deref().map(|r| parse_rate(r, "--fail-under")).transpose()?,
        baseline: baseline.clone().map(|b| (b, tolerance)),
        promptfoo_exit_codes: *promptfoo_exit_codes,
        on_server: *on_server,
        labels: PromptLabels::new(),
    })
}

impl Settings {
    /// The settings of following a server-side run (`runs watch`): the global `--format`, no
    /// files, thresholds as the run's.
    pub(crate) fn following(ctx: &Context) -> anyhow::Result<Self> {
        Ok(Self {
            format: ctx.format(FORMATS, "runs watch")?,
            outputs: Vec::new(),
            overrides: Overrides::default(),
            concurrency: None,
            fail_under: None,
            baseline: None,
            promptfoo_exit_codes: false,
            on_server: true,
            labels: PromptLabels::new(),
        })
    }

    /// The session's share of the settings, with `project`'s defaults.
    fn session(&self, project: &Project) -> EvalSettings {
        EvalSettings {
            overrides: self.overrides.clone(),
            concurrency: self.concurrency,
            project_concurrency: project.config.defaults.concurrency,
            keep_results: self.needs_results(),
            baseline: self.baseline.clone(),
            fail_under: self.fail_under,
        }
    }

    /// Whether the report lists every case somewhere (a format or an `-o` file).
    pub(crate) fn needs_results(&self) -> bool {
        report::needs_results(self.format) || self.outputs.iter().any(|(_, f)| report::needs_results(*f))
    }
}

/// `--filter-first-n` or `--filter-sample` (with `--seed`, else a fresh seed that is printed).
fn subset(
    ctx: &Context,
    first_n: Option<usize>,
    sample: Option<usize>,
    seed: Option<u64>,
) -> anyhow::Result<Option<Subset>> {
    if first_n == Some(0) || sample == Some(0) {
        return Err(usage("a subset of 0 cases would run nothing", &["give at least 1"]));
    }
    Ok(match (first_n, sample) {
        (Some(n), _) => Some(Subset::FirstN(n)),
        (None, Some(n)) => {
            let seed = seed.unwrap_or_else(Subset::fresh_seed);
            ctx.printer.status(&format!("sampling {n} case(s) of each suite with --seed {seed}"));
            Some(Subset::Sample { n, seed })
        }
        (None, None) => None,
    })
}

/// Runs `eval`: a promptfoo config when one is named or found, else the project's suites.
pub async fn run(args: RunArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    if let Some(config) = super::promptfoo::config_to_read(&args, ctx)? {
        return super::promptfoo::run(args, ctx, &config).await;
    }
    let settings = settings(&args, ctx)?;
    let cancel = Cancel::default();
    watch_ctrl_c(ctx, cancel.clone());
    if args.watch {
        return super::watch::watch(&args, &settings, ctx, &cancel).await;
    }
    run_once(&args, &settings, ctx, None, &cancel).await
}

/// One evaluation: of `only` when given (the suites a change touched, for `--watch`), else of
/// the suites the arguments select.
pub(super) async fn run_once(
    args: &RunArgs,
    settings: &Settings,
    ctx: &Context,
    only: Option<Vec<PathBuf>>,
    cancel: &Cancel,
) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    // `--staged` evaluates what the commit will hold: the index's files, when they differ from
    // the work tree's (the copy lives until the end of the run).
    let staged = if args.staged { staged_tree(&project.root).diag()? } else { None };
    if let Some(tree) = &staged
        && !tree.root.join(CONFIG_FILE).is_file()
    {
        ctx.printer
            .status(&format!("nothing to evaluate: the staged files hold no {CONFIG_FILE} (it is not in git yet)"));
        return Ok(ExitStatus::Success);
    }
    let project = match &staged {
        Some(tree) => {
            ctx.printer.detail(&format!("evaluating the staged files, copied to {}", tree.root.display()));
            project.open_copy(&tree.root).diag()?
        }
        None => project,
    };
    let options = BackendOptions { no_cache: args.no_cache, max_cost: args.max_cost, secrets: None };
    execute(ctx, args, settings, &project, only, &options, cancel).await
}

/// Plans, runs and reports the suites of `project`: those at `paths`, else those the arguments select.
pub(crate) async fn execute(
    ctx: &Context,
    args: &RunArgs,
    settings: &Settings,
    project: &Project,
    paths: Option<Vec<PathBuf>>,
    options: &BackendOptions,
    cancel: &Cancel,
) -> anyhow::Result<ExitStatus> {
    let project = project.clone();
    let local = ctx.local_store(&project).await?;
    if let Some(remote) = ctx.remote() {
        // A wrong token or an unreachable server is found before the first model call, not
        // after the whole suite has run (and been paid for).
        ctx.remote_client(&project, remote)?.verify().await.diag()?;
    }
    let execution = execution(ctx, &project, &local, options, settings.on_server).await?;
    let versions = ctx.versions(&project, &local)?;
    let prompts = ProjectPrompts { prompts_dir: project.prompts_dir(), registry: Some(Arc::clone(&versions)) };
    // Runs are made in the local store even with `--remote` (they are uploaded afterwards), so
    // `--resume` names a local run.
    let resumed = match &args.resume {
        Some(reference) => {
            Some(LocalRuns::new(Arc::clone(&local.store), local.scope.clone()).run(reference).await.diag()?)
        }
        None => None,
    };
    let chosen = match (&resumed, paths) {
        (Some(run), _) => vec![Chosen::unread(project.root.join(&run.draft.suite_path))],
        (None, Some(paths)) => paths.into_iter().map(Chosen::unread).collect(),
        (None, None) => suites(ctx, &project, &args.suites, change_filter(args).as_ref())?,
    };
    if chosen.is_empty() {
        ctx.printer.status("no eval suite is affected by the changes");
        return Ok(ExitStatus::Success);
    }
    let input = execution.plan_input(&project, &prompts, &settings.overrides);
    let events = TerminalEvents(ctx.printer.clone());
    let session = EvalSession {
        executor: execution.executor.as_ref(),
        events: &events,
        versions: Some(versions),
        settings: settings.session(&project),
    };
    let suites = chosen.into_iter().map(|suite| suite.read(&project));
    let plans = session.plan(suites, &input).await.map_err(|err| session_error(ctx, err))?;
    let outcome = session.run(plans, resumed, cancel).await.map_err(|err| session_error(ctx, err))?;
    emit(ctx, settings, &outcome.suites)?;
    Ok(exit_status(ctx, settings, &outcome))
}

/// A session's error for the terminal: every problem of the suites at once, else the error.
pub(crate) fn session_error(ctx: &Context, err: SessionError) -> anyhow::Error {
    match err {
        SessionError::Problems { what, problems } => {
            let summary = format!("{} problem(s) found in {what}; no model was called", problems.len());
            report_all(ctx, &problems, summary)
        }
        err => Diagnosed::new(err).into(),
    }
}

fn change_filter(args: &RunArgs) -> Option<ChangeFilter> {
    let changes = if args.staged {
        Changes::Staged
    } else if let Some(reference) = &args.since {
        Changes::Since(reference.clone())
    } else if args.changed {
        Changes::Uncommitted
    } else {
        return None;
    };
    Some(ChangeFilter { changes })
}

/// Ctrl-C once: finish the cases in flight and keep the run as interrupted. Twice: stop now.
pub(crate) fn watch_ctrl_c(ctx: &Context, cancel: Cancel) {
    let printer = ctx.printer.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        printer.warn("interrupted: finishing the cases in flight (Ctrl-C again to stop now)");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

pub(crate) fn emit(ctx: &Context, settings: &Settings, outcomes: &[SuiteOutcome]) -> anyhow::Result<()> {
    match settings.format {
        Format::Table => ctx.printer.out_raw(&report::terminal(&ctx.printer, outcomes)),
        format => ctx.printer.out_raw(&report::render_labelled(format, outcomes, &settings.labels)?),
    }
    for (path, format) in &settings.outputs {
        promptops::fsutil::write_atomic(path, report::render_labelled(*format, outcomes, &settings.labels)?.as_bytes())
            .map_err(|err| usage(format!("cannot write the report `{}`: {err}", path.display()), &[]))?;
        ctx.printer.status(&format!("wrote {} report to {}", format.as_str(), path.display()));
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        // Workflow commands are read from stdout and stderr alike; keep a machine format on
        // stdout clean.
        let annotations = report::annotations(outcomes);
        if settings.format == Format::Table {
            ctx.printer.out_raw(&annotations);
        } else {
            ctx.printer.err_raw(&annotations);
        }
        if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            use std::io::Write as _;
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&summary);
            if let Err(err) = file.and_then(|mut f| f.write_all(report::step_summary(outcomes).as_bytes())) {
                ctx.printer.warn(&format!("cannot append to $GITHUB_STEP_SUMMARY: {err}"));
            }
        }
    }
    Ok(())
}

/// The exit status of an outcome: 1 when a suite is below its threshold (or `--fail-under`),
/// regressed against its baseline, or was stopped; 3 when what failed it were provider errors
/// only; 100 with `--promptfoo-exit-codes` when any case failed or errored.
pub(crate) fn exit_status(ctx: &Context, settings: &Settings, outcome: &EvalOutcome) -> ExitStatus {
    match &outcome.verdict {
        Verdict::Passed => {}
        Verdict::Stopped { run, status, on_server } => {
            let hint = match (on_server, status) {
                (true, RunStatus::Cancelled) => format!("run {run} was cancelled on the server; its results are kept"),
                (true, _) => format!("follow it again with `promptops runs watch {run}`"),
                (false, _) => format!("finish it with `promptops eval --resume {run}`"),
            };
            ctx.printer.error_line("hint", &hint);
            return ExitStatus::Failed;
        }
        Verdict::Failed { below_rate, .. } => {
            if let Some((rate, required)) = below_rate {
                let (rate, required) = (report::percent(*rate), report::percent(*required));
                ctx.printer.error_line("error", &format!("pass rate {rate} is below --fail-under {required}"));
            }
        }
    }
    if settings.promptfoo_exit_codes && outcome.failed_or_errored() > 0 {
        return ExitStatus::PromptfooFailed;
    }
    match outcome.verdict {
        Verdict::Passed => ExitStatus::Success,
        Verdict::Failed { provider_errors_only: true, .. } => ExitStatus::Upstream,
        _ => ExitStatus::Failed,
    }
}
