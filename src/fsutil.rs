//! Atomic file writes (DESIGN boundary 7): write a temporary file beside the target, fsync it,
//! rename it over the target, fsync the directory. A crash or error half way leaves the old
//! file intact and no temporary file behind. Also the walk that finds a project's YAML files.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents` atomically, creating parent directories as needed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |file| file.write_all(contents))
}

/// Replaces `path` with what `fill` writes, atomically. If `fill` fails, nothing changes.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    // A device or a pipe (`-o /dev/stdout`, a FIFO) would be replaced by the rename, not
    // written: write into it instead, and let its errors (`/dev/full`) through.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        fill(&mut file)?;
        return file.flush();
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new().prefix(".promptops-").suffix(".tmp").tempfile_in(dir)?;
    fill(temp.as_file_mut())?;
    // A temporary file is private (0600); the result should have the target's permissions,
    // or the usual ones for a new file.
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions(),
        Err(_) => default_permissions(temp.as_file())?,
    };
    temp.as_file().set_permissions(permissions)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    // Make the rename itself durable. Directories cannot be opened for sync on every platform.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn default_permissions(_file: &std::fs::File) -> io::Result<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions(file: &std::fs::File) -> io::Result<std::fs::Permissions> {
    Ok(file.metadata()?.permissions())
}

/// Every `.yaml`/`.yml` file under `dir`, with its name: the path below `dir` without the
/// extension, `/`-separated. Hidden (`.`) and private (`_`, partials) entries are skipped; a
/// missing directory has no files. An I/O error names the directory it happened in.
pub fn yaml_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, (PathBuf, io::Error)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err((current, err)),
        };
        for entry in entries {
            let path = entry.map_err(|err| (current.clone(), err))?.path();
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if file_name.starts_with('.') || file_name.starts_with('_') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(stem) = file_name.strip_suffix(".yaml").or_else(|| file_name.strip_suffix(".yml")) else {
                continue;
            };
            let relative = path.parent().and_then(|p| p.strip_prefix(dir).ok()).unwrap_or(Path::new(""));
            let mut name = relative.to_string_lossy().replace('\\', "/");
            if !name.is_empty() {
                name.push('/');
            }
            name.push_str(stem);
            found.push((name, path));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b.yaml");
        write_atomic(&path, b"one").expect("write");
        write_atomic(&path, b"two").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_readable_by_others_and_existing_modes_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.yaml");
        write_atomic(&path, b"x").expect("write");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomic(&path, b"y").expect("write");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn an_interrupted_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "old content").expect("write");
        let result = write_atomic_with(&path, |w| {
            w.write_all(b"half of the new")?;
            Err(io::Error::other("disk full"))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old content");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(leftovers.len(), 1, "only the original file remains");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_into_not_replaced() {
        let full = Path::new("/dev/full");
        let err = write_atomic(full, b"report").expect_err("a full device refuses the write");
        assert_eq!(err.raw_os_error(), Some(28), "ENOSPC: {err}");
        write_atomic(Path::new("/dev/null"), b"report").expect("the null device takes anything");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(full).expect("meta").file_type().is_char_device(), "still a device");
    }
}
