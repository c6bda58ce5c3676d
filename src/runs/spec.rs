//! What a client sends to run a suite on the server: the files the plan reads (the suite, its
//! datasets and variable files, its working-copy prompts and the partials), the choices of the
//! command line, and the plan's hash. The server plans the same suite from the same files and
//! refuses the run unless it arrives at the same hash, so it runs exactly what the client planned.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunsError;
use crate::eval::suite::LoadedSuite;
use crate::eval::{Overrides, Subset};
use crate::prompt::{PARTIALS_DIR, PromptRef, Selector};

/// Most files a spec may carry.
pub const MAX_FILES: usize = 10_000;

/// A suite to run on the server, with everything it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The suite file, relative to the project root (`eval-suites/smoke.yaml`).
    pub suite: String,
    /// Every file the plan reads, by path relative to the project root, with its text.
    pub files: BTreeMap<String, String>,
    /// `defaults.provider` of the client's `promptops.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_provider: Option<String>,
    /// The command line's choices.
    #[serde(default)]
    pub overrides: SpecOverrides,
    /// The hash of the client's plan: the server's must equal it.
    pub plan_hash: String,
    /// The client's git commit, and whether its tree was dirty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Whether the client's tree had uncommitted changes.
    #[serde(default)]
    pub git_dirty: bool,
}

/// [`Overrides`] as a spec carries them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecOverrides {
    /// `--provider`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// `--repeat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// `--tag`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `--filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// `--filter-first-n N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_n: Option<usize>,
    /// `--filter-sample N` with its seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<(usize, u64)>,
    /// The suite's targets replaced, as an A/B arm runs it (`ab --on-server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
}

impl From<&Overrides> for SpecOverrides {
    fn from(o: &Overrides) -> Self {
        let (first_n, sample) = match o.subset {
            Some(Subset::FirstN(n)) => (Some(n), None),
            Some(Subset::Sample { n, seed }) => (None, Some((n, seed))),
            None => (None, None),
        };
        Self {
            providers: o.providers.clone(),
            repeat: o.repeat,
            tags: o.tags.clone(),
            filter: o.filter.clone(),
            first_n,
            sample,
            targets: None,
        }
    }
}

impl From<&SpecOverrides> for Overrides {
    fn from(o: &SpecOverrides) -> Self {
        let subset = match (o.first_n, o.sample) {
            (Some(n), _) => Some(Subset::FirstN(n)),
            (None, Some((n, seed))) => Some(Subset::Sample { n, seed }),
            (None, None) => None,
        };
        Self {
            providers: o.providers.clone(),
            repeat: o.repeat,
            tags: o.tags.clone(),
            filter: o.filter.clone(),
            subset,
        }
    }
}

impl RunSpec {
    /// The spec of `suite` (read from `root`): the suite and the files it names. Files that do
    /// not exist are left out; planning on the server reports them as it would here.
    pub fn bundle(root: &Path, suite: &LoadedSuite) -> Result<BTreeMap<String, String>, RunsError> {
        let mut files = BTreeMap::new();
        let mut add = |path: PathBuf| -> Result<(), RunsError> {
            let Ok(relative) = path.strip_prefix(root) else { return Ok(()) };
            let key = relative.to_string_lossy().replace('\\', "/");
            if files.contains_key(&key) || !path.is_file() {
                return Ok(());
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|err| RunsError::Bundle { path: key.clone(), reason: err.to_string() })?;
            files.insert(key, text);
            Ok(())
        };
        add(root.join(&suite.path))?;
        for dataset in suite.file.tests.iter().filter_map(|t| t.dataset.as_deref()) {
            add(suite.dir.join(dataset))?;
        }
        for file in crate::eval::file_vars::named(suite) {
            add(suite.dir.join(file))?;
        }
        let prompts = root.join("prompts");
        for target in suite.file.targets.iter().filter_map(|t| t.parse::<PromptRef>().ok()) {
            if target.selector == Selector::WorkingCopy {
                for extension in ["yaml", "yml"] {
                    add(prompts.join(format!("{}.{extension}", target.name)))?;
                }
            }
        }
        for partial in files_under(&prompts.join(PARTIALS_DIR)) {
            add(partial)?;
        }
        Ok(files)
    }

