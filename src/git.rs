//! The git repository a project lives in, read through the `git` command: the commit a run was
//! made at, the files a change touches (`eval --changed`, `--since REF`, `--staged`), and the
//! pre-commit hook (`hook install` / `hook uninstall`), which chains any hook already there.
//! A project outside git is normal: every query then answers "nothing".

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Diagnostic, ErrorClass};

/// A git command that failed, or a repository in a state promptops cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// Not inside a git work tree.
    #[error("`{}` is not inside a git repository", dir.display())]
    NotARepository {
        /// Where we looked.
        dir: PathBuf,
    },
    /// git answered with an error.
    #[error("`git {args}` failed: {message}")]
    Failed {
        /// The arguments.
        args: String,
        /// What git said.
        message: String,
    },
    /// A hook file could not be written or moved.
    #[error("cannot update the hook `{}`", path.display())]
    Hook {
        /// The hook file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for GitError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Usage
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::NotARepository { .. } => {
                vec![
                    "run `git init` in the project first: the hook and git-based selection need a repository"
                        .to_owned(),
                ]
            }
            Self::Failed { args, .. } if args.contains("merge-base") => {
                vec!["check that the `--since` ref exists (in CI, fetch it: `git fetch origin main`)".to_owned()]
            }
            _ => Vec::new(),
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|err| GitError::Failed { args: args.join(" "), message: err.to_string() })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if message.contains("not a git repository") {
            return Err(GitError::NotARepository { dir: dir.to_path_buf() });
        }
        return Err(GitError::Failed { args: args.join(" "), message });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The commit `HEAD` points at and whether the work tree has uncommitted changes; `None`
/// outside git or before the first commit.
pub fn head(dir: &Path) -> Option<(String, bool)> {
    let commit = git(dir, &["rev-parse", "HEAD"]).ok()?.trim().to_owned();
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.trim().is_empty()).unwrap_or(false);
    Some((commit, dirty))
}

/// The top of the work tree.
pub fn toplevel(dir: &Path) -> Result<PathBuf, GitError> {
    Ok(PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?.trim()))
}

/// Which changes count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Staged changes only (the pre-commit hook).
    Staged,
    /// Everything not committed: staged, unstaged and untracked files.
    Uncommitted,
    /// Everything since the merge base with a ref (a pull request), plus uncommitted changes.
    Since(String),
}

/// The files (absolute paths) that the changes touch, deleted ones included.
pub fn changed_files(dir: &Path, changes: &Changes) -> Result<Vec<PathBuf>, GitError> {
    let top = toplevel(dir)?;
    let mut names: Vec<String> = Vec::new();
    let mut add = |text: String| names.extend(text.lines().map(str::to_owned).filter(|l| !l.is_empty()));
    match changes {
        Changes::Staged => add(git(&top, &["diff", "--cached", "--name-only", "--no-renames"])?),
        Changes::Uncommitted | Changes::Since(_) => {
            let base = match changes {
                Changes::Since(reference) => git(&top, &["merge-base", reference, "HEAD"])?.trim().to_owned(),
                _ => "HEAD".to_owned(),
            };
            // Before the first commit there is no HEAD to compare with: everything is new.
            match git(&top, &["diff", "--name-only", "--no-renames", &base]) {
                Ok(text) => add(text),
                Err(_) if base == "HEAD" => add(git(&top, &["ls-files"])?),
                Err(err) => return Err(err),
            }
            add(git(&top, &["ls-files", "--others", "--exclude-standard"])?);
        }
    }
    names.sort();
    names.dedup();
    Ok(names.into_iter().map(|n| top.join(n)).collect())
}

