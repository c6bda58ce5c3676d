//! Reading promptfoo files: a YAML or JSON document with the position of every key, so that any
//! problem points at `file:line:col`; `file://` references resolved inside the config's directory
//! (a hostile config cannot make promptops read `/etc/passwd` or follow a symlink out); and the
//! collector of problems and report items that every translation step writes to.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::report::{Report, ReportItem, Treatment};
use crate::error::did_you_mean;
use crate::yaml::{self, Location, Source, YamlError};

/// The largest file a config may name (prompts, tests, vars): far above any real one, and a
/// bound on what a config pointing at `/dev/zero`-like files can make us read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// One parsed file: its path as shown, its text with key positions, and its value.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The file as given (for messages).
    pub path: PathBuf,
    /// The text, with positions.
    pub source: Source,
    /// The parsed value.
    pub value: Value,
    /// Where everything in it is, when it is one line of a larger file (a CSV row, a JSONL line).
    pub line: Option<usize>,
}

impl Doc {
    /// Reads and parses `path` (YAML or JSON).
    pub fn read(path: &Path) -> Result<Self, Box<YamlError>> {
        let text = read_text(path, path, None)?;
        Self::parse(path, text)
    }

    /// Parses `text` as the file `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self, Box<YamlError>> {
        if text.trim().is_empty() {
            return Err(Box::new(YamlError::at(path, None, "the file is empty")));
        }
        let value = yaml::value_from_str(path, &text).map_err(Box::new)?;
        Ok(Self { path: path.to_path_buf(), source: Source::new(text), value, line: None })
    }

    /// A row of a larger file: `value`, located at `line` of `path` as a whole.
    pub fn row(path: &Path, line: usize, value: Value) -> Self {
        Self { path: path.to_path_buf(), source: Source::new(String::new()), value, line: Some(line) }
    }

    /// Where a key path is written.
    pub fn locate(&self, key_path: &[String]) -> Option<Location> {
        if let Some(line) = self.line {
            return Some(Location { line, column: 1 });
        }
        let keys: Vec<&str> = key_path.iter().map(String::as_str).collect();
        (1..=keys.len()).rev().find_map(|n| self.source.locate(&keys[..n]))
    }

    /// An error at `key_path`.
    pub fn error(&self, key_path: &[String], message: impl Into<String>) -> YamlError {
        YamlError::at(&self.path, self.locate(key_path), message)
    }

    /// `file:line:col` of `key_path`, for report items.
    pub fn place(&self, key_path: &[String]) -> String {
        match self.locate(key_path) {
            Some(l) => format!("{}:{}:{}", self.path.display(), l.line, l.column),
            None => self.path.display().to_string(),
        }
    }
}

