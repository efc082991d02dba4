//! The public request and response types of the runner API.
//!
//! Pure data: requests are checked here (the host before sending, the runner again after
//! receiving: a host could be buggy, and limits keep a bad request from allocating without
//! bound) and travel as JSON inside sealed frames (see `wire`).

use serde::{Deserialize, Serialize};

pub use secllama_crypto::message::ChatMessage;

use crate::grammar::OutputFormat;

mod embed;

pub use self::embed::{
    EmbedRequest, Embeddings, MAX_DETOKENIZE_BYTES, MAX_DETOKENIZE_TOKENS, MAX_EMBED_INPUTS,
    MAX_TOKENIZE_BYTES, check_embed_inputs, normalize_embedding,
};
pub(crate) use self::embed::{validate_detokenize, validate_tokenize};

/// The largest prompt (bytes of UTF-8) or sum of chat message contents a request may carry.
pub const MAX_PROMPT_BYTES: usize = 2 * 1024 * 1024;
/// The most stop strings a request may carry.
pub const MAX_STOP_STRINGS: usize = 16;
/// The longest stop string, in bytes.
pub const MAX_STOP_STRING_BYTES: usize = 256;
/// The most chat messages in one request.
pub const MAX_CHAT_MESSAGES: usize = 1024;

/// Sampling and length parameters of one generation request.
///
/// `temperature == 0.0` selects greedy decoding (deterministic; `seed`, `top_k`, `top_p` and
/// `min_p` are then unused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationParams {
    /// The most tokens to generate (also bounded by the free context).
    pub max_tokens: u32,
    /// Sampling temperature; `0.0` is greedy.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; `0` disables the filter.
    pub top_k: u32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability sums to `top_p`;
    /// `1.0` disables the filter.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; `0.0` disables it.
    pub min_p: f32,
    /// Seed of the sampler's random number generator (same seed, same output).
    pub seed: u32,
    /// Generation stops before the first occurrence of any of these strings (not included in
    /// the output).
    pub stop: Vec<String>,
    /// Penalty for repeating one of the last `repeat_last_n` tokens; `1.0` disables it.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: u32,
}

impl Default for GenerationParams {
    /// Ollama-like defaults: 256 tokens, temperature 0.8, top-k 40, top-p 0.9, min-p 0.05,
    /// seed 0, no stop strings, repeat penalty 1.1 over the last 64 tokens.
    fn default() -> Self {
        GenerationParams {
            max_tokens: 256,
            temperature: 0.8,
            top_k: 40,
            top_p: 0.9,
            min_p: 0.05,
            seed: 0,
            stop: Vec::new(),
            repeat_penalty: 1.1,
            repeat_last_n: 64,
        }
    }
}

impl GenerationParams {
    /// Greedy decoding with no repeat penalty: the same prompt always gives the same output.
    pub fn greedy(max_tokens: u32) -> Self {
        GenerationParams {
            max_tokens,
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..GenerationParams::default()
        }
    }

    /// Checks every value is in its documented range; the message names the field.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.max_tokens == 0 {
            return Err("max_tokens must be at least 1".into());
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err("temperature must be a finite number >= 0".into());
        }
        if !(self.top_p.is_finite() && self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err("top_p must be in (0, 1]".into());
        }
        if !(self.min_p.is_finite() && (0.0..=1.0).contains(&self.min_p)) {
            return Err("min_p must be in [0, 1]".into());
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err("repeat_penalty must be a finite number > 0".into());
        }
        if i32::try_from(self.top_k).is_err() || i32::try_from(self.repeat_last_n).is_err() {
            return Err("top_k and repeat_last_n must fit in a 32-bit signed integer".into());
        }
        if self.stop.len() > MAX_STOP_STRINGS {
            return Err(format!(
                "at most {MAX_STOP_STRINGS} stop strings are allowed"
            ));
        }
        if self
            .stop
            .iter()
            .any(|s| s.is_empty() || s.len() > MAX_STOP_STRING_BYTES)
        {
            return Err(format!(
                "stop strings must be 1 to {MAX_STOP_STRING_BYTES} bytes long"
            ));
        }
        Ok(())
    }
}

