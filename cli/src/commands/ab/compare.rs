//! `promptops ab ARM ARM [ARM…] --suite SUITE` and `promptops ab --runs RUN RUN…`: resolve the
//! arms, run each as an eval run of the suite (through the same runner, provider layers and
//! cache as `eval`), analyse, judge if asked, record the experiment, print the verdict, and set
//! the exit code from `--require-better` / `--non-inferiority`. The use case is the library's
//! [`AbSession`]; this file resolves the flags and renders. With `--remote` the arms run here and
//! their runs and the experiment are kept on the server; with `--on-server` too, the arms run on
//! its workers; `--runs` reads its runs.

use std::sync::Arc;

use promptops::ab::experiment::Gate;
use promptops::ab::{ArmCatalog, ArmSample, Metric, Settings, arms_of_results, resolve_arms};
use promptops::config::Project;
use promptops::eval::report::for_each_result;
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Overrides, ProjectPrompts, Runner};
use promptops::session::{AbSession, PlannedArm};

use super::CompareArgs;
use super::{render, sequential};
use crate::commands::eval::backend::{BackendOptions, Execution, execution};
use crate::commands::eval::parse_rate;
use crate::commands::eval::run::{session_error, watch_ctrl_c};
use crate::commands::eval::select::suites;
use crate::commands::eval::upload::upload_run;
use crate::commands::workspace::report_all;
use crate::context::{Context, LocalStore};
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::Format;
use crate::output::progress::TerminalEvents;

/// The formats `ab` prints.
pub const FORMATS: &[Format] = &[Format::Table, Format::Json, Format::Yaml, Format::Markdown];

/// Everything resolved from the flags, before any model call.
struct Resolved {
    settings: Settings,
    gate: Gate,
    format: Format,
}

fn resolve(args: &CompareArgs, ctx: &Context) -> anyhow::Result<Resolved> {
    let CompareArgs {
        arms: _,
        suite: _,
        runs: _,
        repeat,
        alpha,
        power,
        primary,
        sequential,
        planned,
        stop_early: _,
        judge: _,
        require_better,
        non_inferiority,
        concurrency,
        no_cache: _,
        max_cost: _,
        seed,
        on_server: _,
    } = args;
    if *concurrency == Some(0) || *repeat == Some(0) {
        return Err(usage("`--concurrency` and `--repeat` must be at least 1", &[]));
    }
    let settings = Settings {
        alpha: *alpha,
        power: *power,
        sequential: sequential.then_some(planned.unwrap_or(0)),
        seed: *seed,
        primary: primary.as_deref().map(Metric::parse).unwrap_or_default(),
        ..Settings::default()
    };
    // `--planned` defaults to the cases run, known later; validate everything else now.
    Settings { sequential: settings.sequential.map(|n| n.max(1)), ..settings.clone() }.validate().diag()?;
    let margin = non_inferiority.as_deref().map(|m| parse_rate(m, "--non-inferiority")).transpose()?;
    Ok(Resolved {
        settings,
        gate: Gate { require_better: *require_better, non_inferiority: margin },
        format: ctx.format(FORMATS, "ab")?,
    })
}

/// Runs `ab`.
pub async fn run(args: CompareArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let Resolved { mut settings, gate, format } = resolve(&args, ctx)?;
    let project = ctx.project()?;
    let local = ctx.local_store(&project).await?;
    let options = BackendOptions { no_cache: args.no_cache, max_cost: args.max_cost, secrets: None };
    let execution = execution(ctx, &project, &local, &options, args.on_server).await?;
    if let Some(judge) = &args.judge
        && let Err(problem) = execution.backend.check_provider(judge)
    {
        let hints: Vec<&str> = problem.hints.iter().map(String::as_str).collect();
        return Err(usage(format!("judge: {}", problem.message), &hints));
    }
    let events = TerminalEvents(ctx.printer.clone());
    let session = AbSession {
        executor: execution.executor.as_ref(),
        events: &events,
        experiments: ctx.experiments(&project).await?,
        actor: local.actor.clone(),
    };
    let (suite, arms, looks) = if args.runs.is_empty() {
        let cancel = Cancel::default();
        watch_ctrl_c(ctx, cancel.clone());
        let (suite, planned) = plan_arms(ctx, &project, &local, &args, &session, &execution).await?;
        let project_concurrency = project.config.defaults.concurrency;
        if args.stop_early {
            let runner = Runner::new(Arc::clone(&local.store), local.scope.clone(), Arc::clone(&execution.backend));
            let run = sequential::Arms { ctx, project: &project, local: &local, runner: &runner };
            // The confidence sequence is tuned to the whole suite, which the run sets here.
            let (mut arms, looks) = run.run(planned, args.concurrency, &mut settings, &cancel).await?;
            upload_arms(ctx, &project, &local, &mut arms).await?;
            (suite, arms, Some(looks))
        } else {
            let run = session.run(planned, args.concurrency, project_concurrency, &cancel);
            (suite, run.await.map_err(|err| session_error(ctx, err))?, None)
        }
    } else {
        let (suite, arms) = from_runs(ctx, &project, &args.runs).await?;
        (suite, arms, None)
    };
    let judge = args.judge.as_deref().map(|provider| (provider, Arc::clone(&execution.backend)));
    let decided = session.decide(&suite, &arms, settings, looks, judge, &gate).await;
    let outcome = decided.map_err(|err| session_error(ctx, err))?;
    render::emit(ctx, format, &outcome.record, &outcome.analysis)?;
    for failure in &outcome.gate_failures {
        ctx.printer.error_line("error", failure);
    }
    Ok(if outcome.gate_failures.is_empty() { ExitStatus::Success } else { ExitStatus::Failed })
}

