//! The host side: starting the runner, the request/stream API, shutdown.

use std::io::Write;
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secllama_crypto::Keyset;
use secllama_sandbox::{ResourceLimits, SandboxPolicy, SandboxReport, Strictness};
use zeroize::Zeroizing;

use crate::RunnerError;
use crate::channel::{Direction, FrameError, FrameReader, FrameWriter, MAX_FRAME_LEN, Mode};
use crate::child::{KEY_MAGIC, exit};
use crate::config::{RunnerConfig, SandboxMode, resolve_runner_path};
use crate::protocol::{
    ChatRequest, CompletionRequest, Done, HostMessage, LoadProgress, LoadRequest,
    MAX_ERROR_TEXT_BYTES, MAX_NAME_BYTES, ModelInfo, RunnerMessage, WireErrorKind, printable,
    validate_messages, validate_prompt,
};

/// How long a runner gets to exit after `Shutdown` before it is killed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

type SharedWriter = Arc<Mutex<FrameWriter<UnixStream>>>;

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
    encrypted: bool,
    current: Arc<AtomicU64>,
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

/// One event of a generation stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A piece of generated text (always complete UTF-8 characters).
    Piece(String),
    /// The end of the generation; the stream yields nothing after it.
    Done(Done),
}

/// Cancels the runner's current request from any thread.
#[derive(Clone)]
pub struct CancelHandle {
    writer: SharedWriter,
    current: Arc<AtomicU64>,
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle").finish_non_exhaustive()
    }
}

impl CancelHandle {
    /// Asks the runner to stop the request in progress; it stops within one token and the
    /// stream ends with [`StopReason::Cancelled`](crate::StopReason::Cancelled). Does nothing
    /// when no request is running.
    ///
    /// # Errors
    /// The channel is broken (the runner died).
    pub fn cancel(&self) -> Result<(), RunnerError> {
        let id = self.current.load(Ordering::SeqCst);
        send(&self.writer, &HostMessage::Cancel { id })
    }
}

/// Sends one message. A message whose frame would exceed [`MAX_FRAME_LEN`] is refused before
/// anything is written, as an invalid request: only requests can be that large (the prompt
/// limits count characters, but JSON escapes a control character as six bytes, so a prompt
/// under [`MAX_PROMPT_BYTES`](crate::MAX_PROMPT_BYTES) can still be too large to frame).
fn send(writer: &SharedWriter, msg: &HostMessage) -> Result<(), RunnerError> {
    let mut w = writer.lock().map_err(|_| RunnerError::Closed)?;
    w.send(msg).map_err(|e| match e {
        FrameError::Io(e) => RunnerError::Io(e),
        FrameError::BadLength { len } => RunnerError::InvalidRequest(format!(
            "the request is {len} bytes once encoded, over the frame limit of {MAX_FRAME_LEN} \
             bytes; shorten the prompt (JSON escapes each control character as six bytes)"
        )),
        other => RunnerError::Protocol(other.to_string()),
    })
}

fn pipe_cloexec() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The sandbox policy for a runner: the baseline, the runner executable and the model file
/// read-only, GPU device nodes when offloading, rlimits sized for the model, and the one
/// environment variable the runner reads.
pub(crate) fn runner_policy(
    config: &RunnerConfig,
    runner: &Path,
    model: &Path,
    model_size: u64,
    strictness: Strictness,
) -> SandboxPolicy {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    // Weights are read into memory (2x covers the read buffers and repacking), about 1 MiB
    // per context token covers the KV cache of models up to ~13B, plus 2 GiB for compute
    // buffers, per-thread malloc arenas and stacks. GPU drivers reserve huge virtual
    // ranges, so no address-space limit when offloading.
    let address_space = if config.gpu_layers > 0 {
        None
    } else {
        Some(
            model_size
                .saturating_mul(2)
                .saturating_add(u64::from(config.context_length).saturating_mul(MIB))
                .saturating_add(2 * GIB),
        )
    };
    let mut policy = SandboxPolicy::new()
        .read_only(runner)
        .read_only(model)
        .allow_env("SECLLAMA_ENABLE_ENCRYPTION")
        .strictness(strictness)
        .limits(ResourceLimits {
            address_space,
            cpu_seconds: None,
            open_files: Some(64),
            processes: None,
        });
    if config.gpu_layers > 0 {
        policy = add_gpu_access(policy);
    }
    policy
}

