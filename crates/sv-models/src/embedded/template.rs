//! SmolLM2's ChatML chat template, and how the embedded model handles tools.
//!
//! The template is the one in the GGUF (`tokenizer.chat_template`):
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, a default system message when
//! the conversation has none, and `<|im_start|>assistant\n` to start the reply.
//!
//! SmolLM2 has no native tool calling. When a request declares tools, the embedded model
//! uses the Hermes/Qwen convention: the system message gets a `# Tools` section listing
//! the tool schemas inside `<tools></tools>` and asking for calls as
//! `<tool_call>{"name": …, "arguments": {…}}</tool_call>`; the reply is scanned for those
//! blocks and each becomes a [`ToolCall`] (arguments passed through raw, even when they
//! are not valid JSON). Earlier tool calls are rendered back in the same form and tool
//! results as `<tool_response>` blocks in a user turn. A 135M model rarely calls tools
//! well; this keeps multi-turn environments runnable offline, not competitive.

use serde_json::Value;
use sv_chat::{FunctionCall, Message, Role, ToolCall, ToolSpec};

use super::tokenizer::SmolTokenizer;

pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// The `# Tools` section appended to the system message.
pub fn tools_prompt(tools: &[ToolSpec]) -> String {
    let mut s = String::from(
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for t in tools {
        s.push('\n');
        s.push_str(&serde_json::to_string(t).unwrap_or_default());
    }
    s.push_str(
        "\n</tools>\n\nFor each function call, return a json object with function name and \
         arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
         {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
    );
    s
}

fn render_call(c: &ToolCall) -> String {
    // Arguments are embedded verbatim when they are JSON, as a string otherwise.
    let args = if serde_json::from_str::<Value>(&c.function.arguments).is_ok() {
        c.function.arguments.clone()
    } else {
        Value::String(c.function.arguments.clone()).to_string()
    };
    format!(
        "<tool_call>\n{{\"name\": {}, \"arguments\": {args}}}\n</tool_call>",
        Value::String(c.function.name.clone())
    )
}

/// (ChatML role, text) of each turn, in order, with tools folded in.
pub fn turns(messages: &[Message], tools: &[ToolSpec]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::with_capacity(messages.len() + 1);
    let tool_text = if tools.is_empty() {
        String::new()
    } else {
        tools_prompt(tools)
    };
    if messages.first().map(|m| m.role) != Some(Role::System) {
        out.push(("system", format!("{DEFAULT_SYSTEM}{tool_text}")));
    }
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            Role::System => {
                let extra = if i == 0 { tool_text.as_str() } else { "" };
                out.push(("system", format!("{}{extra}", m.content)));
            }
            Role::User => out.push(("user", m.content.clone())),
            Role::Assistant => {
                let mut text = m.content.clone();
                for c in &m.tool_calls {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&render_call(c));
                }
                out.push(("assistant", text));
            }
            Role::Tool => {
                let name = m.name.as_deref().unwrap_or("");
                let block = format!("<tool_response>\n{}\n</tool_response>", m.content);
                let block = if name.is_empty() {
                    block
                } else {
                    format!(
                        "<tool_response name={}>\n{}\n</tool_response>",
                        Value::String(name.into()),
                        m.content
                    )
                };
                // Consecutive tool results share one user turn.
                match out.last_mut() {
                    Some(("user", prev)) if prev.ends_with("</tool_response>") => {
                        prev.push('\n');
                        prev.push_str(&block);
                    }
                    _ => out.push(("user", block)),
                }
            }
        }
    }
    out
}

/// The prompt's token ids: every turn, then `<|im_start|>assistant\n`.
pub fn encode_prompt(
    tok: &SmolTokenizer,
    messages: &[Message],
    tools: &[ToolSpec],
) -> Result<Vec<u32>, String> {
    let start = tok.id(IM_START).ok_or("vocabulary lacks <|im_start|>")?;
    let end = tok.id(IM_END).ok_or("vocabulary lacks <|im_end|>")?;
    let newline = tok.encode("\n")?;
    let mut ids = Vec::new();
    for (role, text) in turns(messages, tools) {
        ids.push(start);
        ids.extend(tok.encode(&format!("{role}\n{text}"))?);
        ids.push(end);
        ids.extend_from_slice(&newline);
    }
    ids.push(start);
    ids.extend(tok.encode("assistant\n")?);
    Ok(ids)
}

/// The prompt as text (for display and for servers that want the string).
pub fn render_text(messages: &[Message], tools: &[ToolSpec]) -> String {
    let mut s = String::new();
    for (role, text) in turns(messages, tools) {
        s.push_str(&format!("{IM_START}{role}\n{text}{IM_END}\n"));
    }
    s.push_str(&format!("{IM_START}assistant\n"));
    s
}

