//! `promptops eval [SUITE…]`: plan every suite (reporting every problem at once, before any
//! model call), run them with a progress bar on a terminal, Ctrl-C to stop after the cases in
//! flight, then report: the terminal summary or `--format`, `-o` files, GitHub annotations and
//! job summary, and the exit code (0 passed, 1 below threshold / regression, 2 bad input,
//! 3 provider errors only).

use std::path::PathBuf;
use std::sync::Arc;

use promptops::config::{CONFIG_FILE, Project};
use promptops::eval::compare::BaselineCheck;
use promptops::eval::report::{RunReport, build, for_each_result};
use promptops::eval::{Cancel, EvalError, Overrides, Plan, PlanInput, ProjectPrompts, RunSettings, Runner, Subset};
use promptops::git::{Changes, staged_tree};
use promptops::promptfoo::output::PromptLabels;
use promptops::service::{LocalRuns, RunService};
use promptops::store::{RunRecord, RunStatus};
use promptops::yaml::YamlError;

use super::backend::{BackendOptions, backend, workflows};
use super::select::{ChangeFilter, Chosen, suites};
use super::upload::upload_run;
use super::{RunArgs, parse_rate};
use crate::commands::workspace::report_all;
use crate::context::{Context, LocalStore};
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::Format;
use crate::output::progress::EvalBar;
use crate::output::report::{self, SuiteOutcome};

/// Concurrency when neither the flag, the suite nor promptops.yaml sets one.
const DEFAULT_CONCURRENCY: usize = 8;

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
    if *on_server && ctx.remote().is_none() {
        return Err(usage(
            "--on-server needs a remote to run on",
            &["name one with `--remote NAME` (see `promptops remote list`)"],
        ));
    }
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

    /// The command line's choices of what runs.
    pub(crate) fn overrides(&self) -> &Overrides {
        &self.overrides
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
        // The runs are uploaded at the end: a wrong token or an unreachable server is found
        // before the first model call, not after the whole suite has run (and been paid for).
        ctx.remote_client(&project, remote)?.verify().await.diag()?;
    }
    let (mut backend, providers, provider_options) = backend(&project, &local, options)?;
    if settings.on_server {
        backend = Arc::new(super::on_server::ServerProviders);
    }
    let workflows = workflows(&project, &local, providers, provider_options);
    let prompts =
        ProjectPrompts { prompts_dir: project.prompts_dir(), registry: Some(ctx.versions(&project, &local)?) };
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
    let input = PlanInput {
        root: &project.root,
        default_provider: project.config.defaults.provider.as_deref(),
        prompts: &prompts,
        backend: backend.as_ref(),
        workflows: Some(&workflows),
        overrides: &settings.overrides,
    };
    let plans = plan_all(ctx, &project, chosen, &input).await?;
    if settings.on_server {
        let outcomes = super::on_server::outcomes(ctx, &project, &local, settings, plans, cancel).await?;
        emit(ctx, settings, &outcomes)?;
        return Ok(verdict(ctx, settings, &outcomes));
    }
    let runner = Runner::new(Arc::clone(&local.store), local.scope.clone(), Arc::clone(&backend));
    let mut runs = Vec::with_capacity(plans.len());
    for plan in plans {
        if cancel.is_cancelled() {
            break;
        }
        let concurrency = settings
            .concurrency
            .or(plan.concurrency.map(|c| c as usize))
            .or(project.config.defaults.concurrency.map(|c| c as usize))
            .unwrap_or(DEFAULT_CONCURRENCY);
        runs.push(run_one(ctx, &project, &local, &runner, plan, resumed.clone(), concurrency, cancel).await?);
    }
    let outcomes = outcomes(ctx, &project, &local, settings, runs).await?;
    emit(ctx, settings, &outcomes)?;
    Ok(verdict(ctx, settings, &outcomes))
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