/// GPU offload needs the driver's device nodes (with `IoctlDev`) and the files the user-space
/// drivers read to enumerate devices. Only added when `gpu_layers > 0`.
fn add_gpu_access(mut policy: SandboxPolicy) -> SandboxPolicy {
    let device_dirs = [("/dev", "nvidia"), ("/dev/dri", "")];
    for (dir, prefix) in device_dirs {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with(prefix) {
                    policy = policy.device(entry.path());
                }
            }
        }
    }
    for ro in [
        "/proc/driver/nvidia",
        "/sys/bus/pci/devices",
        "/sys/devices",
        "/sys/class/drm",
        "/usr/share/vulkan",
        "/etc/vulkan",
    ] {
        if Path::new(ro).exists() {
            policy = policy.read_only(ro);
        }
    }
    policy
}

fn key_message(keyset: Option<&Keyset>) -> Result<Zeroizing<Vec<u8>>, RunnerError> {
    let mut msg = Zeroizing::new(Vec::with_capacity(128));
    msg.extend_from_slice(KEY_MAGIC);
    match keyset {
        Some(ks) => {
            let bytes = ks.to_bytes();
            let len = u32::try_from(bytes.len())
                .map_err(|_| RunnerError::Config("session keyset too large".into()))?;
            msg.push(1);
            msg.extend_from_slice(&len.to_be_bytes());
            msg.extend_from_slice(&bytes);
        }
        None => {
            msg.push(0);
            msg.extend_from_slice(&0u32.to_be_bytes());
        }
    }
    Ok(msg)
}

fn map_exit(status: ExitStatus) -> RunnerError {
    match status.code().and_then(|c| u8::try_from(c).ok()) {
        Some(exit::ENCRYPTION_MISMATCH) => RunnerError::EncryptionMismatch,
        Some(exit::FRAME_REJECTED) => RunnerError::PeerRejectedFrame,
        Some(exit::USAGE) => RunnerError::Protocol("the runner rejected its command line".into()),
        Some(exit::BAD_KEY) => {
            RunnerError::Protocol("the runner rejected the session key message".into())
        }
        _ => RunnerError::Crashed { status },
    }
}

