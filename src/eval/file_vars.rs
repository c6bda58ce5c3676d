//! `file://` values in a case's variables, as promptfoo users write them:
//! `ticket: file://tickets/long.txt` becomes the file's text, and a `.json`, `.yaml` or `.yml`
//! file its parsed value. Paths are relative to the suite file and must stay inside the project
//! (absolute paths, `..` and symbolic links out are refused, as for images: a suite must not be
//! able to send any file on the machine to a provider). Each file is read once per suite, however
//! many cases name it, and its text joins the plan's hash, so `--resume` notices an edit.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::cases::RawCase;
use super::suite::LoadedSuite;
use crate::yaml::YamlError;

/// The prefix that marks a variable's value as a file to read.
pub const PREFIX: &str = "file://";

/// The largest file a variable may name: a prompt variable this long is a mistake.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Replaces every `file://` variable of `cases` with what the file holds. Files read are added
/// to `texts` (for the plan's hash); every file that cannot be read is one problem, at the case.
pub fn resolve(
    suite: &LoadedSuite,
    root: &Path,
    cases: &mut [RawCase],
    texts: &mut Vec<String>,
    problems: &mut Vec<YamlError>,
) {
    let mut read: BTreeMap<String, Result<serde_json::Value, String>> = BTreeMap::new();
    for case in cases.iter_mut() {
        for (name, value) in case.vars.iter_mut() {
            let Some(reference) = value.as_str().and_then(|v| v.strip_prefix(PREFIX)).map(str::to_owned) else {
                continue;
            };
            let loaded = read.entry(reference.clone()).or_insert_with(|| {
                let loaded = load(&suite.dir, root, &reference);
                if let Ok((_, text)) = &loaded {
                    texts.push(format!("{PREFIX}{reference}\n{text}"));
                }
                loaded.map(|(value, _)| value)
            });
            match loaded {
                Ok(content) => *value = content.clone(),
                Err(reason) => problems.push(
                    YamlError::at(
                        &case.location.0,
                        case.location.1,
                        format!("variable `{name}`: cannot read `{PREFIX}{reference}`: {reason}"),
                    )
                    .with_hint(format!(
                        "`{PREFIX}` paths are relative to the suite file ({}) and must stay inside the project",
                        suite.path.parent().map_or_else(String::new, |p| p.display().to_string())
                    )),
                ),
            }
        }
    }
}

/// The files a suite's own variables name (its defaults and inline cases; dataset cells are
/// read with the dataset), relative to the suite file: `eval --changed` and `--watch` follow them.
pub fn named(suite: &LoadedSuite) -> Vec<&str> {
    let defaults = suite.file.defaults.vars.values();
    let inline = suite.file.tests.iter().flat_map(|t| t.vars.values());
    defaults.chain(inline).filter_map(|v| v.as_str()?.strip_prefix(PREFIX)).collect()
}

/// The value of the file `reference` names, and its text.
fn load(dir: &Path, root: &Path, reference: &str) -> Result<(serde_json::Value, String), String> {
    let path = inside_project(dir, root, reference)?;
    let metadata = std::fs::metadata(&path).map_err(|err| err.to_string())?;
    // Checked before opening: opening a FIFO would block until something writes to it.
    if !metadata.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(&path).map_err(|err| err.to_string())?;
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(|err| err.to_string())?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!("it is larger than the limit of {MAX_BYTES} bytes"));
    }
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    let structured = matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml"));
    let value = if structured {
        crate::yaml::value_from_str(Path::new(reference), &text).map_err(|err| err.to_string())?
    } else {
        // Files end with a newline; the variable is the text, as an inline value would be.
        serde_json::Value::String(text.strip_suffix('\n').unwrap_or(&text).to_owned())
    };
    Ok((value, text))
}

fn inside_project(dir: &Path, root: &Path, reference: &str) -> Result<PathBuf, String> {
    if reference.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if Path::new(reference).is_absolute() {
        return Err("it is an absolute path, and variable files must be inside the project".to_owned());
    }
    let canonical = dir.join(reference).canonicalize().map_err(|err| err.to_string())?;
    let root = root.canonicalize().map_err(|err| err.to_string())?;
    if !canonical.starts_with(&root) {
        return Err("it resolves to a file outside the project (through `..` or a symbolic link)".to_owned());
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("eval-suites/data")).expect("mkdir");
        dir
    }

    #[test]
    fn text_files_are_read_without_their_last_newline() {
        let root = project();
        std::fs::write(root.path().join("eval-suites/data/t.txt"), "line one\nline two\n").expect("write");
        let (value, _) = load(&root.path().join("eval-suites"), root.path(), "data/t.txt").expect("reads");
        assert_eq!(value, serde_json::json!("line one\nline two"));
    }

    #[test]
    fn json_and_yaml_files_are_parsed() {
        let root = project();
        std::fs::write(root.path().join("eval-suites/data/o.yaml"), "name: Ada\ntags: [a, b]\n").expect("write");
        let (value, _) = load(&root.path().join("eval-suites"), root.path(), "data/o.yaml").expect("reads");
        assert_eq!(value, serde_json::json!({ "name": "Ada", "tags": ["a", "b"] }));
    }

    #[test]
    fn files_outside_the_project_are_refused() {
        let root = project();
        let suites = root.path().join("eval-suites");
        assert!(load(&suites, root.path(), "/etc/hostname").expect_err("absolute").contains("absolute path"));
        let outside = tempfile::NamedTempFile::new().expect("temp file");
        let up = format!("../../{}", outside.path().file_name().expect("name").to_string_lossy());
        assert!(load(&suites, root.path(), &up).is_err());
        std::os::unix::fs::symlink(outside.path(), suites.join("data/link.txt")).expect("symlink");
        assert!(load(&suites, root.path(), "data/link.txt").expect_err("symlink out").contains("outside the project"));
    }

    #[test]
    fn a_missing_file_and_a_directory_are_refused() {
        let root = project();
        let suites = root.path().join("eval-suites");
        assert!(load(&suites, root.path(), "data/nope.txt").is_err());
        assert!(load(&suites, root.path(), "data").expect_err("dir").contains("not a regular file"));
    }
}
