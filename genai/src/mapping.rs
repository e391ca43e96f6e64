//! A closed GenAI span as a runtime event: the columns (layer, operation,
//! reason code, entity) from the attributes the mapping reads. The caller
//! feeds it what it found ([`SpanFacts`]) and writes the metadata itself,
//! attribute by attribute, under the table's keys.

use ai_runtime_vocab::reason_codes::{
    AGENT_INVOCATION_COMPLETED, AGENT_INVOCATION_FAILED, PROVIDER_CALL_FAILED, PROVIDER_CALL_OK,
    TOOL_CALL_FAILED, TOOL_CALL_OK,
};
use ai_runtime_vocab::{EventLayer, Operation};

use crate::attributes::{Role, Usage};

/// What a span's `gen_ai.operation.name` makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call to a model: `chat`, `text_completion`, `generate_content`,
    /// `embeddings`, or any operation the convention adds later.
    Inference,
    /// `execute_tool`.
    Tool,
    /// `invoke_agent`.
    Agent,
}

impl Kind {
    /// The kind of a span with this operation; `None` for `create_agent`
    /// (it describes, calls nothing) and an empty name.
    pub fn of(operation: &str) -> Option<Kind> {
        // Names come without spaces: trimming (a char loop) only when needed,
        // 41 instructions fewer per chat span on the host's thread (6,485
        // against 6,526 with `str::trim`; callgrind, `profile-genai chat`).
        let padded = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_whitespace() || !b.is_ascii());
        let bytes = operation.as_bytes();
        let name = match padded(bytes.first()) || padded(bytes.last()) {
            true => operation.trim(),
            false => operation,
        };
        match name {
            "" | "create_agent" => None,
            "execute_tool" => Some(Kind::Tool),
            "invoke_agent" => Some(Kind::Agent),
            _ => Some(Kind::Inference),
        }
    }
}

/// Marker of a failure inferred from an ERROR event inside the span, when
/// the span itself named no `error.type`.
pub const ERROR_EVENT: &str = "error_event";

/// Marker of an inference that closed without any sign of a response (no
/// response model, no token count): rig's chat spans carry no error status,
/// so a failed rig call is known only this way.
pub const NO_RESPONSE: &str = "no_response";

/// What the mapping reads of a span. Fill it with [`SpanFacts::note`] for
/// each text attribute, [`SpanFacts::note_number`] for each other one (a
/// number, a bool: only its presence is read), and
/// [`SpanFacts::error_event`] when an ERROR event was seen. Every way in
/// (the layer's spans, the receiver's) feeds it alike, so they decide alike.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SpanFacts<'a> {
    pub operation: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub legacy_provider: Option<&'a str>,
    pub request_model: Option<&'a str>,
    pub response_model: Option<&'a str>,
    pub tool_name: Option<&'a str>,
    pub agent_name: Option<&'a str>,
    pub error_type: Option<&'a str>,
    pub status_error: bool,
    pub error_event: bool,
    /// The span recorded a response model or a token count (set by
    /// [`SpanFacts::note`] and [`SpanFacts::note_number`]).
    pub responded: bool,
}

impl<'a> SpanFacts<'a> {
    /// Takes note of a text attribute of this role.
    pub fn note(&mut self, role: Role, value: &'a str) {
        let value = Some(value).filter(|v| !v.trim().is_empty());
        match role {
            Role::Operation => self.operation = value,
            Role::Provider => self.provider = value,
            Role::LegacyProvider => self.legacy_provider = value,
            Role::RequestModel => self.request_model = value,
            Role::ResponseModel => self.response_model = value,
            Role::ToolName => self.tool_name = value,
            Role::AgentName => self.agent_name = value,
            Role::ErrorType => self.error_type = value,
            Role::StatusCode => {
                self.status_error = value.is_some_and(|v| v.eq_ignore_ascii_case("error"))
            }
            Role::Usage(_) | Role::Plain | Role::Content => {}
        }
        self.note_number(role);
    }

    /// Takes note of an attribute of this role whose value is no text (a
    /// number, a bool, an array). Only its presence is read: a token count
    /// (a number in every SDK) or a response model, of any type, says the
    /// call was answered, so it is no [`NO_RESPONSE`] failure.
    pub fn note_number(&mut self, role: Role) {
        if matches!(role, Role::ResponseModel | Role::Usage(_)) {
            self.responded = true;
        }
    }

