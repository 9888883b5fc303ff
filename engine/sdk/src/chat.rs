//! A model's own chat template: the Jinja source from its
//! `tokenizer_config.json` (or GGUF metadata), rendered with a real Jinja
//! engine the way `transformers` renders it (blocks trimmed, Python string
//! methods available), so SFT data, evaluation prompts and serving put a
//! chat into exactly the form the model was trained on.

use minijinja::{Environment, ErrorKind, context};
use serde_json::Value;

use crate::ChatMessage;

const NAME: &str = "chat_template";

/// Why a chat template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the model's chat template does not compile: {0}; fix `chat_template` in its tokenizer_config.json")]
    Compile(String),
    #[error("the model's chat template failed on this chat: {0}")]
    Render(String),
    #[error(
        "the model's chat template does not put the answer after the prompt (rendering with add_generation_prompt is not a prefix of the whole chat), so the prompt's tokens cannot be told from the answer's"
    )]
    NotAPrefix,
}

/// A compiled chat template with the special tokens it may name.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`.
    ///
    /// # Errors
    /// A template that is not valid Jinja.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // transformers compiles chat templates with these two settings.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned(NAME, source.to_owned()).map_err(|e| TemplateError::Compile(describe(&e)))?;
        Ok(Self { env, source: source.to_owned(), bos_token: bos_token.to_owned(), eos_token: eos_token.to_owned() })
    }

    /// The template of a `tokenizer_config.json`, if it has one. Special
    /// tokens may be strings or `{"content": ...}` objects there.
    ///
    /// # Errors
    /// A template that is not valid Jinja.
    pub fn from_tokenizer_config(config: &Value) -> Result<Option<Self>, TemplateError> {
        let token = |key: &str| match config.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        let source = match config.get("chat_template") {
            Some(Value::String(s)) => s.clone(),
            // A list of named templates: the one called "default".
            Some(Value::Array(items)) => match items
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
            {
                Some(s) => s.to_owned(),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        Self::new(&source, &token("bos_token"), &token("eos_token")).map(Some)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// The chat as text; with `add_generation_prompt`, followed by what
    /// opens the assistant's answer.
    ///
    /// # Errors
    /// The template raised an exception or failed on these messages.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, TemplateError> {
        let template = self.env.get_template(NAME).map_err(|e| TemplateError::Render(describe(&e)))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| TemplateError::Render(describe(&e)))
    }

    /// A training pair: the prompt (every message but the last, with the
    /// generation prompt) and the answer that follows it in the whole chat
    /// (the last message as the template closes it, end token included).
    ///
    /// # Errors
    /// The template failed, or the prompt is not a prefix of the whole chat.
    pub fn split_for_training(&self, messages: &[ChatMessage]) -> Result<(String, String), TemplateError> {
        let (_, context) = messages.split_last().ok_or(TemplateError::Render("the chat has no messages".to_owned()))?;
        let prompt = self.render(context, true)?;
        let whole = self.render(messages, false)?;
        let answer = whole.strip_prefix(&prompt).ok_or(TemplateError::NotAPrefix)?;
        Ok((prompt, answer.to_owned()))
    }
}

/// minijinja's message with the line it points at.
fn describe(error: &minijinja::Error) -> String {
    match error.line() {
        Some(line) => format!("{} (template line {line})", error.detail().unwrap_or(&error.kind().to_string())),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests;
