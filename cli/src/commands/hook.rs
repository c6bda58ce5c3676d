//! `hook install|uninstall`: the git pre-commit hook that runs `promptops eval --changed
//! --staged`, chaining (and later restoring) any hook that was there before.

use clap::Subcommand;
use promptops::git::{self, HookInstall};

use crate::context::Context;
use crate::diagnose::DiagnoseExt;
use crate::exit::ExitStatus;

/// The `hook` subcommands.
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Add the pre-commit hook; an existing hook is kept and run first.
    Install,
    /// Remove the pre-commit hook and restore the one it chained.
    Uninstall,
}

/// Runs a `hook` subcommand.
pub fn run(command: HookCommand, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let project = ctx.project()?;
    match command {
        HookCommand::Install => {
            let binary = std::env::current_exe()?;
            match git::install_hook(&project.root, &binary, &project.root).diag()? {
                HookInstall::Installed(path) => ctx.printer.status(&format!("installed {}", path.display())),
                HookInstall::Updated(path) => ctx.printer.status(&format!("updated {}", path.display())),
                HookInstall::Chained { hook, previous } => ctx.printer.status(&format!(
                    "installed {}; the existing hook moved to {} and runs first",
                    hook.display(),
                    previous.display()
                )),
            }
            ctx.printer.status("every `git commit` now runs `promptops eval --changed --staged`");
        }
        HookCommand::Uninstall => match git::uninstall_hook(&project.root).diag()? {
            Some(true) => ctx.printer.status("removed the promptops hook and restored the previous one"),
            Some(false) => ctx.printer.status("removed the promptops hook"),
            None => ctx.printer.status("no promptops hook is installed"),
        },
    }
    Ok(ExitStatus::Success)
}
