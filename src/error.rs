//! The crate's error vocabulary: every module error reports an [`ErrorClass`] (which decides the
//! exit code) and a list of hints (what the user can do next). Rendering is the CLI's job.

/// What kind of failure an error is; the CLI maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The command was used wrongly: bad flag, unknown ref, missing prompt (exit 2).
    Usage,
    /// A file or setting is invalid: malformed YAML, bad schema, bad template (exit 2).
    Config,
    /// An evaluation or comparison did not meet its threshold (exit 1).
    EvalFailed,
    /// A provider, network peer or remote server failed (exit 3).
    Upstream,
    /// A bug or an environment failure that the user cannot fix by changing input (exit 2).
    Internal,
}

/// Implemented by every error type of the crate so that the CLI can render any of them.
pub trait Diagnostic: std::error::Error {
    /// The class that decides the exit code.
    fn class(&self) -> ErrorClass;

    /// Remediation lines, printed as `hint:` after the error chain.
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A failure of a service implementation the caller cannot name (the remote client, seen from
/// the layers below it): its message, causes, class and hints pass through unchanged.
#[derive(Debug)]
pub struct ServiceError(pub Box<dyn Diagnostic + Send + Sync + 'static>);

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Diagnostic for ServiceError {
    fn class(&self) -> ErrorClass {
        self.0.class()
    }
    fn hints(&self) -> Vec<String> {
        self.0.hints()
    }
}

/// A short "did you mean" list: the candidates within a small edit distance of `wanted`.
pub fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score >= 0.9)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Formats a list of names for a message: "`a`, `b`, `c`" (or "none").
pub fn list_names<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names.iter().map(|n| format!("`{}`", n.as_ref())).collect::<Vec<_>>().join(", ")
}

/// A hint of the form "did you mean `x`?", or nothing when no candidate is close.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let close = suggest(wanted, candidates);
    (!close.is_empty()).then(|| format!("did you mean {}?", list_names(&close).replace(", ", " or ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["support/triage", "support/summary", "extract/invoice"];
        assert_eq!(suggest("support/triag", names), vec!["support/triage"]);
        assert!(suggest("zzz", names).is_empty());
    }

    #[test]
    fn did_you_mean_reads_naturally() {
        assert_eq!(did_you_mean("modle", ["model", "messages"]).as_deref(), Some("did you mean `model`?"));
    }
}
