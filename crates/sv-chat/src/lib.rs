//! Chat messages in the OpenAI chat-completions shape.
//!
//! Environments build prompts and declare tools with these types; model clients send
//! them over HTTP or feed them to the embedded model; the harness records them. Keeping
//! them in a crate of their own lets `sv-env` and `sv-models` agree on one wire format
//! without either depending on the other.

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One chat message. `tool_calls` is set on assistant messages that call tools;
/// `tool_call_id` on the tool messages that answer them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    /// Reasoning text a server returned separately (`reasoning` or `reasoning_content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            reasoning: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, content)
    }
    /// The answer to tool call `call_id`.
    pub fn tool(
        call_id: impl Into<String>,
        name: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        Message {
            tool_call_id: Some(call_id.into()),
            name: Some(name.into()),
            ..Self::plain(Role::Tool, content)
        }
    }
}

/// A tool the model may call, in OpenAI `tools` format (`{"type":"function","function":{…}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionSpec,
}

fn function_kind() -> String {
    "function".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

impl ToolSpec {
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        ToolSpec {
            kind: function_kind(),
            function: FunctionSpec {
                name: name.into(),
                description: description.into(),
                parameters,
            },
        }
    }
}

/// A tool call as the model wrote it. `arguments` is the raw JSON string the model
/// produced: it may be invalid JSON, which is the environment's to score, not a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

impl ToolCall {
    /// The arguments parsed as JSON, or the parse error as text.
    pub fn parsed_arguments(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.function.arguments).map_err(|e| {
            format!(
                "tool call {} ({}): arguments are not valid JSON: {e}",
                self.id, self.function.name
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_call_round_trips_openai_shape() {
        let json = r#"{"id":"call_1","type":"function","function":{"name":"search","arguments":"{\"q\":\"lsass\"}"}}"#;
        let call: ToolCall = serde_json::from_str(json).unwrap();
        assert_eq!(call.function.name, "search");
        assert_eq!(call.parsed_arguments().unwrap()["q"], "lsass");
        assert_eq!(serde_json::to_string(&call).unwrap(), json);
    }

    #[test]
    fn invalid_arguments_are_an_error_value() {
        let call = ToolCall {
            id: "c".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "t".into(),
                arguments: "{not json".into(),
            },
        };
        let err = call.parsed_arguments().unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn plain_messages_omit_empty_fields() {
        let m = Message::user("hi");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"role":"user","content":"hi"}"#
        );
    }
}
