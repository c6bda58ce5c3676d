//! Each wire format against the stub: request shapes (headers, bodies, images), answers,
//! streaming, usage and cost exact to the micro-dollar.

use pretty_assertions::assert_eq;
use promptops::money::Micros;
use promptops::prompt::{ModelParams, Role};
use promptops::provider::{ChatMessage, ChatPart, ChatRequest, EmbedRequest, ProvidersOptions, load_image};
use promptops_test_support::stub::{Stub, StubConfig};

use super::{KEY, data_dir, setup};

fn openai_yaml(base: &str, model: &str) -> String {
    format!("providers:\n  - id: fast\n    kind: openai\n    model: {model}\n    base_url: {base}\n")
}

fn anthropic_yaml(base: &str, model: &str) -> String {
    format!("providers:\n  - id: claude\n    kind: anthropic\n    model: {model}\n    base_url: {base}/v1\n")
}

/// 100 system tokens and 1,000 user tokens by the stub's four-characters-a-token count.
fn sized_request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::text(Role::System, "s".repeat(400)),
            ChatMessage::text(Role::User, "u".repeat(4_000)),
        ],
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn openai_usage_and_cost_are_exact() {
    let stub = Stub::start(StubConfig::new().reply("r".repeat(2_000)).cached_tokens(400).require_api_key(KEY)).await;
    let s = setup(
        &openai_yaml(&stub.openai_base(), "gpt-4o-mini"),
        &[("OPENAI_API_KEY", KEY)],
        ProvidersOptions::default(),
    )
    .await;
    let answer = s.providers.get("fast").expect("resolves").chat(&sized_request(), None).await.expect("answers");
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.cached_input_tokens, answer.usage.output_tokens),
        (1_100, 400, 500)
    );
    // gpt-4o-mini: 700 × $0.15 + 400 × $0.075 + 500 × $0.60 per million = 105 + 30 + 300 micro-dollars.
    assert_eq!(answer.cost, Micros(435));
    assert_eq!((answer.attempts, answer.cached), (1, false));
    let sent = &stub.requests_to("/v1/chat/completions")[0];
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(sent.json()["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn anthropic_usage_and_cost_are_exact() {
    let stub = Stub::start(StubConfig::new().reply("r".repeat(400)).cached_tokens(100).require_api_key(KEY)).await;
    let s = setup(
        &anthropic_yaml(&stub.url(), "claude-sonnet-4-5"),
        &[("ANTHROPIC_API_KEY", KEY)],
        ProvidersOptions::default(),
    )
    .await;
    let answer = s.providers.get("claude").expect("resolves").chat(&sized_request(), None).await.expect("answers");
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.cached_input_tokens, answer.usage.output_tokens),
        (1_100, 100, 100)
    );
    // claude-sonnet-4-5: 1,000 × $3 + 100 × $0.30 + 100 × $15 per million = 3,000 + 30 + 1,500.
    assert_eq!(answer.cost, Micros(4_530));
    let sent = &stub.requests_to("/v1/messages")[0];
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let body = sent.json();
    assert_eq!(body["system"], "s".repeat(400));
    assert_eq!(body["max_tokens"], 4096, "defaulted: the API requires it");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "the system prompt is not a message");
}

