//! Prompt rendering — the model's own chat template (llama.cpp's template support) when its GGUF
//! carries one, else a plain-text framing for base models — and stop-sequence matching on a
//! token stream (holding back text that may be the start of a stop sequence).
//!
//! Plain-text framing (documented in docs/ENGINE.md):
//! - generate: `{system}\n\n{prompt}` (just `{prompt}` without a system prompt);
//! - chat: `{system}\n\n` then one `User: {content}\n` / `Assistant: {content}\n` line per
//!   message (`Tool: {content}` for a tool result), ending with `Assistant:` for the model to continue; chat adds the stop
//!   sequence `\nUser:` so the model does not write the next user turn.

use chimera_core::backend::{GenRequest, Input, Message, Role};
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};

/// Stop sequences added to chat requests (the next turn's label).
pub const CHAT_STOPS: &[&str] = &["\nUser:"];

/// The rendered prompt text, the stop sequences the framing adds, and whether the text holds
/// the template's special tokens (to be tokenised as such).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub stops: Vec<String>,
    pub parse_special: bool,
}

/// How a request's text reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Chat messages — and a generate call's system + prompt, as Ollama does — through the
    /// model's chat template when it has one, else the plain-text framing.
    Template,
    /// The prompt exactly as sent, no template and no system prompt (`/v1/completions`,
    /// Ollama's `"raw": true`).
    Raw,
}

/// A chat template llama.cpp could not apply (a template it does not recognise, or a message
/// with a NUL byte).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot render the messages with the model's chat template: {0}")]
pub struct TemplateError(pub String);

/// Render `req` for the model: raw text, the model's chat template (`template`, from its GGUF)
/// or, for a base model, the plain-text framing ([`render`]).
pub fn render_for(
    req: &GenRequest,
    framing: Framing,
    model: &LlamaModel,
    template: Option<&LlamaChatTemplate>,
) -> Result<Rendered, TemplateError> {
    match (framing, &req.input, template) {
        (Framing::Raw, Input::Generate { prompt, .. }, _) => {
            Ok(Rendered { text: prompt.clone(), stops: Vec::new(), parse_special: false })
        }
        (_, _, Some(t)) => Ok(Rendered {
            text: apply_chat_template(model, t, &req.messages())?,
            stops: Vec::new(),
            parse_special: true,
        }),
        _ => Ok(render(req)),
    }
}

