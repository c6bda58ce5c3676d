//! Prices of models in integer micro-dollars per million tokens (DESIGN boundary 5): a built-in
//! table of current OpenAI and Anthropic models, extended and overridden by `pricing:` in
//! `promptops.yaml`, and the cost of a call's [`Usage`]. A dated model name
//! (`gpt-4o-mini-2024-07-18`) takes the price of its longest listed prefix.

use std::collections::BTreeMap;

use crate::config::PriceConfig;
use crate::money::Micros;

use super::types::Usage;

/// A model's price per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Input (prompt) tokens.
    pub input: Micros,
    /// Output (completion) tokens.
    pub output: Micros,
    /// Cached input tokens.
    pub cached_input: Micros,
}

impl Price {
    /// Nothing per token (offline providers).
    pub const FREE: Self = Self::usd(0, 0, 0);

    const fn usd(input_micros: i64, cached_micros: i64, output_micros: i64) -> Self {
        Self { input: Micros(input_micros), cached_input: Micros(cached_micros), output: Micros(output_micros) }
    }

    /// The cost of `usage` at this price: uncached input, cached input and output are each
    /// rounded to the micro-dollar and added.
    pub fn cost(&self, usage: &Usage) -> Micros {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        Micros::for_tokens(usage.input_tokens - cached, self.input)
            + Micros::for_tokens(cached, self.cached_input)
            + Micros::for_tokens(usage.output_tokens, self.output)
    }
}

/// Built-in prices (USD per million tokens × 1,000,000), as published by OpenAI and Anthropic
/// in 2025: (model, input, cached input, output). Anthropic's cached price is the cache read.
const BUILT_IN: &[(&str, Price)] = &[
    // OpenAI
    ("gpt-5", Price::usd(1_250_000, 125_000, 10_000_000)),
    ("gpt-5-mini", Price::usd(250_000, 25_000, 2_000_000)),
    ("gpt-5-nano", Price::usd(50_000, 5_000, 400_000)),
    ("gpt-4.1", Price::usd(2_000_000, 500_000, 8_000_000)),
    ("gpt-4.1-mini", Price::usd(400_000, 100_000, 1_600_000)),
    ("gpt-4.1-nano", Price::usd(100_000, 25_000, 400_000)),
    ("gpt-4o", Price::usd(2_500_000, 1_250_000, 10_000_000)),
    ("gpt-4o-mini", Price::usd(150_000, 75_000, 600_000)),
    ("gpt-4-turbo", Price::usd(10_000_000, 10_000_000, 30_000_000)),
    ("gpt-3.5-turbo", Price::usd(500_000, 500_000, 1_500_000)),
    ("o1", Price::usd(15_000_000, 7_500_000, 60_000_000)),
    ("o1-mini", Price::usd(1_100_000, 550_000, 4_400_000)),
    ("o3", Price::usd(2_000_000, 500_000, 8_000_000)),
    ("o3-mini", Price::usd(1_100_000, 550_000, 4_400_000)),
    ("o4-mini", Price::usd(1_100_000, 275_000, 4_400_000)),
    ("text-embedding-3-small", Price::usd(20_000, 20_000, 0)),
    ("text-embedding-3-large", Price::usd(130_000, 130_000, 0)),
    ("text-embedding-ada-002", Price::usd(100_000, 100_000, 0)),
    // Anthropic
    ("claude-opus-4-5", Price::usd(5_000_000, 500_000, 25_000_000)),
    ("claude-opus-4-1", Price::usd(15_000_000, 1_500_000, 75_000_000)),
    ("claude-opus-4", Price::usd(15_000_000, 1_500_000, 75_000_000)),
    ("claude-sonnet-4-5", Price::usd(3_000_000, 300_000, 15_000_000)),
    ("claude-sonnet-4", Price::usd(3_000_000, 300_000, 15_000_000)),
    ("claude-haiku-4-5", Price::usd(1_000_000, 100_000, 5_000_000)),
    ("claude-3-7-sonnet", Price::usd(3_000_000, 300_000, 15_000_000)),
    ("claude-3-5-sonnet", Price::usd(3_000_000, 300_000, 15_000_000)),
    ("claude-3-5-haiku", Price::usd(800_000, 80_000, 4_000_000)),
    ("claude-3-opus", Price::usd(15_000_000, 1_500_000, 75_000_000)),
    ("claude-3-haiku", Price::usd(250_000, 30_000, 1_250_000)),
];

