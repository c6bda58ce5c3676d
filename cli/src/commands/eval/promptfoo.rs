//! `promptops eval -c promptfooconfig.yaml` (and a bare `promptops eval` in a directory with a
//! promptfoo config and no promptops.yaml): the library translates the config, the translation
//! is written as a generated project under `.promptops/promptfoo/<name>/`, and the one eval
//! engine runs it, with runs, cache and costs kept in the config directory's `.promptops/`.
//! Keys written in the config stay in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptops::config::{CONFIG_FILE, Project};
use promptops::error::{Diagnostic, ErrorClass};
use promptops::promptfoo::{self, Datasets, Options, PromptfooError, Translation, Treatment, project};
use promptops::secret::Secrets;

use super::RunArgs;
use super::backend::BackendOptions;
use super::run::{execute, settings, watch_ctrl_c};
use crate::commands::workspace::report_all;
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, Diagnosed, usage};
use crate::exit::ExitStatus;
use promptops::eval::Cancel;

/// The promptfoo config `eval` should read: `-c FILE`, else `promptfooconfig.yaml` in the
/// project directory (or the current one) when that directory has no promptops.yaml.
pub fn config_to_read(args: &RunArgs, ctx: &Context) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = &args.config {
        if !path.is_file() {
            return Err(usage(
                format!("promptfoo config `{}` not found", path.display()),
                &["give the path of a promptfooconfig.yaml"],
            ));
        }
        return Ok(Some(path.clone()));
    }
    if !args.suites.is_empty() || args.resume.is_some() {
        return Ok(None);
    }
    let dir = match ctx.project_dir() {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()?,
    };
    if dir.join(CONFIG_FILE).is_file() {
        return Ok(None);
    }
    Ok(promptfoo::detect(&dir))
}

/// Translates, reports what was approximated or left out, and evaluates.
pub async fn run(args: RunArgs, ctx: &Context, config: &Path) -> anyhow::Result<ExitStatus> {
    // A found config is translated once; watching it would need a re-translation per change.
    if args.watch {
        return Err(usage(
            format!("--watch does not follow a promptfoo config (`{}`)", config.display()),
            &["run `promptops import promptfoo` once, then `promptops eval --watch` on the imported project"],
        ));
    }
    let mut settings = settings(&args, ctx)?;
    let options = Options { skip_unsupported: args.skip_unsupported, datasets: Datasets::InPlace };
    let translation = translate(ctx, config, options)?;
    report(ctx, &translation, false);
    let dir = project::generated_dir(config, &translation.suite_name);
    project::write_generated(&dir, &project::files(&translation)).diag()?;
    ctx.printer.detail(&format!("generated project: {}", dir.display()));
    let origin = config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let generated = Project::open_with_origin(&dir, origin).diag()?;
    settings.labels = translation.labels.clone();
    let suite = generated.suites_dir().join(format!("{}.yaml", translation.suite_name));
    let backend =
        BackendOptions { no_cache: args.no_cache, max_cost: args.max_cost, secrets: Some(secrets(&translation)) };
    let cancel = Cancel::default();
    watch_ctrl_c(ctx, cancel.clone());
    execute(ctx, &args, &settings, &generated, Some(vec![suite]), &backend, &cancel).await
}

/// The translation of `config`, or every problem printed and a configuration error.
pub fn translate(ctx: &Context, config: &Path, options: Options) -> anyhow::Result<Translation> {
    match promptfoo::translate(config, options) {
        Ok(translation) => Ok(translation),
        Err(err @ PromptfooError::Invalid { .. }) => {
            let PromptfooError::Invalid { problems } = &err;
            let summary = err.to_string();
            let hints =
                if problems.iter().any(|p| p.message.starts_with("unsupported:")) { err.hints() } else { Vec::new() };
            // Every problem is printed; the summary carries the hint that applies to them all.
            drop(report_all(ctx, problems, String::new()));
            Err(Diagnosed::message(ErrorClass::Config, summary, hints).into())
        }
    }
}

/// Prints what was left out (warnings) and approximated; with `everything`, what was converted too.
pub fn report(ctx: &Context, translation: &Translation, everything: bool) {
    let report = &translation.report;
    for item in report.with(Treatment::LeftOut) {
        ctx.printer.warn(&format!("{}: left out: {}", item.place, item.what));
    }
    for item in report.with(Treatment::Approximated) {
        ctx.printer.status(&format!("{}: approximated: {}", item.place, item.what));
    }
    if everything {
        for item in report.with(Treatment::Converted) {
            ctx.printer.status(&format!("{}: converted: {}", item.place, item.what));
        }
    }
}

/// Keys from the config itself first, then the environment and keyring as usual.
fn secrets(translation: &Translation) -> Secrets {
    let process = Secrets::from_process();
    let keys = translation.secrets.clone();
    let env =
        Arc::new(move |name: &str| keys.get(name).map(|k| k.expose().to_owned()).or_else(|| std::env::var(name).ok()));
    Secrets::new(env, Arc::clone(process.keyring()))
}