/// `messages` through the chat template with llama.cpp's `llama_chat_apply_template`, ending
/// with the assistant's opening tag. The template's end-of-turn token is an end-of-generation
/// token, so no stop sequence is needed.
pub fn apply_chat_template(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    messages: &[Message],
) -> Result<String, TemplateError> {
    let chat = messages
        .iter()
        .map(|m| LlamaChatMessage::new(role_name(m.role), format!("{}{}", m.content, calls_text(m))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TemplateError(format!("a message contains a NUL byte ({e})")))?;
    model.apply_chat_template(template, &chat, true).map_err(|e| TemplateError(e.to_string()))
}

/// An assistant turn's tool calls as text (` [calls NAME ARGS]` each): the model cannot make
/// them natively, so both framings show them after the turn's content.
fn calls_text(m: &Message) -> String {
    m.tool_calls.iter().map(|c| format!(" [calls {} {}]", c.name, c.arguments)).collect()
}

/// The role's name in chat templates ("system", "user", "assistant": its serde name).
fn role_name(r: Role) -> String {
    serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Render a request as plain text for a base model.
pub fn render(req: &GenRequest) -> Rendered {
    match &req.input {
        Input::Generate { system, prompt } => {
            let text = match system.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(s) => format!("{}\n\n{}", s.trim_end(), prompt),
                None => prompt.clone(),
            };
            Rendered { text, stops: Vec::new(), parse_special: false }
        }
        Input::Chat { messages } => {
            let mut text = String::new();
            for m in messages.iter().filter(|m| m.role == Role::System) {
                text.push_str(m.content.trim_end());
                text.push_str("\n\n");
            }
            for m in messages.iter().filter(|m| m.role != Role::System) {
                let label = match m.role {
                    Role::User => "User",
                    Role::Tool => "Tool",
                    _ => "Assistant",
                };
                text.push_str(label);
                text.push_str(": ");
                text.push_str(m.content.trim());
                text.push_str(&calls_text(m));
                text.push('\n');
            }
            text.push_str("Assistant:");
            Rendered { text, stops: CHAT_STOPS.iter().map(|s| s.to_string()).collect(), parse_special: false }
        }
    }
}

/// Finds stop sequences in streamed text. Text that could still become a stop sequence is held
/// back until it is decided, so a stop sequence never reaches the client.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

/// Outcome of pushing a piece of text.
#[derive(Debug, Clone, PartialEq)]
pub enum Pushed {
    /// Safe to emit (may be empty while text is held back).
    Emit(String),
    /// A stop sequence matched: emit this final text, then stop.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: impl IntoIterator<Item = String>) -> Self {
        StopMatcher { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), pending: String::new() }
    }

    /// Add text; returns what may be emitted now.
    pub fn push(&mut self, piece: &str) -> Pushed {
        self.pending.push_str(piece);
        if self.stops.is_empty() {
            return Pushed::Emit(std::mem::take(&mut self.pending));
        }
        // Earliest full match wins.
        let hit = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min();
        if let Some(at) = hit {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return Pushed::Stop(out);
        }
        // Hold back the longest suffix that is a prefix of some stop sequence.
        let mut keep = 0;
        for s in &self.stops {
            for (i, _) in s.char_indices().skip(1) {
                if i > keep && self.pending.ends_with(&s[..i]) {
                    keep = i;
                }
            }
        }
        let cut = self.pending.len() - keep;
        let out = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        Pushed::Emit(out)
    }

    /// End of stream: whatever was held back is real text.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chimera_core::backend::Message;
    use chimera_core::options::GenOptions;

    #[test]
    fn role_names_are_the_template_names() {
        assert_eq!(role_name(Role::System), "system");
        assert_eq!(role_name(Role::User), "user");
        assert_eq!(role_name(Role::Assistant), "assistant");
    }

    #[test]
    fn generate_template() {
        let r = render(&GenRequest::generate("m", Some("You are X. "), "Tell me.", GenOptions::default()));
        assert_eq!(r.text, "You are X.\n\nTell me.");
        assert!(r.stops.is_empty());
        let r = render(&GenRequest::generate("m", None, "Hi", GenOptions::default()));
        assert_eq!(r.text, "Hi");
    }

    #[test]
    fn chat_template() {
        let req = GenRequest {
            model: "m".into(),
            input: Input::Chat {
                messages: vec![
                    Message::new(Role::System, "Be brief."),
                    Message::new(Role::User, "Hi"),
                    Message::new(Role::Assistant, "Hello."),
                    Message::new(Role::User, "Sky colour?"),
                ],
            },
            options: GenOptions::default(),
            keep_alive: None,
            tools: Vec::new(),
        };
        let r = render(&req);
        assert_eq!(r.text, "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Sky colour?\nAssistant:");
        assert_eq!(r.stops, vec!["\nUser:".to_string()]);
    }

    #[test]
    fn stop_split_across_pieces_is_held_back_and_cut() {
        let mut m = StopMatcher::new(["\nUser:".to_string()]);
        assert_eq!(m.push("Blue"), Pushed::Emit("Blue".into()));
        assert_eq!(m.push(".\nUs"), Pushed::Emit(".".into()));
        assert_eq!(m.push("er: next"), Pushed::Stop(String::new()));
    }

    #[test]
    fn false_alarm_is_released() {
        let mut m = StopMatcher::new(["END".to_string()]);
        assert_eq!(m.push("the E"), Pushed::Emit("the ".into()));
        assert_eq!(m.push("ND"), Pushed::Stop(String::new()));
        let mut m = StopMatcher::new(["END".to_string()]);
        assert_eq!(m.push("E"), Pushed::Emit(String::new()));
        assert_eq!(m.push("gg"), Pushed::Emit("Egg".into()));
        assert_eq!(m.push("EN"), Pushed::Emit(String::new()));
        assert_eq!(m.flush(), "EN");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut m = StopMatcher::new(["b".to_string(), "a".to_string()]);
        assert_eq!(m.push("xxaxb"), Pushed::Stop("xx".into()));
    }
}
