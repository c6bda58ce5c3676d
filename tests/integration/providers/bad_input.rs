//! Bad input gets a clear error: unknown providers, missing keys, refused keys (never retried,
//! never echoed), invalid base URLs, answers that ignore a declared schema, bad images, and a
//! mock rule with a bad regex.

use promptops::config::Project;
use promptops::error::{Diagnostic, ErrorClass};
use promptops::provider::{ChatRequest, ProviderError, ProvidersOptions, load_image};
use promptops_test_support::stub::{Stub, StubConfig};

use super::{KEY, data_dir, setup};

const TWO: &str =
    "providers:\n  - { id: offline, kind: mock, default: hi }\n  - { id: fast, kind: openai, model: gpt-4o-mini }\n";

fn everything(err: &ProviderError) -> String {
    format!("{err}\n{err:?}\n{}", err.hints().join("\n"))
}

#[tokio::test]
async fn an_unknown_provider_lists_the_configured_ones() {
    let s = setup(TWO, &[], ProvidersOptions::default()).await;
    let err = s.providers.get("fsat").expect_err("unknown");
    assert_eq!(err.to_string(), "unknown provider `fsat`");
    assert_eq!(err.class(), ErrorClass::Usage);
    let hints = err.hints();
    assert_eq!(hints[0], "did you mean `fast`?");
    assert_eq!(hints[1], "configured providers: `offline`, `fast`");
    let err = s.providers.get("opnai:gpt-4o").expect_err("unknown kind");
    assert!(err.hints().contains(&"did you mean `openai`?".to_owned()), "{:?}", err.hints());
}

#[tokio::test]
async fn a_missing_key_names_the_variable_and_auth_set_key() {
    let s = setup(TWO, &[], ProvidersOptions::default()).await;
    let err = s.providers.get("fast").expect_err("no key");
    assert_eq!(err.to_string(), "no API key for provider `fast`: `OPENAI_API_KEY` is not set and the keyring has none");
    assert_eq!(err.class(), ErrorClass::Config);
    assert!(
        err.hints().iter().any(|h| h == "or store it in the OS keyring: `promptops auth set-key fast`"),
        "{:?}",
        err.hints()
    );
    let err = s.providers.get("anthropic:claude-haiku-4-5").expect_err("no key");
    assert!(err.to_string().contains("`ANTHROPIC_API_KEY`"), "{err}");
    assert!(err.hints().iter().any(|h| h.ends_with("`promptops auth set-key anthropic`")), "{:?}", err.hints());
}

#[tokio::test]
async fn a_key_from_the_configured_variable_or_the_keyring_is_used() {
    let stub = Stub::start(StubConfig::new().require_api_key(KEY)).await;
    let yaml = format!(
        "providers:\n  - {{ id: fast, kind: openai, model: gpt-4o-mini, base_url: '{}', api_key_env: MY_KEY }}\n",
        stub.openai_base()
    );
    let s = setup(&yaml, &[("MY_KEY", KEY)], ProvidersOptions::default()).await;
    s.providers.get("fast").expect("resolves").chat(&ChatRequest::user("hi"), None).await.expect("authorised");
    let keyring = promptops::secret::MemoryKeyring::default();
    promptops::secret::KeyStore::set(&keyring, "fast", &promptops::secret::SecretString::new(KEY)).expect("set");
    let secrets = promptops::secret::Secrets::new(std::sync::Arc::new(|_| None), std::sync::Arc::new(keyring));
    let s = setup(&yaml, &[], ProvidersOptions { secrets: Some(secrets), ..ProvidersOptions::default() }).await;
    s.providers
        .get("fast")
        .expect("resolves")
        .chat(&ChatRequest::user("hi"), None)
        .await
        .expect("authorised from the keyring");
}

