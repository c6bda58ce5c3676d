//! Turning a suite into a [`Plan`] before any model call: targets resolved to exact prompt
//! versions, providers checked, tests expanded into cases, every case's variables checked
//! against every target prompt, every assertion prepared. All problems are collected and
//! returned together, each with its file, line and hints, so one run of `promptops eval` shows
//! everything there is to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::assert::{Assertion, AssertionSpec, CompileCache, Invalid, Prepare, expr::Expr};
use super::backend::Backend;
use super::cases::{RawCase, collapse, expand};
use super::suite::{LoadedSuite, VarList};
use super::workflows::{WORKFLOW_PROVIDER, WorkflowSource};
use crate::error::{did_you_mean, list_names};
use crate::prompt::{self, CompiledPrompt, LoadedPrompt, PromptRef, Selector, VarType, Vars};
use crate::store::{RunTarget, UnitKey};
use crate::workflow::{VersionLookup, VersionReferences, WorkflowTarget};
use crate::yaml::YamlError;

/// Where target prompts come from: the working copy, or stored versions.
#[async_trait]
pub trait PromptSource: Send + Sync {
    /// The prompt a ref selects and, for a stored version, its number. The error is a message
    /// and hints.
    async fn load(&self, reference: &PromptRef) -> Result<(LoadedPrompt, Option<u32>), (String, Vec<String>)>;
}

/// Prompts of a project: files under `prompts/`, and versions through a registry (the local
/// store's, or a remote's with `--remote`).
#[derive(Clone)]
pub struct ProjectPrompts {
    /// The `prompts/` directory.
    pub prompts_dir: PathBuf,
    /// The registry, for `name@N` and `name@label` refs.
    pub registry: Option<Arc<dyn VersionLookup>>,
}

impl std::fmt::Debug for ProjectPrompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectPrompts").field("prompts_dir", &self.prompts_dir).finish_non_exhaustive()
    }
}

#[async_trait]
impl PromptSource for ProjectPrompts {
    async fn load(&self, reference: &PromptRef) -> Result<(LoadedPrompt, Option<u32>), (String, Vec<String>)> {
        use crate::error::Diagnostic;
        if reference.selector == Selector::WorkingCopy {
            let loaded =
                prompt::load_prompt(&self.prompts_dir, &reference.name).map_err(|e| (e.to_string(), e.hints()))?;
            let (errors, _) = prompt::validate(&loaded);
            if let Some(first) = errors.first() {
                return Err((format!("target `{reference}` is invalid: {first}"), first.hints()));
            }
            return Ok((compose(loaded, self.registry.as_deref()).await?, None));
        }
        let Some(registry) = &self.registry else {
            return Err((format!("target `{reference}` needs the registry, which is not open"), Vec::new()));
        };
        let record = registry
            .resolve_version(&reference.name, &reference.selector)
            .await
            .map_err(|e| (e.to_string(), e.hints()))?;
        let origin = PathBuf::from(format!("{}@{}", record.meta.name, record.meta.number));
        let loaded = LoadedPrompt::parse(record.meta.name.clone(), origin, record.source, record.partials)
            .map_err(|e| (e.to_string(), e.hints()))?;
        Ok((compose(loaded, Some(registry.as_ref())).await?, Some(record.meta.number)))
    }
}

/// The step between load and render: composition references resolved through the registry.
async fn compose(
    loaded: LoadedPrompt,
    registry: Option<&dyn VersionLookup>,
) -> Result<LoadedPrompt, (String, Vec<String>)> {
    use crate::error::Diagnostic;
    prompt::compose_prompt(loaded, &VersionReferences(registry)).await.map_err(|e| (e.to_string(), e.hints()))
}

/// Command-line choices that change what a suite runs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces the suite's providers (`--provider`).
    pub providers: Vec<String>,
    /// Replaces the suite's `repeat` (`--repeat`).
    pub repeat: Option<u32>,
    /// Only cases with one of these tags (`--tag`).
    pub tags: Vec<String>,
    /// Only cases whose name contains this (`--filter`).
    pub filter: Option<String>,
    /// Of the cases left by the filters above, only a few (`--filter-first-n`, `--filter-sample`).
    pub subset: Option<Subset>,
}

