//! What `eval --watch` looks at: a snapshot of the project's files (size and modification time),
//! and the files that differ between two snapshots. Polling, not OS notifications: it needs no
//! platform code, works the same in containers and on network file systems, and a project's
//! prompts and suites are few enough to stat every quarter second. Hidden directories (the
//! store in `.promptops/`, `.git/`) and build output are not watched: the runs themselves write
//! there. Which suites a change touches is [`super::changed::affected_suites`]' business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Directories never watched besides hidden ones: build output and installed packages.
const SKIPPED: &[&str] = &["target", "node_modules", "__pycache__"];

/// At most this many files are watched: a project root pointed at a home directory must not
/// turn every poll into a walk of the whole disk.
pub const MAX_FILES: usize = 20_000;

/// The project's files as they were at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
}

impl Snapshot {
    /// Stats every watched file under `root`.
    pub fn take(root: &Path) -> Self {
        let mut files = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                // `file_type` does not follow symbolic links, so a link to a directory is not walked.
                let Ok(kind) = entry.file_type() else { continue };
                if kind.is_dir() {
                    if !name.starts_with('.') && !SKIPPED.contains(&name.as_ref()) {
                        pending.push(entry.path());
                    }
                } else if files.len() < MAX_FILES
                    && let Ok(meta) = std::fs::metadata(entry.path())
                {
                    files.insert(entry.path(), (meta.len(), meta.modified().ok()));
                }
            }
        }
        Self { files }
    }

    /// The files added, changed or removed since `before`, in path order.
    pub fn changed_since(&self, before: &Snapshot) -> Vec<PathBuf> {
        let mut changed: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(path, stamp)| before.files.get(*path) != Some(stamp))
            .map(|(path, _)| path.clone())
            .collect();
        changed.extend(before.files.keys().filter(|path| !self.files.contains_key(*path)).cloned());
        changed.sort();
        changed
    }

    /// How many files are watched.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file is watched.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_additions_and_removals_are_seen_and_hidden_directories_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("prompts")).expect("mkdir");
        std::fs::create_dir_all(root.join(".promptops")).expect("mkdir");
        std::fs::write(root.join("prompts/a.yaml"), "a").expect("write");
        std::fs::write(root.join("prompts/b.yaml"), "b").expect("write");
        let before = Snapshot::take(root);
        assert_eq!(before.len(), 2);
        std::fs::write(root.join("prompts/a.yaml"), "a changed").expect("write");
        std::fs::remove_file(root.join("prompts/b.yaml")).expect("remove");
        std::fs::write(root.join("prompts/c.yaml"), "c").expect("write");
        std::fs::write(root.join(".promptops/store.db"), "runs").expect("write");
        let after = Snapshot::take(root);
        let names: Vec<String> = after
            .changed_since(&before)
            .iter()
            .map(|p| p.strip_prefix(root).expect("inside").display().to_string())
            .collect();
        assert_eq!(names, ["prompts/a.yaml", "prompts/b.yaml", "prompts/c.yaml"]);
        assert!(Snapshot::take(root).changed_since(&after).is_empty(), "nothing changed since");
    }
}
