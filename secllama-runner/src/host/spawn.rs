//! Starting a runner, in named steps: check the model, make the session key, build the
//! sandboxed command, start it and hand it the key, then the load handshake.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use secllama_crypto::Keyset;
use secllama_sandbox::{Layer, LayerReport, LayerState, SandboxReport, SyscallProfile};
use zeroize::Zeroizing;

use super::errors::{map_wire_error, message_name, reap_error};
use super::policy::runner_policy;
use super::{Runner, send, stderr};
use crate::RunnerError;
use crate::api::LoadProgress;
use crate::config::{RunnerConfig, SandboxMode, resolve_runner_path};
use crate::gpu::{self, GpuGrant};
use crate::wire::key::encode_key_message;
use crate::wire::{
    Direction, FrameReader, HostMessage, LoadRequest, MAX_NAME_BYTES, Mode, RunnerMessage,
    SharedWriter, WireErrorKind, printable,
};

/// At most this many backend names are kept from a runner's ready message.
const MAX_BACKENDS: usize = 8;

/// The model file as the host checked it: canonical path (the one the sandbox allows), size.
struct CheckedModel {
    path: PathBuf,
    path_str: String,
    size: u64,
}

/// The session's protection and the key-pipe message that carries it to the runner.
struct SessionKey {
    mode: Mode,
    message: Zeroizing<Vec<u8>>,
}

/// The host's ends of a started runner.
struct Started {
    child: Child,
    socket: UnixStream,
    key_pipe: OwnedFd,
    report: Option<SandboxReport>,
    gpu_grants: Vec<GpuGrant>,
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

/// The runner command line: descriptor numbers only (no key, no model path), stdout closed,
/// stderr the pipe the host logs (never the host's terminal), and the two descriptors made
/// inheritable just before `exec`.
fn runner_command(runner_path: &Path, child_fds: [RawFd; 2], stderr: OwnedFd) -> Command {
    let mut cmd = Command::new(runner_path);
    cmd.arg("--socket-fd")
        .arg(child_fds[0].to_string())
        .arg("--key-fd")
        .arg(child_fds[1].to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr));
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
    cmd
}

/// Applies the sandbox policy to `cmd` as configured; `None` when the sandbox is disabled.
/// With GPU layers, `gpu_grants` receives what the policy grants for the GPU.
fn apply_sandbox(
    config: &RunnerConfig,
    cmd: &mut Command,
    runner_path: &Path,
    model: &CheckedModel,
    gpu_grants: &mut Vec<GpuGrant>,
    child_fds: [RawFd; 2],
) -> Result<Option<SandboxReport>, RunnerError> {
    match config.sandbox {
        SandboxMode::Enabled(strictness) => {
            if config.gpu_layers > 0 {
                *gpu_grants = gpu::gpu_grants();
                gpu_grants.retain(|g| Some(g) != config.omit_gpu_grant.as_ref());
            }
            // Only these two descriptors reach the runner (the sandbox closes the rest).
            let policy = runner_policy(
                config,
                runner_path,
                &model.path,
                model.size,
                strictness,
                gpu_grants,
            )
            .pass_fd(child_fds[0])
            .pass_fd(child_fds[1]);
            let report = policy.apply_to(cmd)?;
            tracing::info!(
                target: "secllama::audit",
                event = "runner-sandboxed",
                report = %report,
                "runner sandbox configured"
            );
            Ok(Some(report))
        }
        SandboxMode::Disabled => {
            tracing::warn!(
                target: "secllama::audit",
                event = "sandbox-disabled",
                "the runner starts WITHOUT a sandbox: the model can read your files and reach \
                 the network"
            );
            Ok(None)
        }
    }
}

/// Tells a sandboxed runner which system call allow-list to install on itself (it refuses to
/// start if the kernel refuses it, so a runner that reached the handshake has it), and
/// records that in the report.
fn syscall_allow_list(config: &RunnerConfig, cmd: &mut Command, report: &mut SandboxReport) {
    let state = if !config.syscall_allow_list {
        LayerState::Unavailable("switched off (RunnerConfig::syscall_allow_list)".into())
    } else if !report
        .state(Layer::Seccomp)
        .is_some_and(|s| s.is_enforced())
    {
        LayerState::Unavailable("needs seccomp, which is not enforced".into())
    } else {
        let profile = if config.gpu_layers > 0 {
            SyscallProfile::Gpu
        } else {
            SyscallProfile::Cpu
        };
        cmd.arg("--syscalls").arg(profile.name());
        LayerState::Enforced
    };
    tracing::info!(
        target: "secllama::audit",
        event = "runner-syscall-allow-list",
        state = %state,
        "runner system call allow-list"
    );
    report.layers.push(LayerReport {
        layer: Layer::SeccompAllowList,
        state,
    });
}

/// Creates the socket pair and key pipe and starts the sandboxed runner on their child ends.
fn start_child(
    config: &RunnerConfig,
    runner_path: &Path,
    model: &CheckedModel,
) -> Result<Started, RunnerError> {
    let (host_sock, child_sock) = UnixStream::pair().map_err(RunnerError::Spawn)?;
    let (key_read, key_write) = pipe_cloexec().map_err(RunnerError::Spawn)?;
    let (stderr_read, stderr_write) = pipe_cloexec().map_err(RunnerError::Spawn)?;
    let child_fds = [child_sock.as_raw_fd(), key_read.as_raw_fd()];
    let mut cmd = runner_command(runner_path, child_fds, stderr_write);
    let mut gpu_grants = Vec::new();
    let mut report = apply_sandbox(
        config,
        &mut cmd,
        runner_path,
        model,
        &mut gpu_grants,
        child_fds,
    )?;
    if let Some(report) = report.as_mut() {
        syscall_allow_list(config, &mut cmd, report);
    }
    let child = cmd.spawn().map_err(RunnerError::Spawn)?;
    // The child has its copies; ours would keep the channel open if the child died (the
    // command holds the stderr pipe's write end: without dropping it the relay never ends).
    drop(cmd);
    drop(child_sock);
    drop(key_read);
    stderr::spawn_relay(stderr_read).map_err(RunnerError::Spawn)?;
    Ok(Started {
        child,
        socket: host_sock,
        key_pipe: key_write,
        report,
        gpu_grants,
    })
}

/// Writes the key message, closes the pipe, and wraps the socket in the session's framing.
fn open_session(
    mut started: Started,
    key: SessionKey,
    encrypted: bool,
) -> Result<Runner, RunnerError> {
    let mut key_pipe = std::fs::File::from(started.key_pipe);
    let written = key_pipe.write_all(&key.message);
    drop(key_pipe);
    drop(key.message);
    if written.is_err() {
        return Err(reap_error(&mut started.child));
    }
    let read_half = started.socket.try_clone().map_err(RunnerError::Spawn)?;
    let socket = Arc::new(started.socket.try_clone().map_err(RunnerError::Spawn)?);
    let writer = SharedWriter::new(started.socket, key.mode.clone(), Direction::HostToRunner);
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