fn map_wire_error(
    kind: WireErrorKind,
    message: String,
    detail: Option<(u64, u64)>,
    model: &Path,
    expected_sha: Option<&str>,
) -> RunnerError {
    // The runner's words may quote the model file: bounded and printable, like its name.
    let message = printable(&message, MAX_ERROR_TEXT_BYTES);
    match kind {
        WireErrorKind::FrameRejected => RunnerError::PeerRejectedFrame,
        WireErrorKind::ModelNotFound => RunnerError::ModelNotFound {
            path: model.to_path_buf(),
            source: std::io::Error::other(message),
        },
        WireErrorKind::ChecksumMismatch => RunnerError::ChecksumMismatch {
            expected: expected_sha.unwrap_or_default().to_string(),
            actual: message,
        },
        WireErrorKind::InvalidModel => RunnerError::InvalidModel(message),
        WireErrorKind::ModelLoad => RunnerError::ModelLoad(message),
        WireErrorKind::UnsupportedCpu => RunnerError::UnsupportedCpu(message),
        WireErrorKind::InvalidRequest => RunnerError::InvalidRequest(message),
        WireErrorKind::PromptTooLong => {
            let (prompt_tokens, context_length) = detail.unwrap_or_default();
            RunnerError::PromptTooLong {
                prompt_tokens,
                context_length,
            }
        }
        WireErrorKind::Generation => RunnerError::Generation(message),
        WireErrorKind::Protocol => RunnerError::Protocol(message),
    }
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
        let started = Instant::now();
        let sha256 = config.validate()?;
        let runner_path = resolve_runner_path(config.runner_path.as_deref())?;
        let model =
            std::fs::canonicalize(&config.model).map_err(|source| RunnerError::ModelNotFound {
                path: config.model.clone(),
                source,
            })?;
        let model_meta =
            std::fs::metadata(&model).map_err(|source| RunnerError::ModelNotFound {
                path: model.clone(),
                source,
            })?;
        if !model_meta.is_file() {
            return Err(RunnerError::InvalidModel(format!(
                "{} is not a regular file",
                model.display()
            )));
        }
        let model_str = model
            .to_str()
            .ok_or_else(|| RunnerError::Config("the model path is not valid UTF-8".into()))?
            .to_owned();

        let keyset = if config.encryption {
            Some(Keyset::try_generate().map_err(|e| RunnerError::Config(e.to_string()))?)
        } else {
            tracing::warn!(
                target: "secllama::audit",
                event = "encryption-disabled",
                "SECLLAMA_ENABLE_ENCRYPTION=false: host-runner messages travel in clear text"
            );
            None
        };
        let key_msg = key_message(keyset.as_ref())?;
        let mode = match keyset {
            Some(ks) => Mode::Sealed(Arc::new(ks)),
            None => Mode::Clear,
        };

        let (host_sock, child_sock) = UnixStream::pair().map_err(RunnerError::Spawn)?;
        let (key_read, key_write) = pipe_cloexec().map_err(RunnerError::Spawn)?;
        let child_fds: [RawFd; 2] = [child_sock.as_raw_fd(), key_read.as_raw_fd()];

        let mut cmd = Command::new(&runner_path);
        cmd.arg("--socket-fd")
            .arg(child_fds[0].to_string())
            .arg("--key-fd")
            .arg(child_fds[1].to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // Registered before the sandbox's own pre_exec hooks, so the two descriptors are
        // inheritable by the time those run.
        // SAFETY: the closure only calls fcntl, which is async-signal-safe, on descriptors
        // that stay open in the parent until after spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                for fd in child_fds {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let report = match config.sandbox {
            SandboxMode::Enabled(strictness) => {
                let policy =
                    runner_policy(&config, &runner_path, &model, model_meta.len(), strictness);
                let report = policy.apply_to(&mut cmd)?;
                tracing::info!(
                    target: "secllama::audit",
                    event = "runner-sandboxed",
                    report = %report,
                    "runner sandbox configured"
                );
                Some(report)
            }
            SandboxMode::Disabled => {
                tracing::warn!(
                    target: "secllama::audit",
                    event = "sandbox-disabled",
                    "the runner starts WITHOUT a sandbox: the model can read your files and \
                     reach the network"
                );
                None
            }
        };
        let mut child = cmd.spawn().map_err(RunnerError::Spawn)?;
        drop(child_sock);
        drop(key_read);

        let mut key_pipe = std::fs::File::from(key_write);
        let key_result = key_pipe.write_all(&key_msg);
        drop(key_pipe);
        drop(key_msg);
        if key_result.is_err() {
            return Err(reap_error(&mut child));
        }

        let read_half = host_sock.try_clone().map_err(RunnerError::Spawn)?;
        let writer: SharedWriter = Arc::new(Mutex::new(FrameWriter::new(
            host_sock,
            mode.clone(),
            Direction::HostToRunner,
        )));
        let reader = FrameReader::new(read_half, mode, Direction::RunnerToHost);
        let mut runner = Runner {
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
            },
            report,
            encrypted: config.encryption,
            current: Arc::new(AtomicU64::new(0)),
            closed: false,
            startup: Duration::ZERO,
        };
        let load = HostMessage::Load(LoadRequest {
            model_path: model_str,
            sha256: sha256.clone(),
            context_length: config.context_length,
            batch_size: config.batch_size,
            threads: config.effective_threads(),
            gpu_layers: config.gpu_layers,
        });
        if let Err(e) = send(&runner.writer, &load) {
            return Err(runner.fail_with_child_status(e));
        }
        loop {
            match runner.recv()? {
                RunnerMessage::Progress(p) => on_progress(p),
                RunnerMessage::Ready(mut info) => {
                    // Model-controlled text: bounded and made printable before anyone shows it.
                    info.name = printable(&info.name, MAX_NAME_BYTES);
                    info.chat_template = printable(&info.chat_template, MAX_NAME_BYTES);
                    runner.info = info;
                    break;
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
                    let err = map_wire_error(kind, message, detail, &model, sha256.as_deref());
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
        if sha256.is_some() {
            tracing::info!(
                target: "secllama::audit",
                event = "model-checksum-verified",
                model = %model.display(),
                "model sha-256 matches the pinned hash"
            );
        }
        runner.startup = started.elapsed();
        Ok(runner)
    }

    /// Facts about the loaded model.
    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    /// What the sandbox enforces, layer by layer; `None` when the sandbox is disabled.
    pub fn sandbox_report(&self) -> Option<&SandboxReport> {
        self.report.as_ref()
    }

    /// Whether the channel is sealed (false only with `SECLLAMA_ENABLE_ENCRYPTION=false`).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The runner's process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        if let Ok(w) = self.writer.lock() {
            let _ = w.get_ref().shutdown(std::net::Shutdown::Write);
        }
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
        let mut w = self.writer.lock().map_err(|_| RunnerError::Closed)?;
        w.write_raw(bytes)
            .map_err(|e| RunnerError::Protocol(e.to_string()))
    }

    /// The last frame this side sent, as it went on the wire (tests through `internal`).
    pub(crate) fn last_sent_frame(&self) -> Vec<u8> {
        self.writer
            .lock()
            .map(|w| w.last_frame.clone())
            .unwrap_or_default()
    }
}

