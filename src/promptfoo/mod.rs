//! promptfoo projects read as they are. A `promptfooconfig.yaml` is parsed ([`source`]) and
//! translated into promptops' own types — prompt files ([`prompts`], with Nunjucks checked and
//! mapped to minijinja by [`nunjucks`]), providers in a `promptops.yaml` ([`providers`]), one
//! eval suite with its cases ([`cases`]) and assertions ([`asserts`], JavaScript expressions by
//! [`js`]) — together with a [`Report`] of what was converted, approximated and left out.
//!
//! Nothing here runs a model: `promptops eval -c` writes the translation as a generated project
//! ([`project`]) and hands it to the one eval engine, and `promptops import promptfoo` writes the
//! same translation where the user asks. So a config read directly and its import give the same
//! verdicts by construction. [`output`] shapes a finished run as promptfoo's JSON results.

pub mod asserts;
pub mod cases;
pub mod js;
pub mod nunjucks;
pub mod output;
pub mod project;
pub mod prompts;
pub mod providers;
mod report;
pub mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use report::{Report, ReportItem, Treatment};

use crate::config::ProjectConfig;
use crate::error::{Diagnostic, ErrorClass};
use crate::eval::suite::SuiteFile;
use crate::prompt::PromptFile;
use crate::secret::SecretString;
use crate::yaml::YamlError;
use source::{Doc, Problems};

/// The file names promptfoo looks for in a directory, in its order.
pub const CONFIG_FILES: [&str; 3] = ["promptfooconfig.yaml", "promptfooconfig.yml", "promptfooconfig.json"];

/// The promptfoo config in `dir`, if it has one.
pub fn detect(dir: &Path) -> Option<PathBuf> {
    CONFIG_FILES.iter().map(|name| dir.join(name)).find(|path| path.is_file())
}

/// Where the translated suite finds its dataset files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datasets {
    /// Read in place, by absolute path (`eval -c`: failing rows point at the user's own file).
    InPlace,
    /// Copied beside the suite, under `eval-suites/data/` (`import`).
    Copied,
}

/// Choices that change a translation.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Leave unsupported assertions, providers and settings out (and report them) instead of
    /// refusing the config.
    pub skip_unsupported: bool,
    /// Where datasets are read from.
    pub datasets: Datasets,
}

/// A file the translated project needs besides its YAML: a dataset or a script, copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedFile {
    /// Where it is now.
    pub from: PathBuf,
    /// Where it goes, relative to the project root.
    pub to: PathBuf,
}

/// A promptfoo config translated into promptops' types.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The promptfoo config file.
    pub config_path: PathBuf,
    /// `promptops.yaml`.
    pub project: ProjectConfig,
    /// Prompt files by prompt name (`promptfoo/<label>`), in the config's order.
    pub prompts: Vec<(String, PromptFile)>,
    /// promptfoo's label and raw text of each prompt, by prompt name (for promptfoo's JSON output).
    pub labels: output::PromptLabels,
    /// The suite's name (its file is `eval-suites/<name>.yaml`).
    pub suite_name: String,
    /// The suite.
    pub suite: SuiteFile,
    /// Files to copy into the project.
    pub copies: Vec<CopiedFile>,
    /// Files to write into the project, relative to its root (helper scripts).
    pub extra_files: Vec<(PathBuf, String)>,
    /// Keys written literally in the config (`apiKey`), by the environment variable name the
    /// translated provider reads. Kept in memory for `eval -c`; never written anywhere.
    pub secrets: BTreeMap<String, SecretString>,
    /// What was converted, approximated and left out.
    pub report: Report,
}

/// Why a promptfoo config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptfooError {
    /// The config (or a file it names) has problems; each has its file, line and a hint.
    #[error("{} problem(s) found in the promptfoo config; nothing was run or written", problems.len())]
    Invalid {
        /// Every problem.
        problems: Vec<YamlError>,
    },
}

impl Diagnostic for PromptfooError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Config
    }
    fn hints(&self) -> Vec<String> {
        vec!["`--skip-unsupported` leaves out what has no promptops equivalent, and reports it".to_owned()]
    }
}

/// Reads the promptfoo config at `path` and translates it; on failure, every problem found.
pub fn translate(path: &Path, options: Options) -> Result<Translation, PromptfooError> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let mut problems = Problems::new(options.skip_unsupported);
    let doc = match Doc::read(path) {
        Ok(doc) => doc,
        Err(err) => return Err(PromptfooError::Invalid { problems: vec![*err] }),
    };
    let translation = build(&doc, &base, options, &mut problems);
    let (errors, report) = problems.finish();
    match translation {
        Some(mut translation) if errors.is_empty() => {
            translation.report = report;
            Ok(translation)
        }
        _ => Err(PromptfooError::Invalid { problems: errors }),
    }
}

fn build(doc: &Doc, base: &Path, options: Options, problems: &mut Problems) -> Option<Translation> {
    let top = source::top_level(doc, problems)?;
    let description = top.get("description").and_then(|v| v.as_str()).map(str::to_owned);
    let prompts = prompts::translate(doc, base, top.get("prompts"), problems);
    let key = if top.contains_key("providers") { "providers" } else { "targets" };
    let mut registry = providers::Registry::default();
    let provider_ids = providers::translate(doc, key, top.get(key), &mut registry, problems);
    let mut suite = cases::translate(doc, base, &top, options.datasets, &mut registry, problems);
    suite.file.description = description;
    suite.file.targets = prompts.prompts.iter().map(|p| p.name.clone()).collect();
    suite.file.providers = provider_ids;
    let prompt_files = prompts.prompts.iter().map(|p| (p.name.clone(), p.file(&suite.in_every_case))).collect();
    let labels = prompts.prompts.iter().map(|p| (p.name.clone(), (p.label.clone(), p.raw.clone()))).collect();
    let stem = path_stem(&doc.path);
    Some(Translation {
        config_path: doc.path.clone(),
        project: registry.project_config(&stem),
        prompts: prompt_files,
        labels,
        suite_name: stem,
        suite: suite.file,
        copies: suite.copies,
        extra_files: suite.extra_files,
        secrets: registry.secrets,
        report: Report::default(),
    })
}

/// A name for the suite from the config's file name (`promptfooconfig`, `smoke`).
fn path_stem(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    let clean: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if clean.is_empty() { "promptfoo".to_owned() } else { clean }
}
