//! The attribute table: which OpenTelemetry GenAI attribute (in any of the
//! spellings in use) is kept, under which metadata key, and what the
//! mapping reads it for. An attribute not in the table is not stored: the
//! table is an allow-list, so a library's new attribute holding a prompt
//! cannot reach the database by accident.

/// What the mapping reads an attribute for (beyond keeping it in metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `gen_ai.operation.name`: decides the event's kind.
    Operation,
    /// The provider (`gen_ai.provider.name`).
    Provider,
    /// The provider under its legacy name (`gen_ai.system`): used when the
    /// span gives no `gen_ai.provider.name`.
    LegacyProvider,
    RequestModel,
    ResponseModel,
    ToolName,
    AgentName,
    /// `error.type`: the span failed.
    ErrorType,
    /// `otel.status_code`: the span failed when it is `ERROR`.
    StatusCode,
    /// A token count (priced when the call is an inference).
    Usage(Usage),
    /// Kept as it is, read by nobody.
    Plain,
    /// A prompt, a reply, instructions, tool arguments or results: stored
    /// only when content capture is on.
    Content,
}

/// The token counts a price needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    Reasoning,
    Total,
}

/// A known attribute: where it is stored and what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// The metadata key (one per meaning, whatever the spelling found).
    pub key: &'static str,
    pub role: Role,
    /// A small number per key (below [`SLOTS`]): two spellings of one
    /// meaning share it, so a store keyed by it keeps one value per key.
    pub slot: u8,
}

/// The metadata keys of the attributes the mapping reads.
pub mod keys {
    pub const OPERATION: &str = "gen_ai.operation.name";
    pub const PROVIDER: &str = "gen_ai.provider.name";
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    pub const CACHE_READ_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    pub const CACHE_WRITE_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
    pub const REASONING_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
    pub const TOTAL_TOKENS: &str = "gen_ai.usage.total_tokens";
    pub const TOOL_NAME: &str = "gen_ai.tool.name";
    pub const AGENT_NAME: &str = "gen_ai.agent.name";
    pub const ERROR_TYPE: &str = "error.type";
    pub const STATUS_CODE: &str = "otel.status_code";
    /// Added by the mapping: the span's duration.
    pub const LATENCY_MS: &str = "latency_ms";
    /// Added on the writer side: the call's price in USD.
    pub const COST_USD: &str = "cost_usd";
}

use keys::*;
use Role::*;

/// `(spelling, metadata key, role)`; the first spelling of a key is the
/// convention's current one.
const TABLE: &[(&str, &str, Role)] = &[
    (OPERATION, OPERATION, Operation),
    (PROVIDER, PROVIDER, Provider),
    ("gen_ai.system", PROVIDER, LegacyProvider),
    (REQUEST_MODEL, REQUEST_MODEL, RequestModel),
    (RESPONSE_MODEL, RESPONSE_MODEL, ResponseModel),
    ("gen_ai.response.id", "gen_ai.response.id", Plain),
    (
        "gen_ai.response.finish_reasons",
        "gen_ai.response.finish_reasons",
        Plain,
    ),
    ("gen_ai.request.stream", "gen_ai.request.stream", Plain),
    ("gen_ai.stream", "gen_ai.request.stream", Plain),
    (
        "gen_ai.request.max_tokens",
        "gen_ai.request.max_tokens",
        Plain,
    ),
    (
        "gen_ai.request.temperature",
        "gen_ai.request.temperature",
        Plain,
    ),
    ("gen_ai.conversation.id", "gen_ai.conversation.id", Plain),
    (INPUT_TOKENS, INPUT_TOKENS, Usage(Usage::Input)),
    (
        "gen_ai.usage.prompt_tokens",
        INPUT_TOKENS,
        Usage(Usage::Input),
    ),
    (OUTPUT_TOKENS, OUTPUT_TOKENS, Usage(Usage::Output)),
    (
        "gen_ai.usage.completion_tokens",
        OUTPUT_TOKENS,
        Usage(Usage::Output),
    ),
    (
        CACHE_READ_TOKENS,
        CACHE_READ_TOKENS,
        Usage(Usage::CacheRead),
    ),
    (
        "gen_ai.usage.cache_read_input_tokens",
        CACHE_READ_TOKENS,
        Usage(Usage::CacheRead),
    ),
    (
        "gen_ai.usage.cached_tokens",
        CACHE_READ_TOKENS,
        Usage(Usage::CacheRead),
    ),
    (
        CACHE_WRITE_TOKENS,
        CACHE_WRITE_TOKENS,
        Usage(Usage::CacheWrite),
    ),
    (
        "gen_ai.usage.cache_creation_input_tokens",
        CACHE_WRITE_TOKENS,
        Usage(Usage::CacheWrite),
    ),
    (
        "gen_ai.usage.cache_write.input_tokens",
        CACHE_WRITE_TOKENS,
        Usage(Usage::CacheWrite),
    ),
    (
        "gen_ai.usage.cache_creation",
        CACHE_WRITE_TOKENS,
        Usage(Usage::CacheWrite),
    ),
    (REASONING_TOKENS, REASONING_TOKENS, Usage(Usage::Reasoning)),
    (
        "gen_ai.usage.reasoning_tokens",
        REASONING_TOKENS,
        Usage(Usage::Reasoning),
    ),
    (TOTAL_TOKENS, TOTAL_TOKENS, Usage(Usage::Total)),
    // rig: prompt tokens spent on tool use (part of the input already).
    (
        "gen_ai.usage.tool_use_prompt_tokens",
        "gen_ai.usage.tool_use_prompt_tokens",
        Plain,
    ),
    (TOOL_NAME, TOOL_NAME, ToolName),
    ("gen_ai.tool.call.id", "gen_ai.tool.call.id", Plain),
    ("gen_ai.tool.type", "gen_ai.tool.type", Plain),
    ("gen_ai.tool.description", "gen_ai.tool.description", Plain),
    // rig: the tool call's outcome, and its error's kind when it failed.
    (
        "gen_ai.tool.call.outcome",
        "gen_ai.tool.call.outcome",
        Plain,
    ),
    ("gen_ai.agent.id", "gen_ai.agent.id", Plain),
    (AGENT_NAME, AGENT_NAME, AgentName),
    // Totals an agent span may carry (turns asked for and made).
    ("gen_ai.agent.max_turns", "gen_ai.agent.max_turns", Plain),
    ("gen_ai.agent.turns", "gen_ai.agent.turns", Plain),
    (ERROR_TYPE, ERROR_TYPE, ErrorType),
    ("gen_ai.tool.error.type", ERROR_TYPE, ErrorType),
    (STATUS_CODE, STATUS_CODE, StatusCode),
    // Content: never stored unless asked for.
    ("gen_ai.input.messages", "gen_ai.input.messages", Content),
    ("gen_ai.output.messages", "gen_ai.output.messages", Content),
    (
        "gen_ai.system_instructions",
        "gen_ai.system_instructions",
        Content,
    ),
    ("gen_ai.prompt", "gen_ai.prompt", Content),
    ("gen_ai.completion", "gen_ai.completion", Content),
    (
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.arguments",
        Content,
    ),
    (
        "gen_ai.tool.call.result",
        "gen_ai.tool.call.result",
        Content,
    ),
    (
        "gen_ai.tool.definitions",
        "gen_ai.tool.definitions",
        Content,
    ),
    ("otel.status_message", "otel.status_message", Content),
];

