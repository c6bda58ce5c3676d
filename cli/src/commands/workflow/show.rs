//! `workflow list`, `workflow validate`, `workflow draw` and `workflow export`.

use promptops::workflow::{self, Catalog, ExecPolicy, Severity, draw, load, validate};

use super::{ExportArgs, ExportTarget, print_findings, prompts};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, Diagnosed, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, emit_structured};

/// `workflow list`.
pub fn list(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "workflow list")?;
    let project = ctx.project()?;
    let (loaded, errors) = load::load_all(&project.workflows_dir(), &project.root).diag()?;
    for err in &errors {
        ctx.printer.error_line("error", &err.to_string());
    }
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        name: &'a str,
        file: String,
        nodes: usize,
        description: &'a str,
    }
    let entries: Vec<Entry<'_>> = loaded
        .iter()
        .map(|w| Entry {
            name: w.name(),
            file: w.origin.display().to_string(),
            nodes: w.file.nodes.len(),
            description: w.file.description.as_deref().unwrap_or_default(),
        })
        .collect();
    if emit_structured(&ctx.printer, format, &entries)? {
        return Ok(ExitStatus::Success);
    }
    let mut grid = Grid::new(&["WORKFLOW", "NODES", "DESCRIPTION"]);
    for e in &entries {
        grid.row(vec![e.name.to_owned(), e.nodes.to_string(), e.description.to_owned()]);
    }
    ctx.printer.out(&grid.render(format));
    Ok(ExitStatus::Success)
}

/// `workflow validate [TARGET…]`.
pub async fn validate(targets: Vec<String>, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    let catalog = Catalog::new(&project.root);
    let mut workflows = Vec::new();
    let mut broken = 0;
    if targets.is_empty() {
        let (loaded, errors) = load::load_all(&project.workflows_dir(), &project.root).diag()?;
        for err in errors {
            broken += 1;
            report_load_error(ctx, &err);
        }
        workflows = loaded;
    } else {
        for target in &targets {
            match catalog.load(target) {
                Ok(w) => workflows.push(w),
                Err(err) => {
                    broken += 1;
                    report_load_error(ctx, &err);
                }
            }
        }
    }
    let prompts = prompts(ctx, &project).await?;
    let references =
        validate::References { prompts: Some(&prompts), catalog: Some(&catalog), exec: Some(&ExecPolicy::Local) };
    let mut problems = broken;
    for w in &workflows {
        let findings = validate::validate(w, references).await;
        print_findings(ctx, &findings);
        problems += findings.iter().filter(|f| f.severity == Severity::Error).count();
    }
    if problems > 0 {
        return Err(Diagnosed::message(
            promptops::error::ErrorClass::Config,
            format!("{problems} problem(s) found in workflow files"),
            Vec::new(),
        )
        .into());
    }
    ctx.printer.status(&format!("{} workflow(s) valid", workflows.len()));
    Ok(ExitStatus::Success)
}

fn report_load_error(ctx: &Context, err: &workflow::WorkflowError) {
    use promptops::error::Diagnostic;
    ctx.printer.error_line("error", &err.to_string());
    for hint in err.hints() {
        ctx.printer.error_line("hint", &hint);
    }
}

/// `workflow draw TARGET --format mermaid|dot`.
pub fn draw(target: &str, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format_or(Format::Mermaid, &[Format::Mermaid, Format::Dot], "workflow draw")?;
    let project = ctx.project()?;
    let w = Catalog::new(&project.root).load(target).diag()?;
    let text = if format == Format::Dot { draw::dot(&w.file) } else { draw::mermaid(&w.file) };
    ctx.printer.out_raw(&text);
    Ok(ExitStatus::Success)
}

/// `workflow export TARGET --to langgraph [-o DIR]`.
pub async fn export(args: ExportArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ExportArgs { target, to, output } = args;
    let ExportTarget::Langgraph = to;
    let project = ctx.project()?;
    let (workflow, compiled) = super::load_compiled(ctx, &project, &target).await?;
    let dir = output.unwrap_or_else(|| project.root.join("export").join(format!("{}-langgraph", workflow.name())));
    let files = workflow::export::langgraph(&compiled, &project.config);
    workflow::export::write(&dir, &files)
        .map_err(|err| usage(format!("cannot write the export to `{}`: {err}", dir.display()), &[]))?;
    for f in &files {
        ctx.printer.out(&project.relative(&dir.join(&f.path)).display().to_string());
    }
    ctx.printer.status(&format!(
        "exported `{}` to LangGraph; read {} for what does not survive the export",
        workflow.name(),
        project.relative(&dir.join("EXPORT_NOTES.md")).display()
    ));
    Ok(ExitStatus::Success)
}