/// A smaller run over the cases the other filters leave, as promptfoo's `--filter-first-n` and
/// `--filter-sample` give: for a quick look at a large dataset before paying for all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subset {
    /// The first N cases, in suite order.
    FirstN(usize),
    /// N cases drawn without replacement by a seeded generator, kept in suite order: the same
    /// seed draws the same cases from the same suite.
    Sample {
        /// How many.
        n: usize,
        /// The generator's seed.
        seed: u64,
    },
}

impl Subset {
    /// A seed for a sample when none is given (printed, so the draw can be repeated).
    pub fn fresh_seed() -> u64 {
        rand::random()
    }

    /// The cases kept of `cases`, in their order.
    pub fn apply<T>(self, cases: Vec<T>) -> Vec<T> {
        match self {
            Self::FirstN(n) => cases.into_iter().take(n).collect(),
            Self::Sample { n, seed } => {
                use rand::SeedableRng;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut chosen = rand::seq::index::sample(&mut rng, cases.len(), n.min(cases.len())).into_vec();
                chosen.sort_unstable();
                let mut chosen = chosen.into_iter().peekable();
                let mut kept = Vec::with_capacity(n.min(cases.len()));
                for (i, case) in cases.into_iter().enumerate() {
                    if chosen.next_if_eq(&i).is_some() {
                        kept.push(case);
                    }
                }
                kept
            }
        }
    }
}

/// What planning needs besides the suite.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The project root (scripts run there; images are relative to it).
    pub root: &'a Path,
    /// `defaults.provider` of `promptops.yaml`.
    pub default_provider: Option<&'a str>,
    /// Target prompts.
    pub prompts: &'a dyn PromptSource,
    /// Provider checks.
    pub backend: &'a dyn Backend,
    /// Workflows for `workflow:<name>` targets (none: such targets are refused).
    pub workflows: Option<&'a dyn WorkflowSource>,
    /// Command-line overrides.
    pub overrides: &'a Overrides,
}

impl std::fmt::Debug for dyn PromptSource + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PromptSource")
    }
}

/// One target of a plan.
#[derive(Debug, Clone)]
pub struct PlannedTarget {
    /// The exact version evaluated.
    pub record: RunTarget,
    /// What produces the output.
    pub kind: TargetKind,
}

/// What a target is.
#[derive(Debug, Clone)]
pub enum TargetKind {
    /// A prompt, rendered with the case's variables and sent to each provider; compiled once
    /// for the whole run.
    Prompt(Arc<CompiledPrompt>),
    /// A workflow, run with the case's variables as input; its nodes name their providers.
    Workflow(Arc<WorkflowTarget>),
}

/// A case ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its index in the suite's expanded cases (stable across `--resume`).
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its identity across runs.
    pub key: String,
    /// `file:line`.
    pub location: String,
    /// Its variables.
    pub vars: VarList,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its assertions, prepared (shared between the cases that have the same one).
    pub assertions: Vec<Arc<Assertion>>,
    /// Pass by weighted score instead of all assertions.
    pub threshold: Option<f64>,
    /// Applied to the output before the assertions.
    pub transform: Option<Expr>,
}

/// A suite ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The suite's name.
    pub suite: String,
    /// The suite file, relative to the project root.
    pub suite_path: PathBuf,
    /// Its description.
    pub description: Option<String>,
    /// The targets.
    pub targets: Vec<PlannedTarget>,
    /// Every provider used.
    pub providers: Vec<String>,
    /// (target, provider) index pairs to evaluate.
    pub pairs: Vec<(u32, u32)>,
    /// The cases.
    pub cases: Vec<Case>,
    /// Runs per case.
    pub repeat: u32,
    /// The pass rate needed.
    pub threshold: f64,
    /// The suite's concurrency, if set.
    pub concurrency: Option<u32>,
    /// Identifies the plan's inputs (for `--resume`).
    pub hash: String,
}