    /// Checks what a client sent before anything is written: a suite among the files, and only
    /// plain relative paths (no `..`, no absolute or hidden escape), at most [`MAX_FILES`].
    pub fn check(&self) -> Result<(), RunsError> {
        if self.files.len() > MAX_FILES {
            return Err(RunsError::invalid("files", format!("a spec carries at most {MAX_FILES} files")));
        }
        for path in self.files.keys() {
            let relative = relative_path(path).ok_or_else(|| {
                RunsError::invalid(&format!("files.{path}"), "is not a plain relative path inside the project")
            })?;
            // `a` and `a/b` cannot both be files.
            if let Some(file) = relative.ancestors().skip(1).find(|a| self.files.contains_key(&*a.to_string_lossy())) {
                let message = format!("is inside `{}`, which is a file of the spec", file.display());
                return Err(RunsError::invalid(&format!("files.{path}"), message));
            }
        }
        if self.overrides.targets.as_ref().is_some_and(|t| t.is_empty() || t.iter().any(|t| t.trim().is_empty())) {
            return Err(RunsError::invalid("overrides.targets", "must list at least one target, none of them empty"));
        }
        if !self.files.contains_key(&self.suite) {
            return Err(RunsError::invalid("suite", format!("`{}` is not among the spec's files", self.suite)));
        }
        Ok(())
    }

    /// Writes the spec's files under `root` (a fresh directory), as a project the planner reads.
    pub fn materialise(&self, root: &Path) -> Result<(), RunsError> {
        self.check()?;
        for (path, text) in &self.files {
            let relative = relative_path(path).expect("checked above");
            let target = root.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|err| RunsError::io("create a spec directory", err))?;
            }
            std::fs::write(&target, text).map_err(|err| RunsError::io("write a spec file", err))?;
        }
        Ok(())
    }
}

/// The regular files under `dir`, at any depth (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}

/// `path` as a relative path of plain components, or none.
fn relative_path(path: &str) -> Option<PathBuf> {
    let candidate = Path::new(path);
    let plain =
        !path.is_empty() && !path.contains('\\') && candidate.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| candidate.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(files: &[(&str, &str)]) -> RunSpec {
        RunSpec {
            suite: "eval-suites/s.yaml".into(),
            files: files.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())).collect(),
            default_provider: None,
            overrides: SpecOverrides::default(),
            plan_hash: "h".into(),
            git_commit: None,
            git_dirty: false,
        }
    }

    #[test]
    fn paths_that_leave_the_project_are_refused() {
        for bad in ["../etc/passwd", "/etc/passwd", "eval-suites/../../x", "", "a\\..\\b", "./x"] {
            let checked = spec(&[("eval-suites/s.yaml", ""), (bad, "x")]).check();
            assert!(checked.is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_file_inside_another_file_is_refused() {
        let err = spec(&[("eval-suites/s.yaml", ""), ("a", "x"), ("a/b", "y")]).check().expect_err("a is a file");
        assert_eq!(err.to_string(), "`files.a/b` is inside `a`, which is a file of the spec");
    }

    #[test]
    fn a_spec_without_its_suite_is_refused() {
        let err = spec(&[("eval-suites/other.yaml", "")]).check().expect_err("no suite");
        assert!(err.to_string().contains("not among the spec's files"), "{err}");
    }

    #[test]
    fn an_arms_targets_must_name_something() {
        for targets in [vec![], vec!["a".to_owned(), " ".to_owned()]] {
            let mut spec = spec(&[("eval-suites/s.yaml", "")]);
            spec.overrides.targets = Some(targets);
            let err = spec.check().expect_err("refused");
            assert_eq!(err.to_string(), "`overrides.targets` must list at least one target, none of them empty");
        }
    }

    #[test]
    fn files_are_written_under_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        spec(&[("eval-suites/s.yaml", "targets: [a]\n"), ("prompts/a.yaml", "x")]).materialise(dir.path()).expect("ok");
        assert_eq!(std::fs::read_to_string(dir.path().join("prompts/a.yaml")).expect("read"), "x");
    }

    #[test]
    fn overrides_survive_the_trip_through_a_spec() {
        let overrides = Overrides {
            providers: vec!["p".into()],
            repeat: Some(2),
            tags: vec!["t".into()],
            filter: Some("f".into()),
            subset: Some(Subset::Sample { n: 3, seed: 9 }),
        };
        let back = Overrides::from(&SpecOverrides::from(&overrides));
        assert_eq!(format!("{back:?}"), format!("{overrides:?}"));
    }
}
