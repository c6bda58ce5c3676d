//! A prompt that arrives as text rather than from the project's files (a commit over HTTP, a
//! pushed or pulled version, a Langfuse create), checked the way `promptops commit` checks
//! files, so that every stored version could have been committed from a checkout: the partials'
//! names are relative paths under `prompts/_partials/`, they are exactly the partials the prompt
//! includes, the file parses and validates. Every path that stores sent text goes through
//! [`check_sent`]; its hash is then the content's, whatever the sender claimed.

use std::path::PathBuf;

use super::load::{LoadedPrompt, PartialSet, PromptError, partials_used, validate};
use super::name::PromptName;

/// Longest accepted partial name, in bytes.
pub const MAX_PARTIAL_NAME: usize = 255;

/// Why `name` cannot be a partial's include name, if it cannot: it must be a relative path of
/// plain segments (no empty, `.` or `..` segment, no `\`, no control character).
pub fn partial_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.len() > MAX_PARTIAL_NAME {
        return Some("it is longer than 255 bytes");
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Some("it contains `\\` or a control character");
    }
    if name.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
        return Some("it is not a relative path of plain segments (an empty, `.` or `..` segment)");
    }
    None
}

/// Parses and checks a prompt sent as its file's text with the partials it includes: the same
/// checks as a commit from files, plus that `partials` holds exactly what the prompt includes.
pub fn check_sent(name: PromptName, source: String, partials: PartialSet) -> Result<LoadedPrompt, PromptError> {
    let origin = PathBuf::from(format!("prompts/{name}.yaml"));
    let invalid = |message: String, hints: Vec<String>| PromptError::Invalid {
        path: origin.clone(),
        location: None,
        message,
        hints,
    };
    if let Some((partial, problem)) = partials.keys().find_map(|p| partial_name_problem(p).map(|why| (p, why))) {
        let hint = "partials are named by their path under `prompts/_partials/`, such as `house-style.j2`";
        return Err(invalid(
            format!("invalid partial name `{}`: {problem}", partial.escape_debug()),
            vec![hint.to_owned()],
        ));
    }
    let mut prompt = LoadedPrompt::parse(name, origin.clone(), source, PartialSet::new())?;
    let used = partials_used(&prompt, &partials)?;
    if let Some(unused) = partials.keys().find(|p| !used.contains_key(*p)) {
        let hint = "send only the partials the prompt includes, directly or through another partial";
        return Err(invalid(format!("partial `{unused}` is not included by the prompt"), vec![hint.to_owned()]));
    }
    prompt.partials = used;
    let (errors, _warnings) = validate(&prompt);
    match errors.into_iter().next() {
        Some(err) => Err(err),
        None => Ok(prompt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> PromptName {
        PromptName::new("support/triage").expect("valid")
    }

    fn partials(entries: &[(&str, &str)]) -> PartialSet {
        entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const WITH_PARTIAL: &str = "messages:\n  - role: user\n    content: '{% include \"voice.j2\" %} hi'\n";

    #[test]
    fn a_prompt_with_exactly_its_partials_passes_and_hashes_like_a_commit_from_files() {
        let prompt = check_sent(name(), WITH_PARTIAL.to_owned(), partials(&[("voice.j2", "Be kind.")])).expect("valid");
        let direct = LoadedPrompt::parse(
            name(),
            PathBuf::from("x"),
            WITH_PARTIAL.to_owned(),
            partials(&[("voice.j2", "Be kind.")]),
        )
        .expect("parses");
        assert_eq!(prompt.hash(), direct.hash());
    }

    #[test]
    fn path_like_partial_names_are_refused() {
        for bad in ["../secret.j2", "/etc/passwd", "a//b.j2", "./a.j2", "a\\b.j2", "a\u{0}.j2", ""] {
            let err = check_sent(name(), WITH_PARTIAL.to_owned(), partials(&[(bad, "x")])).unwrap_err();
            assert!(err.to_string().contains("invalid partial name"), "{bad:?}: {err}");
        }
        assert_eq!(partial_name_problem("styles/house-style.j2"), None);
    }

    #[test]
    fn missing_and_unused_partials_are_refused() {
        let missing = check_sent(name(), WITH_PARTIAL.to_owned(), PartialSet::new()).unwrap_err();
        assert!(missing.to_string().contains("partial `voice.j2` not found"), "{missing}");
        let extra = partials(&[("voice.j2", "Be kind."), ("unused.j2", "x")]);
        let unused = check_sent(name(), WITH_PARTIAL.to_owned(), extra).unwrap_err();
        assert!(unused.to_string().contains("`unused.j2` is not included"), "{unused}");
    }

    #[test]
    fn an_invalid_source_is_refused() {
        assert!(check_sent(name(), "messages: [".to_owned(), PartialSet::new()).is_err());
        let undeclared = "messages:\n  - role: user\n    content: '{{ who }}'\n";
        let err = check_sent(name(), undeclared.to_owned(), PartialSet::new()).unwrap_err();
        assert!(err.to_string().contains("undeclared variable `who`"), "{err}");
    }

    #[test]
    fn config_keeps_arbitrary_settings_hashed_with_the_version() {
        let plain = "messages:\n  - role: user\n    content: hi\n";
        let with = format!("{plain}config:\n  json_schema: {{type: object}}\n  supported_languages: [en, de]\n");
        let other = format!("{plain}config:\n  json_schema: {{type: array}}\n  supported_languages: [en, de]\n");
        let hashes: Vec<String> = [plain.to_owned(), with.clone(), other]
            .into_iter()
            .map(|source| check_sent(name(), source, PartialSet::new()).expect("valid").hash())
            .collect();
        assert!(hashes[0] != hashes[1] && hashes[1] != hashes[2], "config is part of the content hash");
        let kept = check_sent(name(), with, PartialSet::new()).expect("valid");
        assert_eq!(kept.file.config["supported_languages"], serde_json::json!(["en", "de"]));
    }

    #[test]
    fn config_may_not_repeat_what_promptops_reads() {
        for (key, home) in [("temperature", "params.temperature"), ("model", "top-level `model:`")] {
            let source = format!("messages:\n  - role: user\n    content: hi\nconfig:\n  {key}: 1\n");
            let err = check_sent(name(), source, PartialSet::new()).unwrap_err();
            assert!(err.to_string().contains(&format!("`config.{key}` is read by promptops")), "{err}");
            assert!(err.to_string().contains(home), "{err}");
        }
    }
}
