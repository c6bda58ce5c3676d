//! `promptops ab ARM ARM [ARM…] --suite SUITE` and `promptops ab --runs RUN RUN…`: resolve the
//! arms, run each as an eval run of the suite (through the same runner, provider layers and
//! cache as `eval`), analyse, judge if asked, record the experiment, print the verdict, and set
//! the exit code from `--require-better` / `--non-inferiority`. With `--remote` the arms still
//! run locally; their runs and the experiment are kept on the server, and `--runs` reads its runs.

use std::sync::Arc;

use promptops::ab::arms_plan::arm_suite;
use promptops::ab::experiment::{Gate, draft, earlier_looks, earlier_tuning, gate_failures};
use promptops::ab::{
    AbError, Analysis, ArmCatalog, ArmSample, Metric, Settings, analyse, arms_of_results, arms_of_run, judge,
    resolve_arms,
};
use promptops::config::Project;
use promptops::eval::report::for_each_result;
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Cancel, Overrides, PlanInput, ProjectPrompts, Runner};
use promptops::service::ExperimentService;
use promptops::store::RunStatus;
use promptops::yaml::YamlError;

use super::CompareArgs;
use super::{render, sequential};
use crate::commands::eval::backend::{BackendOptions, backend, workflows};
use crate::commands::eval::parse_rate;
use crate::commands::eval::run::{run_one, watch_ctrl_c};
use crate::commands::eval::select::suites;
use crate::commands::eval::upload::upload_run;
use crate::commands::workspace::report_all;
use crate::context::{Context, LocalStore};
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::Format;

/// Concurrency when neither the flag, the suite nor promptops.yaml sets one.
const DEFAULT_CONCURRENCY: usize = 8;

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
    let (backend, providers, provider_options) = backend(&project, &local, &options)?;
    if let Some(judge) = &args.judge
        && let Err(problem) = backend.check_provider(judge)
    {
        let hints: Vec<&str> = problem.hints.iter().map(String::as_str).collect();
        return Err(usage(format!("judge: {}", problem.message), &hints));
    }
    let mut looks = None;
    let (suite, arms) = if args.runs.is_empty() {
        let workflows = workflows(&project, &local, providers, provider_options);
        let runner = Runner::new(Arc::clone(&local.store), local.scope.clone(), Arc::clone(&backend));
        let planned = plan_arms(ctx, &project, &local, &args, backend.as_ref(), &workflows).await?;
        let name = planned.0.clone();
        let mut arms = if args.stop_early {
            let run = sequential::Arms { ctx, project: &project, local: &local, runner: &runner };
            let (arms, found) = run.run(planned.1, args.concurrency, &mut settings).await?;
            looks = Some(found);
            arms
        } else {
            run_arms(ctx, &project, &local, &runner, planned, args.concurrency).await?
        };
        upload_arms(ctx, &project, &local, &mut arms).await?;
        (name, arms)
    } else {
        from_runs(ctx, &project, &args.runs).await?
    };
    let experiments = ctx.experiments(&project).await?;
    if let Some(planned) = &mut settings.sequential
        && *planned == 0
    {
        *planned = tuning(ctx, experiments.as_ref(), &suite, &arms).await?;
    }
    let mut analysis = analyse(&arms, &settings).diag()?;
    analysis.looks = looks;
    if let Some(provider) = &args.judge {
        ctx.printer.status(&format!("judging every pair of outputs with `{provider}`, in both orders"));
        analysis.judge = Some(judge::judge(&arms, provider, backend.as_ref(), settings.alpha).await.diag()?);
    }
    let flushed = backend.flush().await;
    warn_earlier_looks(ctx, experiments.as_ref(), &suite, &analysis).await?;
    let record = experiments.record(draft(&analysis, &suite, &local.actor)).await.diag()?;
    render::emit(ctx, format, &record, &analysis)?;
    flushed.diag()?;
    Ok(verdict(ctx, &analysis, &gate))
}

/// The suite name and one eval plan per arm.
type Planned = (String, Vec<(promptops::ab::Arm, promptops::eval::Plan)>);

