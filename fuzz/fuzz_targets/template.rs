//! The template renderer: any template over any JSON context either renders within the bounds
//! of `promptops::template` or fails with an error. The input is `TEMPLATE\0CONTEXT-JSON`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use promptops::template;

fuzz_target!(|text: &str| {
    let (source, context) = text.split_once('\0').unwrap_or((text, "{}"));
    let context: serde_json::Value = serde_json::from_str(context).unwrap_or_default();
    let env = template::environment();
    if let Ok(out) = template::render_str(&env, source, &context) {
        assert!(out.len() <= template::MAX_OUTPUT, "the output cap was passed");
    }
});
