//! Model parameters shared by prompt files and provider defaults (`params:`).

use serde::{Deserialize, Serialize};

/// Sampling and length parameters. Unset fields defer to the provider's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    /// Sampling temperature (0 = most deterministic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling probability mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequence(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Seed for providers that support reproducible sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// OpenAI presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// OpenAI frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
}

/// One stop sequence or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

impl ModelParams {
    /// The keys of `params:` as users type them (also the sampling keys of a Langfuse `config`).
    pub const KEYS: [&'static str; 7] =
        ["temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty"];

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// These parameters, with unset fields taken from `fallback` (prompt over provider defaults).
    #[must_use]
    pub fn or(&self, fallback: &Self) -> Self {
        let Self { temperature, top_p, max_tokens, stop, seed, presence_penalty, frequency_penalty } = self;
        Self {
            temperature: temperature.or(fallback.temperature),
            top_p: top_p.or(fallback.top_p),
            max_tokens: max_tokens.or(fallback.max_tokens),
            stop: stop.clone().or_else(|| fallback.stop.clone()),
            seed: seed.or(fallback.seed),
            presence_penalty: presence_penalty.or(fallback.presence_penalty),
            frequency_penalty: frequency_penalty.or(fallback.frequency_penalty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_every_field_of_params() {
        let full = ModelParams {
            temperature: Some(0.1),
            top_p: Some(0.9),
            max_tokens: Some(1),
            stop: Some(Stop::One("x".to_owned())),
            seed: Some(1),
            presence_penalty: Some(0.0),
            frequency_penalty: Some(0.0),
        };
        let value = serde_json::to_value(full).expect("serialize");
        let keys: Vec<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ModelParams::KEYS);
    }
}
