//! OpenAI-compatible and Azure chat completions, streaming and embeddings.

use promptops_test_support::stub::{Stub, StubConfig, cosine, count_tokens, embed};
use serde_json::{Value, json};

use crate::{client, openai_body, sse_events, sse_json};

#[tokio::test]
async fn chat_completion_has_content_and_deterministic_usage() {
    let stub = Stub::start(StubConfig::new().reply("Hello there, friend").cached_tokens(2)).await;
    let response = client()
        .post(format!("{}/chat/completions", stub.openai_base()))
        .json(&json!({"model": "gpt-stub", "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Say hello"}
        ]}))
        .send()
        .await
        .expect("request is sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-stub");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there, friend");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let prompt_tokens = count_tokens("Be kind.") + count_tokens("Say hello");
    let completion_tokens = count_tokens("Hello there, friend");
    assert_eq!((prompt_tokens, completion_tokens), (2 + 3, 5));
    assert_eq!(
        body["usage"],
        json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 0},
        })
    );
}

#[tokio::test]
async fn max_tokens_cuts_the_reply_with_finish_reason_length() {
    let stub = Stub::start(StubConfig::new().reply("abcdefghijklmnop")).await;
    let mut request = openai_body("x");
    request["max_tokens"] = json!(2);
    let body: Value = client()
        .post(format!("{}/chat/completions", stub.openai_base()))
        .json(&request)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["choices"][0]["message"]["content"], "abcdefgh");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn stream_without_usage_sends_deltas_then_done() {
    let stub = Stub::start(StubConfig::new().reply("one two three")).await;
    let mut request = openai_body("count");
    request["stream"] = json!(true);
    let response =
        client().post(format!("{}/chat/completions", stub.openai_base())).json(&request).send().await.expect("sent");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.expect("whole stream");
    let events = sse_events(&text);
    assert_eq!(events.last().map(|(_, data)| data.as_str()), Some("[DONE]"));
    assert!(events.iter().all(|(name, _)| name.is_none()), "OpenAI events have no `event:` line");
    let chunks = sse_json(&text);
    assert!(chunks.iter().all(|chunk| chunk["object"] == "chat.completion.chunk" && chunk.get("usage").is_none()));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks.iter().filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "one two three");
    let last = chunks.last().expect("chunks");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks.len(), 1 + 3 + 1, "role chunk, one per word, finish chunk");
}

#[tokio::test]
async fn stream_with_usage_ends_with_an_empty_choices_usage_chunk() {
    let stub = Stub::start(StubConfig::new().reply("streamed words").cached_tokens(1)).await;
    let mut request = openai_body("hello");
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let text = client()
        .post(format!("{}/chat/completions", stub.openai_base()))
        .json(&request)
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("stream");
    let chunks = sse_json(&text);
    let (usage_chunk, content_chunks) = chunks.split_last().expect("chunks");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 2);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 4);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 6);
    assert_eq!(usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
    assert!(content_chunks.iter().all(|chunk| chunk["usage"].is_null()));
    assert!(text.trim_end().ends_with("data: [DONE]"));
}

#[tokio::test]
async fn azure_deployment_path_uses_api_key_and_api_version() {
    let stub = Stub::start(StubConfig::new().reply("from azure").require_api_key("az-key")).await;
    let url = format!("{}/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21", stub.url());
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let response = client().post(&url).header("api-key", "az-key").json(&body).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.expect("JSON");
    assert_eq!(reply["choices"][0]["message"]["content"], "from azure");
    assert_eq!(reply["model"], "my-gpt", "the deployment stands in for a missing model");

    let bearer = client().post(&url).bearer_auth("az-key").json(&body).send().await.expect("sent");
    assert_eq!(bearer.status(), 401, "Azure keys go in `api-key`");
    let no_version = format!("{}/openai/deployments/my-gpt/chat/completions", stub.url());
    let response = client().post(&no_version).header("api-key", "az-key").json(&body).send().await.expect("sent");
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("JSON");
    assert!(error["error"]["message"].as_str().is_some_and(|message| message.contains("api-version")));
    let recorded = stub.requests();
    assert_eq!(recorded[0].query_param("api-version"), Some("2024-10-21"));
}

#[tokio::test]
async fn rate_limit_headers_are_configurable_and_changeable() {
    let stub = Stub::start(StubConfig::new().rate_limit_remaining(99, 12_345)).await;
    let send = || client().post(format!("{}/chat/completions", stub.openai_base())).json(&openai_body("x")).send();
    let response = send().await.expect("sent");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "99");
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "12345");
    stub.reconfigure(|config| config.rate_limit_remaining(0, 10));
    let response = send().await.expect("sent");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
    assert_eq!(response.headers()["x-ratelimit-remaining-tokens"], "10");
}

#[tokio::test]
async fn invalid_bodies_get_openai_shaped_400s() {
    let stub = Stub::start(StubConfig::new()).await;
    let url = format!("{}/chat/completions", stub.openai_base());
    let cases = [
        client().post(&url).body("not json").header("content-type", "application/json"),
        client().post(&url).json(&json!({"messages": []})),
        client().post(&url).json(&json!({"model": "m"})),
    ];
    for case in cases {
        let response = case.send().await.expect("sent");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn embeddings_are_deterministic_normalised_and_similar_for_similar_texts() {
    let stub = Stub::start(StubConfig::new().embedding_dimensions(128)).await;
    let texts = ["the cat sat on the mat", "a cat sat on a mat", "quarterly revenue grew"];
    let body: Value = client()
        .post(format!("{}/embeddings", stub.openai_base()))
        .json(&json!({"model": "embed-stub", "input": texts}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["object"], "list");
    let vectors: Vec<Vec<f32>> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| serde_json::from_value(item["embedding"].clone()).expect("floats"))
        .collect();
    assert_eq!(vectors.len(), 3);
    assert_eq!(vectors[0], embed(texts[0], 128));
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]));
    let tokens: u64 = texts.iter().map(|text| count_tokens(text)).sum();
    assert_eq!(body["usage"]["prompt_tokens"], tokens);
}

#[tokio::test]
async fn embeddings_honour_dimensions_and_base64() {
    use base64::Engine as _;
    let stub = Stub::start(StubConfig::new()).await;
    let body: Value = client()
        .post(format!("{}/embeddings", stub.openai_base()))
        .json(&json!({"model": "e", "input": "hello", "dimensions": 8, "encoding_format": "base64"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let encoded = body["data"][0]["embedding"].as_str().expect("base64 string");
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).expect("valid base64");
    let floats: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("four bytes"))).collect();
    assert_eq!(floats, embed("hello", 8));
}

#[tokio::test]
async fn azure_embeddings_and_streaming_share_the_openai_shapes() {
    let stub = Stub::start(StubConfig::new().reply("azure stream")).await;
    let base = format!("{}/openai/deployments/dep", stub.url());
    let embeddings = client()
        .post(format!("{base}/embeddings?api-version=2024-10-21"))
        .header("api-key", "k")
        .json(&json!({"input": "hello"}))
        .send()
        .await
        .expect("sent");
    let body: Value = embeddings.json().await.expect("JSON");
    assert_eq!(body["model"], "dep");
    assert_eq!(body["data"][0]["embedding"].as_array().map(Vec::len), Some(64));
    let stream = client()
        .post(format!("{base}/chat/completions?api-version=2024-10-21"))
        .header("api-key", "k")
        .json(&json!({"stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .expect("sent");
    let text = stream.text().await.expect("stream");
    let content: String =
        sse_json(&text).iter().filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "azure stream");
    assert!(sse_events(&text).last().is_some_and(|(_, data)| data == "[DONE]"));
}