    /// The provider: `gen_ai.provider.name`, else the legacy `gen_ai.system`.
    pub fn provider(&self) -> Option<&'a str> {
        self.provider.or(self.legacy_provider)
    }

    /// The model that answered, else the one asked for.
    pub fn model(&self) -> Option<&'a str> {
        self.response_model.or(self.request_model)
    }

    /// Whether the span failed; `kind` says whether it is an inference
    /// (which fails too when it closed without a response).
    pub fn failed(&self, kind: Kind) -> bool {
        self.error_type(kind).is_some()
    }

    /// The error type to store: the span's, else `ERROR` (the status),
    /// [`ERROR_EVENT`] or [`NO_RESPONSE`], whichever said so first.
    pub fn error_type(&self, kind: Kind) -> Option<&'a str> {
        if let Some(kind) = self.error_type {
            return Some(kind);
        }
        if self.status_error {
            return Some("ERROR");
        }
        if self.error_event {
            return Some(ERROR_EVENT);
        }
        (kind == Kind::Inference && !self.responded).then_some(NO_RESPONSE)
    }
}

/// The entity of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity<'a> {
    /// `{provider}/{model}`, the route (an inference).
    Route { provider: &'a str, model: &'a str },
    /// A tool's or an agent's name, or a part of the route when the other is missing.
    Name(&'a str),
    /// Nothing to name it by: the caller's own fallback applies (the task id, ...).
    Unnamed,
}

impl std::fmt::Display for Entity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entity::Route { provider, model } => write!(f, "{provider}/{model}"),
            Entity::Name(name) => f.write_str(name),
            Entity::Unnamed => Ok(()),
        }
    }
}

/// The columns of a span's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped<'a> {
    pub kind: Kind,
    pub layer: EventLayer,
    pub operation: Operation,
    pub reason_code: &'static str,
    pub failed: bool,
    pub entity: Entity<'a>,
}

/// The columns for a span with these facts; `None` when the span is not
/// one the mapping writes (no operation, or `create_agent`).
pub fn map<'a>(facts: &SpanFacts<'a>) -> Option<Mapped<'a>> {
    let kind = Kind::of(facts.operation?)?;
    let failed = facts.failed(kind);
    let (layer, operation, ok, failure) = match kind {
        Kind::Inference => (
            EventLayer::ProviderRuntime,
            Operation::Call,
            PROVIDER_CALL_OK,
            PROVIDER_CALL_FAILED,
        ),
        Kind::Tool => (
            EventLayer::ToolRuntime,
            Operation::ToolCall,
            TOOL_CALL_OK,
            TOOL_CALL_FAILED,
        ),
        Kind::Agent => (
            EventLayer::ToolRuntime,
            Operation::ToolLoop,
            AGENT_INVOCATION_COMPLETED,
            AGENT_INVOCATION_FAILED,
        ),
    };
    let entity = match kind {
        Kind::Inference => match (facts.provider(), facts.model()) {
            (Some(provider), Some(model)) => Entity::Route { provider, model },
            (Some(one), None) | (None, Some(one)) => Entity::Name(one),
            (None, None) => Entity::Unnamed,
        },
        Kind::Tool => facts.tool_name.map_or(Entity::Unnamed, Entity::Name),
        Kind::Agent => facts.agent_name.map_or(Entity::Unnamed, Entity::Name),
    };
    Some(Mapped {
        kind,
        layer,
        operation,
        reason_code: if failed { failure } else { ok },
        failed,
        entity,
    })
}

/// A call's token counts, as the span reported them (absent: not reported).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub reasoning: Option<u64>,
}

impl TokenUsage {
    /// Takes note of a count; negative counts are not counts.
    pub fn note(&mut self, usage: Usage, value: i64) {
        let Ok(value) = u64::try_from(value) else {
            return;
        };
        let slot = match usage {
            Usage::Input => &mut self.input,
            Usage::Output => &mut self.output,
            Usage::CacheRead => &mut self.cache_read,
            Usage::CacheWrite => &mut self.cache_write,
            Usage::Reasoning => &mut self.reasoning,
            Usage::Total => return,
        };
        *slot = Some(value);
    }

