//! The messages host and runner exchange inside sealed frames.
//!
//! Both sides import this module (and `frame`); neither imports the other side.

use serde::{Deserialize, Serialize};

use crate::api::{ChatRequest, CompletionRequest, Done, EmbedRequest, LoadProgress, ModelInfo};

/// How the host asks the runner to load its model. The path is the one the sandbox policy
/// allows; it travels sealed, never in argv.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadRequest {
    pub(crate) model_path: String,
    pub(crate) sha256: Option<String>,
    pub(crate) context_length: u32,
    pub(crate) batch_size: u32,
    pub(crate) threads: u32,
    pub(crate) gpu_layers: u32,
    /// Sequences that run at the same time, each with `context_length` tokens of cache.
    pub(crate) slots: u32,
    /// With `gpu_layers > 0`: load on the CPU when the runner has no GPU backend or no usable
    /// device, instead of failing.
    #[serde(default)]
    pub(crate) cpu_fallback: bool,
}

/// The most slots (requests at once) a runner accepts.
pub const MAX_SLOTS: u32 = 64;

/// Messages from host to runner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum HostMessage {
    Load(LoadRequest),
    Complete {
        id: u64,
        request: CompletionRequest,
    },
    Chat {
        id: u64,
        request: ChatRequest,
    },
    Cancel {
        id: u64,
    },
    Shutdown,
    /// Answered with one `Embedding` per input, then `Done`.
    Embed {
        id: u64,
        request: EmbedRequest,
    },
    /// Answered with `Tokens`.
    Tokenize {
        id: u64,
        text: String,
        add_special: bool,
        parse_special: bool,
    },
    /// Answered with `Text`.
    Detokenize {
        id: u64,
        tokens: Vec<i32>,
    },
}

/// The kinds of error the runner reports; the host maps each to a `RunnerError` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireErrorKind {
    /// A frame from the host failed to open or decode; the runner closes the session.
    FrameRejected,
    ModelNotFound,
    ChecksumMismatch,
    InvalidModel,
    ModelLoad,
    UnsupportedCpu,
    /// GPU layers were asked for, but the runner has no GPU backend or no usable device.
    GpuUnavailable,
    InvalidRequest,
    PromptTooLong,
    Generation,
    Protocol,
}

/// Messages from runner to host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum RunnerMessage {
    Progress(LoadProgress),
    Ready(ModelInfo),
    Token {
        id: u64,
        text: String,
    },
    Done {
        id: u64,
        done: Done,
    },
    /// The unit-length vector of input `index` of an embed request.
    Embedding {
        id: u64,
        index: u32,
        vector: Vec<f32>,
    },
    Tokens {
        id: u64,
        tokens: Vec<i32>,
    },
    Text {
        id: u64,
        text: String,
    },
    Error {
        id: Option<u64>,
        kind: WireErrorKind,
        message: String,
        /// For `PromptTooLong`: prompt tokens and context length.
        #[serde(default)]
        detail: Option<(u64, u64)>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::GenerationParams;

    #[test]
    fn messages_round_trip_through_json_and_unknown_fields_are_refused() {
        let msg = HostMessage::Complete {
            id: 7,
            request: CompletionRequest::new("hi").with_params(GenerationParams::greedy(3)),
        };
        let json = serde_json::to_vec(&msg).unwrap();
        assert_eq!(serde_json::from_slice::<HostMessage>(&json).unwrap(), msg);
        let bad = br#"{"type":"cancel","id":1,"extra":2}"#;
        assert!(serde_json::from_slice::<HostMessage>(bad).is_err());
    }
}
