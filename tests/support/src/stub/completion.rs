//! A finished reply before it is put in a wire format: the text after `max_tokens`, the token
//! usage, and the split into stream pieces. Both wire modules render from this one value, so
//! OpenAI and Anthropic replies to the same request always agree.

use super::request::{CHARS_PER_TOKEN, ChatRequest, count_tokens};

/// A reply ready to render.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    /// `chatcmpl-stub-N` / `msg_stub_N`, numbered per stub.
    pub sequence: u64,
    pub model: String,
    pub text: String,
    /// The reply was cut at `max_tokens` (`finish_reason: length`, `stop_reason: max_tokens`).
    pub hit_max_tokens: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the (pretend) cache; never more than `prompt_tokens`.
    pub cached_tokens: u64,
}

impl Completion {
    /// Builds the completion of `request` with reply `text`, cut to `max_tokens` if needed.
    pub(crate) fn new(sequence: u64, request: &ChatRequest, mut text: String, cached_tokens: u64) -> Self {
        let limit = request.max_tokens.map(|tokens| tokens.saturating_mul(CHARS_PER_TOKEN));
        let chars = text.chars().count() as u64;
        let hit_max_tokens = limit.is_some_and(|limit| chars > limit);
        if let Some(limit) = limit.filter(|_| hit_max_tokens) {
            // `limit < chars <= usize::MAX`, so the conversion cannot fail.
            let keep = usize::try_from(limit).unwrap_or(usize::MAX);
            text = text.chars().take(keep).collect();
        }
        let prompt_tokens = request.prompt_tokens();
        Self {
            sequence,
            model: request.model.clone(),
            completion_tokens: count_tokens(&text),
            text,
            hit_max_tokens,
            prompt_tokens,
            cached_tokens: cached_tokens.min(prompt_tokens),
        }
    }

    /// The reply split for streaming: each piece is a word with the whitespace before it, so
    /// `"Hello big world"` streams as `"Hello"`, `" big"`, `" world"` and the pieces concatenate
    /// back to the text.
    pub(crate) fn pieces(&self) -> Vec<&str> {
        let text = self.text.as_str();
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut previous_was_space = true;
        for (index, character) in text.char_indices() {
            let is_space = character.is_whitespace();
            if is_space && !previous_was_space && index > start {
                pieces.push(&text[start..index]);
                start = index;
            }
            previous_was_space = is_space;
        }
        if start < text.len() {
            pieces.push(&text[start..]);
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::request::{ChatMessage, Wire};

    fn request(max_tokens: Option<u64>) -> ChatRequest {
        ChatRequest {
            wire: Wire::OpenAi,
            model: "m".to_owned(),
            system: None,
            messages: vec![ChatMessage { role: "user".to_owned(), text: "12345678".to_owned(), images: 0 }],
            stream: false,
            include_usage: false,
            max_tokens,
        }
    }

    #[test]
    fn pieces_concatenate_back_to_the_text() {
        for text in ["Hello big  world", " lead", "trail \n", "", "one"] {
            let completion = Completion::new(1, &request(None), text.to_owned(), 0);
            assert_eq!(completion.pieces().concat(), text);
        }
        let completion = Completion::new(1, &request(None), "Hello big world".to_owned(), 0);
        assert_eq!(completion.pieces(), ["Hello", " big", " world"]);
    }

    #[test]
    fn max_tokens_cuts_the_reply_and_usage_follows() {
        let completion = Completion::new(1, &request(Some(2)), "abcdefghijkl".to_owned(), 99);
        assert_eq!(completion.text, "abcdefgh");
        assert!(completion.hit_max_tokens);
        assert_eq!((completion.prompt_tokens, completion.completion_tokens, completion.cached_tokens), (2, 2, 2));
    }
}
