//! `ab ARM ARM … --sequential --stop-early`: the arms run batch by batch on the same cases (in
//! a seeded random order), the comparison is analysed after every batch, and the run stops at
//! the first look where the always-valid pass-rate confidence sequence decides. The schedule
//! and the stopping rule are the library's (`promptops::ab::looks`); this file runs the
//! batches. Each arm is still one eval run; a run stopped early keeps the status `interrupted`,
//! which is what it is: not every case of the suite ran.

use std::sync::Arc;

use promptops::ab::looks::{self, Looks};
use promptops::ab::{Arm, ArmSample, Settings, analyse, arms_of_run};
use promptops::eval::{Cancel, Plan, RunSettings, Runner};
use promptops::session::{PlannedArm, SessionError};
use promptops::store::RunRecord;

use crate::context::{Context, LocalStore};
use crate::diagnose::DiagnoseExt;
use crate::output::progress::EvalBar;

/// What running the arms needs.
pub(super) struct Arms<'a> {
    pub ctx: &'a Context,
    pub project: &'a promptops::config::Project,
    pub local: &'a LocalStore,
    pub runner: &'a Runner,
}

/// One arm's run, started and filled batch by batch.
struct Started {
    arm: Arm,
    plan: Arc<Plan>,
    record: RunRecord,
    settings: RunSettings,
}

impl Arms<'_> {
    /// Runs the arms in batches, looking after each; returns what every arm measured on the
    /// cases run and how the looks went. `settings.sequential`'s planned size defaults to the
    /// suite's cases here (the confidence sequence is tuned to the whole suite, known upfront).
    pub async fn run(
        &self,
        planned: Vec<PlannedArm>,
        concurrency: Option<usize>,
        settings: &mut Settings,
        cancel: &Cancel,
    ) -> anyhow::Result<(Vec<ArmSample>, Looks)> {
        // Every arm plans the same suite, so the same cases.
        let suite_cases = planned.iter().map(|p| p.plan.cases.len()).min().unwrap_or(0);
        if let Some(planned_size) = &mut settings.sequential
            && *planned_size == 0
        {
            *planned_size = suite_cases.max(1);
        }
        let mut started = Vec::with_capacity(planned.len());
        for PlannedArm { arm, plan, .. } in planned {
            started.push(self.start(arm, plan, concurrency, cancel).await?);
        }
        let (mut cases, mut arms, mut taken, mut reason) = (0, Vec::new(), 0, None);
        for batch in looks::batches(suite_cases, settings.seed) {
            self.run_batch(&mut started, &batch, cancel).await?;
            (cases, taken) = (cases + batch.len(), taken + 1);
            arms = self.measured(&started).await?;
            // An interim look with too few usable cases (say, every one errored) decides nothing.
            reason = analyse(&arms, settings).ok().as_ref().and_then(looks::stop_reason);
            self.ctx.printer.status(&format!("look {taken}: {cases} of {suite_cases} cases per arm"));
            if reason.is_some() {
                break;
            }
        }
        Ok((arms, looks::record(cases, suite_cases, taken, reason)))
    }

    async fn start(
        &self,
        arm: Arm,
        plan: Plan,
        concurrency: Option<usize>,
        cancel: &Cancel,
    ) -> anyhow::Result<Started> {
        let settings = RunSettings {
            concurrency: promptops::session::concurrency(concurrency, &plan, self.project.config.defaults.concurrency),
            actor: self.local.actor.clone(),
            git: promptops::git::head(self.project.origin_root()),
            on_progress: None,
            cancel: cancel.clone(),
        };
        let record = self.runner.start(&plan, &settings).await.diag()?;
        Ok(Started { arm, plan: Arc::new(plan), record, settings })
    }

    /// Runs `batch` in every arm, each with its own progress bar.
    async fn run_batch(&self, started: &mut [Started], batch: &[u32], cancel: &Cancel) -> anyhow::Result<()> {
        for (index, arm) in started.iter_mut().enumerate() {
            let letter = promptops::ab::analysis::letter(index);
            let bar = EvalBar::new(&self.ctx.printer, &format!("{letter} {}", arm.arm.text), arm.plan.total());
            let settings = RunSettings {
                on_progress: Some({
                    let bar = bar.clone();
                    Arc::new(move |p: &promptops::eval::Progress| bar.update(p))
                }),
                ..arm.settings.clone()
            };
            let result = self.runner.run_cases(Arc::clone(&arm.plan), arm.record.clone(), batch, &settings).await;
            bar.finish();
            arm.record = result.diag()?;
            if cancel.is_cancelled() {
                let interrupted = SessionError::ArmInterrupted { run: arm.record.id, arm: arm.arm.text.clone() };
                return Err(interrupted).diag();
            }
        }
        Ok(())
    }

    async fn measured(&self, started: &[Started]) -> anyhow::Result<Vec<ArmSample>> {
        let mut arms = Vec::with_capacity(started.len());
        for arm in started {
            arms.extend(arms_of_run(&self.local.store, &self.local.scope, &arm.record).await.diag()?);
        }
        Ok(arms)
    }
}
