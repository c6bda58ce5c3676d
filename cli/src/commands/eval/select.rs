//! Which suites an `eval` runs: the ones named (by name or path), else every suite not marked
//! `manual`; with `--changed`/`--staged`/`--since`, only those the change touches.

use std::path::PathBuf;

use promptops::config::Project;
use promptops::eval::EvalError;
use promptops::eval::changed::affected_suites;
use promptops::eval::suite::{LoadedSuite, suite_files};
use promptops::git::{Changes, changed_files};

use crate::context::Context;
use crate::diagnose::DiagnoseExt;

/// How to narrow the suites to a change.
#[derive(Debug, Clone)]
pub struct ChangeFilter {
    /// Which changes count.
    pub changes: Changes,
}

/// The suite files to run.
pub fn suites(
    ctx: &Context,
    project: &Project,
    names: &[String],
    filter: Option<&ChangeFilter>,
) -> anyhow::Result<Vec<PathBuf>> {
    let dir = project.suites_dir();
    let all = suite_files(&dir)?;
    let mut chosen = Vec::new();
    if names.is_empty() {
        // Without suites there is nothing a change could affect: the pre-commit hook passes.
        if all.is_empty() && filter.is_none() {
            return Err(EvalError::NoSuites { dir: project.relative(&dir).to_path_buf() }).diag();
        }
        for path in all.iter() {
            // A suite that does not parse is kept so that planning reports it.
            let manual = LoadedSuite::read(&project.root, path).is_ok_and(|s| s.file.manual);
            if !manual {
                chosen.push(path.clone());
            }
        }
    } else {
        for name in names {
            chosen.push(find(project, &all, name)?);
        }
    }
    let Some(filter) = filter else { return Ok(chosen) };
    // Changes are git's, found in the project's own tree; a staged copy gets them rebased.
    let origin = project.origin_root();
    let changed: Vec<PathBuf> = changed_files(origin, &filter.changes)
        .diag()?
        .into_iter()
        .map(|path| match path.strip_prefix(origin) {
            Ok(relative) => project.root.join(relative),
            Err(_) => path,
        })
        .collect();
    let affected = affected_suites(project, &chosen, &changed);
    for a in &affected {
        ctx.printer.detail(&format!("{}: {}", project.relative(&a.path).display(), a.because));
    }
    Ok(affected.into_iter().map(|a| a.path).collect())
}

fn find(project: &Project, all: &[PathBuf], name: &str) -> anyhow::Result<PathBuf> {
    let as_path = PathBuf::from(name);
    if as_path.is_file() {
        return Ok(std::path::absolute(&as_path)?);
    }
    let stem = name.trim_end_matches(".yaml").trim_end_matches(".yml");
    if let Some(found) = all.iter().find(|p| p.file_stem().is_some_and(|s| s == stem)) {
        return Ok(found.clone());
    }
    let known = all.iter().filter_map(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned()).collect();
    let _ = project;
    Err(EvalError::UnknownSuite { name: name.to_owned(), known }).diag()
}
