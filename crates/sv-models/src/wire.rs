//! The OpenAI chat-completions wire format, read leniently.
//!
//! The client writes requests and reads responses with these types; `sv model serve`
//! reads requests and writes responses with the same ones, so both ends agree. Servers
//! differ in the details, so reading tolerates: content as a string, `null` or an array
//! of text parts; tool-call arguments as a string or as an object; reasoning in
//! `reasoning_content` (vLLM, DeepSeek) or `reasoning` (OpenRouter, newer vLLM); `stop`
//! as a string or a list; missing usage.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sv_chat::{FunctionCall, Message, Role, ToolCall, ToolSpec};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireRequest {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "string_or_list"
    )]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// A message on the wire. `content` is kept as JSON so every shape servers and clients
/// use can be read; [`WireMessage::text`] flattens it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireMessage {
    #[serde(default = "assistant_role")]
    pub role: String,
    #[serde(default)]
    pub content: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub tool_calls: Vec<WireToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn assistant_role() -> String {
    "assistant".to_string()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: WireFunctionCall,
}

fn function_kind() -> String {
    "function".to_string()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireFunctionCall {
    #[serde(default)]
    pub name: String,
    /// Normally a JSON string; some servers send an object.
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<WireChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireChoice {
    #[serde(default)]
    pub index: u32,
    pub message: WireMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<WireCompletionDetails>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WireCompletionDetails {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub reasoning_tokens: u64,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
        OneOrMany::Null(()) => Vec::new(),
    })
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

/// Flattens OpenAI content (string, null, or `[{type:"text",text:…}, …]`) to text.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "system" | "developer" => Some(Role::System),
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        "tool" | "function" => Some(Role::Tool),
        _ => None,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

impl WireMessage {
    /// The request form of `m`. Reasoning is not sent back (servers reject or ignore
    /// it); an assistant message that only calls tools sends `content: null`.
    pub fn from_message(m: &Message) -> WireMessage {
        let content = if m.content.is_empty() && !m.tool_calls.is_empty() {
            Value::Null
        } else {
            Value::String(m.content.clone())
        };
        WireMessage {
            role: role_name(m.role).to_string(),
            content,
            reasoning_content: None,
            reasoning: None,
            tool_calls: m
                .tool_calls
                .iter()
                .map(|c| WireToolCall {
                    id: c.id.clone(),
                    kind: c.kind.clone(),
                    function: WireFunctionCall {
                        name: c.function.name.clone(),
                        arguments: Value::String(c.function.arguments.clone()),
                    },
                })
                .collect(),
            tool_call_id: m.tool_call_id.clone(),
            name: m.name.clone(),
        }
    }

    /// The response form of an assistant message (what `sv model serve` writes).
    pub fn from_assistant(m: &Message) -> WireMessage {
        let mut w = WireMessage::from_message(m);
        w.reasoning_content = m.reasoning.clone();
        w
    }

    /// Converts to a [`Message`]; `choice` numbers tool calls that came without an id.
    pub fn to_message(&self, choice: usize) -> Result<Message, String> {
        let role = parse_role(&self.role).ok_or_else(|| format!("unknown role {:?}", self.role))?;
        let reasoning = self
            .reasoning_content
            .clone()
            .or_else(|| self.reasoning.clone())
            .filter(|r| !r.is_empty());
        let tool_calls = self
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: if c.id.is_empty() {
                    format!("call_{choice}_{i}")
                } else {
                    c.id.clone()
                },
                kind: c.kind.clone(),
                function: FunctionCall {
                    name: c.function.name.clone(),
                    arguments: match &c.function.arguments {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    },
                },
            })
            .collect();
        Ok(Message {
            role,
            content: content_text(&self.content),
            reasoning,
            tool_calls,
            tool_call_id: self.tool_call_id.clone(),
            name: self.name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lenient_responses() {
        let body = r#"{"id":"x","model":"m","choices":[
          {"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"think",
            "tool_calls":[{"id":"","type":"function","function":{"name":"f","arguments":"{bad json"}},
                          {"id":"c2","type":"function","function":{"name":"g","arguments":{"a":1}}}]},
           "finish_reason":"tool_calls"},
          {"index":1,"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"reasoning":"r2","tool_calls":null}}],
          "usage":{"prompt_tokens":5,"completion_tokens":7,"completion_tokens_details":{"reasoning_tokens":null}}}"#;
        let r: WireResponse = serde_json::from_str(body).unwrap();
        let m0 = r.choices[0].message.to_message(0).unwrap();
        assert_eq!(m0.content, "");
        assert_eq!(m0.reasoning.as_deref(), Some("think"));
        assert_eq!(m0.tool_calls[0].id, "call_0_0");
        assert_eq!(m0.tool_calls[0].function.arguments, "{bad json");
        assert_eq!(m0.tool_calls[1].function.arguments, r#"{"a":1}"#);
        let m1 = r.choices[1].message.to_message(1).unwrap();
        assert_eq!(m1.content, "ab");
        assert_eq!(m1.reasoning.as_deref(), Some("r2"));
        assert_eq!(
            r.usage
                .unwrap()
                .completion_tokens_details
                .unwrap()
                .reasoning_tokens,
            0
        );
    }

    #[test]
    fn request_stop_accepts_string_or_list() {
        let r: WireRequest = serde_json::from_str(r#"{"messages":[],"stop":"\n\n"}"#).unwrap();
        assert_eq!(r.stop, vec!["\n\n"]);
        let r: WireRequest = serde_json::from_str(r#"{"messages":[],"stop":["a","b"]}"#).unwrap();
        assert_eq!(r.stop, vec!["a", "b"]);
        let r: WireRequest = serde_json::from_str(r#"{"messages":[],"stop":null}"#).unwrap();
        assert!(r.stop.is_empty());
    }

    #[test]
    fn tool_only_assistant_message_sends_null_content() {
        let m = Message {
            tool_calls: vec![ToolCall {
                id: "c".into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: "f".into(),
                    arguments: "{}".into(),
                },
            }],
            ..Message::assistant("")
        };
        let w = serde_json::to_value(WireMessage::from_message(&m)).unwrap();
        assert_eq!(w["content"], Value::Null);
        assert_eq!(w["tool_calls"][0]["function"]["arguments"], "{}");
        let back = WireMessage::from_message(&m).to_message(0).unwrap();
        assert_eq!(back, m);
    }
}