/// A plain text completion: the model continues `prompt`.
///
/// The prompt is tokenized as text: special tokens spelled out in it (like `<start_of_turn>`)
/// are not interpreted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    /// The text to continue.
    pub prompt: String,
    /// Sampling and length parameters.
    pub params: GenerationParams,
    /// Constrains the output to JSON (Ollama's `format`); `None` for free text.
    #[serde(default)]
    pub format: Option<OutputFormat>,
    /// A prompt that does not fit the context: `None` refuses it
    /// ([`RunnerError::PromptTooLong`](crate::RunnerError::PromptTooLong)); `Some(n)` cuts it
    /// from the front keeping its first `n` tokens, as Ollama's `num_keep` (see the README).
    #[serde(default)]
    pub num_keep: Option<u32>,
}

impl CompletionRequest {
    /// A request with default parameters.
    pub fn new(prompt: impl Into<String>) -> Self {
        CompletionRequest {
            prompt: prompt.into(),
            params: GenerationParams::default(),
            format: None,
            num_keep: None,
        }
    }
}

/// A chat turn: the messages so far are formatted with the model's own chat template and the
/// model writes the assistant's answer.
///
/// The messages are `secllama-crypto`'s [`ChatMessage`] (its `Debug` prints sizes, never the
/// text); images are refused, the runner's models read text only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The conversation so far, oldest first; usually ends with a `user` message.
    pub messages: Vec<ChatMessage>,
    /// Sampling and length parameters.
    pub params: GenerationParams,
    /// Constrains the answer to JSON (Ollama's `format`); `None` for free text.
    #[serde(default)]
    pub format: Option<OutputFormat>,
    /// A prompt that does not fit the context: `None` refuses it
    /// ([`RunnerError::PromptTooLong`](crate::RunnerError::PromptTooLong)); `Some(n)` cuts it
    /// from the front keeping its first `n` tokens, as Ollama's `num_keep` (see the README).
    #[serde(default)]
    pub num_keep: Option<u32>,
}

impl ChatRequest {
    /// A request with default parameters.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            messages,
            params: GenerationParams::default(),
            format: None,
            num_keep: None,
        }
    }
}

/// The builder methods [`CompletionRequest`] and [`ChatRequest`] share: both have `params`,
/// `format` and `num_keep` with the same meaning, so their setters are written once.
macro_rules! generation_options {
    ($request:ident, $new:literal) => {
        impl $request {
            /// Replaces the parameters.
            ///
            /// ```
            #[doc = concat!("use secllama_runner::{ChatMessage, ", stringify!($request), ", GenerationParams, OutputFormat};")]
            ///
            #[doc = concat!("let request = ", $new)]
            ///     .with_params(GenerationParams::greedy(32))
            ///     .with_format(OutputFormat::Json)
            ///     .with_num_keep(4);
            /// assert_eq!(request.params, GenerationParams::greedy(32));
            /// assert_eq!(request.format, Some(OutputFormat::Json));
            /// assert_eq!(request.num_keep, Some(4));
            /// ```
            pub fn with_params(mut self, params: GenerationParams) -> Self {
                self.params = params;
                self
            }

            /// Constrains the output with `format` (a grammar in llama.cpp's sampler): the
            /// model can only produce text that keeps the output valid, and ends when it is
            /// complete.
            pub fn with_format(mut self, format: OutputFormat) -> Self {
                self.format = Some(format);
                self
            }

            /// Truncates a prompt longer than the context instead of refusing it, keeping its
            /// first `num_keep` tokens (Ollama's default is 4; the chat template's opening, a
            /// system prompt).
            pub fn with_num_keep(mut self, num_keep: u32) -> Self {
                self.num_keep = Some(num_keep);
                self
            }
        }
    };
}

