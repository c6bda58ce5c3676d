//! Which suites an `eval` runs: the ones named (by name or path), else every suite not marked
//! `manual`; with `--changed`/`--staged`/`--since`, only those the change touches.

use std::path::PathBuf;

use promptops::config::Project;
use promptops::eval::EvalError;
use promptops::eval::changed::affected_suites;
use promptops::eval::suite::{LoadedSuite, suite_files};
use promptops::git::{Changes, changed_files};
use promptops::yaml::YamlError;

use crate::context::Context;
use crate::diagnose::DiagnoseExt;

/// How to narrow the suites to a change.
#[derive(Debug, Clone)]
pub struct ChangeFilter {
    /// Which changes count.
    pub changes: Changes,
}

/// A suite file chosen to run, with what reading it found if choosing it took a read: a
/// 10,000-case suite is parsed once, not once to see whether it is `manual` and again to plan.
#[derive(Debug)]
pub struct Chosen {
    /// The suite file.
    pub path: PathBuf,
    /// [`LoadedSuite::read_all`]'s result, when it was read.
    pub read: Option<(Option<LoadedSuite>, Vec<YamlError>)>,
}

impl Chosen {
    /// A suite file not read yet.
    pub fn unread(path: PathBuf) -> Self {
        Self { path, read: None }
    }

    /// The suite and every problem of its shape, read now unless it was read when chosen.
    pub fn read(self, project: &Project) -> (Option<LoadedSuite>, Vec<YamlError>) {
        self.read.unwrap_or_else(|| LoadedSuite::read_all(&project.root, &self.path))
    }
}

/// The suite files to run.
pub fn suites(
    ctx: &Context,
    project: &Project,
    names: &[String],
    filter: Option<&ChangeFilter>,
) -> anyhow::Result<Vec<Chosen>> {
    let dir = project.suites_dir();
    let all = suite_files(&dir)?;
    let mut chosen = Vec::new();
    if names.is_empty() {
        // Without suites there is nothing a change could affect: the pre-commit hook passes.
        if all.is_empty() && filter.is_none() {
            return Err(EvalError::NoSuites { dir: project.relative(&dir).to_path_buf() }).diag();
        }
        for path in all.iter() {
            let (suite, problems) = LoadedSuite::read_all(&project.root, path);
            // A suite with problems is kept so that planning reports them.
            let manual = problems.is_empty() && suite.as_ref().is_some_and(|s| s.file.manual);
            if !manual {
                chosen.push(Chosen { path: path.clone(), read: Some((suite, problems)) });
            }
        }
    } else {
        for name in names {
            chosen.push(Chosen::unread(find(project, &all, name)?));
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
    let paths: Vec<PathBuf> = chosen.iter().map(|c| c.path.clone()).collect();
    let affected = affected_suites(project, &paths, &changed);
    for a in &affected {
        ctx.printer.detail(&format!("{}: {}", project.relative(&a.path).display(), a.because));
    }
    chosen.retain(|c| affected.iter().any(|a| a.path == c.path));
    Ok(chosen)
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
