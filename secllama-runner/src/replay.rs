//! A runner that is hostile on purpose, for tests of what hosts do with untrusted text.
//!
//! It speaks the real channel (the key pipe, sealed and numbered frames in both directions)
//! but has no model: it answers the load request with a made-up [`ModelInfo`], and each
//! completion or chat request with the frames a script returns for its prompt (for a chat,
//! the last message). A frame may carry bytes that are not UTF-8 inside its JSON, which a real
//! runner never sends. Reached only through `internal::replay_runner_main`.

use std::io::{Read, Write};
use std::process::ExitCode;

use zeroize::Zeroizing;

use crate::api::{Done, Metrics, ModelInfo, StopReason};
use crate::wire::frame::frame_aad;
use crate::wire::key::{MAX_KEY_MESSAGE, parse_key_message};
use crate::wire::{Direction, FrameReader, HostMessage, Mode, RunnerMessage, WireErrorKind};

/// One scripted frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrame {
    /// A token frame carrying this text.
    Piece(String),
    /// A token frame whose JSON `text` holds these bytes verbatim between its quotes (they
    /// need not be UTF-8; `"` and `\` are not escaped).
    RawPiece(Vec<u8>),
}

/// Runs the replaying runner on the descriptors the host passed; `script` maps a prompt to
/// the frames sent for it, followed by a `done` frame.
pub fn replay_runner_main(script: impl Fn(&str) -> Vec<ReplayFrame>) -> ExitCode {
    match serve(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("secllama-replay-runner: {msg}");
            ExitCode::from(70)
        }
    }
}

struct Writer {
    socket: crate::ipc::Channel,
    mode: Mode,
    seq: u64,
}

impl Writer {
    /// Seals `json` as the next runner-to-host frame, exactly as the real writer does.
    fn send_json(&mut self, json: &[u8]) -> Result<(), String> {
        let body = match &self.mode {
            Mode::Sealed(keyset) => keyset
                .seal(json, &frame_aad(Direction::RunnerToHost, self.seq))
                .map_err(|e| e.to_string())?,
            Mode::Clear => return Err("the replay runner needs an encrypted channel".into()),
        };
        let len = u32::try_from(body.len()).map_err(|_| "frame too long".to_owned())?;
        let mut frame = len.to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.socket
            .write_all(&frame)
            .map_err(|e| format!("writing a frame failed: {e}"))?;
        self.seq += 1;
        Ok(())
    }

    fn send(&mut self, msg: &RunnerMessage) -> Result<(), String> {
        let json = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
        self.send_json(&json)
    }
}

fn serve(script: &dyn Fn(&str) -> Vec<ReplayFrame>) -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ends, syscalls) = crate::ipc::split_syscalls(&args)?;
    let (socket, key_pipe) = crate::ipc::open_child_ends(&ends)?;
    // The same allow-list as the real runner, installed at the same point (before the key
    // and the first frame), so hosts' tests see a runner confined as a real one is.
    if let Some(profile) = syscalls {
        secllama_sandbox::restrict_runner_syscalls(profile).map_err(|e| e.to_string())?;
    }
    let mut key = Zeroizing::new(Vec::new());
    key_pipe
        .take(u64::try_from(MAX_KEY_MESSAGE).unwrap_or(u64::MAX))
        .read_to_end(&mut key)
        .map_err(|e| format!("reading the key failed: {e}"))?;
    let keyset = parse_key_message(&key)
        .map_err(|_| "malformed key message".to_owned())?
        .ok_or("the replay runner needs an encrypted channel")?;
    let mode = Mode::Sealed(std::sync::Arc::new(keyset));
    let read_half = socket.try_clone().map_err(|e| e.to_string())?;
    let mut reader = FrameReader::new(read_half, mode.clone(), Direction::HostToRunner);
    let mut writer = Writer {
        socket,
        mode,
        seq: 0,
    };
    loop {
        let msg: HostMessage = match reader.recv() {
            Ok(m) => m,
            Err(_) => return Ok(()),
        };
        let (id, prompt) = match msg {
            HostMessage::Load(_) => {
                writer.send(&RunnerMessage::Ready(model_info()))?;
                continue;
            }
            HostMessage::Complete { id, request } => (id, request.prompt),
            HostMessage::Chat { id, request } => (
                id,
                request
                    .messages
                    .last()
                    .map(|m| m.content.clone())
                    .unwrap_or_default(),
            ),
            HostMessage::Cancel { .. } => continue,
            HostMessage::Shutdown => return Ok(()),
            // The hostile runner scripts generation only; anything else gets a refusal.
            HostMessage::Embed { id, .. }
            | HostMessage::Tokenize { id, .. }
            | HostMessage::Detokenize { id, .. } => {
                writer.send(&RunnerMessage::Error {
                    id: Some(id),
                    kind: WireErrorKind::InvalidRequest,
                    message: "not scripted".into(),
                    detail: None,
                })?;
                continue;
            }
        };
        for frame in script(prompt.trim()) {
            match frame {
                ReplayFrame::Piece(text) => writer.send(&RunnerMessage::Token { id, text })?,
                ReplayFrame::RawPiece(bytes) => {
                    let mut json = format!(r#"{{"type":"token","id":{id},"text":""#).into_bytes();
                    json.extend_from_slice(&bytes);
                    json.extend_from_slice(br#""}"#);
                    writer.send_json(&json)?;
                }
            }
        }
        let done = Done {
            reason: StopReason::EndOfText,
            metrics: Metrics::default(),
        };
        writer.send(&RunnerMessage::Done { id, done })?;
    }
}

fn model_info() -> ModelInfo {
    ModelInfo {
        name: "replay".into(),
        parameters: 0,
        size_bytes: 0,
        context_length: 4096,
        training_context_length: 4096,
        chat_template: "replay".into(),
        vocab_size: 0,
        threads: 1,
        gpu_layers: 0,
        backend: "CPU".into(),
        device: "CPU".into(),
        backends: vec!["CPU".into()],
    }
}
