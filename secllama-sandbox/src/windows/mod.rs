//! Windows: the runner in an AppContainer with no capabilities, in a job object, created with
//! exactly its handles.
//!
//! - [`appcontainer`]: the container's name and the only file grants it gets (read on the
//!   model, read and execute on the runner's directory), as ACEs in SDDL form;
//! - [`job`]: the job's limits (kill on close, one active process, every UI restriction);
//! - [`process_plan`]: the `CreateProcessW` command line, environment block and the attributes
//!   set at creation (security capabilities, handle list, job list, no child processes).
//!
//! All of that is plain data, compiled and unit-tested on every OS. Only `launch.rs`, the
//! Win32 calls, is `cfg(windows)`; it is compiled and linted for `x86_64-pc-windows-gnu` here
//! and has not run on Windows yet.
//!
//! An AppContainer without capabilities has no network (not even loopback), so no firewall
//! rule, no elevation and no system tool is involved.

mod appcontainer;
mod job;
mod process_plan;

#[cfg(windows)]
mod container;
#[cfg(windows)]
mod launch;

pub use appcontainer::{
    CONTAINER_PREFIX, FILE_GENERIC_READ, FILE_GENERIC_READ_EXECUTE, FileGrant,
    MAX_CONTAINER_NAME_LEN, container_name, file_grants, new_runner_id, strip_verbatim,
};
pub use job::{JobLimits, UILIMIT_ALL};
#[cfg(windows)]
pub use launch::{SandboxedProcess, WindowsLaunch, launch};
pub use process_plan::{
    CreationAttribute, command_line, creation_attributes, creation_flags, environment_block,
};

use crate::{Layer, LayerState, ResourceLimits, SandboxError, SandboxReport, Strictness};

/// The strict/best-effort decision for the AppContainer: `Ok(state)` to record in the report
/// (a warning audit event follows for anything not enforced), `Err` to refuse to start.
/// Without the container the runner would reach the network and the user's files, so strict
/// mode refuses.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn appcontainer_outcome(
    strictness: Strictness,
    created: Result<(), String>,
) -> Result<LayerState, SandboxError> {
    match (created, strictness) {
        (Ok(()), _) => Ok(LayerState::Enforced),
        (Err(reason), Strictness::Strict) => Err(SandboxError::NetworkIsolationUnavailable {
            layer: Layer::AppContainer,
            reason,
        }),
        (Err(reason), Strictness::BestEffort) => Ok(LayerState::Unavailable(reason)),
    }
}

/// What the job enforces of the policy's limits.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn job_state(limits: &ResourceLimits) -> LayerState {
    match JobLimits::unenforced(limits) {
        None => LayerState::Enforced,
        Some(gap) => LayerState::Degraded(gap),
    }
}

/// The `sandbox check` report for Windows from whether an AppContainer profile could be
/// created here.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn check_report(appcontainer: Result<(), String>) -> SandboxReport {
    let mut r = SandboxReport::default();
    r.push(
        Layer::AppContainer,
        match appcontainer {
            Ok(()) => LayerState::Enforced,
            Err(reason) => LayerState::Unavailable(reason),
        },
    );
    r.push(Layer::JobObject, LayerState::Enforced);
    r.push(Layer::Environment, LayerState::Enforced);
    r
}

/// The backend shape (see `crate::platform`). A `Command` cannot carry an AppContainer, a
/// handle list or a job at creation: [`launch`] is the Windows form of `apply_to`.
#[cfg(windows)]
pub(crate) fn apply_to(
    _policy: &crate::SandboxPolicy,
    _cmd: &mut std::process::Command,
) -> Result<SandboxReport, SandboxError> {
    Err(SandboxError::Unsupported {
        what: "SandboxPolicy::apply_to on Windows; use secllama_sandbox::windows_launch, which \
               creates the process in its AppContainer and job",
    })
}

/// A running process cannot move itself into an AppContainer.
#[cfg(windows)]
pub(crate) fn enforce_current_process(
    _policy: &crate::SandboxPolicy,
) -> Result<SandboxReport, SandboxError> {
    Err(SandboxError::Unsupported {
        what: "enforce_current_process on Windows",
    })
}

/// `secllama sandbox check` on Windows: can an AppContainer be created here.
#[cfg(windows)]
pub(crate) fn check(strictness: Strictness) -> Option<Result<SandboxReport, SandboxError>> {
    Some(crate::probe::strict_check(
        check_report(launch::appcontainer_probe()),
        Layer::AppContainer,
        strictness,
    ))
}

/// What Windows can enforce (the AppContainer check is `check`).
#[cfg(windows)]
pub(crate) fn probe() -> crate::Capabilities {
    crate::Capabilities {
        os: "windows",
        ..crate::Capabilities::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_mode_refuses_without_an_appcontainer_and_best_effort_reports_it() {
        let err = appcontainer_outcome(
            Strictness::Strict,
            Err("CreateAppContainerProfile: 0x80070005".into()),
        )
        .unwrap_err();
        assert!(matches!(
            &err,
            SandboxError::NetworkIsolationUnavailable { layer: Layer::AppContainer, reason }
                if reason == "CreateAppContainerProfile: 0x80070005"
        ));
        assert!(
            err.to_string()
                .contains("SECLLAMA_STRICT_NETWORK_ISOLATION=false")
        );
        assert_eq!(
            appcontainer_outcome(Strictness::BestEffort, Err("old Windows".into())).unwrap(),
            LayerState::Unavailable("old Windows".into())
        );
        assert_eq!(
            appcontainer_outcome(Strictness::Strict, Ok(())).unwrap(),
            LayerState::Enforced
        );
    }

    #[test]
    fn the_job_reports_the_open_files_limit_it_cannot_enforce() {
        assert_eq!(job_state(&ResourceLimits::default()), LayerState::Enforced);
        assert!(matches!(
            job_state(&ResourceLimits {
                open_files: Some(64),
                ..ResourceLimits::default()
            }),
            LayerState::Degraded(m) if m.contains("open-files limit 64")
        ));
    }

    #[test]
    fn check_report_says_whether_an_appcontainer_can_be_made() {
        let r = check_report(Ok(()));
        assert_eq!(r.state(Layer::AppContainer), Some(&LayerState::Enforced));
        assert_eq!(r.state(Layer::JobObject), Some(&LayerState::Enforced));
        assert!(
            crate::probe::strict_check(r, Layer::AppContainer, Strictness::Strict).is_ok(),
            "an AppContainer is what strict mode needs"
        );
        let r = check_report(Err("CreateAppContainerProfile: 0x80070005".into()));
        assert!(
            crate::probe::strict_check(r, Layer::AppContainer, Strictness::Strict).is_err(),
            "strict mode must refuse without one"
        );
    }
}