impl Plan {
    /// How many results a complete run has.
    pub fn total(&self) -> u64 {
        self.pairs.len() as u64 * self.cases.len() as u64 * u64::from(self.repeat)
    }

    /// The `i`-th unit, in case-major order so that early results cover every target and provider.
    pub fn unit(&self, i: u64) -> UnitKey {
        let pairs = self.pairs.len().max(1) as u64;
        let repeat = u64::from(self.repeat.max(1));
        let pair = self.pairs[(i % pairs) as usize];
        let rest = i / pairs;
        UnitKey { target: pair.0, provider: pair.1, repeat: (rest % repeat) as u32, case: (rest / repeat) as u32 }
    }
}

/// Plans `suite`; on failure, every problem found.
pub async fn plan(suite: &LoadedSuite, input: &PlanInput<'_>) -> Result<Plan, Vec<YamlError>> {
    let mut problems = Vec::new();
    let targets = resolve_targets(suite, input, &mut problems).await;
    let (providers, pairs) = providers(suite, input, &targets, &mut problems);
    let (raw, mut datasets, found) = expand(suite);
    problems.extend(found);
    let mut raw = select(raw, input.overrides);
    super::file_vars::resolve(suite, input.root, &mut raw, &mut datasets, &mut problems);
    let cases = prepare_cases(suite, input, &targets, raw, &mut problems);
    let settings = settings(suite, input.overrides, &mut problems);
    if !problems.is_empty() {
        return Err(collapse(problems));
    }
    let (repeat, threshold) = settings;
    let hash = plan_hash(suite, &datasets, &targets, &providers, repeat, input.overrides);
    Ok(Plan {
        suite: suite.name.clone(),
        suite_path: suite.path.clone(),
        description: suite.file.description.clone(),
        targets: targets.into_iter().flatten().collect(),
        providers,
        pairs,
        cases,
        repeat,
        threshold,
        concurrency: suite.file.concurrency,
        hash,
    })
}

async fn resolve_targets(
    suite: &LoadedSuite,
    input: &PlanInput<'_>,
    problems: &mut Vec<YamlError>,
) -> Vec<Option<PlannedTarget>> {
    if suite.file.targets.is_empty() {
        problems.push(
            suite
                .problem(&["targets"], "`targets` is empty")
                .with_hint("list prompt refs, e.g. `targets: [support/triage]`"),
        );
    }
    let mut out = Vec::new();
    for (i, text) in suite.file.targets.iter().enumerate() {
        let at = |message: String, hints: Vec<String>| {
            let location = suite.locate_item("targets", i);
            YamlError { path: suite.path.clone(), location, message, hints }
        };
        if let Some(name) = text.strip_prefix("workflow:") {
            let loaded = match input.workflows {
                Some(workflows) => workflows.load(name).await,
                None => Err((format!("workflow target `{name}`: workflows are not available here"), Vec::new())),
            };
            match loaded {
                Ok(workflow) => {
                    let hash = workflow.hash().to_owned();
                    let record = RunTarget { reference: text.clone(), name: text.clone(), version: None, hash };
                    out.push(Some(PlannedTarget { record, kind: TargetKind::Workflow(workflow) }));
                }
                Err((message, hints)) => {
                    problems.push(at(message, hints));
                    out.push(None);
                }
            }
            continue;
        }
        let reference: PromptRef = match text.parse() {
            Ok(r) => r,
            Err(err) => {
                problems.push(at(err.to_string(), crate::error::Diagnostic::hints(&err)));
                out.push(None);
                continue;
            }
        };
        match input.prompts.load(&reference).await {
            Ok((prompt, version)) => {
                let prompt = CompiledPrompt::new(prompt);
                let (name, hash) = (prompt.prompt().name.to_string(), prompt.hash().to_owned());
                let record = RunTarget { reference: text.clone(), name, version, hash };
                out.push(Some(PlannedTarget { record, kind: TargetKind::Prompt(Arc::new(prompt)) }));
            }
            Err((message, hints)) => {
                problems.push(at(message, hints));
                out.push(None);
            }
        }
    }
    out
}

