//! `promptops import promptfoo [CONFIG] [--into DIR]`: a promptfoo project turned into a
//! promptops project — prompt files, providers in promptops.yaml (keys never copied), one suite
//! in eval-suites/, datasets and scripts copied — written all or nothing, with a report of what
//! was converted, approximated and left out. The translation is the one `eval -c` runs.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use promptops::promptfoo::{self, Datasets, Options, Treatment, project};

use crate::commands::eval::promptfoo::translate;
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::Format;

/// What to import.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A promptfoo project (promptfooconfig.yaml and the files it names).
    Promptfoo(PromptfooArgs),
}

/// Flags of `import promptfoo`.
#[derive(Debug, Args)]
pub struct PromptfooArgs {
    /// The promptfoo config (default: promptfooconfig.yaml in the current directory).
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Where to write the promptops project (default: the config's directory). Existing files are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Leave out what has no promptops equivalent (reported) instead of refusing the config.
    #[arg(long)]
    pub skip_unsupported: bool,
}

/// Runs `import`.
pub fn run(command: ImportCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    match command {
        ImportCommand::Promptfoo(args) => import_promptfoo(args, ctx),
    }
}

fn import_promptfoo(args: PromptfooArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let PromptfooArgs { config, into, skip_unsupported } = args;
    let format = ctx.format(&[Format::Table, Format::Json], "import promptfoo")?;
    let config = match config {
        Some(path) => path,
        None => promptfoo::detect(&std::env::current_dir()?).ok_or_else(|| {
            usage(
                "no promptfooconfig.yaml in the current directory",
                &["name the config: `promptops import promptfoo path/to/promptfooconfig.yaml`"],
            )
        })?,
    };
    if !config.is_file() {
        return Err(usage(format!("promptfoo config `{}` not found", config.display()), &[]));
    }
    let translation = translate(ctx, &config, Options { skip_unsupported, datasets: Datasets::Copied })?;
    let dir = into.unwrap_or_else(|| {
        config.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from)
    });
    let files = project::files(&translation);
    project::write_new(&dir, &files).diag()?;
    let report = &translation.report;
    match format {
        Format::Json => {
            let written: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
            let body = serde_json::json!({ "into": dir, "files": written, "report": report.items });
            ctx.printer.out_raw(&format!("{}\n", serde_json::to_string_pretty(&body)?));
        }
        _ => {
            let mut out = String::new();
            for treatment in [Treatment::Converted, Treatment::Approximated, Treatment::LeftOut] {
                for item in report.with(treatment) {
                    out.push_str(&format!("{:<12}  {}  {}\n", treatment.as_str(), item.place, item.what));
                }
            }
            ctx.printer.out_raw(&out);
        }
    }
    ctx.printer.status(&format!(
        "wrote {} file(s) to {}: {} prompt(s), {} provider(s), suite `{}` ({} approximated, {} left out)",
        files.len(),
        dir.display(),
        translation.prompts.len(),
        translation.project.providers.len(),
        translation.suite_name,
        report.count(Treatment::Approximated),
        report.count(Treatment::LeftOut),
    ));
    ctx.printer.status(&format!("next: cd {} && promptops eval {}", dir.display(), translation.suite_name));
    Ok(ExitStatus::Success)
}
