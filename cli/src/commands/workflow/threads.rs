//! `workflow history`, `workflow threads` and `workflow fork`.

use promptops::workflow::{self, StepView};

use super::ForkArgs;
use crate::commands::workspace::when;
use crate::context::Context;
use crate::diagnose::DiagnoseExt;
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, emit_structured};

/// `workflow history THREAD`.
pub async fn history(thread: &str, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "workflow history")?;
    let project = ctx.project()?;
    let (store, scope) = ctx.store(&project).await?;
    let (record, steps) = workflow::history(store.as_ref(), &scope, thread).await.diag()?;
    #[derive(serde::Serialize)]
    struct History<'a> {
        thread: &'a promptops::store::ThreadRecord,
        steps: &'a [StepView],
    }
    if emit_structured(&ctx.printer, format, &History { thread: &record, steps: &steps })? {
        return Ok(ExitStatus::Success);
    }
    let mut grid = Grid::new(&["STEP", "TIME", "TASKS", "WROTE", "BYTES"]);
    for step in &steps {
        let tasks: Vec<String> =
            step.tasks.iter().map(|t| t.index.map_or_else(|| t.node.clone(), |i| format!("{}[{i}]", t.node))).collect();
        let bytes = if step.snapshot { format!("{} (snapshot)", step.bytes) } else { step.bytes.to_string() };
        grid.row(vec![step.step.to_string(), when(&step.at), tasks.join(", "), step.keys.join(", "), bytes]);
    }
    ctx.printer.out(&grid.render(format));
    ctx.printer
        .status(&format!("thread {} ({}): {} at step {}", record.id, record.workflow, record.status, record.step));
    Ok(ExitStatus::Success)
}

/// `workflow threads [WORKFLOW]`.
pub async fn threads(workflow_name: Option<&str>, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "workflow threads")?;
    let project = ctx.project()?;
    let (store, scope) = ctx.store(&project).await?;
    let records = store.threads(&scope, workflow_name).await.diag()?;
    if emit_structured(&ctx.printer, format, &records)? {
        return Ok(ExitStatus::Success);
    }
    let mut grid = Grid::new(&["THREAD", "WORKFLOW", "STATUS", "STEP", "UPDATED", "FORKED FROM"]);
    for t in &records {
        let parent = t.parent.as_ref().map(|(p, s)| format!("{p}@{s}")).unwrap_or_default();
        grid.row(vec![
            t.id.clone(),
            t.workflow.clone(),
            t.status.clone(),
            t.step.to_string(),
            when(&t.updated_at),
            parent,
        ]);
    }
    ctx.printer.out(&grid.render(format));
    Ok(ExitStatus::Success)
}

/// `workflow fork THREAD --step N [--thread NEW]`.
pub async fn fork(args: ForkArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ForkArgs { thread, step, new_thread } = args;
    let project = ctx.project()?;
    let (store, scope) = ctx.store(&project).await?;
    let forked = workflow::fork(store.as_ref(), &scope, &thread, step, new_thread).await.diag()?;
    ctx.printer.out(&forked.id);
    ctx.printer.status(&format!(
        "forked thread {thread} at step {step}; continue it with `promptops workflow resume {}`",
        forked.id
    ));
    Ok(ExitStatus::Success)
}