fn providers(
    suite: &LoadedSuite,
    input: &PlanInput<'_>,
    targets: &[Option<PlannedTarget>],
    problems: &mut Vec<YamlError>,
) -> (Vec<String>, Vec<(u32, u32)>) {
    let listed = if input.overrides.providers.is_empty() { &suite.file.providers } else { &input.overrides.providers };
    let mut providers: Vec<String> = Vec::new();
    let mut pairs = Vec::new();
    let index_of = |providers: &mut Vec<String>, p: &str| match providers.iter().position(|q| q == p) {
        Some(i) => i as u32,
        None => {
            providers.push(p.to_owned());
            providers.len() as u32 - 1
        }
    };
    for (t, target) in targets.iter().enumerate() {
        let Some(target) = target else { continue };
        let prompt = match &target.kind {
            TargetKind::Prompt(prompt) => prompt.prompt(),
            TargetKind::Workflow(_) => {
                pairs.push((t as u32, index_of(&mut providers, WORKFLOW_PROVIDER)));
                continue;
            }
        };
        if listed.is_empty() {
            let Some(own) = prompt.file.model.as_deref().or(input.default_provider) else {
                problems.push(suite.problem(&["targets"], format!("no provider for target `{}`", target.record.reference)).with_hint(
                    "list `providers:` in the suite, set `model:` in the prompt, or `defaults.provider` in promptops.yaml",
                ));
                continue;
            };
            pairs.push((t as u32, index_of(&mut providers, own)));
        } else {
            for p in listed {
                pairs.push((t as u32, index_of(&mut providers, p)));
            }
        }
    }
    for reference in providers.iter().filter(|p| *p != WORKFLOW_PROVIDER) {
        if let Err(problem) = input.backend.check_provider(reference) {
            let key =
                if input.overrides.providers.is_empty() { listed.iter().position(|p| p == reference) } else { None };
            let location = key.and_then(|k| suite.locate_item("providers", k));
            problems.push(YamlError {
                path: suite.path.clone(),
                location,
                message: problem.message,
                hints: problem.hints,
            });
        }
    }
    (providers, pairs)
}

fn select(raw: Vec<RawCase>, overrides: &Overrides) -> Vec<RawCase> {
    let filtered: Vec<RawCase> = raw
        .into_iter()
        .filter(|c| overrides.tags.is_empty() || c.tags.iter().any(|t| overrides.tags.contains(t)))
        .filter(|c| overrides.filter.as_deref().is_none_or(|f| c.name.to_lowercase().contains(&f.to_lowercase())))
        .collect();
    match overrides.subset {
        Some(subset) => subset.apply(filtered),
        None => filtered,
    }
}