generation_options!(
    CompletionRequest,
    "CompletionRequest::new(\"The capital of France is\")"
);
generation_options!(
    ChatRequest,
    "ChatRequest::new(vec![ChatMessage::user(\"Hi\")])"
);

pub(crate) fn validate_prompt(prompt: &str) -> Result<(), String> {
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(format!("the prompt exceeds {MAX_PROMPT_BYTES} bytes"));
    }
    if prompt.contains('\0') {
        return Err("the prompt contains a NUL character".into());
    }
    Ok(())
}

pub(crate) fn validate_messages(messages: &[ChatMessage]) -> Result<(), String> {
    if messages.is_empty() {
        return Err("a chat request needs at least one message".into());
    }
    if messages.len() > MAX_CHAT_MESSAGES {
        return Err(format!(
            "at most {MAX_CHAT_MESSAGES} chat messages are allowed"
        ));
    }
    if messages.iter().any(|m| !m.images.is_empty()) {
        return Err("this runner does not accept images in chat messages".into());
    }
    let total: usize = messages
        .iter()
        .map(|m| m.role.len() + m.content.len())
        .sum();
    if total > MAX_PROMPT_BYTES {
        return Err(format!("the chat messages exceed {MAX_PROMPT_BYTES} bytes"));
    }
    if messages
        .iter()
        .any(|m| m.role.contains('\0') || m.content.contains('\0') || m.role.is_empty())
    {
        return Err("chat roles must be non-empty and no message may contain NUL".into());
    }
    Ok(())
}

/// Facts about the loaded model, sent by the runner when it is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `general.name` from the GGUF metadata, or the file name.
    pub name: String,
    /// Number of parameters.
    pub parameters: u64,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    /// The context length this runner uses (tokens of prompt + output).
    pub context_length: u32,
    /// The context length the model was trained with.
    pub training_context_length: u32,
    /// How `chat` formats messages: `model` (the GGUF's own template), `builtin:<name>`
    /// (the GGUF has none; llama.cpp's built-in template for the model's architecture), or
    /// `plain` (`role: content` lines; see the crate documentation).
    pub chat_template: String,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Threads used for generation.
    pub threads: u32,
    /// Layers llama.cpp offloaded to the GPU device (0 on CPU; at most the model's layers + 1,
    /// the output layer, whatever was asked).
    pub gpu_layers: u32,
    /// The ggml backend the model was loaded on: `CPU`, `Vulkan`, `CUDA`, `Metal`.
    #[serde(default)]
    pub backend: String,
    /// The device the model was loaded on, as its driver names it (e.g. `llvmpipe (LLVM 15.0.6,
    /// 256 bits)` for Mesa's lavapipe), or `CPU`.
    #[serde(default)]
    pub device: String,
    /// The backends this runner binary was built with (`CPU` always, then `CUDA`, `Vulkan`,
    /// `Metal` as compiled in): what it can do is the runner's to say, not the host's.
    #[serde(default)]
    pub backends: Vec<String>,
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfText,
    /// A stop string was produced (it is not part of the output).
    StopString,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The host cancelled the request.
    Cancelled,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::EndOfText => "end_of_text",
            StopReason::StopString => "stop_string",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ContextFull => "context_full",
            StopReason::Cancelled => "cancelled",
        })
    }
}

/// Timing and token counts of one generation, named like Ollama's (durations in nanoseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Tokens in the prompt (after the chat template).
    pub prompt_eval_count: u64,
    /// Time spent evaluating the prompt.
    pub prompt_eval_duration: u64,
    /// Tokens generated.
    pub eval_count: u64,
    /// Time spent generating them.
    pub eval_duration: u64,
    /// Time the runner took to verify and load the model (the same for every request).
    pub load_duration: u64,
    /// Time from the runner receiving the request to the end of generation.
    pub total_duration: u64,
}

