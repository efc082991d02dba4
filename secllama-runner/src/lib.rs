#![doc = include_str!("../README.md")]

// The public request and response types.
mod api;
// Runner configuration, the default model, environment switches.
mod config;
// The crate's one error type.
mod error;
// Structured output: JSON and JSON-schema formats as llama.cpp grammars.
mod grammar;
// What host and runner share: frames, messages, key pipe, exit codes.
mod wire;
// The host-runner channel and key pipe, one cfg seam per OS.
mod ipc;
// What a GPU runner is granted beyond the sandbox baseline.
mod gpu;
// The host side: `Runner`, its requests and streams.
mod host;
// The runner process (inside the sandbox): model checks, templates, generation.
mod child;
// A scripted, hostile runner for hosts' tests (reached through `internal`).
mod replay;
// Making model text safe to print on a terminal.
mod terminal;

pub use crate::api::{
    ChatMessage, ChatRequest, CompletionRequest, Done, EmbedRequest, Embeddings, GenerationParams,
    LoadProgress, LoadStage, MAX_CHAT_MESSAGES, MAX_DETOKENIZE_BYTES, MAX_DETOKENIZE_TOKENS,
    MAX_EMBED_INPUTS, MAX_PROMPT_BYTES, MAX_STOP_STRING_BYTES, MAX_STOP_STRINGS,
    MAX_TOKENIZE_BYTES, Metrics, ModelInfo, StopReason, check_embed_inputs, normalize_embedding,
};
pub use crate::child::runner_main;
pub use crate::config::{
    DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256, DEFAULT_MODEL_SIZE, DEFAULT_SLOTS, MAX_TOTAL_CONTEXT,
    MIN_CONTEXT_LENGTH, RunnerConfig, SandboxMode, default_model_path, encryption_from_env,
};
pub use crate::error::RunnerError;
pub use crate::gpu::{GPU_ENV, GpuGrant, gpu_grants};
pub use crate::grammar::{MAX_SCHEMA_BYTES, OutputFormat};
pub use crate::host::{CancelHandle, Generation, Runner, SHUTDOWN_GRACE, StreamEvent};
pub use crate::terminal::TerminalText;
pub use crate::wire::{MAX_FRAME_LEN, MAX_SLOTS, PROTOCOL_VERSION};
pub use secllama_sandbox::{SandboxReport, Strictness};

/// Entry points for fuzz targets and the crate's own attack tests. Not a stable API.
#[doc(hidden)]
pub mod internal {
    use std::sync::Arc;

    use secllama_crypto::Keyset;

    pub use crate::replay::{ReplayFrame, replay_runner_main};
    pub use crate::wire::Direction;
    use crate::wire::frame::open_body;
    use crate::wire::{HostMessage, Mode, RunnerMessage};
    use crate::{Runner, RunnerConfig, RunnerError};

    /// Decodes frame bodies (without the length prefix) the way each side does.
    #[derive(Debug)]
    pub struct FrameDecoder {
        mode: Mode,
    }

    impl FrameDecoder {
        /// `None` is clear mode (`SECLLAMA_ENABLE_ENCRYPTION=false`).
        pub fn new(keyset: Option<Keyset>) -> Self {
            FrameDecoder {
                mode: keyset.map_or(Mode::Clear, |k| Mode::Sealed(Arc::new(k))),
            }
        }

        /// Opens and decodes `body` as the runner would at sequence `seq`; true if it is a
        /// valid host message.
        pub fn decode_host_frame(&self, seq: u64, body: &[u8]) -> bool {
            open_body::<HostMessage>(&self.mode, Direction::HostToRunner, seq, body).is_ok()
        }

        /// Opens and decodes `body` as the host would at sequence `seq`.
        pub fn decode_runner_frame(&self, seq: u64, body: &[u8]) -> bool {
            open_body::<RunnerMessage>(&self.mode, Direction::RunnerToHost, seq, body).is_ok()
        }

        /// Decodes a stream of length-prefixed frames as the runner would, until the first
        /// error; returns how many frames were valid.
        pub fn decode_host_stream(&self, bytes: &[u8]) -> usize {
            let mut reader = crate::wire::FrameReader::new(
                std::io::Cursor::new(bytes),
                self.mode.clone(),
                Direction::HostToRunner,
            );
            let mut n = 0;
            while reader.recv::<HostMessage>().is_ok() {
                n += 1;
            }
            n
        }
    }

    /// Parses the key-pipe message as the runner does.
    pub fn parse_key_message(bytes: &[u8]) -> bool {
        crate::wire::key::parse_key_message(bytes).is_ok()
    }

    /// Feeds token byte pieces through the UTF-8 and stop-string assembler; returns the text.
    pub fn assemble_text(stop: Vec<String>, pieces: &[&[u8]]) -> String {
        let mut ts = crate::child::text::TextStream::new(stop);
        let mut out = String::new();
        for p in pieces {
            let r = ts.push(p);
            out.push_str(&r.text);
            if r.stopped {
                return out;
            }
        }
        out.push_str(&ts.finish());
        out
    }

    /// Writes raw bytes onto the host-to-runner socket (forgery tests).
    ///
    /// # Errors
    /// The socket is closed.
    pub fn inject_raw(runner: &Runner, bytes: &[u8]) -> Result<(), RunnerError> {
        runner.write_raw(bytes)
    }

    /// Leaves `grant` out of the runner's GPU grants (tests proving each grant is needed).
    pub fn omit_gpu_grant(mut config: RunnerConfig, grant: crate::GpuGrant) -> RunnerConfig {
        config.omit_gpu_grant = Some(grant);
        config
    }

    /// Requests whose stream was dropped before its end (a vanished client): each id with
    /// its `Done` once the runner has ended it and freed its slot.
    pub fn abandoned_requests(runner: &Runner) -> Vec<(u64, Option<crate::Done>)> {
        runner.abandoned_requests()
    }

    /// The llama.cpp grammar for an output format, or why it is refused (fuzzing the schema
    /// converter).
    ///
    /// # Errors
    /// The format is outside the supported schema subset.
    pub fn format_grammar(format: &crate::OutputFormat) -> Result<String, String> {
        crate::grammar::grammar(format)
    }

    /// The last frame the host sent, exactly as it went on the wire (replay tests).
    pub fn last_sent_frame(runner: &Runner) -> Vec<u8> {
        runner.last_sent_frame()
    }

    /// Why the session ended (`None` while it runs): the error its streams got.
    pub fn session_failure(runner: &Runner) -> Option<RunnerError> {
        runner.session_failure()
    }
}