fn prepare_cases(
    suite: &LoadedSuite,
    input: &PlanInput<'_>,
    targets: &[Option<PlannedTarget>],
    raw: Vec<RawCase>,
    problems: &mut Vec<YamlError>,
) -> Vec<Case> {
    let cache = CompileCache::default();
    let mut prepared = Prepared::default();
    let mut cases = Vec::with_capacity(raw.len());
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for (index, case) in raw.into_iter().enumerate() {
        // The map form, for this case's checks only: the plan keeps the compact list.
        let vars = case.vars.to_vars();
        for target in targets.iter().flatten() {
            if let Err(message) = check_case_vars(&target.kind, &vars) {
                // A dataset row is named by its file and line; naming the case too would stop
                // the same problem on many rows from collapsing into one line.
                let text = if case.location.0 == suite.path {
                    format!("case `{}`: {message}", case.name)
                } else {
                    message.clone()
                };
                let mut err = YamlError::at(&case.location.0, case.location.1, text);
                if let Some(missing) = message.split('`').nth(3) {
                    err.hints.extend(did_you_mean(missing, case.vars.keys().map(String::as_str)));
                }
                let names: Vec<&String> = case.vars.keys().collect();
                err.hints.push(format!("the case's variables: {}", list_names(&names)));
                problems.push(err);
            }
        }
        let prepare =
            Prepare { vars: &vars, options: &case.options, root: input.root, backend: input.backend, cache: &cache };
        let mut assertions = Vec::with_capacity(case.asserts.len());
        for (spec, written) in &case.asserts {
            match prepared.get(spec, &prepare) {
                Ok(a) => assertions.push(a),
                Err(invalid) => problems.push(assertion_problem(suite, &case, &written.key_path(), invalid)),
            }
        }
        let transform = case.options.transform.as_deref().and_then(|t| match prepare.transform(t) {
            Ok(expr) => Some(expr),
            Err(invalid) => {
                problems.push(YamlError {
                    path: case.location.0.clone(),
                    location: case.location.1,
                    message: invalid.message,
                    hints: invalid.hints,
                });
                None
            }
        });
        let mut key = case.key();
        let seen = keys.entry(key.clone()).or_insert(0);
        *seen += 1;
        if *seen > 1 {
            key = format!("{key}#{seen}");
        }
        cases.push(Case {
            index: index as u32,
            location: case.location_text(),
            name: case.name,
            key,
            vars: case.vars,
            tags: case.tags,
            assertions,
            threshold: case.threshold,
            transform,
        });
    }
    cases
}

/// Assertions prepared once for every case that has them, where preparing does not depend on
/// the case (no template over its variables, no grader options): the cases of a large suite
/// share them instead of each holding its own copy.
#[derive(Default)]
struct Prepared {
    /// By the address of the shared spec, which the entry keeps alive so that the address
    /// cannot be reused by another spec.
    shared: std::collections::HashMap<*const AssertionSpec, (Arc<AssertionSpec>, Arc<Assertion>)>,
}

impl Prepared {
    fn get(&mut self, spec: &Arc<AssertionSpec>, prepare: &Prepare<'_>) -> Result<Arc<Assertion>, Invalid> {
        // A spec held once (a dataset row's `__expected`) has no twin to share with.
        if Arc::strong_count(spec) == 1 || !same_for_every_case(spec) {
            return prepare.assertion(spec).map(Arc::new);
        }
        if let Some((_, found)) = self.shared.get(&Arc::as_ptr(spec)) {
            return Ok(Arc::clone(found));
        }
        let assertion = Arc::new(prepare.assertion(spec)?);
        self.shared.insert(Arc::as_ptr(spec), (Arc::clone(spec), Arc::clone(&assertion)));
        Ok(assertion)
    }
}

/// Whether preparing `spec` gives the same assertion for every case: a check of the output
/// alone whose texts are not templates.
fn same_for_every_case(spec: &AssertionSpec) -> bool {
    use super::assert::Kind;
    let local = Kind::parse(&spec.kind)
        .is_some_and(|(kind, _)| !matches!(kind, Kind::Expr | Kind::Script | Kind::LlmRubric | Kind::Similar));
    let template = |text: &str| text.contains("{{") || text.contains("{%");
    let value_template = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => template(text),
        other => template(&other.to_string()),
    };
    local
        && [&spec.value, &spec.equals, &spec.contains].into_iter().flatten().all(|v| !value_template(v))
        && [&spec.matches, &spec.path].into_iter().flatten().all(|t| !template(t))
}

fn assertion_problem(suite: &LoadedSuite, case: &RawCase, key_path: &[String], invalid: Invalid) -> YamlError {
    let mut path: Vec<&str> = key_path.iter().map(String::as_str).collect();
    if let Some(field) = invalid.field {
        path.push(field);
    }
    // Assertions from `__expected` columns have no key path: point at the dataset row.
    let (file, location) = if key_path.is_empty() {
        (case.location.0.clone(), case.location.1)
    } else {
        let shorter = &path[..key_path.len()];
        (suite.path.clone(), suite.locate(&path).or_else(|| suite.locate(shorter)))
    };
    let from_dataset = key_path.is_empty() || case.location.0 != suite.path;
    let message = if from_dataset { format!("case `{}`: {}", case.name, invalid.message) } else { invalid.message };
    YamlError { path: file, location, message, hints: invalid.hints }
}