/// What every arm runs with besides its own prompt or provider.
fn base_overrides(args: &CompareArgs) -> Overrides {
    Overrides { repeat: args.repeat, ..Overrides::default() }
}

/// The suite's name and one eval plan per arm.
async fn plan_arms(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    args: &CompareArgs,
    session: &AbSession<'_>,
    execution: &Execution,
) -> anyhow::Result<(String, Vec<PlannedArm>)> {
    let Some(name) = &args.suite else {
        return Err(usage(
            "`ab` needs `--suite SUITE` to run arms",
            &[
                "e.g. `promptops ab support/triage@production support/triage --suite support-triage`",
                "or analyse stored runs with `--runs RUN RUN`",
            ],
        ));
    };
    let path = suites(ctx, project, std::slice::from_ref(name), None)?.into_iter().next().map(|c| c.path);
    let path = path.ok_or_else(|| usage(format!("no suite `{name}`"), &[]))?;
    let suite = LoadedSuite::read(&project.root, &path)
        .map_err(|err| report_all(ctx, &[err], "the suite has problems; no model was called".to_owned()))?;
    let arms = resolve_arms(&args.arms, &catalog(ctx, project).await?).diag()?;
    let prompts = ProjectPrompts { prompts_dir: project.prompts_dir(), registry: Some(ctx.versions(project, local)?) };
    let base = base_overrides(args);
    let input = execution.plan_input(project, &prompts, &base);
    let planned = session.plan(&suite, arms, &base, &input).await.map_err(|err| session_error(ctx, err))?;
    Ok((suite.name.clone(), planned))
}

/// Prompts on disk and in the registry (the server's with `--remote`), and the configured providers.
async fn catalog(ctx: &Context, project: &Project) -> anyhow::Result<ArmCatalog> {
    let mut prompts: Vec<String> = promptops::prompt::prompt_names_on_disk(&project.prompts_dir())
        .diag()?
        .into_keys()
        .map(|name| name.to_string())
        .collect();
    for summary in ctx.registry(project).await?.prompts().await.diag()? {
        prompts.push(summary.latest.name.to_string());
    }
    prompts.sort();
    prompts.dedup();
    let providers = project.config.providers.iter().map(|p| p.id.clone()).collect();
    Ok(ArmCatalog { prompts, providers })
}

/// With `--remote`, uploads the runs of a sequential comparison's arms (each once) and points
/// the arms at the server's copies, which the experiment then names.
async fn upload_arms(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    arms: &mut [ArmSample],
) -> anyhow::Result<()> {
    let Some(remote) = ctx.remote() else { return Ok(()) };
    let mut uploaded = std::collections::BTreeMap::new();
    for arm in arms.iter_mut() {
        let Some(id) = arm.run else { continue };
        if let std::collections::btree_map::Entry::Vacant(entry) = uploaded.entry(id) {
            let record = local.store.run(&local.scope, id).await.diag()?;
            let record = record
                .ok_or_else(|| anyhow::anyhow!("run {id} of arm `{}` is gone from the local store", arm.label))?;
            let mut results = Vec::new();
            for_each_result(&local.store, &local.scope, id, false, |r| results.push(r.clone())).await.diag()?;
            entry.insert(upload_run(ctx, project, remote, &record, &results).await?.id);
        }
        arm.run = uploaded.get(&id).copied();
    }
    Ok(())
}

/// The arms of stored runs (the local store's, or the server's with `--remote`).
async fn from_runs(ctx: &Context, project: &Project, runs: &[String]) -> anyhow::Result<(String, Vec<ArmSample>)> {
    let service = ctx.runs(project).await?;
    let (mut suites, mut arms) = (Vec::new(), Vec::new());
    for reference in runs {
        let record = service.run(reference).await.diag()?;
        if !suites.contains(&record.draft.suite) {
            suites.push(record.draft.suite.clone());
        }
        let results = service.results(record.id, false).await.diag()?;
        arms.extend(arms_of_results(&record, &results).diag()?);
    }
    Ok((suites.join(", "), arms))
}
