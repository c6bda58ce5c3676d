//! `label set|list|rm` and `rollback`: moving the pointers applications deploy by.

use clap::{Args, Subcommand};
use promptops::prompt::{Label, Selector};
use promptops::store::LabelMove;

use super::workspace::{parse_name, when};
use crate::context::Context;
use crate::diagnose::DiagnoseExt;
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, emit_structured};

/// The `label` subcommands.
#[derive(Debug, Subcommand)]
pub enum LabelCommand {
    /// Point a label at a version (protected labels need --yes).
    Set {
        /// The prompt.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
        name: String,
        /// The label, e.g. `production`.
        label: String,
        /// A version number, or a label or hash prefix naming one.
        #[arg(value_name = "VERSION")]
        target: String,
        /// Confirm moving a protected label.
        #[arg(long)]
        yes: bool,
    },
    /// List labels (of one prompt, or all).
    List {
        /// The prompt (default: all).
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
        name: Option<String>,
    },
    /// Remove a label from a prompt.
    Rm {
        /// The prompt.
        #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
        name: String,
        /// The label.
        label: String,
        /// Confirm removing a protected label.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs a `label` subcommand.
pub async fn run(command: LabelCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        LabelCommand::Set { name, label, target, yes } => {
            let format = ctx.format(Format::DOCUMENT, "label set")?;
            let (name, label) = (parse_name(&name)?, Label::new(&label).diag()?);
            let registry = ctx.registry(&ctx.project()?).await?;
            let selector = match target.parse::<u32>() {
                Ok(n) => Selector::Version(n),
                Err(_) if target == Label::LATEST => Selector::Latest,
                Err(_) => Selector::Named(target),
            };
            let number = registry.resolve(&name, &selector).await.diag()?.meta.number;
            let moved = registry.set_label(&name, &label, number, yes).await.diag()?;
            print_move(ctx, format, &moved)
        }
        LabelCommand::List { name } => {
            let format = ctx.format(Format::LISTING, "label list")?;
            let name = name.map(|n| parse_name(&n)).transpose()?;
            let registry = ctx.registry(&ctx.project()?).await?;
            let labels = registry.labels(name.as_ref()).await.diag()?;
            if !emit_structured(&ctx.printer, format, &labels)? {
                let mut grid = Grid::new(&["PROMPT", "LABEL", "VERSION", "UPDATED BY", "UPDATED AT"]);
                for l in &labels {
                    grid.row(vec![
                        l.name.to_string(),
                        l.label.to_string(),
                        l.version.to_string(),
                        l.updated_by.clone(),
                        when(&l.updated_at),
                    ]);
                }
                if grid.is_empty() {
                    ctx.printer.status("no labels set; `latest` always points at the newest version");
                } else {
                    ctx.printer.out(&grid.render(format));
                }
            }
            Ok(ExitStatus::Success)
        }
        LabelCommand::Rm { name, label, yes } => {
            let format = ctx.format(Format::DOCUMENT, "label rm")?;
            let (name, label) = (parse_name(&name)?, Label::new(&label).diag()?);
            let registry = ctx.registry(&ctx.project()?).await?;
            let moved = registry.remove_label(&name, &label, yes).await.diag()?;
            print_move(ctx, format, &moved)
        }
    }
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The prompt.
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub name: String,
    /// The label to move back.
    #[arg(long)]
    pub label: String,
    /// The version to move it to (default: the one it held before).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<u32>,
    /// Confirm moving a protected label.
    #[arg(long)]
    pub yes: bool,
}

/// Moves a label back.
pub async fn rollback(args: RollbackArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let RollbackArgs { name, label, to, yes } = args;
    let format = ctx.format(Format::DOCUMENT, "rollback")?;
    let (name, label) = (parse_name(&name)?, Label::new(&label).diag()?);
    let registry = ctx.registry(&ctx.project()?).await?;
    let moved = registry.rollback(&name, &label, to, yes).await.diag()?;
    print_move(ctx, format, &moved)
}

fn print_move(ctx: &Context, format: Format, moved: &LabelMove) -> anyhow::Result<ExitStatus> {
    if !emit_structured(&ctx.printer, format, moved)? {
        let show = |v: Option<u32>| v.map_or("none".to_owned(), |n| format!("@{n}"));
        ctx.printer.out(&format!("{} {}: {} → {}", moved.name, moved.label, show(moved.from), show(moved.to)));
    }
    Ok(ExitStatus::Success)
}