#[tokio::test]
async fn streams_deliver_every_piece_and_usage_on_both_wires() {
    let stub = Stub::start(StubConfig::new().reply("Hello big streaming world")).await;
    let yaml = format!(
        "{}  - id: claude\n    kind: anthropic\n    model: claude-3-5-haiku-latest\n    base_url: {}/v1\n",
        openai_yaml(&stub.openai_base(), "gpt-4o-mini"),
        stub.url()
    );
    let s = setup(&yaml, &[("OPENAI_API_KEY", KEY), ("ANTHROPIC_API_KEY", KEY)], ProvidersOptions::default()).await;
    for id in ["fast", "claude"] {
        let mut pieces = Vec::new();
        let mut sink = |delta: &str| pieces.push(delta.to_owned());
        let answer = s
            .providers
            .get(id)
            .expect("resolves")
            .chat(&ChatRequest::user("hi"), Some(&mut sink))
            .await
            .expect("streams");
        assert!(pieces.len() > 1, "{id}: streamed in pieces: {pieces:?}");
        assert_eq!(pieces.concat(), "Hello big streaming world", "{id}");
        assert_eq!(answer.text, "Hello big streaming world", "{id}");
        assert_eq!((answer.usage.input_tokens, answer.usage.output_tokens), (1, 7), "{id}: usage from the stream");
        assert!(answer.cost > Micros::ZERO, "{id}: priced");
    }
    let openai = &stub.requests_to("/v1/chat/completions")[0];
    assert_eq!(openai.json()["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn images_are_encoded_as_each_api_expects() {
    let stub = Stub::start(StubConfig::new()).await;
    let yaml = format!(
        "{}{}",
        openai_yaml(&stub.openai_base(), "gpt-4o-mini"),
        &anthropic_yaml(&stub.url(), "claude-haiku-4-5")[11..]
    );
    let s = setup(&yaml, &[("OPENAI_API_KEY", KEY), ("ANTHROPIC_API_KEY", KEY)], ProvidersOptions::default()).await;
    let image = load_image("orange.png", &data_dir()).expect("loads");
    let png = std::fs::read(data_dir().join("orange.png")).expect("read");
    let base64 = base64_of(&png);
    let request = ChatRequest {
        messages: vec![ChatMessage {
            role: Role::User,
            parts: vec![ChatPart::Text("Describe".into()), ChatPart::Image(image)],
        }],
        ..ChatRequest::default()
    };
    for id in ["fast", "claude"] {
        s.providers.get(id).expect("resolves").chat(&request, None).await.expect("answers");
    }
    let openai = stub.requests_to("/v1/chat/completions")[0].json().clone();
    assert_eq!(
        openai["messages"][0]["content"][1],
        serde_json::json!({ "type": "image_url", "image_url": { "url": format!("data:image/png;base64,{base64}") } })
    );
    let anthropic = stub.requests_to("/v1/messages")[0].json().clone();
    assert_eq!(
        anthropic["messages"][0]["content"][1],
        serde_json::json!({ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": base64 } })
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn azure_uses_deployments_api_version_and_api_key() {
    let stub = Stub::start(StubConfig::new().require_api_key(KEY)).await;
    let yaml = format!(
        "providers:\n  - id: azure\n    kind: openai\n    model: my-deployment\n    base_url: {}\n    api_version: 2024-10-21\n",
        stub.url()
    );
    let s = setup(&yaml, &[("AZURE_OPENAI_API_KEY", KEY)], ProvidersOptions::default()).await;
    let answer =
        s.providers.get("azure").expect("resolves").chat(&ChatRequest::user("hi"), None).await.expect("answers");
    assert_eq!(answer.text, "stub reply");
    let sent = &stub.requests_to("/openai/deployments/my-deployment/chat/completions")[0];
    assert_eq!(sent.query_param("api-version"), Some("2024-10-21"));
    assert_eq!(sent.header("api-key"), Some(KEY));
    assert!(!sent.has_header("authorization"));
}

#[tokio::test]
async fn openai_embeddings_come_back_in_input_order() {
    let stub = Stub::start(StubConfig::new().embedding_dimensions(16)).await;
    let s = setup(
        &openai_yaml(&stub.openai_base(), "text-embedding-3-small"),
        &[("OPENAI_API_KEY", KEY)],
        ProvidersOptions::default(),
    )
    .await;
    let request =
        EmbedRequest { inputs: vec!["the cat sat".into(), "the dog ran".into(), "the cat sat".into()], model: None };
    let answer = s.providers.get("fast").expect("resolves").embed(&request).await.expect("embeds");
    assert_eq!(answer.vectors.len(), 3);
    assert_eq!(answer.vectors[0].len(), 16);
    assert_eq!(answer.vectors[0], answer.vectors[2]);
    assert_ne!(answer.vectors[0], answer.vectors[1]);
}

#[tokio::test]
async fn a_declared_schema_becomes_response_format_and_the_answer_is_parsed() {
    let stub = Stub::start(StubConfig::new().reply(r#"{"category": "billing"}"#)).await;
    let s = setup(
        &openai_yaml(&stub.openai_base(), "gpt-4o-mini"),
        &[("OPENAI_API_KEY", KEY)],
        ProvidersOptions::default(),
    )
    .await;
    let schema = serde_json::json!({ "type": "object", "required": ["category"] });
    let request = ChatRequest {
        prompt: Some("support/triage".into()),
        response_schema: Some(schema.clone()),
        params: ModelParams { temperature: Some(0.0), ..ModelParams::default() },
        ..ChatRequest::user("charged twice")
    };
    let answer = s.providers.get("fast").expect("resolves").chat(&request, None).await.expect("answers");
    assert_eq!(answer.json, Some(serde_json::json!({ "category": "billing" })));
    let body = stub.requests()[0].json().clone();
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
    assert_eq!(body["response_format"]["json_schema"]["name"], "support_triage");
}

/// The repository's own `prompts/vision/caption.yaml`, rendered with the PNG fixture and run
/// against the stub's Anthropic endpoint.
#[tokio::test]
async fn the_example_image_prompt_runs_end_to_end() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let name = promptops::prompt::PromptName::new("vision/caption").expect("name");
    let prompt = promptops::prompt::load_prompt(&repo.join("prompts"), &name).expect("the example loads");
    let vars = promptops::prompt::Vars::from([("photo".to_owned(), serde_json::json!("tests/data/orange.png"))]);
    let rendered = promptops::prompt::render(&prompt, &vars).expect("renders");
    let request = promptops::provider::request_from_rendered(&rendered, repo).expect("the image loads");
    let stub = Stub::start(StubConfig::new().reply("An orange square.")).await;
    let s = setup(
        &anthropic_yaml(&stub.url(), "claude-haiku-4-5"),
        &[("ANTHROPIC_API_KEY", KEY)],
        ProvidersOptions::default(),
    )
    .await;
    let answer = s.providers.get("claude").expect("resolves").chat(&request, None).await.expect("answers");
    assert_eq!(answer.text, "An orange square.");
    let body = stub.requests_to("/v1/messages")[0].json().clone();
    assert_eq!(body["system"], "You write alt texts for accessibility. One sentence, no more than 20 words.");
    assert_eq!(body["max_tokens"], 60, "the prompt's params");
    let image = &body["messages"][0]["content"][1];
    assert_eq!(image["source"]["media_type"], "image/png");
    assert_eq!(image["source"]["data"], base64_of(&std::fs::read(data_dir().join("orange.png")).expect("read")));
}

#[test]
fn providers_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<promptops::provider::Providers>();
    shareable::<std::sync::Arc<dyn promptops::provider::Provider>>();
}

#[tokio::test]
async fn embeddings_are_cached_like_answers() {
    let stub = Stub::start(StubConfig::new()).await;
    let s = setup(
        &openai_yaml(&stub.openai_base(), "text-embedding-3-small"),
        &[("OPENAI_API_KEY", KEY)],
        ProvidersOptions::default(),
    )
    .await;
    let provider = s.providers.get("fast").expect("resolves");
    let request = EmbedRequest { inputs: vec!["refund please".into()], model: None };
    let first = provider.embed(&request).await.expect("embeds");
    s.providers.flush().await.expect("written");
    let second = provider.embed(&request).await.expect("embeds");
    assert_eq!(first.vectors, second.vectors);
    assert_eq!(stub.requests_to("/v1/embeddings").len(), 1);
}
