//! A workflow file: parsing and the full static validation (structure, references, data flow,
//! template compilation) must answer with findings, never panic.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use promptops::workflow::validate::{References, validate};
use promptops::workflow::{ExecPolicy, Workflow};

fuzz_target!(|text: &str| {
    let Ok(workflow) =
        Workflow::parse(PathBuf::from("workflows/fuzz.yaml"), PathBuf::from("workflows"), text.to_owned())
    else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let references = References { prompts: None, catalog: None, exec: Some(&ExecPolicy::Server { allowed: vec![] }) };
    let _ = runtime.block_on(validate(&workflow, references));
});
