//! An eval suite file: parsing must answer with an error naming a place, never panic.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use promptops::eval::suite::LoadedSuite;

fuzz_target!(|text: &str| {
    let path = Path::new("eval-suites/fuzz.yaml");
    let _ = LoadedSuite::parse(path, PathBuf::from("eval-suites/fuzz.yaml"), text.to_owned());
});
