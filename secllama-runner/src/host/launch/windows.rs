//! Windows: the runner is created by the sandbox's launcher — in its AppContainer and job
//! when the sandbox is on — with exactly its three pipe handles and a stderr pipe the host
//! logs. Not run yet: compiled and linted for `x86_64-pc-windows-gnu` only.

use std::ffi::OsString;
use std::fs::File;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use secllama_sandbox::WindowsLaunch;

use super::{CheckedModel, Started, log_report, sandbox_policy, syscall_allow_list};
use crate::RunnerError;
use crate::config::RunnerConfig;
use crate::host::stderr;
use crate::ipc::{ChildEnds, pipe};

/// A started runner process (its job and AppContainer go with it).
pub(crate) type Process = secllama_sandbox::SandboxedProcess;

/// Creates the pipes and starts the (sandboxed) runner on its ends.
pub(in crate::host) fn start_child(
    config: &RunnerConfig,
    runner_path: &Path,
    model: &CheckedModel,
) -> Result<Started, RunnerError> {
    let (host, child_ends) = ChildEnds::new().map_err(RunnerError::Spawn)?;
    let (stderr_read, stderr_write) = pipe().map_err(RunnerError::Spawn)?;
    let mut gpu_grants = Vec::new();
    let policy = sandbox_policy(config, runner_path, model, &mut gpu_grants);
    let launch = WindowsLaunch {
        program: runner_path,
        args: child_ends.args().into_iter().map(OsString::from).collect(),
        inherit: child_ends.handles().to_vec(),
        stderr: Some(stderr_write.as_raw_handle()),
    };
    let (child, mut report) = secllama_sandbox::windows_launch(policy.as_ref(), launch)?;
    if let Some(r) = &mut report {
        // No seccomp on Windows: recorded as unavailable, never passed to the runner.
        let _ = syscall_allow_list(config, r);
        log_report(r);
    }
    // The child has its copies; ours would keep the pipes open if it died.
    drop(stderr_write);
    drop(child_ends);
    stderr::spawn_relay(File::from(stderr_read)).map_err(RunnerError::Spawn)?;
    Ok(Started {
        child,
        host,
        report,
        gpu_grants,
    })
}
