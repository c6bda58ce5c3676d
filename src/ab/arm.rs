//! Arms: what an A/B comparison runs. An arm is written `PROMPT`, `+PROVIDER` or
//! `PROMPT+PROVIDER`, where PROMPT is any prompt ref (`support/triage`, `support/triage@3`,
//! `support/triage@production`) and PROVIDER a provider id of `promptops.yaml` (or
//! `kind:model`). A bare word is a prompt if a prompt has that name, else a provider; a word
//! that is both must be written with the `+` to say which. Owns parsing and resolving arms
//! against the project; running them is the eval engine's job.

use serde::Serialize;

use super::error::AbError;
use crate::error::suggest;
use crate::prompt::PromptRef;

/// An arm as resolved: the prompt to run (none: the suite's single target) and the provider
/// (none: the suite's or the prompt's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arm {
    /// The arm as written.
    pub text: String,
    /// The prompt ref, when the arm names one.
    pub prompt: Option<String>,
    /// The provider, when the arm names one.
    pub provider: Option<String>,
}

/// What exists in the project, to tell prompts from providers.
#[derive(Debug, Clone, Default)]
pub struct ArmCatalog {
    /// Prompt names on disk or in the registry.
    pub prompts: Vec<String>,
    /// Provider ids in `promptops.yaml`.
    pub providers: Vec<String>,
}

impl ArmCatalog {
    fn is_prompt(&self, name: &str) -> bool {
        self.prompts.iter().any(|p| p == name)
    }

    fn is_provider(&self, id: &str) -> bool {
        // `kind:model` references need no configuration entry.
        self.providers.iter().any(|p| p == id) || id.contains(':')
    }
}

/// Parses and resolves every arm, refusing fewer than two and duplicates.
pub fn resolve_arms(texts: &[String], catalog: &ArmCatalog) -> Result<Vec<Arm>, AbError> {
    if texts.len() < 2 {
        return Err(AbError::TooFewArms { got: texts.len() });
    }
    let mut arms: Vec<Arm> = Vec::with_capacity(texts.len());
    for text in texts {
        let arm = resolve_arm(text, catalog)?;
        if arms.iter().any(|a| a.prompt == arm.prompt && a.provider == arm.provider) {
            return Err(AbError::DuplicateArm { arm: text.clone() });
        }
        arms.push(arm);
    }
    Ok(arms)
}

/// Resolves one arm (see the module documentation for the syntax).
pub fn resolve_arm(text: &str, catalog: &ArmCatalog) -> Result<Arm, AbError> {
    let trimmed = text.trim();
    let arm = match trimmed.split_once('+') {
        Some((prompt, provider)) => {
            Arm { text: trimmed.to_owned(), prompt: non_empty(prompt), provider: non_empty(provider) }
        }
        None => bare(trimmed, catalog)?,
    };
    if arm.prompt.is_none() && arm.provider.is_none() {
        return Err(bad(trimmed, "names neither a prompt nor a provider", vec![]));
    }
    if let Some(prompt) = &arm.prompt {
        check_prompt(trimmed, prompt, catalog)?;
    }
    if let Some(provider) = &arm.provider
        && !catalog.is_provider(provider)
    {
        let mut hints: Vec<String> = suggest(provider, catalog.providers.iter().map(String::as_str))
            .iter()
            .map(|s| format!("did you mean `{s}`?"))
            .collect();
        hints.push("run `promptops provider list` to see the configured providers".to_owned());
        return Err(bad(trimmed, &format!("no provider `{provider}` in promptops.yaml"), hints));
    }
    Ok(arm)
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn bare(text: &str, catalog: &ArmCatalog) -> Result<Arm, AbError> {
    let name = text.split('@').next().unwrap_or(text);
    let (prompt, provider) = (catalog.is_prompt(name), catalog.is_provider(text) && !text.contains('@'));
    let arm = |prompt: Option<String>, provider: Option<String>| Arm { text: text.to_owned(), prompt, provider };
    match (prompt, provider) {
        (true, true) => Err(AbError::AmbiguousArm { arm: text.to_owned() }),
        (true, false) => Ok(arm(Some(text.to_owned()), None)),
        (false, true) => Ok(arm(None, Some(text.to_owned()))),
        (false, false) => {
            let candidates = catalog.prompts.iter().chain(&catalog.providers).map(String::as_str);
            let suggestions = suggest(name, candidates).into_iter().map(str::to_owned).collect();
            Err(AbError::UnknownArm { arm: text.to_owned(), suggestions })
        }
    }
}

fn check_prompt(arm: &str, prompt: &str, catalog: &ArmCatalog) -> Result<(), AbError> {
    let reference: PromptRef = prompt
        .parse()
        .map_err(|err: crate::prompt::NameError| bad(arm, &err.to_string(), crate::error::Diagnostic::hints(&err)))?;
    if catalog.is_prompt(reference.name.as_str()) {
        return Ok(());
    }
    let mut hints: Vec<String> = suggest(reference.name.as_str(), catalog.prompts.iter().map(String::as_str))
        .iter()
        .map(|s| format!("did you mean `{s}`?"))
        .collect();
    hints.push("run `promptops prompt list` to see the prompts".to_owned());
    Err(bad(arm, &format!("no prompt `{}`", reference.name), hints))
}

fn bad(arm: &str, message: &str, hints: Vec<String>) -> AbError {
    AbError::BadArm { arm: arm.to_owned(), message: message.to_owned(), hints }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ArmCatalog {
        ArmCatalog {
            prompts: vec!["support/triage".into(), "fast".into()],
            providers: vec!["offline".into(), "fast".into()],
        }
    }

    fn arm(text: &str) -> Result<Arm, AbError> {
        resolve_arm(text, &catalog())
    }

    #[test]
    fn bare_words_resolve_to_prompts_or_providers() {
        assert_eq!(arm("support/triage@production").unwrap().prompt.as_deref(), Some("support/triage@production"));
        assert_eq!(arm("offline").unwrap().provider.as_deref(), Some("offline"));
        assert_eq!(arm("openai:gpt-4o").unwrap().provider.as_deref(), Some("openai:gpt-4o"));
    }

    #[test]
    fn a_plus_joins_prompt_and_provider() {
        let both = arm("support/triage@3+offline").unwrap();
        assert_eq!((both.prompt.as_deref(), both.provider.as_deref()), (Some("support/triage@3"), Some("offline")));
        assert_eq!(arm("+fast").unwrap().prompt, None);
        assert_eq!(arm("fast+").unwrap().provider, None);
    }

    #[test]
    fn a_word_that_is_both_must_be_disambiguated() {
        assert!(matches!(arm("fast"), Err(AbError::AmbiguousArm { .. })));
    }

    #[test]
    fn unknown_arms_suggest_close_names() {
        match arm("support/triag") {
            Err(AbError::UnknownArm { suggestions, .. }) => assert_eq!(suggestions, vec!["support/triage"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(arm("support/triage+nope"), Err(AbError::BadArm { .. })));
        assert!(matches!(arm("nope+offline"), Err(AbError::BadArm { .. })));
        assert!(matches!(arm("+"), Err(AbError::BadArm { .. })));
    }

    #[test]
    fn two_distinct_arms_are_required() {
        let texts = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches!(resolve_arms(&texts(&["offline"]), &catalog()), Err(AbError::TooFewArms { got: 1 })));
        assert!(matches!(
            resolve_arms(&texts(&["offline", "+offline"]), &catalog()),
            Err(AbError::DuplicateArm { .. })
        ));
    }
}