/// A key path built from parts.
pub fn keys(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// `path` extended by `more`.
pub fn child(path: &[String], more: &[&str]) -> Vec<String> {
    let mut out = path.to_vec();
    out.extend(more.iter().map(|p| (*p).to_owned()));
    out
}

/// Problems and report items, collected across the whole translation.
#[derive(Debug)]
pub struct Problems {
    skip_unsupported: bool,
    errors: Vec<YamlError>,
    report: Report,
}

impl Problems {
    /// An empty collector.
    pub fn new(skip_unsupported: bool) -> Self {
        Self { skip_unsupported, errors: Vec::new(), report: Report::default() }
    }

    /// A mistake in the config: always an error.
    pub fn error(&mut self, error: YamlError) {
        self.errors.push(error);
    }

    /// Something with no promptops equivalent: an error, or with `--skip-unsupported` an item
    /// left out of the translation and reported.
    pub fn unsupported(&mut self, doc: &Doc, key_path: &[String], what: String, hint: &str) {
        self.unsupported_at(&doc.path, doc.locate(key_path), what, hint);
    }

    /// [`Self::unsupported`] at a known place of any file.
    pub fn unsupported_at(&mut self, path: &Path, location: Option<Location>, what: String, hint: &str) {
        if self.skip_unsupported {
            let place = match location {
                Some(l) => format!("{}:{}:{}", path.display(), l.line, l.column),
                None => path.display().to_string(),
            };
            self.report.items.push(ReportItem { treatment: Treatment::LeftOut, place, what });
        } else {
            let mut err = YamlError::at(path, location, format!("unsupported: {what}"));
            if !hint.is_empty() {
                err = err.with_hint(hint);
            }
            self.errors.push(err);
        }
    }

    /// Whether unsupported items are left out rather than refused.
    pub fn skips_unsupported(&self) -> bool {
        self.skip_unsupported
    }

    /// A report line.
    pub fn note(&mut self, treatment: Treatment, doc: &Doc, key_path: &[String], what: String) {
        self.report.items.push(ReportItem { treatment, place: doc.place(key_path), what });
    }

    /// Whether anything so far is an error.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors and the report.
    pub fn finish(self) -> (Vec<YamlError>, Report) {
        (self.errors, self.report)
    }
}

/// The keys of a promptfoo config that the translation reads or knowingly ignores.
const TOP_KEYS: [&str; 18] = [
    "description",
    "prompts",
    "providers",
    "targets",
    "tests",
    "defaultTest",
    "scenarios",
    "evaluateOptions",
    "outputPath",
    "sharing",
    "env",
    "tags",
    "metadata",
    "writeLatestResults",
    "commandLineOptions",
    "nunjucksFilters",
    "extensions",
    "derivedMetrics",
];

/// Keys with no effect on pass/fail, reported as left out when present.
const IGNORED_KEYS: [&str; 7] =
    ["outputPath", "sharing", "tags", "metadata", "writeLatestResults", "commandLineOptions", "env"];

/// The top-level mapping of the config, with unknown keys reported.
pub fn top_level(doc: &Doc, problems: &mut Problems) -> Option<Map<String, Value>> {
    let Some(map) = doc.value.as_object() else {
        problems.error(
            doc.error(&[], "a promptfoo config is a mapping of `key: value` lines")
                .with_hint("start with `prompts:`, `providers:` and `tests:`"),
        );
        return None;
    };
    for key in map.keys() {
        let path = keys(&[key]);
        if !TOP_KEYS.contains(&key.as_str()) {
            let mut err = doc.error(&path, format!("unknown key `{key}` in a promptfoo config"));
            if let Some(hint) = did_you_mean(key, TOP_KEYS.iter().copied()) {
                err = err.with_hint(hint);
            }
            problems.error(err);
        } else if IGNORED_KEYS.contains(&key.as_str()) {
            problems.note(Treatment::LeftOut, doc, &path, format!("`{key}` (no effect on what is evaluated)"));
        } else if matches!(key.as_str(), "nunjucksFilters" | "extensions" | "derivedMetrics") {
            problems.unsupported(
                doc,
                &path,
                format!("`{key}` (JavaScript or Python hooks)"),
                "remove it, or run with --skip-unsupported",
            );
        }
    }
    if !map.contains_key("prompts") {
        problems.error(doc.error(&[], "the config has no `prompts`").with_hint("e.g. `prompts: ['Say {{topic}}']`"));
    }
    if !map.contains_key("providers") && !map.contains_key("targets") {
        problems
            .error(doc.error(&[], "the config has no `providers`").with_hint("e.g. `providers: [openai:gpt-4o-mini]`"));
    }
    Some(map.clone())
}

/// A `file://` reference: the path after the scheme, if `text` is one.
pub fn file_ref(text: &str) -> Option<&str> {
    text.strip_prefix("file://")
}

/// Resolves a `file://` path against `base`, refusing anything that leaves it (absolute paths,
/// `..`, symlinks pointing out), so that a config can only read its own project.
pub fn resolve(base: &Path, relative: &str) -> Result<PathBuf, String> {
    let wanted = Path::new(relative);
    if wanted.is_absolute() {
        return Err(format!(
            "`{relative}` is an absolute path; promptops reads only files inside the config's directory"
        ));
    }
    let root = base.canonicalize().map_err(|e| format!("cannot read the config's directory: {e}"))?;
    let joined = base.join(wanted);
    let real = joined.canonicalize().map_err(|e| format!("cannot read `{relative}`: {e}"))?;
    if !real.starts_with(&root) {
        return Err(format!("`{relative}` resolves outside the config's directory"));
    }
    if !real.is_file() {
        return Err(format!("`{relative}` is not a regular file"));
    }
    Ok(real)
}

/// Reads a text file, at most [`MAX_FILE_BYTES`]; errors name it as `shown` at `location`.
pub fn read_text(path: &Path, shown: &Path, location: Option<Location>) -> Result<String, Box<YamlError>> {
    use std::io::Read as _;
    let fail = |message: String| Box::new(YamlError::at(shown, location, message));
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("`{}` is larger than {MAX_FILE_BYTES} bytes", path.display())));
    }
    String::from_utf8(bytes).map_err(|_| fail(format!("`{}` is not UTF-8 text", path.display())))
}

