//! [`AbSession`]: `promptops ab`'s use case. Plans one eval run per arm (every problem at once),
//! runs the arms through the executor, analyses them, has a judge compare outputs when asked,
//! records the experiment where experiments are kept, and says which gates failed.

use std::sync::Arc;

use super::{Executor, Job, SessionError, SessionEvents, concurrency};
use crate::ab::arms_plan::arm_suite;
use crate::ab::experiment::{Gate, draft, earlier_looks, earlier_tuning, gate_failures};
use crate::ab::looks::Looks;
use crate::ab::{AbError, Analysis, Arm, ArmSample, Settings, analyse, arms_of_results, judge};
use crate::eval::backend::Backend;
use crate::eval::suite::LoadedSuite;
use crate::eval::{Cancel, Overrides, Plan, PlanInput};
use crate::service::ExperimentService;
use crate::store::{ExperimentRecord, RunStatus};

/// The judge of `--judge`: a provider and the backend that calls it.
pub type Judge<'a> = (&'a str, Arc<dyn Backend>);

/// An arm ready to run: its plan, and the overrides it was planned with (a server plans again
/// with them).
#[derive(Debug)]
pub struct PlannedArm {
    /// The arm.
    pub arm: Arm,
    /// Its eval plan.
    pub plan: Plan,
    /// The command line's choices with the arm's provider.
    pub overrides: Overrides,
}

/// A decided comparison.
#[derive(Debug, Clone)]
pub struct AbOutcome {
    /// The experiment as recorded.
    pub record: ExperimentRecord,
    /// The analysis.
    pub analysis: Analysis,
    /// The gates (`--require-better`, `--non-inferiority`) that failed, as sentences.
    pub gate_failures: Vec<String>,
}

/// `promptops ab`'s use case over one executor.
pub struct AbSession<'a> {
    /// Where the arms' runs run.
    pub executor: &'a dyn Executor,
    /// Who watches.
    pub events: &'a dyn SessionEvents,
    /// Where experiments are kept.
    pub experiments: Arc<dyn ExperimentService>,
    /// Who compares.
    pub actor: String,
}

impl std::fmt::Debug for AbSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbSession").field("actor", &self.actor).finish_non_exhaustive()
    }
}

