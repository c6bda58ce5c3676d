//! The JSON bodies of the API: every request type the route table names is deserialised from
//! the input (its first byte picks the type) and, where the server checks more, checked as the
//! handler does. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use promptops::api;
use promptops::registry::sync::SyncBundle;
use promptops::server::handlers::langfuse;
use promptops::store::ExperimentDraft;

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    match pick % 15 {
        0 => drop(parse::<api::CreateTenant>(body)),
        1 => drop(parse::<api::CreateProject>(body)),
        2 => drop(parse::<api::CreatePrincipal>(body)),
        3 => drop(parse::<api::CreateToken>(body)),
        4 => drop(parse::<api::SetMember>(body)),
        5 => drop(parse::<api::CreateKeyPair>(body)),
        6 => drop(parse::<api::CommitRequest>(body)),
        7 => drop(parse::<api::NewVersion>(body)),
        8 => drop(parse::<api::SetLabel>(body)),
        9 => drop(parse::<api::Rollback>(body)),
        10 => drop(parse::<SyncBundle>(body)),
        11 => {
            if let Some(upload) = parse::<api::RunUpload>(body) {
                let _ = api::upload::check_run(&upload);
            }
        }
        12 => {
            if let Some(draft) = parse::<ExperimentDraft>(body) {
                let _ = api::upload::check_experiment(&draft);
            }
        }
        13 => drop(parse::<langfuse::CreatePrompt>(body)),
        _ => drop(parse::<langfuse::NewLabels>(body)),
    }
});