/// Reads the `file://` reference `relative` written at `key_path` of `doc`: its resolved path
/// and text, or an error pointing at the reference.
pub fn read_ref(doc: &Doc, base: &Path, key_path: &[String], relative: &str) -> Result<(PathBuf, String), YamlError> {
    let at = |message: String| {
        doc.error(key_path, message).with_hint("`file://` paths are relative to the promptfoo config")
    };
    let path = resolve(base, relative).map_err(at)?;
    let text = read_text(&path, &doc.path, doc.locate(key_path)).map_err(|e| *e)?;
    Ok((path, text))
}

/// The files matching a `file://` pattern with `*` in its last part, sorted; the pattern
/// itself when it has no `*`.
pub fn glob(base: &Path, pattern: &str) -> Result<Vec<String>, String> {
    if !pattern.contains('*') {
        return Ok(vec![pattern.to_owned()]);
    }
    let (dir, name) = match pattern.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", pattern),
    };
    if dir.contains('*') {
        return Err(format!("`{pattern}`: only the file name may hold `*`"));
    }
    let regex =
        regex::Regex::new(&format!("^{}$", regex::escape(name).replace(r"\*", ".*"))).map_err(|e| e.to_string())?;
    let listing = std::fs::read_dir(base.join(dir)).map_err(|e| format!("cannot list `{dir}`: {e}"))?;
    let mut found: Vec<String> = listing
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| regex.is_match(n))
        .map(|n| if dir.is_empty() { n } else { format!("{dir}/{n}") })
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(format!("`{pattern}` matches no file"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_references_stay_inside_the_config_directory() {
        let outer = tempfile::tempdir().expect("tempdir");
        let base = outer.path().join("project");
        std::fs::create_dir_all(base.join("data")).expect("mkdir");
        std::fs::write(outer.path().join("secret.txt"), "outside").expect("write");
        std::fs::write(base.join("data/ok.txt"), "inside").expect("write");
        assert!(resolve(&base, "data/ok.txt").is_ok());
        assert!(resolve(&base, "/etc/passwd").expect_err("absolute").contains("absolute path"));
        assert!(resolve(&base, "../secret.txt").expect_err("dot-dot").contains("outside the config's directory"));
        assert!(resolve(&base, "data").expect_err("a directory").contains("not a regular file"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outer.path().join("secret.txt"), base.join("data/link.txt")).expect("symlink");
            assert!(resolve(&base, "data/link.txt").expect_err("symlink out").contains("outside"));
        }
    }

    #[test]
    fn globs_match_file_names_in_one_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
        for name in ["b.txt", "a.txt", "c.md"] {
            std::fs::write(dir.path().join("p").join(name), "x").expect("write");
        }
        assert_eq!(glob(dir.path(), "p/*.txt").expect("matches"), vec!["p/a.txt".to_owned(), "p/b.txt".to_owned()]);
        assert!(glob(dir.path(), "p/*.json").expect_err("none").contains("matches no file"));
        assert!(glob(dir.path(), "*/a.txt").expect_err("dir glob").contains("only the file name"));
    }
}