/// The price table in force: built-in prices overlaid with the project's `pricing:`.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The built-in table only.
    pub fn built_in() -> Self {
        Self { prices: BUILT_IN.iter().map(|(model, price)| ((*model).to_owned(), *price)).collect() }
    }

    /// The built-in table with `overrides` (USD per million tokens) added or replacing entries.
    pub fn with_overrides(overrides: &BTreeMap<String, PriceConfig>) -> Self {
        let mut table = Self::built_in();
        for (model, price) in overrides {
            let to_micros = |usd: f64| Micros::from_usd(usd).unwrap_or(Micros::ZERO);
            let input = to_micros(price.input);
            table.prices.insert(
                model.clone(),
                Price {
                    input,
                    output: to_micros(price.output),
                    cached_input: price.cached_input.map_or(input, to_micros),
                },
            );
        }
        table
    }

    /// The price of `model`: an exact entry, else the longest entry that is a prefix of it
    /// followed by `-` (a dated or suffixed variant), else none.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.family(model).and_then(|family| self.prices.get(family)).copied()
    }

    /// The entry whose price `model` takes (see [`Self::price`]): `gpt-4o-mini` for
    /// `openai/gpt-4o-mini-2024-07-18`.
    pub fn family(&self, model: &str) -> Option<&str> {
        if let Some((name, _)) = self.prices.get_key_value(model) {
            return Some(name);
        }
        // Strip a vendor prefix such as `openai/` (OpenRouter) before matching.
        let bare = model.rsplit('/').next().unwrap_or(model);
        if bare != model {
            return self.family(bare);
        }
        self.prices
            .keys()
            .filter(|name| bare.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('-')))
            .max_by_key(|name| name.len())
            .map(String::as_str)
    }

    /// Every entry, by model name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.prices.iter().map(|(model, price)| (model.as_str(), price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_models_take_their_family_price() {
        let table = PriceTable::built_in();
        assert_eq!(table.price("gpt-4o-mini-2024-07-18"), table.price("gpt-4o-mini"));
        assert_eq!(table.price("gpt-4o-2024-08-06"), table.price("gpt-4o"));
        assert_eq!(table.price("claude-sonnet-4-20250514"), table.price("claude-sonnet-4"));
        assert_eq!(table.price("openai/gpt-4o-mini"), table.price("gpt-4o-mini"));
        assert_eq!(table.price("llama3.1:8b"), None);
        assert_eq!(table.family("openai/gpt-4o-mini-2024-07-18"), Some("gpt-4o-mini"));
        assert_eq!(table.family("gpt-4o-mini-acme-finetune"), Some("gpt-4o-mini"));
        assert_eq!(table.family("acme-llm"), None);
        assert_eq!(table.price("gpt-4oops"), None);
    }

    #[test]
    fn costs_are_exact_to_the_micro_dollar() {
        let price = PriceTable::built_in().price("gpt-4o-mini").expect("listed");
        // 1,000 input of which 400 cached, 500 output:
        // 600 × 0.15 + 400 × 0.075 + 500 × 0.60 per million = 90 + 30 + 300 micro-dollars.
        let usage = Usage { input_tokens: 1_000, output_tokens: 500, cached_input_tokens: 400 };
        assert_eq!(price.cost(&usage), Micros(420));
        let sonnet = PriceTable::built_in().price("claude-sonnet-4-5").expect("listed");
        let usage = Usage { input_tokens: 12_345, output_tokens: 678, cached_input_tokens: 0 };
        // 12,345 × 3 + 678 × 15 = 37,035 + 10,170.
        assert_eq!(sonnet.cost(&usage), Micros(47_205));
    }

    #[test]
    fn project_prices_override_and_extend() {
        let overrides = BTreeMap::from([
            ("gpt-4o-mini".to_owned(), PriceConfig { input: 1.0, output: 2.0, cached_input: None }),
            ("llama3".to_owned(), PriceConfig { input: 0.05, output: 0.1, cached_input: Some(0.01) }),
        ]);
        let table = PriceTable::with_overrides(&overrides);
        let mini = table.price("gpt-4o-mini").expect("listed");
        assert_eq!(
            (mini.input, mini.cached_input, mini.output),
            (Micros(1_000_000), Micros(1_000_000), Micros(2_000_000))
        );
        assert_eq!(table.price("llama3-8b").map(|p| p.cached_input), Some(Micros(10_000)));
    }
}