/// Splits a reply into prose and `<tool_call>` blocks. Blocks whose function name cannot
/// be found stay in the prose. An unterminated last block runs to the end of the text.
pub fn parse_tool_calls(text: &str, choice: usize) -> (String, Vec<ToolCall>) {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut prose = String::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let (before, after_open) = (&rest[..at], &rest[at + OPEN.len()..]);
        let (inner, next) = match after_open.find(CLOSE) {
            Some(end) => (&after_open[..end], &after_open[end + CLOSE.len()..]),
            None => (after_open, ""),
        };
        prose.push_str(before);
        match parse_call(inner) {
            Some((name, arguments)) => calls.push(ToolCall {
                id: format!("call_{choice}_{}", calls.len()),
                kind: "function".into(),
                function: FunctionCall { name, arguments },
            }),
            None => {
                prose.push_str(OPEN);
                prose.push_str(inner);
                if next.len() < after_open.len() - inner.len() {
                    prose.push_str(CLOSE);
                }
            }
        }
        rest = next;
    }
    prose.push_str(rest);
    (prose.trim().to_string(), calls)
}

/// `(name, raw arguments)` of one block's body.
fn parse_call(body: &str) -> Option<(String, String)> {
    let body = body.trim();
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(body) {
        let name = obj.get("name")?.as_str()?.to_string();
        let arguments = match obj.get("arguments").or_else(|| obj.get("parameters")) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "{}".to_string(),
        };
        return Some((name, arguments));
    }
    // Not JSON: recover the name and keep the arguments text as written.
    let name_at = body.find("\"name\"")?;
    let after = body[name_at + 6..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let after = after.strip_prefix('"')?;
    let name = after[..after.find('"')?].to_string();
    if name.is_empty() {
        return None;
    }
    let arguments = match body.find("\"arguments\"") {
        Some(a) => {
            let v = body[a + 11..].trim_start();
            let v = v.strip_prefix(':').unwrap_or(v).trim();
            // Drop the enclosing object's closing brace: the one `}` too many.
            let opens = v.matches('{').count();
            let closes = v.matches('}').count();
            match v.strip_suffix('}') {
                Some(inner) if closes > opens => inner.trim_end().to_string(),
                _ => v.to_string(),
            }
        }
        None => String::new(),
    };
    Some((name, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_chatml_with_default_system() {
        let text = render_text(&[Message::user("Hi")], &[]);
        assert_eq!(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let text = render_text(&[Message::system("S"), Message::user("U")], &[]);
        assert_eq!(
            text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn tools_go_into_the_system_turn_and_results_into_user_turns() {
        let tools = vec![ToolSpec::function(
            "search",
            "Search logs",
            serde_json::json!({"type":"object","properties":{"q":{"type":"string"}}}),
        )];
        let call = ToolCall {
            id: "c1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "search".into(),
                arguments: "{\"q\":\"x\"}".into(),
            },
        };
        let msgs = vec![
            Message::system("S"),
            Message::user("U"),
            Message {
                tool_calls: vec![call],
                ..Message::assistant("")
            },
            Message::tool("c1", "search", "3 hits"),
        ];
        let t = turns(&msgs, &tools);
        assert_eq!(t.len(), 4);
        assert!(t[0].1.starts_with("S\n\n# Tools"));
        assert!(t[0]
            .1
            .contains(r#"{"type":"function","function":{"name":"search""#));
        assert_eq!(
            t[2].1,
            "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\":\"x\"}}\n</tool_call>"
        );
        assert_eq!(
            t[3],
            (
                "user",
                "<tool_response name=\"search\">\n3 hits\n</tool_response>".to_string()
            )
        );
    }

    #[test]
    fn parses_valid_invalid_and_unterminated_calls() {
        let text = "Let me look.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"lsass\"}}\n</tool_call>\n\
                    <tool_call>{\"name\": \"count\", \"arguments\": {\"field\": }</tool_call>\
                    <tool_call>{\"name\": \"y\", \"arguments\": {\"a\": tru}}</tool_call>\
                    <tool_call>no name here</tool_call> tail <tool_call>{\"name\":\"x\",\"arguments\":{\"a\":1}}";
        let (prose, calls) = parse_tool_calls(text, 0);
        assert_eq!(calls.len(), 4);
        assert_eq!(calls[0].function.name, "search");
        assert_eq!(calls[0].function.arguments, r#"{"q":"lsass"}"#);
        assert_eq!(calls[0].id, "call_0_0");
        assert_eq!(calls[1].function.name, "count");
        assert_eq!(calls[1].function.arguments, "{\"field\": }");
        assert!(calls[1].parsed_arguments().is_err());
        assert_eq!(calls[2].function.name, "y");
        assert_eq!(calls[2].function.arguments, r#"{"a": tru}"#);
        assert_eq!(calls[3].function.arguments, r#"{"a":1}"#);
        assert_eq!(
            prose,
            "Let me look.\n\n<tool_call>no name here</tool_call> tail"
        );
    }

    #[test]
    fn text_without_calls_is_untouched() {
        let (prose, calls) = parse_tool_calls("  plain answer ", 2);
        assert!(calls.is_empty());
        assert_eq!(prose, "plain answer");
    }
}