/// The case's variables converted for `prompt` (CSV cells are text; a prompt may declare numbers)
/// and checked against its declarations.
fn check_case_vars(target: &TargetKind, vars: &Vars) -> Result<(), String> {
    match target {
        TargetKind::Prompt(prompt) => {
            let prompt = prompt.prompt();
            prompt::check_vars(prompt, &coerce_vars(prompt, vars)).map_err(|err| err.to_string())
        }
        TargetKind::Workflow(workflow) => match workflow.missing_inputs(vars).first() {
            Some(missing) => Err(format!("workflow `{}` needs input `{missing}`", workflow.name())),
            None => Ok(()),
        },
    }
}

/// Text values converted to the type `prompt` declares for them, where they parse.
pub fn coerce_vars(prompt: &LoadedPrompt, vars: &Vars) -> Vars {
    let mut out = vars.clone();
    for (name, spec) in &prompt.file.variables {
        if matches!(spec.kind, VarType::String | VarType::Any) {
            continue;
        }
        if let Some(serde_json::Value::String(text)) = vars.get(name)
            && let Ok(value) = prompt::coerce_cli_value(Some(spec), text)
        {
            out.insert(name.clone(), value);
        }
    }
    out
}

fn settings(suite: &LoadedSuite, overrides: &Overrides, problems: &mut Vec<YamlError>) -> (u32, f64) {
    let repeat = overrides.repeat.or(suite.file.repeat).unwrap_or(1);
    if repeat == 0 {
        problems.push(suite.problem(&["repeat"], "`repeat` must be at least 1"));
    }
    let threshold = suite.file.threshold.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&threshold) {
        problems.push(
            suite
                .problem(&["threshold"], format!("`threshold` must be a pass rate between 0 and 1, not {threshold}"))
                .with_hint("e.g. `threshold: 0.9` for 90%"),
        );
    }
    if suite.file.concurrency == Some(0) {
        problems.push(suite.problem(&["concurrency"], "`concurrency` must be at least 1"));
    }
    (repeat.max(1), threshold)
}

fn plan_hash(
    suite: &LoadedSuite,
    datasets: &[String],
    targets: &[Option<PlannedTarget>],
    providers: &[String],
    repeat: u32,
    overrides: &Overrides,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(suite.source.as_bytes());
    for text in datasets {
        hasher.update(text.as_bytes());
    }
    for target in targets.iter().flatten() {
        hasher.update(target.record.hash.as_bytes());
    }
    let tags: BTreeSet<&String> = overrides.tags.iter().collect();
    let mut settings =
        serde_json::json!({ "providers": providers, "repeat": repeat, "tags": tags, "filter": overrides.filter });
    // Added only when set, so that the plans of runs stored before subsets existed still match.
    if let Some(subset) = overrides.subset {
        settings["subset"] = serde_json::json!(subset);
    }
    hasher.update(settings.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::Subset;

    #[test]
    fn first_n_keeps_the_first_cases_in_order() {
        assert_eq!(Subset::FirstN(3).apply((0..10).collect()), vec![0, 1, 2]);
        assert_eq!(Subset::FirstN(30).apply((0..4).collect()), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_sample_is_repeatable_by_seed_and_kept_in_suite_order() {
        let draw = |seed| Subset::Sample { n: 5, seed }.apply((0..100).collect::<Vec<u32>>());
        let first = draw(7);
        assert_eq!(first, draw(7), "the same seed draws the same cases");
        assert_ne!(first, draw(8), "another seed draws others");
        assert_eq!(first.len(), 5);
        assert!(first.windows(2).all(|w| w[0] < w[1]), "suite order, no repeats: {first:?}");
    }

    #[test]
    fn a_sample_larger_than_the_suite_keeps_every_case() {
        assert_eq!(Subset::Sample { n: 9, seed: 1 }.apply(vec!['a', 'b']), vec!['a', 'b']);
    }
}
