//! `promptops.yaml`: parsing and its checks must answer with an error, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use promptops::config::Project;

fuzz_target!(|text: &str| {
    let _ = Project::parse(Path::new("promptops.yaml"), text);
});
