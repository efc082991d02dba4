//! Unix: the runner is forked and exec'd through `std::process::Command`, with the sandbox's
//! hooks (Linux) or rebuilt under `sandbox-exec` (macOS). It receives exactly its two channel
//! descriptors, stdin and stdout on `/dev/null`, and stderr on a pipe the host logs.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use secllama_sandbox::{ChildStdio, SandboxPolicy, SandboxReport};

use super::{CheckedModel, Started, log_report, sandbox_policy, syscall_allow_list};
use crate::RunnerError;
use crate::config::RunnerConfig;
use crate::host::stderr;
use crate::ipc::{ChildEnds, pipe_cloexec};

/// A started runner process.
pub(crate) type Process = std::process::Child;

/// Creates the channel and starts the (sandboxed) runner on its child ends.
pub(in crate::host) fn start_child(
    config: &RunnerConfig,
    runner_path: &Path,
    model: &CheckedModel,
) -> Result<Started, RunnerError> {
    let (host, child_ends) = ChildEnds::new().map_err(RunnerError::Spawn)?;
    let (stderr_read, stderr_write) = pipe_cloexec().map_err(RunnerError::Spawn)?;
    let mut cmd = Command::new(runner_path);
    // Before the sandbox's own pre_exec hooks: the two descriptors are inheritable by then.
    child_ends.configure(&mut cmd);
    // Never the host's terminal: stdin and stdout closed, stderr the pipe the host logs.
    let stdio = ChildStdio {
        stdin: Stdio::null(),
        stdout: Stdio::null(),
        stderr: Stdio::from(stderr_write),
    };
    let mut gpu_grants = Vec::new();
    let report = match sandbox_policy(config, runner_path, model, &mut gpu_grants) {
        Some(policy) => {
            // Only these two descriptors reach the runner (the sandbox closes the rest).
            let [socket, key] = child_ends.raw();
            let policy = policy.pass_fd(socket).pass_fd(key);
            let mut report = apply_sandbox(config, &policy, &mut cmd, stdio)?;
            if let Some(profile) = syscall_allow_list(config, &mut report) {
                cmd.arg("--syscalls").arg(profile.name());
            }
            log_report(&report);
            Some(report)
        }
        None => {
            stdio.apply(&mut cmd);
            None
        }
    };
    let child = cmd.spawn().map_err(RunnerError::Spawn)?;
    // The child has its copies; ours would keep the channel open if the child died (the
    // command holds the stderr pipe's write end: without dropping it the relay never ends).
    drop(cmd);
    drop(child_ends);
    stderr::spawn_relay(File::from(stderr_read)).map_err(RunnerError::Spawn)?;
    Ok(Started {
        child,
        host,
        report,
        gpu_grants,
    })
}

/// Linux: the sandbox adds its hooks to `cmd`, whose stdio is set here.
#[cfg(not(target_os = "macos"))]
fn apply_sandbox(
    _config: &RunnerConfig,
    policy: &SandboxPolicy,
    cmd: &mut Command,
    stdio: ChildStdio,
) -> Result<SandboxReport, RunnerError> {
    stdio.apply(cmd);
    Ok(policy.apply_to(cmd)?)
}

/// macOS: the command is rebuilt for `sandbox-exec`, which gets the stdio and the policy's
/// descriptors explicitly, and the Metal rules when GPU layers are asked for.
#[cfg(target_os = "macos")]
fn apply_sandbox(
    config: &RunnerConfig,
    policy: &SandboxPolicy,
    cmd: &mut Command,
    stdio: ChildStdio,
) -> Result<SandboxReport, RunnerError> {
    let options = super::seatbelt_options(config);
    Ok(secllama_sandbox::apply_seatbelt(
        policy, cmd, &options, stdio,
    )?)
}
