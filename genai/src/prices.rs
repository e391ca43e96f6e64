//! What a call cost, in USD: the host's own prices first (self-hosted or
//! fine-tuned models, negotiated rates), then the `genai-prices` table
//! (embedded in the crate, kept by Pydantic from providers' price pages).
//! A model in neither has no price: the caller counts it, never guesses.

use crate::mapping::TokenUsage;

/// A model's price per million tokens, in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Cache reads (`None`: billed as input).
    pub cache_read_per_mtok: Option<f64>,
    /// Cache writes (`None`: billed as input).
    pub cache_write_per_mtok: Option<f64>,
}

impl ModelPrice {
    /// Input and output prices per million tokens; cached tokens as input.
    pub fn per_million_tokens(input: f64, output: f64) -> Self {
        ModelPrice {
            input_per_mtok: input,
            output_per_mtok: output,
            cache_read_per_mtok: None,
            cache_write_per_mtok: None,
        }
    }

    /// The cost of `usage`. As in the convention, `input` counts every
    /// input token, cached ones included; those are billed at their own
    /// rate when the price has one.
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        let input = usage.input.unwrap_or(0) as f64;
        let output = usage.output.unwrap_or(0) as f64;
        let read = usage.cache_read.unwrap_or(0) as f64;
        let write = usage.cache_write.unwrap_or(0) as f64;
        let mut cost = output * self.output_per_mtok;
        let mut uncached = input;
        if let Some(rate) = self.cache_read_per_mtok {
            cost += read * rate;
            uncached -= read;
        }
        if let Some(rate) = self.cache_write_per_mtok {
            cost += write * rate;
            uncached -= write;
        }
        cost += uncached.max(0.0) * self.input_per_mtok;
        cost / 1_000_000.0
    }
}

/// The host's prices, then the table.
#[derive(Debug, Clone, Default)]
pub struct Prices {
    /// `(provider or "*", model, price)`, the latest insert of a pair wins.
    custom: Vec<(String, String, ModelPrice)>,
}

impl Prices {
    /// Prices `model` of `provider` (`"*"`: of any provider) at `price`.
    pub fn insert(&mut self, provider: &str, model: &str, price: ModelPrice) {
        self.custom
            .retain(|(p, m, _)| !(p == provider && m == model));
        self.custom
            .push((provider.to_owned(), model.to_owned(), price));
    }

    /// The price of a call, `None` when the model is unknown.
    pub fn price(&self, provider: Option<&str>, model: &str, usage: &TokenUsage) -> Option<f64> {
        let custom = |wanted: &str| {
            self.custom
                .iter()
                .find(|(p, m, _)| p == wanted && m == model)
                .map(|(_, _, price)| price.cost(usage))
        };
        provider
            .and_then(custom)
            .or_else(|| custom("*"))
            .or_else(|| table_price(provider, model, usage))
    }
}

/// Decodes the table now (tens of milliseconds; seconds in a debug
/// build) so that the first price does not wait for it.
pub fn warm_up() {
    let _ = genai_prices::Calculator::bundled();
}

/// The `genai-prices` table's price, when it knows the model (decoded on
/// first use: tens of milliseconds, on the caller's thread).
fn table_price(provider: Option<&str>, model: &str, usage: &TokenUsage) -> Option<f64> {
    use genai_prices::{PriceRequest, Usage, UsageKey};
    let mut table_usage = Usage::new();
    for (key, count) in [
        (UsageKey::INPUT_TOKENS, usage.input),
        (UsageKey::OUTPUT_TOKENS, usage.output),
        (UsageKey::CACHE_READ_TOKENS, usage.cache_read),
        (UsageKey::CACHE_WRITE_TOKENS, usage.cache_write),
    ] {
        if let Some(count) = count {
            table_usage.insert(key, count as f64);
        }
    }
    let mut request = PriceRequest::new(model, &table_usage);
    if let Some(provider) = provider {
        request = request.with_provider_id(provider);
    }
    genai_prices::Calculator::bundled()
        .calculate(&request)
        .ok()
        .map(|price| price.total_price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> TokenUsage {
        TokenUsage {
            input: Some(input),
            output: Some(output),
            ..TokenUsage::default()
        }
    }

    #[test]
    fn host_prices_win_and_apply_per_provider_or_to_all() {
        let mut prices = Prices::default();
        prices.insert("vllm", "acme-ft", ModelPrice::per_million_tokens(1.0, 2.0));
        prices.insert("*", "shared", ModelPrice::per_million_tokens(10.0, 0.0));
        let cost = prices.price(Some("vllm"), "acme-ft", &usage(1_000_000, 500_000));
        assert_eq!(cost, Some(2.0));
        assert_eq!(prices.price(Some("other"), "acme-ft", &usage(1, 1)), None);
        assert_eq!(prices.price(None, "shared", &usage(100_000, 0)), Some(1.0));
        // The latest price of a pair replaces the earlier one.
        prices.insert("vllm", "acme-ft", ModelPrice::per_million_tokens(3.0, 0.0));
        assert_eq!(
            prices.price(Some("vllm"), "acme-ft", &usage(1_000_000, 9)),
            Some(3.0)
        );
    }

    #[test]
    fn cached_tokens_are_billed_at_their_rate_out_of_the_input() {
        let price = ModelPrice {
            input_per_mtok: 2.0,
            output_per_mtok: 8.0,
            cache_read_per_mtok: Some(0.5),
            cache_write_per_mtok: None,
        };
        let usage = TokenUsage {
            input: Some(1_000_000),
            output: Some(0),
            cache_read: Some(400_000),
            cache_write: Some(100_000),
            reasoning: None,
        };
        // 600k uncached at 2.0 + 400k read at 0.5; writes billed as input.
        let expected = 0.6 * 2.0 + 0.4 * 0.5;
        assert!((price.cost(&usage) - expected).abs() < 1e-12);
    }

    #[test]
    fn the_table_prices_known_models() {
        let prices = Prices::default();
        let cost = prices
            .price(Some("openai"), "gpt-4o-mini", &usage(1_000_000, 1_000_000))
            .expect("gpt-4o-mini is in the table");
        // $0.15 in, $0.60 out per million tokens.
        assert!((cost - 0.75).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn unknown_models_have_no_price() {
        let prices = Prices::default();
        assert_eq!(
            prices.price(Some("simulated"), "no-such-model-x", &usage(10, 10)),
            None
        );
    }
}