/// Plans every suite; all problems of all suites are printed together.
pub(crate) async fn plan_all(
    ctx: &Context,
    project: &Project,
    chosen: Vec<Chosen>,
    input: &PlanInput<'_>,
) -> anyhow::Result<Vec<Plan>> {
    let mut plans = Vec::new();
    let mut problems: Vec<YamlError> = Vec::new();
    for suite in chosen {
        // Every problem of the file's shape, and then those planning finds in what remains.
        let (suite, found) = suite.read(project);
        problems.extend(found);
        let Some(suite) = suite else { continue };
        match promptops::eval::plan(&suite, input).await {
            Ok(plan) => plans.push(plan),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        let summary = format!("{} problem(s) found in eval suites; no model was called", problems.len());
        return Err(report_all(ctx, &problems, summary));
    }
    Ok(plans)
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

#[expect(clippy::too_many_arguments, reason = "one call site; the pieces are all distinct")]
pub(crate) async fn run_one(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    runner: &Runner,
    plan: Plan,
    resumed: Option<RunRecord>,
    concurrency: usize,
    cancel: &Cancel,
) -> anyhow::Result<RunReport> {
    let bar = EvalBar::new(&ctx.printer, &plan.suite, plan.total());
    let on_progress = {
        let bar = bar.clone();
        Arc::new(move |p: &promptops::eval::Progress| bar.update(p))
    };
    let settings = RunSettings {
        concurrency,
        actor: local.actor.clone(),
        git: promptops::git::head(project.origin_root()),
        on_progress: Some(on_progress),
        cancel: cancel.clone(),
    };
    ctx.printer.detail(&format!("{}: {} result(s), concurrency {concurrency}", plan.suite, plan.total()));
    let plan = Arc::new(plan);
    // A new run's report is built as its results stream by; a resumed one's holds earlier
    // results too, so it is read back from the store in one pass.
    let result = match resumed {
        Some(run) => match runner.resume(plan, run, &settings).await {
            Ok(run) => build(&local.store, &local.scope, run).await.map_err(EvalError::from),
            Err(err) => Err(err),
        },
        None => runner.run_with_report(plan, &settings).await,
    };
    bar.finish();
    result.diag()
}

/// The outcome of each run from its report: its results are read from the store once, and
/// only when a report format or the upload needs them. With `--remote` the run is uploaded
/// before its baseline is looked up, so that the baseline is found among the server's runs.
async fn outcomes(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    settings: &Settings,
    reports: Vec<RunReport>,
) -> anyhow::Result<Vec<SuiteOutcome>> {
    let needs_results = ctx.remote().is_some() || settings.needs_results();
    let mut outcomes = Vec::with_capacity(reports.len());
    for report in reports {
        let mut results = Vec::new();
        if needs_results {
            for_each_result(&local.store, &local.scope, report.run.id, false, |r| results.push(r.clone()))
                .await
                .diag()?;
        }
        let stored = match ctx.remote() {
            Some(remote) => upload_run(ctx, project, remote, &report.run, &results).await?,
            None => report.run.clone(),
        };
        let baseline = match &settings.baseline {
            Some((reference, tolerance)) => {
                Some(baseline_check(ctx, project, local, stored, reference, *tolerance).await?)
            }
            None => None,
        };
        outcomes.push(SuiteOutcome { report, results, baseline });
    }
    Ok(outcomes)
}

/// `current` against its baseline, both where runs are read (local, or the server's).
pub(super) async fn baseline_check(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    current: RunRecord,
    reference: &str,
    tolerance: f64,
) -> anyhow::Result<BaselineCheck> {
    let service = ctx.runs(project).await?;
    let versions = ctx.versions(project, local)?;
    let suite = current.draft.suite.clone();
    let before = service.baseline(&suite, reference, current.id, Some(versions.as_ref())).await.diag()?;
    let comparison = service.compare(before, current).await.diag()?;
    Ok(BaselineCheck::judge(&comparison, tolerance))
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

/// The exit status: 1 when a suite is below its threshold (or `--fail-under`), regressed
/// against its baseline, or was interrupted; 3 when what failed it were provider errors only.
pub(crate) fn verdict(ctx: &Context, settings: &Settings, outcomes: &[SuiteOutcome]) -> ExitStatus {
    let stopped = [RunStatus::Interrupted, RunStatus::Cancelled];
    if let Some(run) = outcomes.iter().map(|o| &o.report.run).find(|r| stopped.contains(&r.status)) {
        let hint = match (settings.on_server, run.status) {
            (true, RunStatus::Cancelled) => format!("run {} was cancelled on the server; its results are kept", run.id),
            (true, _) => format!("follow it again with `promptops runs watch {}`", run.id),
            (false, _) => format!("finish it with `promptops eval --resume {}`", run.id),
        };
        ctx.printer.error_line("hint", &hint);
        return ExitStatus::Failed;
    }
    let (done, passed, failed) = outcomes.iter().fold((0, 0, 0), |(d, p, f), o| {
        let t = &o.report.run.totals;
        (d + t.done, p + t.passed, f + t.failed)
    });
    let below = match settings.fail_under {
        Some(rate) => done == 0 || (passed as f64 / done as f64) + 1e-9 < rate,
        None => outcomes.iter().any(|o| !o.report.passed()),
    };
    let regressed = outcomes.iter().any(|o| o.baseline.as_ref().is_some_and(|b| !b.passed()));
    if let Some(rate) = settings.fail_under.filter(|_| below) {
        ctx.printer.error_line(
            "error",
            &format!(
                "pass rate {} is below --fail-under {}",
                report::percent(passed as f64 / done.max(1) as f64),
                report::percent(rate)
            ),
        );
    }
    if settings.promptfoo_exit_codes {
        let errors: u64 = outcomes.iter().map(|o| o.report.run.totals.errors).sum();
        if failed + errors > 0 {
            return ExitStatus::PromptfooFailed;
        }
    }
    match (below, regressed) {
        (false, false) => ExitStatus::Success,
        (true, false) if failed == 0 => ExitStatus::Upstream,
        _ => ExitStatus::Failed,
    }
}
