//! Windows: firewall rules that block the runner's non-loopback traffic, plus a job object.
//!
//! The rules, `netsh` argument vectors, job limits and the strict/best-effort decisions are
//! ordinary code compiled and tested on every OS. Only [`WindowsSandbox`], [`cleanup_rules`]
//! and the Win32 job object calls are `cfg(windows)`.

mod firewall;
mod job;

pub use firewall::{
    AddrRange, Direction, FirewallRule, MAX_PROGRAM_PATH_LEN, MAX_RUNNER_ID_LEN, RULE_PREFIX,
    check_program_path, delete_args, list_args, netsh_path, new_runner_id, non_loopback_ranges,
    parse_rule_names, rule_name, runner_id_from_rule_name, runner_rules,
};
pub use job::JobLimits;

use crate::{Layer, LayerState, SandboxError, SandboxReport, Strictness};

/// Why the firewall layer could not be set up (input to [`firewall_outcome`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) enum FirewallFailure {
    /// The process is not elevated: adding rules needs an administrator token.
    NotElevated,
    /// `netsh` could not be run or reported failure; its (bounded) output.
    Netsh(String),
}

/// Longest piece of `netsh` output carried into an error or report.
#[cfg_attr(not(windows), allow(dead_code))]
const MAX_NETSH_MESSAGE: usize = 300;

#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn bounded_message(text: &str) -> String {
    crate::text::bounded_line(text, MAX_NETSH_MESSAGE)
}

/// What the firewall rules leave open even when every one of them is in place: why Windows
/// never reports network isolation as enforced, and why strict mode refuses there.
pub(crate) const FIREWALL_GAPS: &str = "Windows Firewall rules keyed on the runner's program \
     path do not isolate it: a process it starts, the DNS Client service, BITS or a loopback \
     proxy reaches the network past them, and Windows has no file or process isolation for the \
     runner yet (an AppContainer sandbox is not implemented)";

/// The strict/best-effort decision for the firewall layer: `Ok(state)` to record in the report
/// (a warning audit event follows for anything not enforced), `Err` to refuse to start. With
/// the rules in place the layer is still only degraded ([`FIREWALL_GAPS`]), so strict mode
/// always refuses on Windows.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn firewall_outcome(
    strictness: Strictness,
    failure: Option<FirewallFailure>,
) -> Result<LayerState, SandboxError> {
    let Some(failure) = failure else {
        return match strictness {
            Strictness::Strict => Err(SandboxError::NetworkIsolationUnavailable {
                layer: Layer::Firewall,
                reason: FIREWALL_GAPS.to_owned(),
            }),
            Strictness::BestEffort => Ok(LayerState::Degraded(FIREWALL_GAPS.to_owned())),
        };
    };
    let reason = match failure {
        FirewallFailure::NotElevated => "adding Windows Firewall rules needs an elevated \
             (administrator) process; run the host elevated"
            .to_owned(),
        FirewallFailure::Netsh(msg) => format!("netsh failed: {}", bounded_message(&msg)),
    };
    match strictness {
        Strictness::Strict => Err(SandboxError::NetworkIsolationUnavailable {
            layer: Layer::Firewall,
            reason,
        }),
        Strictness::BestEffort => Ok(LayerState::Unavailable(reason)),
    }
}

/// The `sandbox check` report for Windows from what was found: `netsh` present, elevated.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn firewall_check_report(netsh_present: bool, elevated: bool) -> SandboxReport {
    let mut r = SandboxReport::default();
    let fw = if !netsh_present {
        LayerState::Unavailable("netsh.exe was not found under %SystemRoot%\\System32".into())
    } else if !elevated {
        LayerState::Unavailable(
            "not elevated: adding Windows Firewall rules needs an administrator process".into(),
        )
    } else {
        LayerState::Degraded(FIREWALL_GAPS.to_owned())
    };
    r.push(Layer::Firewall, fw);
    r.push(Layer::JobObject, LayerState::Enforced);
    r.push(Layer::Environment, LayerState::Enforced);
    r
}

/// The `netsh` argument vectors that delete every stale SecLlama rule found in `show rule`
/// output (see [`parse_rule_names`]).
pub fn cleanup_plan(show_rule_output: &str) -> Vec<Vec<String>> {
    parse_rule_names(show_rule_output)
        .iter()
        .filter_map(|name| runner_id_from_rule_name(name))
        .filter_map(|id| delete_args(id).ok())
        .collect()
}

/// What the firewall and the job object could enforce on this machine, in the layer-by-layer
/// report format (`secllama sandbox check` on Windows).
#[cfg(windows)]
pub fn firewall_check() -> SandboxReport {
    let netsh = glue::netsh();
    firewall_check_report(std::path::Path::new(&netsh).is_file(), glue::is_elevated())
}