/// Waits briefly for a child whose channel broke and maps its exit status; kills it if it
/// lingers.
fn reap_error(child: &mut Child) -> RunnerError {
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let err = map_exit(status);
                if matches!(err, RunnerError::Crashed { .. }) {
                    tracing::warn!(
                        target: "secllama::audit",
                        event = "runner-crashed",
                        status = %status,
                        "the runner process died"
                    );
                }
                return err;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                return match child.wait() {
                    Ok(status) => RunnerError::Crashed { status },
                    Err(e) => RunnerError::Io(e),
                };
            }
        }
    }
}

fn message_name(msg: &RunnerMessage) -> &'static str {
    match msg {
        RunnerMessage::Progress(_) => "progress",
        RunnerMessage::Ready(_) => "ready",
        RunnerMessage::Token { .. } => "token",
        RunnerMessage::Done { .. } => "done",
        RunnerMessage::Error { .. } => "error",
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The stream of one request: an iterator of [`StreamEvent`]s ending with
/// [`StreamEvent::Done`] (or an error). Dropping it early cancels the request and drains it,
/// so the runner is ready for the next one.
pub struct Generation<'r> {
    runner: &'r mut Runner,
    id: u64,
    finished: bool,
    sent: Instant,
    first_piece: Option<Duration>,
}

impl std::fmt::Debug for Generation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("id", &self.id)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Generation<'_> {
    /// Asks the runner to stop; the stream then ends with `Done` and
    /// [`StopReason::Cancelled`](crate::StopReason::Cancelled) within one token.
    ///
    /// # Errors
    /// The channel is broken.
    pub fn cancel(&mut self) -> Result<(), RunnerError> {
        if self.finished {
            return Ok(());
        }
        send(&self.runner.writer, &HostMessage::Cancel { id: self.id })
    }

    /// Time from sending the request to the first text piece (host side, so it includes the
    /// channel and sandbox overhead).
    pub fn time_to_first_piece(&self) -> Option<Duration> {
        self.first_piece
    }

    /// Callback form: calls `on_piece` for each text piece; returning
    /// `ControlFlow::Break(())` cancels the request. Returns the final [`Done`].
    ///
    /// # Errors
    /// As the iterator's items.
    pub fn for_each_piece(
        mut self,
        mut on_piece: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Done, RunnerError> {
        let mut cancelled = false;
        while let Some(event) = self.next() {
            match event? {
                StreamEvent::Piece(p) if !cancelled => {
                    if on_piece(&p).is_break() {
                        cancelled = true;
                        self.cancel()?;
                    }
                }
                StreamEvent::Piece(_) => {}
                StreamEvent::Done(done) => return Ok(done),
            }
        }
        Err(RunnerError::Protocol(
            "the stream ended without done".into(),
        ))
    }

    /// Collects the whole text and the final [`Done`].
    ///
    /// # Errors
    /// As the iterator's items.
    pub fn collect_text(self) -> Result<(String, Done), RunnerError> {
        let mut text = String::new();
        let done = self.for_each_piece(|p| {
            text.push_str(p);
            ControlFlow::Continue(())
        })?;
        Ok((text, done))
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<StreamEvent, RunnerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            let msg = match self.runner.recv() {
                Ok(m) => m,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            };
            match msg {
                RunnerMessage::Token { id, text } if id == self.id => {
                    if self.first_piece.is_none() {
                        self.first_piece = Some(self.sent.elapsed());
                    }
                    return Some(Ok(StreamEvent::Piece(text)));
                }
                RunnerMessage::Done { id, done } if id == self.id => {
                    self.finished = true;
                    return Some(Ok(StreamEvent::Done(done)));
                }
                RunnerMessage::Error {
                    id,
                    kind,
                    message,
                    detail,
                } if id == Some(self.id) || id.is_none() => {
                    self.finished = true;
                    let model = PathBuf::new();
                    let err = map_wire_error(kind, message, detail, &model, None);
                    if id.is_none() {
                        // A session-level error: the runner is ending the session.
                        self.runner.close();
                    }
                    return Some(Err(err));
                }
                // Leftovers of an earlier, cancelled request.
                RunnerMessage::Token { .. }
                | RunnerMessage::Done { .. }
                | RunnerMessage::Error { .. } => {}
                other => {
                    self.finished = true;
                    self.runner.close();
                    return Some(Err(RunnerError::Protocol(format!(
                        "unexpected {} during generation",
                        message_name(&other)
                    ))));
                }
            }
        }
    }
}

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        if self.finished || self.runner.closed {
            return;
        }
        if self.cancel().is_err() {
            self.runner.close();
            return;
        }
        for event in self.by_ref() {
            if matches!(event, Ok(StreamEvent::Done(_)) | Err(_)) {
                break;
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CancelHandle>();
    fn send_only<T: Send>() {}
    send_only::<Runner>();
}
