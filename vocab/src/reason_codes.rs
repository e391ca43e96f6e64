//! Reason codes shared across crates: the ones written for captured GenAI
//! spans (`ai-runtime-genai` maps spans to them, whichever way the span
//! arrives). Each one is documented in `REASON_CODES.md`, section "GenAI
//! capture" (a test checks that).

/// An inference call (`chat`, `text_completion`, `embeddings`, ...) returned.
pub const PROVIDER_CALL_OK: &str = "PROVIDER_CALL_OK";
/// An inference call failed (`error.type`, an ERROR status or an ERROR event inside it).
pub const PROVIDER_CALL_FAILED: &str = "PROVIDER_CALL_FAILED";
/// An `execute_tool` span closed without an error.
pub const TOOL_CALL_OK: &str = "TOOL_CALL_OK";
/// An `execute_tool` span closed with an error.
pub const TOOL_CALL_FAILED: &str = "TOOL_CALL_FAILED";
/// An `invoke_agent` span closed without an error.
pub const AGENT_INVOCATION_COMPLETED: &str = "AGENT_INVOCATION_COMPLETED";
/// An `invoke_agent` span closed with an error.
pub const AGENT_INVOCATION_FAILED: &str = "AGENT_INVOCATION_FAILED";

/// Every code above.
pub const GENAI: &[&str] = &[
    PROVIDER_CALL_OK,
    PROVIDER_CALL_FAILED,
    TOOL_CALL_OK,
    TOOL_CALL_FAILED,
    AGENT_INVOCATION_COMPLETED,
    AGENT_INVOCATION_FAILED,
];

#[cfg(test)]
mod tests {
    #[test]
    fn every_genai_code_is_documented_in_reason_codes_md() {
        let doc = include_str!("../../REASON_CODES.md");
        let section = doc
            .split("## GenAI capture")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("a GenAI capture section");
        for code in super::GENAI {
            assert!(
                section.contains(&format!("| `{code}` |")),
                "{code} is not in the GenAI capture table of REASON_CODES.md"
            );
        }
    }
}
