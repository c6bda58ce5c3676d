//! `eval --changed`: which suites a change touches. A suite is affected when its file or one of
//! its datasets changed, when one of its target prompts changed, or when a partial that such a
//! prompt includes changed, or a file that its variables name (`file://`); a change to `promptops.yaml` (providers, mock rules) affects every
//! suite. Suites whose files do not parse are kept, so that planning reports their problems.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::suite::LoadedSuite;
use crate::config::{CONFIG_FILE, Project};
use crate::prompt::{self, PARTIALS_DIR, PromptRef};

/// Why a suite was selected, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affected {
    /// The suite file.
    pub path: PathBuf,
    /// What changed that touches it.
    pub because: String,
}

/// The suites among `suite_files` that the `changed` files (absolute paths) touch.
pub fn affected_suites(project: &Project, suite_files: &[PathBuf], changed: &[PathBuf]) -> Vec<Affected> {
    let changed: BTreeSet<PathBuf> = changed.iter().map(|p| normalise(p)).collect();
    let root = normalise(&project.root);
    if changed.contains(&root.join(CONFIG_FILE)) {
        return suite_files
            .iter()
            .map(|p| Affected { path: p.clone(), because: format!("{CONFIG_FILE} changed") })
            .collect();
    }
    let prompts = changed_prompts(project, &changed);
    let mut out = Vec::new();
    for path in suite_files {
        if changed.contains(&normalise(path)) {
            out.push(Affected { path: path.clone(), because: "the suite changed".to_owned() });
            continue;
        }
        let Ok(suite) = LoadedSuite::read(&project.root, path) else { continue };
        let dataset = suite
            .file
            .tests
            .iter()
            .filter_map(|t| t.dataset.as_deref())
            .find(|d| changed.contains(&normalise(&suite.dir.join(d))));
        if let Some(dataset) = dataset {
            out.push(Affected { path: path.clone(), because: format!("dataset `{dataset}` changed") });
            continue;
        }
        if let Some(file) =
            super::file_vars::named(&suite).into_iter().find(|f| changed.contains(&normalise(&suite.dir.join(f))))
        {
            out.push(Affected { path: path.clone(), because: format!("variable file `{file}` changed") });
            continue;
        }
        let target = suite
            .file
            .targets
            .iter()
            .filter_map(|t| t.parse::<PromptRef>().ok())
            .find(|r| prompts.contains(r.name.as_str()));
        if let Some(target) = target {
            out.push(Affected { path: path.clone(), because: format!("prompt `{}` changed", target.name) });
        }
    }
    out
}

/// Names of prompts whose file changed or that include a changed partial.
fn changed_prompts(project: &Project, changed: &BTreeSet<PathBuf>) -> BTreeSet<String> {
    let dir = normalise(&project.prompts_dir());
    let partials_dir = dir.join(PARTIALS_DIR);
    let mut names = BTreeSet::new();
    let mut partials = BTreeSet::new();
    for path in changed {
        if let Ok(partial) = path.strip_prefix(&partials_dir) {
            partials.insert(partial.to_string_lossy().replace('\\', "/"));
        } else if let Ok(relative) = path.strip_prefix(&dir) {
            let text = relative.to_string_lossy().replace('\\', "/");
            if let Some(name) = text.strip_suffix(".yaml").or_else(|| text.strip_suffix(".yml")) {
                names.insert(name.to_owned());
            }
        }
    }
    if !partials.is_empty()
        && let Ok((loaded, _)) = prompt::load_all(&project.prompts_dir())
    {
        for p in loaded {
            if p.partials.keys().any(|k| partials.contains(k)) {
                names.insert(p.name.to_string());
            }
        }
    }
    names
}

/// An absolute path with `.` and `..` resolved lexically (files may no longer exist).
fn normalise(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let canonical_parent = absolute.parent().and_then(|p| p.canonicalize().ok());
    match (canonical_parent, absolute.file_name()) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => absolute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write(CONFIG_FILE, "name: t\n");
        write("prompts/_partials/voice.j2", "Be kind.");
        write("prompts/a.yaml", "messages:\n  - role: user\n    content: '{% include \"voice.j2\" %}'\n");
        write("prompts/b.yaml", "messages:\n  - role: user\n    content: hi\n");
        write("eval-suites/a.yaml", "targets: [a]\ntests:\n  - dataset: data/a.csv\n");
        write("eval-suites/b.yaml", "targets: [b@production]\ntests: []\n");
        write("eval-suites/data/a.csv", "x\n1\n");
        write("eval-suites/c.yaml", "targets: [c]\ntests:\n  - vars: { x: file://data/long.txt }\n");
        write("eval-suites/data/long.txt", "text\n");
        let project = Project::open(root).expect("project");
        (dir, project)
    }

    fn names(found: &[Affected]) -> Vec<String> {
        found
            .iter()
            .map(|a| format!("{}: {}", a.path.file_name().expect("name").to_string_lossy(), a.because))
            .collect()
    }

    #[test]
    fn prompts_partials_datasets_and_config_select_suites() {
        let (_dir, project) = project();
        let suites = super::super::suite::suite_files(&project.suites_dir()).expect("suites");
        let at = |rel: &str| vec![project.root.join(rel)];
        assert_eq!(
            names(&affected_suites(&project, &suites, &at("prompts/b.yaml"))),
            vec!["b.yaml: prompt `b` changed"]
        );
        assert_eq!(
            names(&affected_suites(&project, &suites, &at("prompts/_partials/voice.j2"))),
            vec!["a.yaml: prompt `a` changed"]
        );
        assert_eq!(
            names(&affected_suites(&project, &suites, &at("eval-suites/data/a.csv"))),
            vec!["a.yaml: dataset `data/a.csv` changed"]
        );
        assert_eq!(
            names(&affected_suites(&project, &suites, &at("eval-suites/data/long.txt"))),
            vec!["c.yaml: variable file `data/long.txt` changed"]
        );
        assert_eq!(affected_suites(&project, &suites, &at(CONFIG_FILE)).len(), 3);
        assert!(affected_suites(&project, &suites, &at("README.md")).is_empty());
    }
}