#[cfg(windows)]
pub use glue::{WindowsSandbox, cleanup_rules};

/// The backend shape (see `crate::platform`). A firewall rule must be removed after the runner
/// exits, which needs a guard that outlives the spawn: [`WindowsSandbox::prepare`] is the
/// Windows form of `apply_to`.
#[cfg(windows)]
pub(crate) fn apply_to(
    _policy: &crate::SandboxPolicy,
    _cmd: &mut std::process::Command,
) -> Result<SandboxReport, SandboxError> {
    Err(SandboxError::Unsupported {
        what: "SandboxPolicy::apply_to on Windows; use WindowsSandbox::prepare, whose guard \
               removes the firewall rules when the runner exits",
    })
}

/// A running process cannot put itself behind the firewall rules or into a job object with
/// the same guarantees.
#[cfg(windows)]
pub(crate) fn enforce_current_process(
    _policy: &crate::SandboxPolicy,
) -> Result<SandboxReport, SandboxError> {
    Err(SandboxError::Unsupported {
        what: "enforce_current_process on Windows",
    })
}

/// `secllama sandbox check` on Windows: the firewall and the job object.
#[cfg(windows)]
pub(crate) fn check(strictness: Strictness) -> Option<Result<SandboxReport, SandboxError>> {
    Some(crate::probe::strict_check(
        firewall_check(),
        Layer::Firewall,
        strictness,
    ))
}

/// What Windows can enforce (the firewall check is [`firewall_check`]).
#[cfg(windows)]
pub(crate) fn probe() -> crate::Capabilities {
    crate::Capabilities {
        os: "windows",
        ..crate::Capabilities::default()
    }
}