async fn plan_arms(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    args: &CompareArgs,
    backend: &dyn promptops::eval::backend::Backend,
    workflows: &promptops::eval::workflows::ProjectWorkflows,
) -> anyhow::Result<Planned> {
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
    let base = Overrides { repeat: args.repeat, ..Overrides::default() };
    let prompts = ProjectPrompts { prompts_dir: project.prompts_dir(), registry: Some(ctx.versions(project, local)?) };
    let mut planned = Vec::with_capacity(arms.len());
    let mut problems: Vec<YamlError> = Vec::new();
    for arm in arms {
        let (arm_suite, overrides) = arm_suite(&suite, &arm, &base).diag()?;
        let input = PlanInput {
            root: &project.root,
            default_provider: project.config.defaults.provider.as_deref(),
            prompts: &prompts,
            backend,
            workflows: Some(workflows),
            overrides: &overrides,
        };
        match promptops::eval::plan(&arm_suite, &input).await {
            Ok(plan) if plan.cases.len() < 2 => {
                let what = format!("suite `{}`", suite.name);
                return Err(AbError::TooFewCases { what, cases: plan.cases.len() }).diag();
            }
            Ok(plan) => planned.push((arm, plan)),
            Err(found) => problems.extend(found.into_iter().map(|mut p| {
                p.message = format!("arm `{}`: {}", arm.text, p.message);
                p
            })),
        }
    }
    if !problems.is_empty() {
        let summary = format!("{} problem(s) found in the arms; no model was called", problems.len());
        return Err(report_all(ctx, &problems, summary));
    }
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

async fn run_arms(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    runner: &Runner,
    (_, planned): Planned,
    concurrency: Option<usize>,
) -> anyhow::Result<Vec<ArmSample>> {
    let cancel = Cancel::default();
    watch_ctrl_c(ctx, cancel.clone());
    let mut arms = Vec::with_capacity(planned.len());
    for (arm, plan) in planned {
        let concurrency = arm_concurrency(project, &arm, &plan, concurrency)?;
        ctx.printer.status(&format!("arm {}: {}", promptops::ab::analysis::letter(arms.len()), arm.text));
        let record = run_one(ctx, project, local, runner, plan, None, concurrency, &cancel).await?.run;
        if record.status == RunStatus::Interrupted {
            return Err(interrupted(&record, &arm));
        }
        arms.extend(arms_of_run(&local.store, &local.scope, &record).await.diag()?);
    }
    Ok(arms)
}

/// With `--remote`, uploads the arms' runs (each once) and points the arms at the server's
/// copies, which the experiment then names.
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

/// An arm's concurrency (flag, else the suite's, else promptops.yaml's, else the default),
/// after checking that the arm is one target × provider pair.
pub(super) fn arm_concurrency(
    project: &Project,
    arm: &promptops::ab::Arm,
    plan: &promptops::eval::Plan,
    concurrency: Option<usize>,
) -> anyhow::Result<usize> {
    if plan.pairs.len() != 1 {
        return Err(usage(
            format!("arm `{}` runs {} target × provider pairs, not one", arm.text, plan.pairs.len()),
            &["name the prompt and the provider: `PROMPT+PROVIDER`"],
        ));
    }
    Ok(concurrency
        .or(plan.concurrency.map(|c| c as usize))
        .or(project.config.defaults.concurrency.map(|c| c as usize))
        .unwrap_or(DEFAULT_CONCURRENCY))
}

/// The error for an arm whose run Ctrl-C stopped.
pub(super) fn interrupted(record: &promptops::store::RunRecord, arm: &promptops::ab::Arm) -> anyhow::Error {
    usage(format!("interrupted: run {} of arm `{}` is incomplete; nothing was compared", record.id, arm.text), &[])
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

/// The tuning size of a plain `--sequential` comparison: the first sequential experiment's on
/// the same arms and suite, kept so that every later look belongs to the same sequence; for a
/// first look, the cases run.
async fn tuning(
    ctx: &Context,
    experiments: &dyn ExperimentService,
    suite: &str,
    arms: &[ArmSample],
) -> anyhow::Result<usize> {
    let labels: Vec<&str> = arms.iter().map(|a| a.label.as_str()).collect();
    let earlier = experiments.experiments(Some(suite), 1000).await.diag()?;
    if let Some((id, tuned)) = earlier_tuning(&labels, &earlier) {
        ctx.printer.status(&format!(
            "sequential: keeping the tuning of experiment {id} ({tuned} cases), so this look belongs to the same \
             confidence sequence"
        ));
        return Ok(tuned.max(1));
    }
    Ok(arms.iter().map(|a| a.cases.len()).max().unwrap_or(1).max(1))
}

async fn warn_earlier_looks(
    ctx: &Context,
    experiments: &dyn ExperimentService,
    suite: &str,
    analysis: &Analysis,
) -> anyhow::Result<()> {
    if analysis.settings.sequential.is_some() {
        return Ok(());
    }
    let earlier = earlier_looks(analysis, &experiments.experiments(Some(suite), 1000).await.diag()?);
    if earlier > 0 {
        ctx.printer.warn(&format!(
            "look {} at these arms on `{suite}`: re-testing until a difference shows inflates false positives; \
             use `--sequential` to look as often as you like",
            earlier + 1
        ));
    }
    Ok(())
}

/// Exit 1 when the CI gate is not met, else 0.
fn verdict(ctx: &Context, analysis: &Analysis, gate: &Gate) -> ExitStatus {
    let failures = gate_failures(analysis, gate);
    for failure in &failures {
        ctx.printer.error_line("error", failure);
    }
    if failures.is_empty() { ExitStatus::Success } else { ExitStatus::Failed }
}
