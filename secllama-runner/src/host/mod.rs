//! The host side: the `Runner` handle, its requests, and shutdown.

mod calls;
mod errors;
mod launch;
mod policy;
mod router;
mod spawn;
mod stderr;
mod stream;

use crate::ipc::Channel;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use secllama_sandbox::SandboxReport;

use self::router::{Failure, Routed, Router, route};
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
/// Several requests can be in flight at once (`&self` methods; share the runner between
/// threads with `std::thread::scope` or an `Arc`): the runner batches up to
/// [`RunnerConfig::slots`] of them in one context and queues the rest. The model stays loaded
/// between requests. Dropping the runner shuts the process down.
pub struct Runner {
    writer: SharedWriter,
    /// The frame reader during the handshake; the router thread owns it afterwards.
    reader: Option<FrameReader<Channel>>,
    router: Arc<Router>,
    reader_thread: Option<JoinHandle<()>>,
    info: ModelInfo,
    report: Option<SandboxReport>,
    gpu_grants: Vec<GpuGrant>,
    encrypted: bool,
    next_id: AtomicU64,
    /// Another descriptor of the channel, for [`CancelHandle::terminate`] (which must not wait
    /// for the writer's lock).
    socket: Arc<Channel>,
    startup: Duration,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("pid", &self.pid())
            .field("model", &self.info.name)
            .field("encrypted", &self.encrypted)
            .field("sandboxed", &self.report.is_some())
            .field("closed", &self.router.is_closed())
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

/// An output format the runner could not turn into a grammar is refused before sending.
fn check_format(format: Option<&crate::OutputFormat>) -> Result<(), String> {
    format.map_or(Ok(()), |f| crate::grammar::grammar(f).map(drop))
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
        child: launch::Process,
        writer: SharedWriter,
        reader: FrameReader<Channel>,
        socket: Arc<Channel>,
        report: Option<SandboxReport>,
        gpu_grants: Vec<GpuGrant>,
        encrypted: bool,
    ) -> Runner {
        Runner {
            writer,
            reader: Some(reader),
            router: Arc::new(Router::new(child)),
            reader_thread: None,
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
            next_id: AtomicU64::new(1),
            socket,
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
        let spawned = self.router.child().as_ref().map(launch::Process::id)?;
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

    /// A handle that cancels, from another thread, every request in flight when it is used.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            writer: self.writer.clone(),
            router: self.router.clone(),
            only: None,
            socket: self.socket.clone(),
        }
    }

    /// Starts a text completion and returns its stream.
    ///
    /// # Errors
    /// An invalid request (checked before sending), or a closed or broken session.
    pub fn complete(&self, request: CompletionRequest) -> Result<Generation<'_>, RunnerError> {
        validate_prompt(&request.prompt)
            .and_then(|()| request.params.validate())
            .and_then(|()| check_format(request.format.as_ref()))
            .map_err(RunnerError::InvalidRequest)?;
        self.start(|id| HostMessage::Complete { id, request })
    }

    /// Starts a chat turn (formatted with the model's chat template) and returns its stream.
    ///
    /// # Errors
    /// As [`complete`](Self::complete).
    pub fn chat(&self, request: ChatRequest) -> Result<Generation<'_>, RunnerError> {
        validate_messages(&request.messages)
            .and_then(|()| request.params.validate())
            .and_then(|()| check_format(request.format.as_ref()))
            .map_err(RunnerError::InvalidRequest)?;
        self.start(|id| HostMessage::Chat { id, request })
    }

    /// Sends a request under a fresh id and returns the id and the channel its frames are
    /// routed to.
    fn open_request(
        &self,
        make: impl FnOnce(u64) -> HostMessage,
    ) -> Result<(u64, Receiver<Routed>), RunnerError> {
        if self.router.is_closed() || self.reader_thread.is_none() {
            // The streams in flight got the session's failure; a new request finds it closed.
            return Err(RunnerError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        // Registered before sending, so not even the first frame can arrive unrouted.
        let events = self.router.open(id);
        if let Err(e) = send(&self.writer, &make(id)) {
            self.router.forget(id);
            if matches!(e, RunnerError::InvalidRequest(_)) {
                // Nothing was written: the session and its sequence numbers are unchanged.
                return Err(e);
            }
            return Err(self.router.fail_with_child_status(e));
        }
        Ok((id, events))
    }

    fn start(&self, make: impl FnOnce(u64) -> HostMessage) -> Result<Generation<'_>, RunnerError> {
        let (id, events) = self.open_request(make)?;
        Ok(Generation {
            runner: self,
            id,
            events,
            finished: false,
            sent: Instant::now(),
            first_piece: None,
        })
    }

    /// After the handshake: hands the frame reader to the thread that routes frames to
    /// streams.
    fn start_routing(&mut self) -> Result<(), RunnerError> {
        let Some(reader) = self.reader.take() else {
            return Ok(());
        };
        let router = self.router.clone();
        let thread = std::thread::Builder::new()
            .name("secllama-runner-rx".into())
            .spawn(move || route(router, reader))
            .map_err(RunnerError::Spawn)?;
        self.reader_thread = Some(thread);
        Ok(())
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
        let child = self.router.child().take();
        let status = child.map(|mut child| {
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
        });
        self.router.fail(Failure::Closed);
        // Wakes the reader thread even if something else still holds the runner's end.
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        if let Some(thread) = self.reader_thread.take() {
            let _ = thread.join();
        }
        status.flatten()
    }

    /// Kills the runner at once (after a protocol violation or a rejected frame).
    fn close(&mut self) {
        self.router.fail(Failure::Closed);
    }

    /// Turns a channel failure into the most precise error: a dead child's exit status wins.
    fn fail_with_child_status(&mut self, err: RunnerError) -> RunnerError {
        self.router.fail_with_child_status(err)
    }

    /// Reads one frame during the handshake (before the router thread exists).
    fn recv(&mut self) -> Result<RunnerMessage, RunnerError> {
        let Some(reader) = self.reader.as_mut() else {
            return Err(RunnerError::Closed);
        };
        if self.router.is_closed() {
            return Err(RunnerError::Closed);
        }
        match reader.recv::<RunnerMessage>() {
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
    pub(crate) fn write_raw(&self, bytes: &[u8]) -> Result<(), RunnerError> {
        self.writer
            .write_raw(bytes)
            .map_err(|e| RunnerError::Protocol(e.to_string()))
    }

    /// Requests whose stream was dropped early, with their `Done` once the runner confirmed
    /// their end (tests through `internal`).
    pub(crate) fn abandoned_requests(&self) -> Vec<(u64, Option<crate::api::Done>)> {
        self.router.abandoned()
    }

    /// The last frame this side sent, as it went on the wire (tests through `internal`).
    pub(crate) fn last_sent_frame(&self) -> Vec<u8> {
        self.writer.last_frame()
    }

    /// Why the session ended, once it has (tests through `internal`): a new request on an
    /// ended session only says `Closed`.
    pub(crate) fn session_failure(&self) -> Option<RunnerError> {
        self.router.is_closed().then(|| self.router.failure())
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
    send_sync::<Runner>();
}
