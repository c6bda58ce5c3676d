//! Finding and reading workflow files: by name under `workflows/` (the name is the path without
//! `.yaml`, like prompts) or by path, with the source text kept so that later checks can point
//! at a line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::WorkflowError;
use super::graph::WorkflowFile;
use crate::yaml::{Location, Source};

/// A workflow file as read from disk.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Where it came from, as shown in messages (relative to the project when possible).
    pub origin: PathBuf,
    /// The directory it lives in (subgraph paths are relative to it).
    pub dir: PathBuf,
    /// The text as written, with the positions of its keys.
    pub source: Source,
    /// The parsed file.
    pub file: WorkflowFile,
    /// The name its path under `workflows/` implies, when it was found there; `name:` must match.
    pub stem: Option<String>,
}

impl Workflow {
    /// Parses a workflow from its text. Only the YAML shape is checked here; the rules are
    /// checked by [`super::validate`].
    pub fn parse(origin: PathBuf, dir: PathBuf, source: String) -> Result<Self, WorkflowError> {
        let source = Source::new(source);
        let file: WorkflowFile = source.parse(&origin)?;
        Ok(Self { origin, dir, source, file, stem: None })
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// Where a key path is written in the file (best effort).
    pub fn locate(&self, key_path: &[&str]) -> Option<Location> {
        self.source.locate(key_path)
    }

    /// The content hash of the file's text (hex SHA-256), recorded on threads so that a resume
    /// can tell that the file changed since the run started.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.source.as_bytes()))
    }
}

/// Reads the workflow at `path`; `shown` is how messages name it.
pub fn load_file(path: &Path, shown: PathBuf) -> Result<Workflow, WorkflowError> {
    let source = std::fs::read_to_string(path).map_err(|source| WorkflowError::Read { path: shown.clone(), source })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Workflow::parse(shown, dir, source)
}

/// Every workflow file under `dir`, by name (the path without `.yaml`). Hidden files are skipped.
pub fn workflow_names_on_disk(dir: &Path) -> Result<BTreeMap<String, PathBuf>, WorkflowError> {
    let files = crate::fsutil::yaml_files(dir).map_err(|(path, source)| WorkflowError::Read { path, source })?;
    Ok(files.into_iter().collect())
}

/// Whether a command-line argument names a file rather than a workflow.
pub fn looks_like_path(text: &str) -> bool {
    text.ends_with(".yaml")
        || text.ends_with(".yml")
        || text.contains(std::path::MAIN_SEPARATOR) && Path::new(text).is_file()
}

/// The workflow `name` under `workflows_dir` (`root` makes the shown path project-relative).
pub fn load_named(workflows_dir: &Path, root: &Path, name: &str) -> Result<Workflow, WorkflowError> {
    let on_disk = workflow_names_on_disk(workflows_dir)?;
    let Some(path) = on_disk.get(name) else {
        return Err(WorkflowError::NotFound { name: name.to_owned(), known: on_disk.keys().cloned().collect() });
    };
    let mut workflow = load_file(path, shown(root, path))?;
    workflow.stem = Some(name.to_owned());
    Ok(workflow)
}

/// Every workflow under `workflows_dir`; files that fail to parse are returned beside the rest.
pub fn load_all(workflows_dir: &Path, root: &Path) -> Result<(Vec<Workflow>, Vec<WorkflowError>), WorkflowError> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for (name, path) in workflow_names_on_disk(workflows_dir)? {
        match load_file(&path, shown(root, &path)) {
            Ok(mut workflow) => {
                workflow.stem = Some(name);
                loaded.push(workflow);
            }
            Err(err) => errors.push(err),
        }
    }
    Ok((loaded, errors))
}

/// A path relative to the project root, for messages.
pub fn shown(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_paths_under_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("team")).expect("mkdir");
        std::fs::write(dir.path().join("a.yaml"), "x").expect("write");
        std::fs::write(dir.path().join("team/b.yml"), "x").expect("write");
        std::fs::write(dir.path().join(".hidden.yaml"), "x").expect("write");
        let names: Vec<String> = workflow_names_on_disk(dir.path()).expect("list").into_keys().collect();
        assert_eq!(names, vec!["a".to_owned(), "team/b".to_owned()]);
    }

    #[test]
    fn a_missing_workflow_suggests_close_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("essay-refine.yaml"), "x").expect("write");
        let err = load_named(dir.path(), dir.path(), "essay-refin").expect_err("missing");
        use crate::error::Diagnostic;
        assert_eq!(err.hints()[0], "did you mean `essay-refine`?");
    }
}
