//! Planning a [`RunSpec`] on the server: its files written to a private directory, the suite
//! planned there by the same planner as the CLI's (stored versions through the project's
//! registry, providers among the project's connections), and refused unless it plans to the
//! client's hash. Each replica keeps the plans of the runs its workers are on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::RunsError;
use super::backend::PoolBackend;
use super::spec::RunSpec;
use crate::eval::plan::PromptSource;
use crate::eval::suite::LoadedSuite;
use crate::eval::{Overrides, Plan, PlanInput, ProjectPrompts};
use crate::gateway::Pool;
use crate::prompt::{LoadedPrompt, PromptRef, RenderSandbox, Selector};
use crate::registry::Registry;
use crate::store::{Scope, Store};

/// Most run plans a replica keeps; past it, those no unit is using go.
const KEPT_PLANS: usize = 64;

/// A spec planned on the server, with the directory its files live in (image paths of prompts
/// are read from it at call time) and the backend its units call.
#[derive(Debug)]
pub struct PlannedRun {
    /// The plan.
    pub plan: Arc<Plan>,
    /// The project's connections, with templates rendered in the sandbox.
    pub backend: Arc<PoolBackend>,
    _root: tempfile::TempDir,
}

/// Stored versions as a plan's first planning resolved them: a label moved since then must not
/// change what the rest of a run evaluates.
struct PinnedPrompts {
    inner: ProjectPrompts,
    pins: HashMap<String, u32>,
}

#[async_trait::async_trait]
impl PromptSource for PinnedPrompts {
    async fn load(&self, reference: &PromptRef) -> Result<(LoadedPrompt, Option<u32>), (String, Vec<String>)> {
        match self.pins.get(&reference.to_string()) {
            Some(&number) => {
                let pinned = PromptRef { name: reference.name.clone(), selector: Selector::Version(number) };
                self.inner.load(&pinned).await
            }
            None => self.inner.load(reference).await,
        }
    }
}

/// Plans `spec` for `scope`: every problem, or the plan when it is the client's. `pins` holds
/// the versions that refs resolved to when the run was submitted (by ref as written).
pub async fn plan_spec(
    spec: &RunSpec,
    scope: &Scope,
    store: &Arc<dyn Store>,
    pool: &Pool,
    sandbox: Option<Arc<RenderSandbox>>,
    pins: HashMap<String, u32>,
) -> Result<PlannedRun, RunsError> {
    let root = tempfile::tempdir().map_err(|err| RunsError::io("create a directory for the spec", err))?;
    spec.materialise(root.path())?;
    let project = pool.project(scope).await?;
    let backend = Arc::new(PoolBackend::new(project, sandbox, root.path().to_path_buf()));
    let mut suite = LoadedSuite::read(root.path(), &root.path().join(&spec.suite))
        .map_err(|problem| RunsError::Plan { problems: vec![problem] })?;
    // An A/B arm runs the suite on its own prompt, as the client planned it.
    if let Some(targets) = &spec.overrides.targets {
        suite.file.targets = targets.clone();
    }
    let registry = Registry::new(Arc::clone(store), scope.clone(), "server".to_owned(), Vec::new());
    let inner = ProjectPrompts { prompts_dir: root.path().join("prompts"), registry: Some(Arc::new(registry)) };
    let prompts = PinnedPrompts { inner, pins };
    let overrides = Overrides::from(&spec.overrides);
    let input = PlanInput {
        root: root.path(),
        default_provider: spec.default_provider.as_deref(),
        prompts: &prompts,
        backend: backend.as_ref(),
        workflows: None,
        overrides: &overrides,
    };
    let plan = crate::eval::plan(&suite, &input).await.map_err(|problems| RunsError::Plan { problems })?;
    refuse_scripts(&plan)?;
    if plan.hash != spec.plan_hash {
        return Err(RunsError::PlanMismatch { suite: plan.suite.clone() });
    }
    Ok(PlannedRun { plan: Arc::new(plan), backend, _root: root })
}

/// `script` assertions run commands where they are evaluated: never on the server.
fn refuse_scripts(plan: &Plan) -> Result<(), RunsError> {
    let scripted =
        plan.cases.iter().flat_map(|c| &c.assertions).any(|a| a.name().trim_start_matches("not-") == "script");
    if scripted {
        return Err(RunsError::Refused { what: "`script` assertions (they would run commands on its machine)".into() });
    }
    Ok(())
}

/// A run's plan, made by the first unit that needs it; the others wait for it.
type PlanCell = OnceCell<Result<Arc<PlannedRun>, String>>;

/// The plans of the runs a replica's workers are on, each made once however many units ask.
pub struct ServerPlanner {
    store: Arc<dyn Store>,
    pool: Arc<Pool>,
    sandbox: Option<Arc<RenderSandbox>>,
    plans: Mutex<HashMap<(Scope, u64), Arc<PlanCell>>>,
}

impl std::fmt::Debug for ServerPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPlanner").finish_non_exhaustive()
    }
}

impl ServerPlanner {
    /// A planner reading specs from `store`, calling models through `pool`.
    pub fn new(store: Arc<dyn Store>, pool: Arc<Pool>, sandbox: Option<Arc<RenderSandbox>>) -> Self {
        Self { store, pool, sandbox, plans: Mutex::default() }
    }

    /// Plans a spec submitted now (not kept: the run's units plan it again where they run).
    pub async fn check(&self, scope: &Scope, spec: &RunSpec) -> Result<PlannedRun, RunsError> {
        plan_spec(spec, scope, &self.store, &self.pool, self.sandbox.clone(), HashMap::new()).await
    }

    /// The plan of queued run `run`, or why it cannot be planned (then every unit of it is an
    /// error with that message).
    pub async fn plan(&self, scope: &Scope, run: u64) -> Result<Arc<PlannedRun>, String> {
        let cell = {
            let mut plans = self.plans.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if plans.len() >= KEPT_PLANS {
                plans.retain(|_, cell| Arc::strong_count(cell) > 1);
            }
            Arc::clone(plans.entry((scope.clone(), run)).or_default())
        };
        cell.get_or_init(|| async {
            let spec = match self.store.run_spec(scope, run).await {
                Ok(Some(text)) => text,
                Ok(None) => return Err(RunsError::NotQueued { run }.to_string()),
                Err(err) => return Err(err.to_string()),
            };
            let spec: RunSpec =
                serde_json::from_str(&spec).map_err(|err| format!("the stored spec is invalid: {err}"))?;
            let record = self.store.run(scope, run).await.map_err(|err| err.to_string())?;
            let pins = record
                .map(|r| r.draft.targets.into_iter().filter_map(|t| Some((t.reference, t.version?))).collect())
                .unwrap_or_default();
            plan_spec(&spec, scope, &self.store, &self.pool, self.sandbox.clone(), pins)
                .await
                .map(Arc::new)
                .map_err(|err| err.to_string())
        })
        .await
        .clone()
    }

    /// Forgets the plan of `run` (it finished, or its planning failed for a reason that may pass).
    pub fn forget(&self, scope: &Scope, run: u64) {
        self.plans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(scope.clone(), run));
    }
}
