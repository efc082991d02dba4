//! Starting a runner, in named steps: check the model, make the session key, build the
//! sandboxed command, start it and hand it the key, then the load handshake.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use secllama_crypto::Keyset;
use zeroize::Zeroizing;

use super::errors::{map_wire_error, message_name, reap_error};
use super::launch::{CheckedModel, Started, start_child};
use super::{Runner, send};
use crate::RunnerError;
use crate::api::LoadProgress;
use crate::config::{RunnerConfig, resolve_runner_path};
use crate::wire::key::encode_key_message;
use crate::wire::{
    Direction, FrameReader, HostMessage, LoadRequest, MAX_NAME_BYTES, Mode, RunnerMessage,
    SharedWriter, WireErrorKind, printable,
};

/// At most this many backend names are kept from a runner's ready message.
const MAX_BACKENDS: usize = 8;

/// The session's protection and the key-pipe message that carries it to the runner.
struct SessionKey {
    mode: Mode,
    message: Zeroizing<Vec<u8>>,
}

pub(super) fn spawn(
    config: &RunnerConfig,
    on_progress: &mut dyn FnMut(LoadProgress),
) -> Result<Runner, RunnerError> {
    let started_at = Instant::now();
    let sha256 = config.validate()?;
    if config.harden_host {
        // Before the session key exists: this process holds it from now on.
        secllama_sandbox::harden_current_process()?;
    }
    let runner_path = resolve_runner_path(config.runner_path.as_deref())?;
    let model = check_model(&config.model)?;
    let key = session_key(config.encryption)?;
    let started = start_child(config, &runner_path, &model)?;
    let mut runner = open_session(started, key, config.encryption)?;
    let load = HostMessage::Load(LoadRequest {
        model_path: model.path_str.clone(),
        sha256: sha256.clone(),
        context_length: config.context_length,
        batch_size: config.batch_size,
        threads: config.effective_threads(),
        gpu_layers: config.gpu_layers,
        slots: config.slots,
        cpu_fallback: config.cpu_fallback,
    });
    if let Err(e) = send(&runner.writer, &load) {
        return Err(runner.fail_with_child_status(e));
    }
    wait_until_ready(
        &mut runner,
        &model.path,
        sha256.as_deref(),
        config.gpu_layers,
        on_progress,
    )?;
    runner.start_routing()?;
    if sha256.is_some() {
        tracing::info!(
            target: "secllama::audit",
            event = "model-checksum-verified",
            model = %model.path.display(),
            "model sha-256 matches the pinned hash"
        );
    }
    runner.startup = started_at.elapsed();
    Ok(runner)
}

/// Resolves the model path and checks it is a regular file this process can see; the runner
/// checks it again (and hashes it) inside the sandbox.
fn check_model(configured: &Path) -> Result<CheckedModel, RunnerError> {
    let path = std::fs::canonicalize(configured).map_err(|cause| RunnerError::ModelNotFound {
        path: configured.to_path_buf(),
        cause,
    })?;
    let meta = std::fs::metadata(&path).map_err(|cause| RunnerError::ModelNotFound {
        path: path.clone(),
        cause,
    })?;
    if !meta.is_file() {
        return Err(RunnerError::InvalidModel(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let path_str = path
        .to_str()
        .ok_or_else(|| RunnerError::Config("the model path is not valid UTF-8".into()))?
        .to_owned();
    Ok(CheckedModel {
        path,
        path_str,
        size: meta.len(),
    })
}

/// A fresh session keyset (or clear mode, loudly) and its key-pipe message.
fn session_key(encryption: bool) -> Result<SessionKey, RunnerError> {
    let keyset = if encryption {
        Some(Keyset::try_generate().map_err(|e| RunnerError::Config(e.to_string()))?)
    } else {
        tracing::warn!(
            target: "secllama::audit",
            event = "encryption-disabled",
            "SECLLAMA_ENABLE_ENCRYPTION=false: host-runner messages travel in clear text"
        );
        None
    };
    let message = encode_key_message(keyset.as_ref())
        .map_err(|_| RunnerError::Config("session keyset too large".into()))?;
    let mode = match keyset {
        Some(ks) => Mode::Sealed(Arc::new(ks)),
        None => Mode::Clear,
    };
    Ok(SessionKey { mode, message })
}

/// Writes the key message, closes the pipe, and wraps the socket in the session's framing.
fn open_session(
    mut started: Started,
    key: SessionKey,
    encrypted: bool,
) -> Result<Runner, RunnerError> {
    let mut key_pipe = started.host.key;
    let written = key_pipe.write_all(&key.message);
    drop(key_pipe);
    drop(key.message);
    if written.is_err() {
        return Err(reap_error(&mut started.child));
    }
    let channel = started.host.channel;
    let read_half = channel.try_clone().map_err(RunnerError::Spawn)?;
    let socket = Arc::new(channel.try_clone().map_err(RunnerError::Spawn)?);
    let writer = SharedWriter::new(channel, key.mode.clone(), Direction::HostToRunner);
    let reader = FrameReader::new(read_half, key.mode, Direction::RunnerToHost);
    Ok(Runner::new(
        started.child,
        writer,
        reader,
        socket,
        started.report,
        started.gpu_grants,
        encrypted,
    ))
}

/// Relays progress until the runner reports `Ready` (or fails to load the model).
fn wait_until_ready(
    runner: &mut Runner,
    model: &Path,
    sha256: Option<&str>,
    gpu_layers: u32,
    on_progress: &mut dyn FnMut(LoadProgress),
) -> Result<(), RunnerError> {
    loop {
        match runner.recv()? {
            RunnerMessage::Progress(p) => on_progress(p),
            RunnerMessage::Ready(mut info) => {
                // Model-controlled text: bounded and made printable before anyone shows it.
                info.name = printable(&info.name, MAX_NAME_BYTES);
                info.chat_template = printable(&info.chat_template, MAX_NAME_BYTES);
                // The driver names the device: bounded and printable like the model's name.
                info.backend = printable(&info.backend, MAX_NAME_BYTES);
                info.device = printable(&info.device, MAX_NAME_BYTES);
                info.backends.truncate(MAX_BACKENDS);
                for b in &mut info.backends {
                    *b = printable(b, MAX_NAME_BYTES);
                }
                if gpu_layers > 0 && info.gpu_layers == 0 {
                    tracing::warn!(
                        target: "secllama::audit",
                        event = "gpu-cpu-fallback",
                        "GPU layers were asked for, but the model runs on the CPU (fallback allowed)"
                    );
                }
                runner.info = info;
                return Ok(());
            }
            RunnerMessage::Error {
                kind,
                message,
                detail,
                ..
            } => {
                if kind == WireErrorKind::ChecksumMismatch {
                    tracing::warn!(
                        target: "secllama::audit",
                        event = "model-checksum-rejected",
                        model = %model.display(),
                        "model refused: its sha-256 differs from the pinned one"
                    );
                }
                let err = map_wire_error(kind, message, detail, model, sha256);
                runner.close();
                return Err(err);
            }
            other => {
                runner.close();
                return Err(RunnerError::Protocol(format!(
                    "unexpected {} before ready",
                    message_name(&other)
                )));
            }
        }
    }
}