impl AbSession<'_> {
    /// One plan per arm of `suite`, each with `base` and the arm's prompt or provider.
    pub async fn plan(
        &self,
        suite: &LoadedSuite,
        arms: Vec<Arm>,
        base: &Overrides,
        input: &PlanInput<'_>,
    ) -> Result<Vec<PlannedArm>, SessionError> {
        let mut planned = Vec::with_capacity(arms.len());
        let mut problems = Vec::new();
        for arm in arms {
            let (arm_suite, overrides) = arm_suite(suite, &arm, base)?;
            let input = PlanInput { overrides: &overrides, ..*input };
            match crate::eval::plan(&arm_suite, &input).await {
                Ok(plan) if plan.cases.len() < 2 => {
                    let what = format!("suite `{}`", suite.name);
                    return Err(AbError::TooFewCases { what, cases: plan.cases.len() }.into());
                }
                Ok(plan) if plan.pairs.len() != 1 => {
                    return Err(AbError::NotOnePair { arm: arm.text.clone(), pairs: plan.pairs.len() }.into());
                }
                Ok(plan) => planned.push(PlannedArm { arm, plan, overrides }),
                Err(found) => problems.extend(found.into_iter().map(|mut p| {
                    p.message = format!("arm `{}`: {}", arm.text, p.message);
                    p
                })),
            }
        }
        if !problems.is_empty() {
            return Err(SessionError::Problems { what: "the arms".to_owned(), problems });
        }
        Ok(planned)
    }

    /// Runs every arm to its end; what each measured, naming the run where runs are read.
    pub async fn run(
        &self,
        planned: Vec<PlannedArm>,
        flag: Option<usize>,
        project: Option<u32>,
        cancel: &Cancel,
    ) -> Result<Vec<ArmSample>, SessionError> {
        let mut arms = Vec::with_capacity(planned.len());
        for (index, PlannedArm { arm, plan, overrides }) in planned.into_iter().enumerate() {
            self.events.status(&format!("arm {}: {}", crate::ab::analysis::letter(index), arm.text));
            let targets = arm.prompt.clone().map(|prompt| vec![prompt]);
            let label = plan.suite.clone();
            let job = Job {
                label: &label,
                concurrency: concurrency(flag, &plan, project),
                keep_results: true,
                resumed: None,
                overrides: &overrides,
                targets: targets.as_deref(),
                cancel,
                events: self.events,
            };
            let executed = self.executor.execute(plan, job).await?;
            if matches!(executed.stored.status, RunStatus::Interrupted | RunStatus::Cancelled) {
                return Err(SessionError::ArmInterrupted { run: executed.stored.id, arm: arm.text });
            }
            arms.extend(arms_of_results(&executed.stored, &executed.results)?);
        }
        Ok(arms)
    }

    /// Analyses `arms` of `suite` (with the looks of a sequential run), judges them when asked,
    /// and records the experiment.
    pub async fn decide(
        &self,
        suite: &str,
        arms: &[ArmSample],
        mut settings: Settings,
        looks: Option<Looks>,
        judge_with: Option<Judge<'_>>,
        gate: &Gate,
    ) -> Result<AbOutcome, SessionError> {
        if let Some(planned) = &mut settings.sequential
            && *planned == 0
        {
            *planned = self.tuning(suite, arms).await?;
        }
        let mut analysis = analyse(arms, &settings)?;
        analysis.looks = looks;
        if let Some((provider, backend)) = judge_with {
            self.events.status(&format!("judging every pair of outputs with `{provider}`, in both orders"));
            let judged = judge::judge(arms, provider, backend.as_ref(), settings.alpha).await;
            // What the judge's calls cost is recorded before anything else is said.
            backend.flush().await.map_err(crate::eval::EvalError::from)?;
            analysis.judge = Some(judged?);
        }
        self.warn_earlier_looks(suite, &analysis).await?;
        let record = self.experiments.record(draft(&analysis, suite, &self.actor)).await?;
        let gate_failures = gate_failures(&analysis, gate);
        Ok(AbOutcome { record, analysis, gate_failures })
    }

    /// The tuning size of a plain `--sequential` comparison: the first sequential experiment's
    /// on the same arms and suite, kept so that every later look belongs to the same sequence;
    /// for a first look, the cases run.
    async fn tuning(&self, suite: &str, arms: &[ArmSample]) -> Result<usize, SessionError> {
        let labels: Vec<&str> = arms.iter().map(|a| a.label.as_str()).collect();
        let earlier = self.experiments.experiments(Some(suite), 1000).await?;
        if let Some((id, tuned)) = earlier_tuning(&labels, &earlier) {
            self.events.status(&format!(
                "sequential: keeping the tuning of experiment {id} ({tuned} cases), so this look belongs to the \
                 same confidence sequence"
            ));
            return Ok(tuned.max(1));
        }
        Ok(arms.iter().map(|a| a.cases.len()).max().unwrap_or(1).max(1))
    }

    async fn warn_earlier_looks(&self, suite: &str, analysis: &Analysis) -> Result<(), SessionError> {
        if analysis.settings.sequential.is_some() {
            return Ok(());
        }
        let earlier = earlier_looks(analysis, &self.experiments.experiments(Some(suite), 1000).await?);
        if earlier > 0 {
            self.events.warn(&format!(
                "look {} at these arms on `{suite}`: re-testing until a difference shows inflates false positives; \
                 use `--sequential` to look as often as you like",
                earlier + 1
            ));
        }
        Ok(())
    }
}