#[cfg(windows)]
mod glue {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_ACTIVE_PROCESS,
        JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOB_OBJECT_LIMIT_PROCESS_MEMORY, JOB_OBJECT_LIMIT_PROCESS_TIME,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
        SetInformationJobObject,
    };

    use super::job::{
        LIMIT_ACTIVE_PROCESS, LIMIT_DIE_ON_UNHANDLED_EXCEPTION, LIMIT_KILL_ON_JOB_CLOSE,
        LIMIT_PROCESS_MEMORY, LIMIT_PROCESS_TIME,
    };
    use super::{FirewallFailure, JobLimits, bounded_message, firewall_outcome};
    use crate::{Layer, LayerState, SandboxError, SandboxPolicy, SandboxReport};

    // Our constants are the Win32 values.
    const _: () = assert!(LIMIT_PROCESS_TIME == JOB_OBJECT_LIMIT_PROCESS_TIME);
    const _: () = assert!(LIMIT_ACTIVE_PROCESS == JOB_OBJECT_LIMIT_ACTIVE_PROCESS);
    const _: () = assert!(LIMIT_PROCESS_MEMORY == JOB_OBJECT_LIMIT_PROCESS_MEMORY);
    const _: () =
        assert!(LIMIT_DIE_ON_UNHANDLED_EXCEPTION == JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION);
    const _: () = assert!(LIMIT_KILL_ON_JOB_CLOSE == JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE);

    fn system_root() -> String {
        std::env::var("SystemRoot").unwrap_or_else(|_| "C:\\Windows".to_owned())
    }

    pub(super) fn netsh() -> String {
        super::netsh_path(&system_root())
    }

    /// `fltmc` succeeds only in an elevated process (language independent, unlike messages).
    pub(super) fn is_elevated() -> bool {
        let fltmc = format!("{}\\System32\\fltmc.exe", system_root());
        Command::new(fltmc)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn run_netsh(args: &[String]) -> Result<String, String> {
        let out = Command::new(netsh())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(bounded_message(&text))
        }
    }

    /// A job object with limits; closing it kills every process in it.
    struct Job(HANDLE);

    impl Job {
        fn create(limits: &JobLimits) -> std::io::Result<Job> {
            // SAFETY: null security attributes and name are documented as allowed; the result
            // is checked for null.
            let h = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
            if h.is_null() {
                return Err(std::io::Error::last_os_error());
            }
            let job = Job(h);
            // SAFETY: the struct holds only integers; all-zero is a valid value.
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
            info.BasicLimitInformation.LimitFlags = limits.limit_flags();
            if let Some(m) = limits.process_memory {
                info.ProcessMemoryLimit = m;
            }
            if let Some(t) = limits.process_time_100ns {
                info.BasicLimitInformation.PerProcessUserTimeLimit = t;
            }
            if let Some(n) = limits.active_processes {
                info.BasicLimitInformation.ActiveProcessLimit = n;
            }
            let size = u32::try_from(std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>())
                .unwrap_or(u32::MAX);
            // SAFETY: `info` is a live value of the type the information class names, and
            // `size` is its size; the job handle is valid.
            let ok = unsafe {
                SetInformationJobObject(
                    job.0,
                    JobObjectExtendedLimitInformation,
                    std::ptr::from_ref(&info).cast(),
                    size,
                )
            };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(job)
        }

        fn assign(&self, child: &Child) -> std::io::Result<()> {
            use std::os::windows::io::AsRawHandle;
            // SAFETY: the job handle is owned by self and the child's handle is valid while
            // `child` is borrowed.
            let ok = unsafe { AssignProcessToJobObject(self.0, child.as_raw_handle()) };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }
    }

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: the handle came from CreateJobObjectW and is closed exactly once.
            unsafe { CloseHandle(self.0) };
        }
    }

    /// The Windows sandbox of one runner: its firewall rules (removed on drop) and its job
    /// object (closing it on drop kills the runner).
    ///
    /// Create it with [`prepare`](Self::prepare) *before* spawning the runner, then
    /// [`attach`](Self::attach) the spawned child at once. The firewall rules are in place
    /// before the runner's first instruction; the job object is assigned right after spawn
    /// (std cannot create a suspended process), so limits apply from then on.
    pub struct WindowsSandbox {
        runner_id: String,
        rules_added: bool,
        job: Option<Job>,
    }

    impl std::fmt::Debug for WindowsSandbox {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WindowsSandbox")
                .field("runner_id", &self.runner_id)
                .field("rules_added", &self.rules_added)
                .finish_non_exhaustive()
        }
    }

    impl WindowsSandbox {
        /// Adds the firewall rules `SecLlama-<runner_id>` for `cmd`'s program (an absolute
        /// path), creates the job object from the policy's limits, and reduces `cmd`'s
        /// environment to the policy's allow-list. Spawn `cmd` next, then
        /// [`attach`](Self::attach) the child; keep the guard alive as long as the runner runs.
        /// (`SandboxPolicy::apply_to` cannot do this on Windows: the rules must be removed
        /// after the runner exits, which needs this guard.)
        ///
        /// # Errors
        /// Strict policy and the firewall cannot be set up (not elevated, netsh failure):
        /// [`SandboxError::NetworkIsolationUnavailable`]; bad id or program path; the job
        /// object cannot be created ([`SandboxError::Os`]).
        pub fn prepare(
            policy: &SandboxPolicy,
            cmd: &mut Command,
            runner_id: &str,
        ) -> Result<(WindowsSandbox, SandboxReport), SandboxError> {
            let given = PathBuf::from(cmd.get_program());
            let program: PathBuf = std::fs::canonicalize(&given)
                .map(|p| strip_verbatim(&p))
                .unwrap_or(given);
            let rules = super::runner_rules(runner_id, &program)?;
            let mut sandbox = WindowsSandbox {
                runner_id: runner_id.to_owned(),
                rules_added: false,
                job: None,
            };
            let failure = if !is_elevated() {
                Some(FirewallFailure::NotElevated)
            } else {
                let mut failure = None;
                for rule in &rules {
                    if let Err(msg) = run_netsh(&rule.add_args()?) {
                        failure = Some(FirewallFailure::Netsh(msg));
                        break;
                    }
                    sandbox.rules_added = true;
                }
                failure
            };
            if failure.is_some() && sandbox.rules_added {
                sandbox.remove_rules();
            }
            let mut report = SandboxReport::default();
            report.push(
                Layer::Firewall,
                firewall_outcome(policy.strictness_level(), failure)?,
            );
            let job = Job::create(&JobLimits::from_limits(&policy.resource_limits())).map_err(
                |error| SandboxError::Os {
                    step: "CreateJobObject",
                    error,
                },
            )?;
            sandbox.job = Some(job);
            report.push(Layer::JobObject, LayerState::Enforced);
            crate::env::restrict_env(cmd, policy.env_allow_list());
            report.push(Layer::Environment, LayerState::Enforced);
            report.emit_audit_events();
            Ok((sandbox, report))
        }

        /// Puts the spawned runner into the job object.
        ///
        /// # Errors
        /// [`SandboxError::Os`] if the assignment fails (kill the child then).
        pub fn attach(&self, child: &Child) -> Result<(), SandboxError> {
            match &self.job {
                Some(job) => job.assign(child).map_err(|error| SandboxError::Os {
                    step: "AssignProcessToJobObject",
                    error,
                }),
                None => Ok(()),
            }
        }

        fn remove_rules(&mut self) {
            if let Ok(args) = super::delete_args(&self.runner_id)
                && let Err(msg) = run_netsh(&args)
            {
                tracing::warn!(
                    target: "secllama::audit",
                    event = "firewall-rule-removal-failed",
                    rule = %format!("{}{}", super::RULE_PREFIX, self.runner_id),
                    error = %msg,
                    "run `secllama sandbox cleanup` elevated to remove it"
                );
            }
            self.rules_added = false;
        }
    }

    impl Drop for WindowsSandbox {
        fn drop(&mut self) {
            // Kill the runner first (kill-on-close), then lift its firewall rules.
            drop(self.job.take());
            if self.rules_added {
                self.remove_rules();
            }
        }
    }

    /// `\\?\C:\x` (from `canonicalize`) → `C:\x`, the form firewall rules use.
    fn strip_verbatim(p: &Path) -> PathBuf {
        match p.to_str().and_then(|s| s.strip_prefix(r"\\?\")) {
            Some(rest) if !rest.starts_with("UNC\\") => PathBuf::from(rest),
            _ => p.to_path_buf(),
        }
    }

    /// Deletes every `SecLlama-*` firewall rule (left behind by a crashed host) and returns
    /// their names. Needs an elevated process.
    ///
    /// # Errors
    /// [`SandboxError::NetworkIsolationUnavailable`] when not elevated or netsh fails.
    pub fn cleanup_rules() -> Result<Vec<String>, SandboxError> {
        let fail = |reason: String| SandboxError::Os {
            step: "netsh advfirewall firewall (cleanup)",
            error: std::io::Error::other(reason),
        };
        if !is_elevated() {
            return Err(fail(
                "removing Windows Firewall rules needs an elevated (administrator) process".into(),
            ));
        }
        let listing = run_netsh(&super::list_args()).map_err(fail)?;
        let names = super::parse_rule_names(&listing);
        for args in super::cleanup_plan(&listing) {
            run_netsh(&args).map_err(fail)?;
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_mode_refuses_when_not_elevated_and_names_what_is_needed() {
        let err =
            firewall_outcome(Strictness::Strict, Some(FirewallFailure::NotElevated)).unwrap_err();
        match &err {
            SandboxError::NetworkIsolationUnavailable { layer, reason } => {
                assert_eq!(*layer, Layer::Firewall);
                assert!(reason.contains("elevated (administrator)"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .contains("SECLLAMA_STRICT_NETWORK_ISOLATION=false")
        );
    }

    #[test]
    fn best_effort_reports_the_firewall_unavailable_instead_of_failing() {
        let state = firewall_outcome(
            Strictness::BestEffort,
            Some(FirewallFailure::Netsh(
                "The requested operation requires elevation.\r\n".into(),
            )),
        )
        .unwrap();
        assert_eq!(
            state,
            LayerState::Unavailable(
                "netsh failed: The requested operation requires elevation.".into()
            )
        );
    }

    #[test]
    fn rules_in_place_are_still_degraded_so_strict_mode_refuses_on_windows() {
        let err = firewall_outcome(Strictness::Strict, None).unwrap_err();
        assert!(matches!(
            &err,
            SandboxError::NetworkIsolationUnavailable { layer: Layer::Firewall, reason }
                if reason == FIREWALL_GAPS
        ));
        assert_eq!(
            firewall_outcome(Strictness::BestEffort, None).unwrap(),
            LayerState::Degraded(FIREWALL_GAPS.to_owned())
        );
        for gap in [
            "process it starts",
            "DNS Client",
            "BITS",
            "loopback proxy",
            "AppContainer",
        ] {
            assert!(FIREWALL_GAPS.contains(gap), "{gap}");
        }
    }

    #[test]
    fn netsh_output_in_messages_is_bounded_and_single_line() {
        let long = "x\n".repeat(1000);
        let m = bounded_message(&long);
        assert_eq!(m.chars().count(), MAX_NETSH_MESSAGE + 3);
        assert!(!m.contains('\n'));
    }

    #[test]
    fn check_report_says_what_is_missing() {
        let r = firewall_check_report(true, false);
        assert!(
            matches!(r.state(Layer::Firewall), Some(LayerState::Unavailable(m)) if m.contains("not elevated"))
        );
        assert_eq!(r.state(Layer::JobObject), Some(&LayerState::Enforced));
        let r = firewall_check_report(true, true);
        assert_eq!(
            r.state(Layer::Firewall),
            Some(&LayerState::Degraded(FIREWALL_GAPS.to_owned()))
        );
        assert!(!r.is_fully_enforced());
        assert!(
            crate::probe::strict_check(r, Layer::Firewall, Strictness::Strict).is_err(),
            "strict mode must refuse on Windows"
        );
        let r = firewall_check_report(false, true);
        assert!(
            matches!(r.state(Layer::Firewall), Some(LayerState::Unavailable(m)) if m.contains("netsh.exe"))
        );
    }
}