fn per_second(count: u64, nanos: u64) -> f64 {
    if nanos == 0 {
        return 0.0;
    }
    // Precision loss above 2^53 tokens or nanoseconds is irrelevant here.
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 * 1e9 / nanos as f64;
    rate
}

impl Metrics {
    /// Prompt tokens evaluated per second.
    pub fn prompt_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_eval_count, self.prompt_eval_duration)
    }
    /// Tokens generated per second.
    pub fn eval_tokens_per_second(&self) -> f64 {
        per_second(self.eval_count, self.eval_duration)
    }
}

/// The end of a generation: why it stopped and what it cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Done {
    /// Why generation stopped.
    pub reason: StopReason,
    /// Token counts and durations.
    pub metrics: Metrics,
}

/// What the runner is doing while it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadStage {
    /// Computing the model file's SHA-256 (only when a hash is pinned).
    Verifying,
    /// llama.cpp is reading the weights.
    Loading,
}

/// A load progress event: `fraction` goes from 0.0 to 1.0 within each stage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadProgress {
    /// The current stage.
    pub stage: LoadStage,
    /// Progress within the stage, 0.0 to 1.0.
    pub fraction: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_greedy_params_are_valid() {
        assert_eq!(GenerationParams::default().validate(), Ok(()));
        assert_eq!(GenerationParams::greedy(8).validate(), Ok(()));
    }

    #[test]
    fn out_of_range_params_are_named_in_the_error() {
        let cases: Vec<(GenerationParams, &str)> = vec![
            (
                GenerationParams {
                    max_tokens: 0,
                    ..Default::default()
                },
                "max_tokens",
            ),
            (
                GenerationParams {
                    temperature: -1.0,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                GenerationParams {
                    temperature: f32::NAN,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                GenerationParams {
                    top_p: 0.0,
                    ..Default::default()
                },
                "top_p",
            ),
            (
                GenerationParams {
                    min_p: 2.0,
                    ..Default::default()
                },
                "min_p",
            ),
            (
                GenerationParams {
                    repeat_penalty: 0.0,
                    ..Default::default()
                },
                "repeat_penalty",
            ),
            (
                GenerationParams {
                    top_k: u32::MAX,
                    ..Default::default()
                },
                "top_k",
            ),
            (
                GenerationParams {
                    stop: vec![String::new()],
                    ..Default::default()
                },
                "stop",
            ),
            (
                GenerationParams {
                    stop: vec!["x".into(); 17],
                    ..Default::default()
                },
                "stop",
            ),
        ];
        for (params, field) in cases {
            let err = params.validate().expect_err(field);
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn prompts_and_messages_over_the_limits_are_refused() {
        assert!(
            validate_prompt(&"a".repeat(MAX_PROMPT_BYTES + 1))
                .is_err_and(|e| e.contains("exceeds"))
        );
        assert!(validate_prompt("a\0b").is_err_and(|e| e.contains("NUL")));
        assert_eq!(validate_prompt("hello"), Ok(()));
        assert!(validate_messages(&[]).is_err_and(|e| e.contains("at least one")));
        assert!(
            validate_messages(&[ChatMessage::new("", "x")]).is_err_and(|e| e.contains("non-empty"))
        );
        assert_eq!(validate_messages(&[ChatMessage::user("hi")]), Ok(()));
        let with_image = ChatMessage {
            images: vec![vec![0x89, b'P', b'N', b'G']],
            ..ChatMessage::user("what is this?")
        };
        assert_eq!(
            validate_messages(&[with_image]),
            Err("this runner does not accept images in chat messages".into())
        );
    }

    #[test]
    fn rates_are_zero_for_zero_durations() {
        let m = Metrics {
            eval_count: 10,
            eval_duration: 2_000_000_000,
            ..Default::default()
        };
        assert_eq!(m.eval_tokens_per_second(), 5.0);
        assert_eq!(m.prompt_tokens_per_second(), 0.0);
    }
}
