//! The host side: the `Runner` handle, its requests, and shutdown.

mod errors;
mod policy;
mod spawn;
mod stream;

use std::os::unix::net::UnixStream;
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secllama_sandbox::SandboxReport;

use self::errors::reap_error;
pub use self::stream::{CancelHandle, Generation, StreamEvent};
use crate::RunnerError;
use crate::api::{
    ChatRequest, CompletionRequest, LoadProgress, ModelInfo, validate_messages, validate_prompt,
};
use crate::config::RunnerConfig;
use crate::gpu::GpuGrant;
use crate::wire::{
    FrameError, FrameReader, HostMessage, MAX_FRAME_LEN, RunnerMessage, SharedWriter,
};

/// How long a runner gets to exit after `Shutdown` before it is killed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running, sandboxed runner process with a loaded model.
///
/// Requests run one at a time (each borrows the runner mutably until its stream ends); the
/// model stays loaded between them. Dropping the runner shuts the process down.
pub struct Runner {
    child: Option<Child>,
    writer: SharedWriter,
    reader: FrameReader<UnixStream>,
    info: ModelInfo,
    report: Option<SandboxReport>,
    gpu_grants: Vec<GpuGrant>,
    encrypted: bool,
    current: Arc<AtomicU64>,
    /// Another descriptor of the channel, for [`CancelHandle::terminate`] (which must not wait
    /// for the writer's lock).
    socket: Arc<UnixStream>,
    closed: bool,
    startup: Duration,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("model", &self.info.name)
            .field("encrypted", &self.encrypted)
            .field("sandboxed", &self.report.is_some())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Sends one message. A message whose frame would exceed [`MAX_FRAME_LEN`] is refused before
/// anything is written, as an invalid request: only requests can be that large (the prompt
/// limits count characters, but JSON escapes a control character as six bytes, so a prompt
/// under [`MAX_PROMPT_BYTES`](crate::MAX_PROMPT_BYTES) can still be too large to frame).
fn send(writer: &SharedWriter, msg: &HostMessage) -> Result<(), RunnerError> {
    writer.send(msg).map_err(|e| match e {
        FrameError::Closed => RunnerError::Closed,
        FrameError::Io(e) => RunnerError::Io(e),
        FrameError::BadLength { len } => RunnerError::InvalidRequest(format!(
            "the request is {len} bytes once encoded, over the frame limit of {MAX_FRAME_LEN} \
             bytes; shorten the prompt (JSON escapes each control character as six bytes)"
        )),
        other => RunnerError::Protocol(other.to_string()),
    })
}

impl Runner {
    /// Starts a runner for `config` and waits until its model is loaded.
    ///
    /// # Errors
    /// See [`RunnerError`]: a missing runner or model, a sandbox that cannot be enforced as
    /// configured, a model that fails its pinned hash or does not load, a runner that dies.
    pub fn spawn(config: RunnerConfig) -> Result<Runner, RunnerError> {
        Self::spawn_with_progress(config, |_| {})
    }

    /// Like [`spawn`](Self::spawn), calling `on_progress` while the runner verifies and loads
    /// the model.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with_progress(
        config: RunnerConfig,
        mut on_progress: impl FnMut(LoadProgress),
    ) -> Result<Runner, RunnerError> {
        spawn::spawn(&config, &mut on_progress)
    }

    /// A runner whose session is open but whose model is not loaded yet.
    fn new(
        child: Child,
        writer: SharedWriter,
        reader: FrameReader<UnixStream>,
        socket: Arc<UnixStream>,
        report: Option<SandboxReport>,
        gpu_grants: Vec<GpuGrant>,
        encrypted: bool,
    ) -> Runner {
        Runner {
            child: Some(child),
            writer,
            reader,
            info: ModelInfo {
                name: String::new(),
                parameters: 0,
                size_bytes: 0,
                context_length: 0,
                training_context_length: 0,
                chat_template: String::new(),
                vocab_size: 0,
                threads: 0,
                gpu_layers: 0,
                backend: String::new(),
                device: String::new(),
                backends: Vec::new(),
            },
            report,
            gpu_grants,
            encrypted,
            current: Arc::new(AtomicU64::new(0)),
            socket,
            closed: false,
            startup: Duration::ZERO,
        }
    }

    /// Facts about the loaded model.
    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    /// What the sandbox enforces, layer by layer; `None` when the sandbox is disabled.
    pub fn sandbox_report(&self) -> Option<&SandboxReport> {
        self.report.as_ref()
    }

    /// What the sandbox grants this runner for its GPU beyond the baseline (empty on the CPU
    /// or without a sandbox); see [`gpu_grants`](crate::gpu_grants).
    pub fn gpu_grants(&self) -> &[GpuGrant] {
        &self.gpu_grants
    }