/// The project as it is staged: the index's copy of every tracked file under the project, in a
/// temporary directory that lives as long as this value. What a commit would contain, so the
/// pre-commit hook evaluates that and not the working copy.
#[derive(Debug)]
pub struct StagedTree {
    /// The project's root inside the temporary directory.
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

/// The staged project of `project_root`, or `None` when the index and the work tree hold the
/// same project files (nothing unstaged, nothing untracked), so the work tree can be used as it
/// is. Files under the project that git ignores (the store in `.promptops/`) are not part of it.
pub fn staged_tree(project_root: &Path) -> Result<Option<StagedTree>, GitError> {
    let unstaged = git(project_root, &["diff", "--name-only", "--no-renames", "--", "."])?;
    let untracked = git(project_root, &["ls-files", "--others", "--exclude-standard", "--", "."])?;
    if unstaged.trim().is_empty() && untracked.trim().is_empty() {
        return Ok(None);
    }
    let top = toplevel(project_root)?;
    let prefix = git(project_root, &["rev-parse", "--show-prefix"])?.trim().to_owned();
    let dir = tempfile::Builder::new()
        .prefix("promptops-staged-")
        .tempdir()
        .map_err(|err| GitError::Failed { args: "checkout-index".to_owned(), message: err.to_string() })?;
    // `checkout-index` writes the index's blobs (not the work tree's files) below the prefix.
    let mut prefix_arg = dir.path().display().to_string();
    prefix_arg.push('/');
    let files = git(project_root, &["ls-files", "--cached", "--full-name", "--", "."])?;
    let mut args = vec!["checkout-index".to_owned(), format!("--prefix={prefix_arg}"), "--".to_owned()];
    args.extend(files.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    git(&top, &args)?;
    let root = dir.path().join(prefix.trim_end_matches('/'));
    std::fs::create_dir_all(&root)
        .map_err(|err| GitError::Failed { args: "checkout-index".to_owned(), message: err.to_string() })?;
    Ok(Some(StagedTree { root, _dir: dir }))
}

/// The first line of every hook promptops writes, so it knows its own hooks.
pub const HOOK_MARKER: &str = "# promptops pre-commit hook";
/// Where an existing hook is kept while promptops's hook chains it.
pub const CHAINED_SUFFIX: &str = ".promptops-chained";

/// What `hook install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookInstall {
    /// Wrote a new hook.
    Installed(PathBuf),
    /// Moved an existing hook aside and wrote one that runs it first.
    Chained {
        /// The new hook.
        hook: PathBuf,
        /// Where the old hook now lives.
        previous: PathBuf,
    },
    /// Our hook was already there; it was rewritten.
    Updated(PathBuf),
}

/// The hooks directory of the repository (honours `core.hooksPath` and worktrees).
pub fn hooks_dir(dir: &Path) -> Result<PathBuf, GitError> {
    let path = PathBuf::from(git(dir, &["rev-parse", "--git-path", "hooks"])?.trim());
    Ok(if path.is_absolute() { path } else { dir.join(path) })
}

/// The hook script: runs a chained hook first, then `promptops eval --changed --staged` with
/// the binary that installed it (or the one on PATH if that one moved). The project is named
/// relative to the top of the work tree (where git runs hooks), so the repository can be moved
/// or copied.
pub fn hook_script(binary: &Path, project: &Path) -> String {
    let quote = |path: &Path| path.display().to_string().replace('\'', "'\\''");
    let (binary, project) = (quote(binary), quote(project));
    format!(
        "#!/bin/sh\n{HOOK_MARKER}: `promptops hook uninstall` removes it and restores any hook it chained.\n\
         chained=\"$(dirname \"$0\")/pre-commit{CHAINED_SUFFIX}\"\n\
         if [ -x \"$chained\" ]; then \"$chained\" \"$@\" || exit $?; fi\n\
         promptops='{binary}'\n\
         [ -x \"$promptops\" ] || promptops=promptops\n\
         exec \"$promptops\" --project \"$(git rev-parse --show-toplevel)\"/'{project}' eval --changed --staged\n"
    )
}

/// Installs the pre-commit hook, chaining a hook that is already there.
pub fn install_hook(dir: &Path, binary: &Path, project: &Path) -> Result<HookInstall, GitError> {
    let top = toplevel(dir)?;
    let project = std::fs::canonicalize(project).unwrap_or_else(|_| project.to_path_buf());
    let within = project.strip_prefix(std::fs::canonicalize(&top).unwrap_or(top)).unwrap_or(Path::new(""));
    let project = if within.as_os_str().is_empty() { Path::new(".") } else { within };
    let hooks = hooks_dir(dir)?;
    let hook = hooks.join("pre-commit");
    let previous = hooks.join(format!("pre-commit{CHAINED_SUFFIX}"));
    let io = |source| GitError::Hook { path: hook.clone(), source };
    std::fs::create_dir_all(&hooks).map_err(io)?;
    let existing = std::fs::read_to_string(&hook).ok();
    let outcome = match &existing {
        Some(text) if text.contains(HOOK_MARKER) => HookInstall::Updated(hook.clone()),
        Some(_) => {
            if previous.exists() {
                return Err(GitError::Hook {
                    path: previous.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "a chained hook is already kept there",
                    ),
                });
            }
            std::fs::rename(&hook, &previous).map_err(io)?;
            HookInstall::Chained { hook: hook.clone(), previous }
        }
        None => HookInstall::Installed(hook.clone()),
    };
    crate::fsutil::write_atomic(&hook, hook_script(binary, project).as_bytes()).map_err(io)?;
    make_executable(&hook).map_err(io)?;
    Ok(outcome)
}