#[tokio::test]
async fn refused_keys_are_clear_not_retried_and_never_echoed() {
    let stub = Stub::start(StubConfig::new().require_api_key("sk-the-right-one")).await;
    let yaml = format!(
        "providers:\n  - {{ id: fast, kind: openai, model: gpt-4o-mini, base_url: '{}' }}\n",
        stub.openai_base()
    );
    let s = setup(&yaml, &[("OPENAI_API_KEY", KEY)], ProvidersOptions::default()).await;
    let provider = s.providers.get("fast").expect("resolves");
    let err = provider.chat(&ChatRequest::user("hi"), None).await.expect_err("401");
    assert!(matches!(err, ProviderError::Auth { status: 401, .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Upstream);
    assert_eq!(stub.request_count(), 1, "401 is not retried");
    assert!(!everything(&err).contains(KEY), "the key leaked: {}", everything(&err));
    assert!(!format!("{provider:?}").contains(KEY), "the key leaked into Debug output");
    assert!(err.hints().iter().any(|h| h.contains("OPENAI_API_KEY")), "{:?}", err.hints());

    stub.reconfigure(|c| c.accept_any_key().forbidden(true));
    let err = provider.chat(&ChatRequest::user("hi again"), None).await.expect_err("403");
    assert!(matches!(err, ProviderError::Auth { status: 403, .. }), "{err:?}");
    assert_eq!(stub.request_count(), 2, "403 is not retried");
    assert!(!everything(&err).contains(KEY));
}

#[tokio::test]
async fn an_invalid_base_url_is_a_config_error() {
    for url in ["not a url", "ftp://example.com/v1", "http://"] {
        let yaml = format!("providers:\n  - {{ id: fast, kind: openai, model: gpt-4o-mini, base_url: '{url}' }}\n");
        let s = setup(&yaml, &[("OPENAI_API_KEY", KEY)], ProvidersOptions::default()).await;
        let err = s.providers.get("fast").expect_err("invalid");
        assert!(matches!(err, ProviderError::InvalidBaseUrl { .. }), "{url}: {err:?}");
        assert_eq!(err.class(), ErrorClass::Config);
    }
    // A well-formed URL where nothing listens is a connection error, retried, then reported.
    let yaml = "providers:\n  - { id: fast, kind: openai, model: gpt-4o-mini, base_url: 'http://127.0.0.1:9/v1', limits: { max_retries: 1, backoff_ms: 1 } }\n";
    let s = setup(yaml, &[("OPENAI_API_KEY", KEY)], ProvidersOptions::default()).await;
    let err =
        s.providers.get("fast").expect("resolves").chat(&ChatRequest::user("hi"), None).await.expect_err("refused");
    assert!(matches!(err, ProviderError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("http://127.0.0.1:9/v1/chat/completions"), "{err}");
}

#[tokio::test]
async fn a_non_json_answer_to_a_declared_schema_is_an_error_with_the_answer_kept() {
    let stub = Stub::start(StubConfig::new().reply("Sure! It is about billing.")).await;
    let yaml = format!(
        "providers:\n  - {{ id: fast, kind: openai, model: gpt-4o-mini, base_url: '{}' }}\n",
        stub.openai_base()
    );
    let s = setup(&yaml, &[("OPENAI_API_KEY", KEY)], ProvidersOptions::default()).await;
    let request =
        ChatRequest { response_schema: Some(serde_json::json!({ "type": "object" })), ..ChatRequest::user("classify") };
    let provider = s.providers.get("fast").expect("resolves");
    let err = provider.chat(&request, None).await.expect_err("not JSON");
    assert!(err.to_string().contains("text that is not JSON"), "{err}");
    assert!(matches!(&err, ProviderError::SchemaMismatch { output, .. } if output == "Sure! It is about billing."));
    s.providers.flush().await.expect("written");
    provider.chat(&request, None).await.expect_err("still not JSON: a rejected answer is not cached");
    assert_eq!(stub.request_count(), 2);
}

#[test]
fn unreadable_and_non_image_files_are_clear_errors() {
    let err = load_image("missing.png", &data_dir()).expect_err("missing");
    assert!(err.to_string().starts_with("failed to read image"), "{err}");
    assert_eq!(err.class(), ErrorClass::Usage);
    let err = load_image("not-an-image.png", &data_dir()).expect_err("text");
    assert_eq!(
        err.to_string(),
        "image `not-an-image.png` cannot be used: the content is not a PNG, JPEG, GIF or WebP image"
    );
}

#[test]
fn a_mock_rule_with_a_bad_regex_is_reported_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = "providers:\n  - id: offline\n    kind: mock\n    rules:\n      - match: { contains: refund }\n        reply: billing\n      - match: { regex: \"(?i)pass[word\" }\n        reply: account\n";
    std::fs::write(dir.path().join("promptops.yaml"), yaml).expect("write");
    let err = Project::open(dir.path()).expect_err("bad regex");
    assert!(err.to_string().contains("promptops.yaml:7:18: invalid regex `(?i)pass[word`: "), "{err}");
    assert!(err.hints().iter().any(|h| h.contains("regex syntax")), "{:?}", err.hints());
    assert_eq!(err.class(), ErrorClass::Config);
}