    /// Whether the channel is sealed (false only with `SECLLAMA_ENABLE_ENCRYPTION=false`).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The runner's process id (while it runs): the runner itself, also inside the Linux
    /// sandbox's PID namespace (`None` if it cannot be found there).
    pub fn pid(&self) -> Option<u32> {
        let spawned = self.child.as_ref().map(Child::id)?;
        // Linux sandbox v2: the spawned process is the sandbox's waiter, whose child is the
        // sandbox's init, whose one child is the runner.
        let confined = self.report.as_ref().is_some_and(|r| {
            r.state(secllama_sandbox::Layer::PidIpcUtsCgroupNamespaces)
                .is_some_and(secllama_sandbox::LayerState::is_enforced)
        });
        if !confined {
            return Some(spawned);
        }
        let mut pid = spawned;
        for _ in 0..2 {
            let children =
                std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
            pid = children.split_whitespace().next()?.parse().ok()?;
        }
        Some(pid)
    }

    /// Time from [`spawn`](Self::spawn) to the model being ready.
    pub fn startup_duration(&self) -> Duration {
        self.startup
    }

    /// A handle that cancels the current request from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            writer: self.writer.clone(),
            current: self.current.clone(),
            socket: self.socket.clone(),
        }
    }

    /// Starts a text completion and returns its stream.
    ///
    /// # Errors
    /// An invalid request (checked before sending), or a closed or broken session.
    pub fn complete(&mut self, request: CompletionRequest) -> Result<Generation<'_>, RunnerError> {
        validate_prompt(&request.prompt)
            .and_then(|()| request.params.validate())
            .map_err(RunnerError::InvalidRequest)?;
        self.start(|id| HostMessage::Complete { id, request })
    }

    /// Starts a chat turn (formatted with the model's chat template) and returns its stream.
    ///
    /// # Errors
    /// As [`complete`](Self::complete).
    pub fn chat(&mut self, request: ChatRequest) -> Result<Generation<'_>, RunnerError> {
        validate_messages(&request.messages)
            .and_then(|()| request.params.validate())
            .map_err(RunnerError::InvalidRequest)?;
        self.start(|id| HostMessage::Chat { id, request })
    }

    fn start(
        &mut self,
        make: impl FnOnce(u64) -> HostMessage,
    ) -> Result<Generation<'_>, RunnerError> {
        if self.closed {
            return Err(RunnerError::Closed);
        }
        let previous = self.current.load(Ordering::SeqCst);
        let id = previous + 1;
        self.current.store(id, Ordering::SeqCst);
        if let Err(e) = send(&self.writer, &make(id)) {
            if matches!(e, RunnerError::InvalidRequest(_)) {
                // Nothing was written: the session and its sequence numbers are unchanged.
                self.current.store(previous, Ordering::SeqCst);
                return Err(e);
            }
            return Err(self.fail_with_child_status(e));
        }
        Ok(Generation {
            runner: self,
            id,
            finished: false,
            sent: Instant::now(),
            first_piece: None,
        })
    }

    /// Shuts the runner down and returns its exit status (graceful, then killed after
    /// [`SHUTDOWN_GRACE`]).
    ///
    /// # Errors
    /// Waiting for the process failed.
    pub fn shutdown(mut self) -> Result<ExitStatus, RunnerError> {
        self.stop().ok_or(RunnerError::Closed)
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        self.closed = true;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = send(&self.writer, &HostMessage::Shutdown);
        self.writer.shutdown_write();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Kills the runner at once (after a protocol violation or a rejected frame).
    fn close(&mut self) {
        self.closed = true;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Turns a channel failure into the most precise error: a dead child's exit status wins.
    fn fail_with_child_status(&mut self, err: RunnerError) -> RunnerError {
        self.closed = true;
        match self.child.as_mut() {
            Some(child) => {
                let e = reap_error(child);
                self.child = None;
                match e {
                    RunnerError::Crashed { .. } if matches!(err, RunnerError::Protocol(_)) => err,
                    e => e,
                }
            }
            None => err,
        }
    }

    fn recv(&mut self) -> Result<RunnerMessage, RunnerError> {
        if self.closed {
            return Err(RunnerError::Closed);
        }
        match self.reader.recv::<RunnerMessage>() {
            Ok(msg) => Ok(msg),
            Err(FrameError::Closed | FrameError::Io(_)) => {
                let err = RunnerError::Io(std::io::ErrorKind::UnexpectedEof.into());
                Err(self.fail_with_child_status(err))
            }
            Err(
                e
                @ (FrameError::Rejected(_) | FrameError::Malformed | FrameError::BadLength { .. }),
            ) => {
                tracing::warn!(
                    target: "secllama::audit",
                    event = "frame-rejected",
                    reason = %e,
                    "a frame from the runner was rejected; stopping the runner"
                );
                self.close();
                Err(RunnerError::FrameRejected {
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Writes raw bytes onto the channel, bypassing sealing (tests through `internal`).
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), RunnerError> {
        self.writer
            .write_raw(bytes)
            .map_err(|e| RunnerError::Protocol(e.to_string()))
    }

    /// The last frame this side sent, as it went on the wire (tests through `internal`).
    pub(crate) fn last_sent_frame(&self) -> Vec<u8> {
        self.writer.last_frame()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[allow(dead_code)]
fn _assert_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CancelHandle>();
    fn send_only<T: Send>() {}
    send_only::<Runner>();
}
