//! Message content on GenAI spans: the conventions' parts schema, kept only
//! when the user opts in (off by default, as the OpenTelemetry rule says),
//! scrubbed, and cut to a size that keeps the JSON valid.

use serde_json::{json, Value};

/// One message in the GenAI conventions' shape:
/// `{"role": "user", "parts": [{"type": "text", "content": "..."}]}`.
///
/// ```
/// use telemetry::genai::Message;
/// let m = Message::user("What is the weather in Paris?");
/// assert_eq!(m.to_json()["parts"][0]["type"], "text");
/// let call = Message::tool_call("call_1", "get_weather", serde_json::json!({"city": "Paris"}));
/// assert_eq!(call.to_json()["parts"][0]["name"], "get_weather");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    role: &'static str,
    parts: Vec<Value>,
    finish_reason: Option<String>,
}

impl Message {
    /// A user's text.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text("user", text)
    }
    /// The model's text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text("assistant", text)
    }
    /// A system message (in a conversation's history; the instructions of a
    /// call go in [`ChatRequest::system_instructions`](super::ChatRequest::system_instructions)).
    pub fn system(text: impl Into<String>) -> Self {
        Self::text("system", text)
    }
    fn text(role: &'static str, text: impl Into<String>) -> Self {
        Message {
            role,
            parts: vec![json!({"type": "text", "content": text.into()})],
            finish_reason: None,
        }
    }
    /// The model asks for a tool call.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        Message {
            role: "assistant",
            parts: vec![json!({"type": "tool_call", "id": id.into(), "name": name.into(), "arguments": arguments})],
            finish_reason: None,
        }
    }
    /// A tool's answer, sent back to the model.
    pub fn tool_result(id: impl Into<String>, name: impl Into<String>, result: Value) -> Self {
        Message {
            role: "user",
            parts: vec![json!({"type": "tool_call_response", "id": id.into(), "name": name.into(), "result": result})],
            finish_reason: None,
        }
    }
    /// An output message's finish reason (`stop`, `tool_call`, `length`...).
    pub fn with_finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }
    /// The message as the conventions' JSON.
    pub fn to_json(&self) -> Value {
        let mut m = json!({"role": self.role, "parts": self.parts});
        if let Some(reason) = &self.finish_reason {
            m["finish_reason"] = json!(reason);
        }
        m
    }
}

/// The keys of a part that hold content (dropped when content is off).
const CONTENT_KEYS: [&str; 3] = ["content", "arguments", "result"];

/// `messages` as the attribute's JSON text: with content scrubbed and cut to
/// `max_bytes`, or, when content is off, only the structure (roles, part types,
/// tool names and ids), as Pydantic AI does.
pub(crate) fn messages_attribute(messages: &[Message], capture: bool, max_bytes: usize) -> String {
    let mut value = Value::Array(messages.iter().map(Message::to_json).collect());
    if !capture {
        strip_content(&mut value);
        return value.to_string();
    }
    bounded(value, max_bytes)
}

/// A content value (tool arguments, a result) as its attribute text, scrubbed and cut.
pub(crate) fn content_attribute(value: Value, max_bytes: usize) -> String {
    bounded(value, max_bytes)
}

fn strip_content(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(strip_content),
        Value::Object(map) => {
            for key in CONTENT_KEYS {
                map.remove(key);
            }
            map.values_mut().for_each(strip_content);
        }
        _ => {}
    }
}

/// Scrubs (the wire format's secret keys become `[REDACTED]`), then halves the
/// longest strings until the JSON fits, marking each cut with `…[truncated]`.
/// A value that still does not fit (made of many small strings) becomes
/// `{"truncated": true, "bytes": N}`. The result always parses.
pub(crate) fn bounded(mut value: Value, max_bytes: usize) -> String {
    telemetry_core::Scrubber::default().scrub_value(&mut value);
    let mut text = value.to_string();
    let mut rounds = 0;
    while text.len() > max_bytes && rounds < 64 {
        rounds += 1;
        if !halve_longest(&mut value) {
            break;
        }
        text = value.to_string();
    }
    if text.len() > max_bytes {
        return json!({"truncated": true, "bytes": text.len()}).to_string();
    }
    text
}

const MARK: &str = "…[truncated]";

fn halve_longest(value: &mut Value) -> bool {
    fn longest(value: &mut Value) -> Option<&mut String> {
        match value {
            Value::String(s) => Some(s),
            Value::Array(items) => items.iter_mut().filter_map(longest).max_by_key(|s| s.len()),
            Value::Object(map) => map.values_mut().filter_map(longest).max_by_key(|s| s.len()),
            _ => None,
        }
    }
    let Some(s) = longest(value) else { return false };
    let body = s.strip_suffix(MARK).unwrap_or(s).to_string();
    if body.len() <= 16 {
        return false;
    }
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    *s = format!("{}{MARK}", &body[..cut]);
    true
}

/// Logfire's `logfire.json_schema` for the JSON attributes `keys`, so its UI
/// renders them as JSON rather than text.
pub(crate) fn json_schema(keys: &[&str]) -> String {
    let properties: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| {
            (
                k.to_string(),
                json!({"type": if k.ends_with("arguments") || k.ends_with("result") { "object" } else { "array" }}),
            )
        })
        .collect();
    json!({"type": "object", "properties": properties}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_off_keeps_the_structure_only() {
        let text = messages_attribute(
            &[
                Message::user("secret question"),
                Message::tool_call("c1", "f", json!({"q": 1})),
            ],
            false,
            1000,
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0], json!({"role": "user", "parts": [{"type": "text"}]}));
        assert_eq!(v[1]["parts"][0], json!({"type": "tool_call", "id": "c1", "name": "f"}));
        assert!(!text.contains("secret"));
    }

    #[test]
    fn long_content_is_cut_to_size_and_stays_valid_json() {
        let long = "é".repeat(5000);
        for max in [200, 1000, 4000] {
            let text = messages_attribute(&[Message::user(long.clone()), Message::assistant("short")], true, max);
            assert!(text.len() <= max, "{} > {max}", text.len());
            let v: Value = serde_json::from_str(&text).unwrap();
            assert!(v[0]["parts"][0]["content"].as_str().unwrap().ends_with(MARK));
            assert_eq!(v[1]["parts"][0]["content"], "short");
        }
        let many: Vec<Message> = (0..500).map(|i| Message::user(format!("m{i}"))).collect();
        let text = messages_attribute(&many, true, 300);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["truncated"], true);
    }

    #[test]
    fn secrets_are_scrubbed() {
        let text = content_attribute(json!({"city": "Paris", "api_key": "sk-123"}), 1000);
        assert!(!text.contains("sk-123"), "{text}");
        assert!(text.contains("Paris"));
    }
}
