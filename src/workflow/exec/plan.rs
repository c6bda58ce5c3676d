//! Planning a step: which triggered nodes run now (one task per node, plus one per map item),
//! which wait (a join not yet complete, a deferred node while others run), and the limits:
//! `max_visits` (fail naming the loop, or take the `on_limit` goto) and `limits.max_steps`.

use std::collections::BTreeMap;

use super::{Progress, Run};
use crate::error::ErrorClass;
use crate::workflow::checkpoint::Trigger;
use crate::workflow::error::WorkflowError;
use crate::workflow::node::TaskSpec;

impl Run<'_> {
    /// The tasks of the next step, and the triggers that wait (joins not yet complete, deferred nodes).
    pub(super) fn plan(&self, progress: &Progress) -> Result<(Vec<TaskSpec>, Vec<Trigger>), WorkflowError> {
        let mut by_node: BTreeMap<&str, Vec<&Trigger>> = BTreeMap::new();
        for trigger in &progress.payload.pending {
            by_node.entry(trigger.node.as_str()).or_default().push(trigger);
        }
        let (mut normal, mut deferred, mut carry) = (Vec::new(), Vec::new(), Vec::new());
        for (name, triggers) in by_node {
            let spec = &self.compiled.nodes[name].spec;
            let arrived = progress.payload.barriers.get(name);
            if !spec.wait_for.iter().all(|w| arrived.is_some_and(|a| a.contains(w))) {
                carry.extend(triggers.into_iter().cloned());
                continue;
            }
            let mut tasks = Vec::new();
            if triggers.iter().any(|t| t.item.is_none()) {
                tasks.push(TaskSpec {
                    id: TaskSpec::id_of(name, None),
                    node: name.to_owned(),
                    index: None,
                    item: None,
                    limited: false,
                });
            }
            for item in triggers.iter().filter_map(|t| t.item.as_ref()) {
                tasks.push(TaskSpec {
                    id: TaskSpec::id_of(name, Some(item.index)),
                    node: name.to_owned(),
                    index: Some(item.index),
                    item: Some((item.alias.clone(), item.value.clone())),
                    limited: false,
                });
            }
            let group = (tasks, triggers);
            if spec.defer { deferred.push(group) } else { normal.push(group) }
        }
        let chosen = if normal.is_empty() {
            deferred
        } else {
            carry.extend(deferred.into_iter().flat_map(|(_, triggers)| triggers.into_iter().cloned()));
            normal
        };
        let mut tasks = Vec::new();
        for (mut group, _) in chosen {
            self.apply_visit_limit(progress, &mut group)?;
            tasks.extend(group);
        }
        Ok((tasks, carry))
    }

    /// Marks tasks past `max_visits` as limited (`on_limit` goto) or fails the run.
    fn apply_visit_limit(&self, progress: &Progress, tasks: &mut [TaskSpec]) -> Result<(), WorkflowError> {
        let Some(first) = tasks.first() else { return Ok(()) };
        let node = &self.compiled.nodes[&first.node];
        let Some(max) = node.spec.max_visits else { return Ok(()) };
        let used = progress.payload.visits.get(&node.name).copied().unwrap_or(0);
        let room = usize::try_from(max.saturating_sub(used)).unwrap_or(usize::MAX);
        if tasks.len() <= room {
            return Ok(());
        }
        if node.spec.on_limit.as_ref().is_some_and(|f| f.goto().is_some()) {
            tasks.iter_mut().skip(room).for_each(|t| t.limited = true);
            return Ok(());
        }
        let step = progress.step + 1;
        let in_loop = self.compiled.loop_of(&node.name).map(|l| format!(", in the loop `{l}`")).unwrap_or_default();
        Err(WorkflowError::run(
            ErrorClass::Config,
            format!(
                "node `{}` reached `max_visits` ({max}) at step {step} of thread `{}`{in_loop}",
                node.name, self.thread
            ),
            vec![
                "the branch that should leave the loop did not; check its condition".to_owned(),
                "or add `on_limit: { goto: END }` to leave the loop instead of failing".to_owned(),
            ],
        ))
    }

    pub(super) fn step_limit(&self, progress: &Progress, tasks: &[TaskSpec], max_steps: u32) -> WorkflowError {
        let looping = tasks.iter().find_map(|t| self.compiled.loop_of(&t.node));
        let in_loop = looping.as_ref().map(|l| format!(" in the loop `{l}`")).unwrap_or_default();
        let mut visits: Vec<(&String, &u32)> = progress.payload.visits.iter().collect();
        visits.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let busiest: Vec<String> = visits.iter().take(3).map(|(n, v)| format!("{n}={v}")).collect();
        WorkflowError::run(
            ErrorClass::Config,
            format!(
                "workflow `{}` stopped after {max_steps} steps (`limits.max_steps`){in_loop}; thread `{}`, visits: {}",
                self.compiled.file().name,
                self.thread,
                busiest.join(", ")
            ),
            vec![
                "bound the loop with `max_visits` on one of its nodes and give it an exit branch".to_owned(),
                "or raise `limits.max_steps` if the run is meant to be this long".to_owned(),
            ],
        )
    }

    pub(super) fn blocked(&self, step: u32, node: &str) -> WorkflowError {
        let waits = self.compiled.nodes.get(node).map(|n| n.spec.wait_for.join("`, `")).unwrap_or_default();
        WorkflowError::run(
            ErrorClass::Config,
            format!(
                "node `{node}` waits for `{waits}`, which did not all run (step {step} of thread `{}`)",
                self.thread
            ),
            vec!["every node in `wait_for` must run before the join can".to_owned()],
        )
    }
}
