//! A [`Translation`] as the files of a promptops project (`promptops.yaml`, `prompts/`,
//! `eval-suites/`, copied datasets and scripts), written all or nothing: every file is made in a
//! staging directory first, an existing file is never overwritten, and a failure part way
//! removes what was placed. `eval -c` regenerates its own copy under `.promptops/promptfoo/`.

use std::path::{Path, PathBuf};

use super::Translation;
use crate::config::{CONFIG_FILE, STATE_DIR};
use crate::error::{Diagnostic, ErrorClass};

/// Why the project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Files to be written exist already; nothing was written.
    #[error("{} file(s) of the import exist already in `{}`; nothing was written", paths.len(), dir.display())]
    Exists {
        /// The directory.
        dir: PathBuf,
        /// The files, relative to it.
        paths: Vec<PathBuf>,
    },
    /// A file could not be read or written; nothing was left behind.
    #[error("cannot write `{}`", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for WriteError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Exists { .. } => ErrorClass::Usage,
            Self::Io { .. } => ErrorClass::Config,
        }
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Exists { paths, .. } => {
                let shown: Vec<String> = paths.iter().take(5).map(|p| p.display().to_string()).collect();
                vec![
                    format!("existing: {}", shown.join(", ")),
                    "import into an empty directory with `--into DIR`".to_owned(),
                ]
            }
            Self::Io { .. } => Vec::new(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.to_path_buf(), source }
}

/// A file of the project: its path relative to the root, and where its bytes come from.
#[derive(Debug, Clone)]
pub enum FileContent {
    /// Text made here.
    Text(String),
    /// A copy of a file on disk.
    Copy(PathBuf),
}

/// Every file of the project made from `translation`.
pub fn files(translation: &Translation) -> Vec<(PathBuf, FileContent)> {
    let header = |schema: &str| {
        format!(
            "# yaml-language-server: $schema={schema}\n# Translated from {} by promptops.\n",
            translation.config_path.display()
        )
    };
    let mut out = vec![(
        PathBuf::from(CONFIG_FILE),
        FileContent::Text(header("./schemas/promptops.schema.json") + &crate::yaml::to_string(&translation.project)),
    )];
    for (name, file) in &translation.prompts {
        let path = PathBuf::from("prompts").join(format!("{name}.yaml"));
        out.push((path, FileContent::Text(crate::yaml::to_string(file))));
    }
    let suite = PathBuf::from("eval-suites").join(format!("{}.yaml", translation.suite_name));
    out.push((suite, FileContent::Text(crate::yaml::to_string(&translation.suite))));
    for copy in &translation.copies {
        out.push((copy.to.clone(), FileContent::Copy(copy.from.clone())));
    }
    for (path, text) in &translation.extra_files {
        out.push((path.clone(), FileContent::Text(text.clone())));
    }
    out.push((PathBuf::from(".gitignore"), FileContent::Text(format!("{STATE_DIR}/\n"))));
    out
}

/// Writes `files` into `dir` (made if missing), refusing if any of them exists there.
pub fn write_new(dir: &Path, files: &[(PathBuf, FileContent)]) -> Result<(), WriteError> {
    let existing: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).filter(|p| dir.join(p).exists()).collect();
    if !existing.is_empty() {
        return Err(WriteError::Exists { dir: dir.to_path_buf(), paths: existing });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let staging = tempfile::Builder::new().prefix(".promptops-import-").tempdir_in(dir).map_err(io(dir))?;
    stage(staging.path(), files)?;
    let mut placed: Vec<PathBuf> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    for (relative, _) in files {
        let target = dir.join(relative);
        let result = make_parents(dir, relative, &mut made_dirs)
            .and_then(|()| std::fs::rename(staging.path().join(relative), &target));
        if let Err(source) = result {
            for done in placed.iter().rev() {
                let _ = std::fs::remove_file(done);
            }
            for made in made_dirs.iter().rev() {
                let _ = std::fs::remove_dir(made);
            }
            return Err(WriteError::Io { path: target, source });
        }
        placed.push(target);
    }
    Ok(())
}

/// Creates the missing parents of `relative` under `dir`, remembering which it made.
fn make_parents(dir: &Path, relative: &Path, made: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut current = dir.to_path_buf();
    for part in relative.parent().into_iter().flat_map(Path::components) {
        current.push(part);
        if !current.exists() {
            std::fs::create_dir(&current)?;
            made.push(current.clone());
        }
    }
    Ok(())
}

fn stage(root: &Path, files: &[(PathBuf, FileContent)]) -> Result<(), WriteError> {
    for (relative, content) in files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        match content {
            FileContent::Text(text) => std::fs::write(&path, text).map_err(io(&path))?,
            FileContent::Copy(from) => drop(std::fs::copy(from, &path).map_err(io(from))?),
        }
    }
    Ok(())
}

/// Where `eval -c` keeps the project generated from the config `config_path`.
pub fn generated_dir(config_path: &Path, suite_name: &str) -> PathBuf {
    let base = config_path.parent().unwrap_or(Path::new("."));
    base.join(STATE_DIR).join("promptfoo").join(suite_name)
}

/// Replaces the generated project at `dir` with `files` (staged beside it, then swapped in).
pub fn write_generated(dir: &Path, files: &[(PathBuf, FileContent)]) -> Result<(), WriteError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let staging = tempfile::Builder::new().prefix(".generating-").tempdir_in(parent).map_err(io(parent))?;
    stage(staging.path(), files)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(io(dir))
}
