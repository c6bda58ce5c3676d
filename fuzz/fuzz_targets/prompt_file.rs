//! A prompt file: parsing, validation (which compiles every template) and rendering with the
//! declared defaults must answer with an error, never panic or run away.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use promptops::prompt::{LoadedPrompt, PartialSet, PromptName, Vars, render, validate};

fuzz_target!(|text: &str| {
    let name = PromptName::new("fuzz/prompt").expect("a valid name");
    let partials = PartialSet::from([("style.j2".to_owned(), "Be brief.".to_owned())]);
    let Ok(prompt) = LoadedPrompt::parse(name, PathBuf::from("prompts/fuzz/prompt.yaml"), text.to_owned(), partials)
    else {
        return;
    };
    let (errors, _) = validate(&prompt);
    if errors.is_empty() {
        let _ = render(&prompt, &Vars::new());
    }
});
