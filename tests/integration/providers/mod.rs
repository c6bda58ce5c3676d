//! Providers and the inference layer against the LLM stub on 127.0.0.1: each wire format,
//! streaming, images, retries and their timing, the cache, cost to the micro-dollar, budgets,
//! and the bad inputs (unknown provider, missing key, 401/403, bad base URL, non-JSON answers
//! to a schema, bad images, bad mock regex). Never the internet; never the real keyring.

mod bad_input;
mod layers;
mod wire;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::config::Project;
use promptops::provider::{Providers, ProvidersOptions};
use promptops::secret::{EnvLookup, MemoryKeyring, Secrets};
use promptops::store::{Scope, SqliteStore, Store};

/// The key the tests use; it must never show up in any message.
pub const KEY: &str = "sk-test-0123456789abcdef";

/// A temporary project with providers built from its `promptops.yaml`.
pub struct Setup {
    pub providers: Providers,
    pub store: Arc<dyn Store>,
    pub scope: Scope,
    _dir: tempfile::TempDir,
}

/// Secrets from a fixed map and an empty in-memory keyring.
pub fn secrets(env: &[(&str, &str)]) -> Secrets {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let lookup: EnvLookup = Arc::new(move |name| env.get(name).cloned());
    Secrets::new(lookup, Arc::new(MemoryKeyring::default()))
}

/// A project whose `promptops.yaml` is `yaml`, keys from `env`.
pub async fn setup(yaml: &str, env: &[(&str, &str)], options: ProvidersOptions) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    std::fs::write(root.join("promptops.yaml"), yaml).expect("write config");
    let project = Project::open(&root).expect("valid project");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(root.join(".promptops/promptops.db")).await.expect("store"));
    let scope = Principal::local("tester").authorize(Action::Run, LOCAL_PROJECT).expect("local user may run");
    let secrets = options.secrets.clone().unwrap_or_else(|| secrets(env));
    let options = ProvidersOptions { secrets: Some(secrets), ..options };
    let providers = Providers::new(&project, Arc::clone(&store), scope.clone(), options);
    Setup { providers, store, scope, _dir: dir }
}

/// The repository's own test data directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