    pub fn is_empty(&self) -> bool {
        *self == TokenUsage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::attribute;

    fn facts<'a>(attrs: &[(&str, &'a str)]) -> SpanFacts<'a> {
        let mut facts = SpanFacts::default();
        for (name, value) in attrs {
            if let Some(a) = attribute(name) {
                facts.note(a.role, value);
            }
        }
        facts
    }

    #[test]
    fn a_chat_is_a_provider_call_on_its_route() {
        let f = facts(&[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "gpt-4o-mini"),
            ("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
        ]);
        let m = map(&f).unwrap();
        assert_eq!(m.kind, Kind::Inference);
        assert_eq!(
            (m.layer, m.operation, m.reason_code),
            (
                EventLayer::ProviderRuntime,
                Operation::Call,
                "PROVIDER_CALL_OK"
            )
        );
        // The model that answered names the route.
        assert_eq!(m.entity.to_string(), "openai/gpt-4o-mini-2024-07-18");
    }

    #[test]
    fn the_legacy_system_names_the_provider_when_nothing_else_does() {
        let f = facts(&[
            ("gen_ai.operation.name", "text_completion"),
            ("gen_ai.system", "anthropic"),
            ("gen_ai.request.model", "claude-3-5-haiku"),
            ("gen_ai.response.model", "claude-3-5-haiku"),
        ]);
        assert_eq!(
            map(&f).unwrap().entity.to_string(),
            "anthropic/claude-3-5-haiku"
        );
        let f = facts(&[
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.system", "legacy"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "m"),
        ]);
        assert_eq!(map(&f).unwrap().entity.to_string(), "openai/m");
        assert!(map(&f).unwrap().failed, "no response: failed");
    }

    #[test]
    fn each_failure_signal_fails_the_call() {
        let base = [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "m"),
            ("gen_ai.response.model", "m"),
        ];
        let ok = facts(&base);
        assert!(!map(&ok).unwrap().failed);
        let silent = facts(&base[..3]);
        assert_eq!(map(&silent).unwrap().reason_code, "PROVIDER_CALL_FAILED");
        assert_eq!(silent.error_type(Kind::Inference), Some(NO_RESPONSE));

        let mut typed = facts(&base);
        typed.note(Role::ErrorType, "rate_limited");
        assert_eq!(map(&typed).unwrap().reason_code, "PROVIDER_CALL_FAILED");
        assert_eq!(typed.error_type(Kind::Inference), Some("rate_limited"));

        let mut status = facts(&base);
        status.note(Role::StatusCode, "error");
        assert_eq!(map(&status).unwrap().reason_code, "PROVIDER_CALL_FAILED");
        assert_eq!(status.error_type(Kind::Inference), Some("ERROR"));
        let mut status_ok = facts(&base);
        status_ok.note(Role::StatusCode, "OK");
        assert!(!map(&status_ok).unwrap().failed);

        let mut event = facts(&base);
        event.error_event = true;
        assert_eq!(map(&event).unwrap().reason_code, "PROVIDER_CALL_FAILED");
        assert_eq!(event.error_type(Kind::Inference), Some(ERROR_EVENT));
    }

    #[test]
    fn a_token_count_of_any_type_says_the_call_was_answered() {
        let asked = [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "m"),
        ];
        let mut counted = facts(&asked);
        counted.note_number(Role::Usage(Usage::Output));
        assert!(!map(&counted).unwrap().failed, "a numeric token count");
        let mut text = facts(&asked);
        text.note(Role::Usage(Usage::Input), "12");
        assert!(!map(&text).unwrap().failed, "a token count as text");
        // Numbers of other roles say nothing about a response.
        let mut other = facts(&asked);
        other.note_number(Role::Plain);
        other.note_number(Role::RequestModel);
        assert_eq!(other.error_type(Kind::Inference), Some(NO_RESPONSE));
    }

    #[test]
    fn tools_and_agents_are_named_by_their_names() {
        let tool = facts(&[
            ("gen_ai.operation.name", "execute_tool"),
            ("gen_ai.tool.name", "lookup_order"),
        ]);
        let m = map(&tool).unwrap();
        assert_eq!(
            (m.layer, m.operation, m.reason_code, m.entity),
            (
                EventLayer::ToolRuntime,
                Operation::ToolCall,
                "TOOL_CALL_OK",
                Entity::Name("lookup_order")
            )
        );
        let mut failed_tool = tool.clone();
        failed_tool.note(Role::ErrorType, "ToolError");
        assert_eq!(map(&failed_tool).unwrap().reason_code, "TOOL_CALL_FAILED");

        let agent = facts(&[
            ("gen_ai.operation.name", "invoke_agent"),
            ("gen_ai.agent.name", "support"),
        ]);
        let m = map(&agent).unwrap();
        assert_eq!(
            (m.operation, m.reason_code, m.entity),
            (
                Operation::ToolLoop,
                "AGENT_INVOCATION_COMPLETED",
                Entity::Name("support")
            )
        );
    }

    #[test]
    fn spans_that_call_nothing_are_not_mapped() {
        assert_eq!(
            map(&facts(&[("gen_ai.operation.name", "create_agent")])),
            None
        );
        assert_eq!(map(&facts(&[("gen_ai.operation.name", " ")])), None);
        assert_eq!(map(&facts(&[("gen_ai.request.model", "m")])), None);
        // An operation the convention may add later is still a call.
        let m = map(&facts(&[("gen_ai.operation.name", "rerank")])).unwrap();
        assert_eq!((m.kind, m.entity), (Kind::Inference, Entity::Unnamed));
    }

    #[test]
    fn negative_counts_are_ignored() {
        let mut usage = TokenUsage::default();
        usage.note(Usage::Input, -1);
        assert!(usage.is_empty());
        usage.note(Usage::Input, 12);
        usage.note(Usage::CacheWrite, 3);
        assert_eq!(usage.input, Some(12));
        assert_eq!(usage.cache_write, Some(3));
    }
}
