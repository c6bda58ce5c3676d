//! Dynamic shell completion: the shell asks the binary itself (`COMPLETE=zsh promptops -- …`,
//! clap_complete's protocol), which answers with the names of the project in the current
//! directory: prompts, suites, workflows, remotes and stored runs. A question it cannot answer
//! (no project here, an unreadable store) gets no candidates, never an error.

use std::path::Path;
use std::sync::Arc;

use clap_complete::CompletionCandidate;
use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::config::Project;
use promptops::service::{LocalRuns, RunService};
use promptops::store::SqliteStore;

/// How many recent runs are offered.
const RECENT_RUNS: u32 = 30;

fn project() -> Option<Project> {
    let dir =
        std::env::var_os(promptops::env::PROJECT).map_or_else(|| std::env::current_dir().ok(), |d| Some(d.into()));
    Project::discover(&dir?).ok()
}

fn names_under(dir: impl Fn(&Project) -> std::path::PathBuf) -> Vec<CompletionCandidate> {
    let Some(project) = project() else { return Vec::new() };
    yaml_names(&dir(&project))
}

fn yaml_names(dir: &Path) -> Vec<CompletionCandidate> {
    promptops::fsutil::yaml_files(dir)
        .map(|files| files.into_iter().map(|(name, _)| CompletionCandidate::new(name)).collect())
        .unwrap_or_default()
}

/// Prompt names (files under `prompts/`).
pub fn prompts() -> Vec<CompletionCandidate> {
    names_under(Project::prompts_dir)
}

/// Eval-suite names (files under `eval-suites/`).
pub fn suites() -> Vec<CompletionCandidate> {
    names_under(Project::suites_dir)
}

/// Workflow names (files under `workflows/`).
pub fn workflows() -> Vec<CompletionCandidate> {
    names_under(Project::workflows_dir)
}

/// Remote names (`remotes:` of promptops.yaml), with their URLs as help.
pub fn remotes() -> Vec<CompletionCandidate> {
    let Some(project) = project() else { return Vec::new() };
    project
        .config
        .remotes
        .iter()
        .map(|(name, remote)| CompletionCandidate::new(name).help(Some(remote.url.clone().into())))
        .collect()
}

/// The newest stored runs (numbers, with suite and status as help), and `latest`.
pub fn runs() -> Vec<CompletionCandidate> {
    let Some(project) = project().filter(|p| p.database_path().is_file()) else { return Vec::new() };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else { return Vec::new() };
    let runs = runtime.block_on(async {
        let store = SqliteStore::open(project.database_path()).await.ok()?;
        let scope = Principal::local("completion").authorize(Action::Read, LOCAL_PROJECT).ok()?;
        LocalRuns::new(Arc::new(store), scope).runs(None, RECENT_RUNS).await.ok()
    });
    let mut candidates = vec![CompletionCandidate::new("latest").help(Some("the newest run".into()))];
    candidates.extend(runs.unwrap_or_default().into_iter().map(|run| {
        let help = format!("{} · {}", run.draft.suite, run.status.as_str());
        CompletionCandidate::new(run.id.to_string()).help(Some(help.into()))
    }));
    candidates
}