/// An upper bound of [`Attribute::slot`].
pub const SLOTS: usize = TABLE.len();

/// The attribute named `name`, in any spelling the table knows.
pub fn attribute(name: &str) -> Option<Attribute> {
    let &(_, key, role) = TABLE.iter().find(|(spelling, _, _)| *spelling == name)?;
    Some(Attribute {
        key,
        role,
        slot: slot_of(key),
    })
}

/// The row of the key's first spelling.
fn slot_of(key: &str) -> u8 {
    TABLE.iter().position(|(_, k, _)| *k == key).unwrap_or(0) as u8
}

/// Every spelling with its attribute (for the docs and tests).
pub fn table() -> impl Iterator<Item = (&'static str, Attribute)> {
    TABLE.iter().map(|&(spelling, key, role)| {
        (
            spelling,
            Attribute {
                key,
                role,
                slot: slot_of(key),
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_in_use_share_one_key() {
        let key = |name| attribute(name).unwrap().key;
        assert_eq!(key("gen_ai.usage.cache_creation"), CACHE_WRITE_TOKENS);
        assert_eq!(
            key("gen_ai.usage.cache_write.input_tokens"),
            CACHE_WRITE_TOKENS
        );
        assert_eq!(key("gen_ai.usage.reasoning_tokens"), REASONING_TOKENS);
        assert_eq!(
            key("gen_ai.usage.reasoning.output_tokens"),
            REASONING_TOKENS
        );
        assert_eq!(key("gen_ai.usage.prompt_tokens"), INPUT_TOKENS);
        assert_eq!(key("gen_ai.system"), PROVIDER);
        assert_eq!(
            attribute("gen_ai.system").unwrap().role,
            Role::LegacyProvider
        );
    }

    #[test]
    fn content_and_unknown_attributes_are_told_apart() {
        for name in [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
            "gen_ai.prompt",
            "gen_ai.completion",
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
        ] {
            assert_eq!(attribute(name).unwrap().role, Role::Content, "{name}");
        }
        assert_eq!(attribute("gen_ai.request.seed"), None);
        assert_eq!(attribute("http.url"), None);
    }

    #[test]
    fn one_slot_per_key() {
        for (_, a) in table() {
            for (_, b) in table() {
                assert_eq!(a.key == b.key, a.slot == b.slot, "{} / {}", a.key, b.key);
            }
            assert!((a.slot as usize) < SLOTS);
        }
    }

    #[test]
    fn every_spelling_is_listed_once() {
        let mut names: Vec<_> = table().map(|(name, _)| name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