/// Removes promptops's hook and puts back the one it chained. Returns whether a hook was
/// restored, or `None` when promptops's hook was not installed.
pub fn uninstall_hook(dir: &Path) -> Result<Option<bool>, GitError> {
    let hooks = hooks_dir(dir)?;
    let hook = hooks.join("pre-commit");
    let previous = hooks.join(format!("pre-commit{CHAINED_SUFFIX}"));
    let io = |source| GitError::Hook { path: hook.clone(), source };
    match std::fs::read_to_string(&hook) {
        Ok(text) if text.contains(HOOK_MARKER) => {}
        _ => return Ok(None),
    }
    if previous.exists() {
        std::fs::rename(&previous, &hook).map_err(io)?;
        return Ok(Some(true));
    }
    std::fs::remove_file(&hook).map_err(io)?;
    Ok(Some(false))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_mode(permissions.mode() | 0o111);
    std::fs::set_permissions(path, permissions)
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for args in [&["init", "-q"][..], &["config", "user.email", "t@example.com"], &["config", "user.name", "t"]] {
            git(dir.path(), args).expect("git");
        }
        dir
    }

    #[test]
    fn changes_are_listed_by_kind() {
        let dir = repo();
        std::fs::write(dir.path().join("a.txt"), "1").expect("write");
        let all = changed_files(dir.path(), &Changes::Uncommitted).expect("changes");
        assert!(all.iter().any(|p| p.ends_with("a.txt")), "{all:?}");
        git(dir.path(), &["add", "a.txt"]).expect("add");
        git(dir.path(), &["commit", "-qm", "one"]).expect("commit");
        assert!(head(dir.path()).is_some_and(|(c, dirty)| c.len() == 40 && !dirty));
        std::fs::write(dir.path().join("b.txt"), "2").expect("write");
        std::fs::write(dir.path().join("a.txt"), "changed").expect("write");
        git(dir.path(), &["add", "b.txt"]).expect("add");
        let staged = changed_files(dir.path(), &Changes::Staged).expect("staged");
        assert_eq!(staged.iter().map(|p| p.file_name().expect("name").to_owned()).collect::<Vec<_>>(), vec!["b.txt"]);
        assert_eq!(changed_files(dir.path(), &Changes::Uncommitted).expect("all").len(), 2);
    }

    #[test]
    fn hooks_chain_and_restore() {
        let dir = repo();
        let hooks = hooks_dir(dir.path()).expect("hooks");
        std::fs::create_dir_all(&hooks).expect("mkdir");
        std::fs::write(hooks.join("pre-commit"), "#!/bin/sh\necho mine\n").expect("write");
        let outcome = install_hook(dir.path(), Path::new("/usr/bin/promptops"), dir.path()).expect("install");
        assert!(matches!(outcome, HookInstall::Chained { .. }), "{outcome:?}");
        let text = std::fs::read_to_string(hooks.join("pre-commit")).expect("read");
        assert!(text.contains(HOOK_MARKER) && text.contains("eval --changed --staged"), "{text}");
        assert!(matches!(install_hook(dir.path(), Path::new("/x"), dir.path()), Ok(HookInstall::Updated(_))));
        assert_eq!(uninstall_hook(dir.path()).expect("uninstall"), Some(true));
        assert_eq!(std::fs::read_to_string(hooks.join("pre-commit")).expect("read"), "#!/bin/sh\necho mine\n");
        assert_eq!(uninstall_hook(dir.path()).expect("again"), None);
    }

    #[test]
    fn outside_git_there_is_no_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(head(dir.path()).is_none());
        assert!(matches!(changed_files(dir.path(), &Changes::Staged), Err(GitError::NotARepository { .. })));
    }
}
