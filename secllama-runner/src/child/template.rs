//! How chat messages become a prompt: the model's own template, llama.cpp's built-in one for
//! the model's family, or plain `role: content` lines.

use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};

use crate::api::ChatMessage;

/// How chat messages become a prompt for this model.
pub(crate) enum ChatFormat {
    /// The template in the GGUF (`tokenizer.chat_template`).
    Model(LlamaChatTemplate),
    /// llama.cpp's built-in template of this name, chosen by `general.architecture`.
    Builtin(&'static str),
    /// `role: content` lines (see `fallback_chat_prompt`).
    Plain,
}

/// llama.cpp's built-in template for a model family that ships GGUFs without a template.
pub(crate) fn builtin_template_for(architecture: &str) -> Option<&'static str> {
    let arch = architecture.to_ascii_lowercase();
    let table: &[(&str, &'static str)] = &[
        ("gemma", "gemma"),
        ("llama", "llama3"),
        ("qwen", "chatml"),
        ("phi3", "phi3"),
        ("mistral", "mistral-v7"),
    ];
    table
        .iter()
        .find(|(prefix, _)| arch.starts_with(prefix))
        .map(|(_, name)| *name)
}

pub(crate) fn chat_format(model: &LlamaModel) -> ChatFormat {
    if let Ok(t) = model.chat_template(None) {
        return ChatFormat::Model(t);
    }
    model
        .meta_val_str("general.architecture")
        .ok()
        .and_then(|a| builtin_template_for(&a))
        .map_or(ChatFormat::Plain, ChatFormat::Builtin)
}

/// The fallback chat format for models without a template: one `role: content` line per
/// message, then `assistant:`.
pub(crate) fn fallback_chat_prompt(messages: &[ChatMessage]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str(&m.role);
        s.push_str(": ");
        s.push_str(&m.content);
        s.push('\n');
    }
    s.push_str("assistant:");
    s
}

/// Formats `messages` for `model` and leaves the assistant's turn open. The error names what
/// failed (a message llama.cpp refused, or the template itself).
pub(crate) fn render_chat(model: &LlamaModel, messages: &[ChatMessage]) -> Result<String, String> {
    let template = match chat_format(model) {
        ChatFormat::Model(t) => Some(t),
        ChatFormat::Builtin(name) => LlamaChatTemplate::new(name).ok(),
        ChatFormat::Plain => None,
    };
    let Some(template) = template else {
        return Ok(fallback_chat_prompt(messages));
    };
    let chat = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    model
        .apply_chat_template(&template, &chat, true)
        .map_err(|e| format!("the model's chat template failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_files_without_a_template_get_their_familys_builtin_one() {
        assert_eq!(builtin_template_for("gemma3"), Some("gemma"));
        assert_eq!(builtin_template_for("Qwen2"), Some("chatml"));
        assert_eq!(builtin_template_for("some-new-arch"), None);
    }

    #[test]
    fn the_fallback_chat_format_ends_with_the_assistant_turn() {
        let p = fallback_chat_prompt(&[ChatMessage::system("be brief"), ChatMessage::user("hi")]);
        assert_eq!(p, "system: be brief\nuser: hi\nassistant:");
    }
}
