//! macOS: a Seatbelt profile generated from the policy, run through `/usr/bin/sandbox-exec`.
//!
//! Everything here except [`apply_seatbelt`] is ordinary code compiled and unit-tested on every
//! OS: the profile builder ([`SeatbeltProfile`]) and the command rewrapping. Only the final call
//! that decides to use them is `cfg(target_os = "macos")`.

mod lint;
mod seatbelt;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use lint::{FILTERLESS_OPERATIONS, KNOWN_OPERATIONS, lint_profile};
pub use seatbelt::{
    MACOS_BASELINE_READ_ONLY, MACOS_BASELINE_READ_WRITE, METAL_IOKIT_CLIENTS,
    METAL_IOKIT_CONNECTIONS, METAL_IOKIT_PROPERTIES, METAL_MACH_SERVICES, METAL_READ_ONLY,
    METAL_SHADER_CACHE, SANDBOX_EXEC, SYSCTL_NAMES, SYSCTL_PREFIXES, SeatbeltIpc, SeatbeltProfile,
};

use crate::env::allowed_env;
use crate::{Layer, LayerState, SandboxError, SandboxPolicy, SandboxReport, Strictness};

/// What the Seatbelt layer needs beyond the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatbeltOptions {
    /// How the runner talks to its host (default: an inherited descriptor, so no network).
    pub ipc: SeatbeltIpc,
    /// Add the Metal rules (default off).
    pub gpu: bool,
}

impl Default for SeatbeltOptions {
    fn default() -> Self {
        SeatbeltOptions {
            ipc: SeatbeltIpc::InheritedFd,
            gpu: false,
        }
    }
}

/// Resolves symlinks of paths that exist (Seatbelt matches resolved paths: `/tmp` is
/// `/private/tmp`, `/var` is `/private/var`); paths that do not exist are kept as given.
pub(crate) fn canonical_or_given(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A copy of `policy` with every existing path canonicalized.
pub(crate) fn canonical_policy(policy: &SandboxPolicy) -> SandboxPolicy {
    let mut out = SandboxPolicy::new()
        .limits(policy.resource_limits())
        .strictness(policy.strictness_level());
    if !policy.uses_baseline() {
        out = out.without_baseline();
    }
    for p in policy.read_only_paths() {
        out = out.read_only(canonical_or_given(p));
    }
    for p in policy.read_write_paths() {
        out = out.read_write(canonical_or_given(p));
    }
    for p in policy.devices() {
        out = out.device(canonical_or_given(p));
    }
    for e in policy.env_allow_list() {
        out = out.allow_env(e.clone());
    }
    out
}

/// Builds the command that runs what `cmd` describes under `profile`: program
/// `/usr/bin/sandbox-exec`, the profile's argv, the same current directory, and an environment
/// reduced to `env_allow` (values from `cmd` if it sets them, else from `lookup`).
///
/// `std::process::Command` cannot report its stdio settings or `pre_exec` hooks, so those are
/// not carried over: set them on the command after the sandbox is applied.
pub(crate) fn wrap_command(
    cmd: &Command,
    program: &Path,
    profile: &SeatbeltProfile,
    env_allow: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Command {
    let argv = profile.argv(program, cmd.get_args());
    let mut out = Command::new(&argv[0]);
    out.args(&argv[1..]);
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out.env_clear();
    out.envs(allowed_env(cmd, env_allow, lookup));
    out
}

/// The logic of [`apply_seatbelt`], with the presence of `sandbox-exec` as a parameter so that it
/// is tested on every OS.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn wrap_with_seatbelt(
    policy: &SandboxPolicy,
    cmd: &mut Command,
    options: &SeatbeltOptions,
    sandbox_exec_present: bool,
    user_cache_dir: Option<&Path>,
) -> Result<SandboxReport, SandboxError> {
    let mut report = SandboxReport::default();
    let lookup = |n: &str| std::env::var_os(n);
    if !sandbox_exec_present {
        let reason = format!("{SANDBOX_EXEC} is missing");
        if policy.strictness_level() == Strictness::Strict {
            return Err(SandboxError::NetworkIsolationUnavailable {
                layer: Layer::Seatbelt,
                reason,
            });
        }
        let program = PathBuf::from(cmd.get_program());
        let mut plain = Command::new(&program);
        plain.args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            plain.current_dir(dir);
        }
        plain.env_clear();
        plain.envs(allowed_env(cmd, policy.env_allow_list(), lookup));
        *cmd = plain;
        report.push(Layer::Seatbelt, LayerState::Unavailable(reason));
        report.push(Layer::Environment, LayerState::Enforced);
        report.push(
            Layer::ResourceLimits,
            install_rlimits(cmd, policy.resource_limits()),
        );
        report.emit_audit_events();
        return Ok(report);
    }
    let program = canonical_or_given(Path::new(cmd.get_program()));
    let mut policy = canonical_policy(policy);
    if options.gpu {
        // Metal compiles shaders through its compiler service and caches them here.
        if let Some(dir) = user_cache_dir {
            policy = policy.read_write(canonical_or_given(dir).join(METAL_SHADER_CACHE));
        }
    }
    let ipc = match &options.ipc {
        SeatbeltIpc::UnixSocket(p) => SeatbeltIpc::UnixSocket(canonical_or_given(p)),
        other => other.clone(),
    };
    let profile = SeatbeltProfile::build(&policy, &program, &ipc, options.gpu)?;
    *cmd = wrap_command(cmd, &program, &profile, policy.env_allow_list(), lookup);
    report.push(Layer::Seatbelt, LayerState::Enforced);
    report.push(Layer::Environment, LayerState::Enforced);
    report.push(
        Layer::ResourceLimits,
        install_rlimits(cmd, policy.resource_limits()),
    );
    report.emit_audit_events();
    Ok(report)
}

/// Without unix `setrlimit` there is nothing to apply.
#[cfg(not(unix))]
pub(crate) fn install_rlimits(_cmd: &mut Command, _limits: crate::ResourceLimits) -> LayerState {
    LayerState::Unavailable("resource limits need setrlimit (unix)".into())
}

/// Sets the policy's resource limits, and core dumps off, in the child before it execs
/// (`setrlimit` is async-signal-safe; nothing is allocated after `fork`). Limits are inherited
/// through `sandbox-exec`'s exec of the runner.
///
/// `processes` is not applied: `RLIMIT_NPROC` on macOS counts every process of the user, so a
/// small value would stop the runner from starting rather than confine it; the returned state
/// says so.
#[cfg(unix)]
pub(crate) fn install_rlimits(cmd: &mut Command, limits: crate::ResourceLimits) -> LayerState {
    use std::os::unix::process::CommandExt;

    let address_space = limits.address_space;
    let cpu_seconds = limits.cpu_seconds;
    let open_files = limits.open_files;
    let hook = move || -> std::io::Result<()> {
        macro_rules! set {
            ($res:expr, $value:expr) => {
                if let Some(v) = $value {
                    let rl = libc::rlimit {
                        rlim_cur: v,
                        rlim_max: v,
                    };
                    // SAFETY: `rl` is a valid rlimit for the duration of the call.
                    if unsafe { libc::setrlimit($res, &rl) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            };
        }
        // A core file would hold the session key: always off.
        set!(libc::RLIMIT_CORE, Some(0));
        set!(libc::RLIMIT_AS, address_space);
        set!(libc::RLIMIT_CPU, cpu_seconds);
        set!(libc::RLIMIT_NOFILE, open_files);
        Ok(())
    };
    // SAFETY: the hook only calls setrlimit (async-signal-safe) and reads captured integers.
    unsafe { cmd.pre_exec(hook) };
    rlimit_state(limits)
}

/// What the rlimits above enforce on macOS: the address-space limit is set but the kernel does
/// not enforce `RLIMIT_AS`, and the process limit is not set at all.
pub(crate) fn rlimit_state(limits: crate::ResourceLimits) -> LayerState {
    let mut missing = Vec::new();
    if limits.address_space.is_some() {
        missing.push("address-space limit set but not enforced by macOS (RLIMIT_AS)");
    }
    if limits.processes.is_some() {
        missing.push(
            "process limit not applied on macOS (RLIMIT_NPROC counts all of the user's processes)",
        );
    }
    if missing.is_empty() {
        LayerState::Enforced
    } else {
        LayerState::Degraded(missing.join("; "))
    }
}

/// What Seatbelt could enforce on this machine, in the layer-by-layer report format: enforced
/// when `sandbox-exec` is present at its absolute path.
pub fn seatbelt_check() -> SandboxReport {
    seatbelt_check_at(Path::new(SANDBOX_EXEC), Path::new(SELF_TEST_PROGRAM))
}

/// The program the self-test runs under a generated profile.
pub(crate) const SELF_TEST_PROGRAM: &str = "/usr/bin/true";

/// [`seatbelt_check`] with the paths as parameters, so that tests on any OS can hand it a fake
/// `sandbox-exec`: present is not enough, a profile generated exactly as for the runner (with
/// the baseline and nothing else) must compile and run `true_program` to a zero exit.
pub(crate) fn seatbelt_check_at(sandbox_exec: &Path, true_program: &Path) -> SandboxReport {
    let mut r = SandboxReport::default();
    let state = if sandbox_exec.is_file() {
        self_test(sandbox_exec, true_program)
    } else {
        LayerState::Unavailable(format!("{} is missing", sandbox_exec.display()))
    };
    r.push(Layer::Seatbelt, state);
    r.push(Layer::Environment, LayerState::Enforced);
    r
}

/// Runs `sandbox-exec -p PROFILE -D ... -- true_program` and reads the outcome.
fn self_test(sandbox_exec: &Path, true_program: &Path) -> LayerState {
    let profile = match SeatbeltProfile::build(
        &SandboxPolicy::new(),
        true_program,
        &SeatbeltIpc::InheritedFd,
        false,
    ) {
        Ok(p) => p,
        Err(e) => return LayerState::Unavailable(format!("self-test profile: {e}")),
    };
    let argv = profile.argv(true_program, Vec::<OsString>::new());
    let out = Command::new(sandbox_exec)
        .args(argv.iter().skip(1))
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Ok(o) if o.status.success() => LayerState::Enforced,
        Ok(o) => LayerState::Unavailable(format!(
            "self-test: {} -p PROFILE {} exited with {}: {}",
            sandbox_exec.display(),
            true_program.display(),
            o.status,
            crate::text::bounded_line(&String::from_utf8_lossy(&o.stderr), 300)
        )),
        Err(e) => LayerState::Unavailable(format!(
            "self-test: could not run {}: {e}",
            sandbox_exec.display()
        )),
    }
}

/// macOS only: prepares `cmd` to run under Seatbelt — the profile from `policy` + `options`,
/// launched by the absolute `/usr/bin/sandbox-exec`, environment reduced to the allow-list.
/// [`SandboxPolicy::apply_to`] on macOS is this with the default [`SeatbeltOptions`]; call it
/// directly for a unix-socket IPC or the Metal (GPU) rules.
///
/// The command is rebuilt: program, arguments, current directory and the allowed environment
/// are kept; stdio settings and `pre_exec` hooks are not (`Command` cannot report them), so set
/// those afterwards. Without `sandbox-exec`, [`Strictness::Strict`] refuses with
/// [`SandboxError::NetworkIsolationUnavailable`]; best-effort runs unsandboxed (environment
/// still reduced) and reports the layer unavailable with a warning audit event.
///
/// # Errors
/// As above, and [`SandboxError::UnrepresentablePath`] for a path Seatbelt cannot take.
#[cfg(target_os = "macos")]
pub fn apply_seatbelt(
    policy: &SandboxPolicy,
    cmd: &mut Command,
    options: &SeatbeltOptions,
) -> Result<SandboxReport, SandboxError> {
    let present = Path::new(SANDBOX_EXEC).is_file();
    let cache = if options.gpu {
        darwin_user_cache_dir()
    } else {
        None
    };
    wrap_with_seatbelt(policy, cmd, options, present, cache.as_deref())
}

/// The per-user cache directory (`confstr(_CS_DARWIN_USER_CACHE_DIR)`, for example
/// `/private/var/folders/xy/.../C/`), where Metal keeps its shader cache.
#[cfg(target_os = "macos")]
fn darwin_user_cache_dir() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let mut buf = vec![0u8; 1024];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; confstr writes at most that many,
    // NUL-terminated, and returns the size it needed (0 on error).
    let needed = unsafe {
        libc::confstr(
            libc::_CS_DARWIN_USER_CACHE_DIR,
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if needed == 0 || needed > buf.len() {
        return None;
    }
    buf.truncate(needed - 1);
    Some(PathBuf::from(OsString::from_vec(buf)))
}

/// The backend shape (see `crate::platform`): `apply_to` is Seatbelt with the default
/// options.
#[cfg(target_os = "macos")]
pub(crate) fn apply_to(
    policy: &SandboxPolicy,
    cmd: &mut Command,
) -> Result<SandboxReport, SandboxError> {
    apply_seatbelt(policy, cmd, &SeatbeltOptions::default())
}

/// Seatbelt cannot be entered by a running process (no `sandbox_init` from Rust here).
#[cfg(target_os = "macos")]
pub(crate) fn enforce_current_process(
    _policy: &SandboxPolicy,
) -> Result<SandboxReport, SandboxError> {
    Err(SandboxError::Unsupported {
        what: "enforce_current_process on macOS",
    })
}

/// `secllama sandbox check` on macOS: is Seatbelt there.
#[cfg(target_os = "macos")]
pub(crate) fn check(strictness: Strictness) -> Option<Result<SandboxReport, SandboxError>> {
    Some(crate::probe::strict_check(
        seatbelt_check(),
        Layer::Seatbelt,
        strictness,
    ))
}

/// What macOS can enforce (the Seatbelt check is [`seatbelt_check`]).
#[cfg(target_os = "macos")]
pub(crate) fn probe() -> crate::Capabilities {
    crate::Capabilities {
        os: "macos",
        // SAFETY: geteuid cannot fail.
        root: unsafe { libc::geteuid() } == 0,
        ..crate::Capabilities::default()
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn strict_check_turns_a_missing_network_layer_into_the_strict_mode_error() {
        let missing = seatbelt_check_at(Path::new("/nonexistent/sandbox-exec"), Path::new("/t"));
        let err = crate::probe::strict_check(missing.clone(), Layer::Seatbelt, Strictness::Strict)
            .unwrap_err();
        assert!(matches!(
            err,
            SandboxError::NetworkIsolationUnavailable { layer: Layer::Seatbelt, ref reason }
                if reason.contains("is missing")
        ));
        let ok =
            crate::probe::strict_check(missing.clone(), Layer::Seatbelt, Strictness::BestEffort)
                .unwrap();
        assert_eq!(ok, missing);
        #[cfg(unix)]
        {
            let fake = FakeSandboxExec::passing();
            let present = seatbelt_check_at(fake.path(), Path::new("/bin/true"));
            assert_eq!(present.state(Layer::Seatbelt), Some(&LayerState::Enforced));
            assert_eq!(
                crate::probe::strict_check(present.clone(), Layer::Seatbelt, Strictness::Strict)
                    .unwrap(),
                present
            );
        }
        #[cfg(not(any(target_os = "macos", windows)))]
        assert!(crate::platform_sandbox_check(Strictness::Strict).is_none());
    }

    #[test]
    fn wrapped_command_runs_sandbox_exec_with_profile_params_and_only_allowed_env() {
        let policy = SandboxPolicy::new()
            .read_only("/models/gemma.gguf")
            .allow_env("RUST_LOG");
        let mut cmd = Command::new("/opt/runner");
        cmd.args(["--fd", "3"])
            .env("RUST_LOG", "debug")
            .env("SECRET", "x");
        cmd.current_dir("/");
        let profile = SeatbeltProfile::build(
            &policy,
            Path::new("/opt/runner"),
            &SeatbeltIpc::InheritedFd,
            false,
        )
        .unwrap();
        let lookup = |n: &str| (n == "PATH").then(|| OsString::from("/usr/bin:/bin"));
        let out = wrap_command(
            &cmd,
            Path::new("/opt/runner"),
            &profile,
            policy.env_allow_list(),
            lookup,
        );
        assert_eq!(out.get_program(), SANDBOX_EXEC);
        let args: Vec<&OsStr> = out.get_args().collect();
        assert_eq!(args[0], "-p");
        assert_eq!(args[1], profile.text());
        let tail: Vec<&OsStr> = args[args.len() - 4..].to_vec();
        assert_eq!(tail, ["--", "/opt/runner", "--fd", "3"]);
        assert!(args.contains(&OsStr::new("RO_0=/models/gemma.gguf")));
        let envs: Vec<(String, Option<String>)> = out
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert_eq!(
            envs,
            [
                ("PATH".to_owned(), Some("/usr/bin:/bin".to_owned())),
                ("RUST_LOG".to_owned(), Some("debug".to_owned()))
            ]
        );
        assert_eq!(out.get_current_dir(), Some(Path::new("/")));
    }

    #[test]
    fn strict_mode_refuses_without_sandbox_exec_and_best_effort_reports_it() {
        let mut cmd = Command::new("/opt/runner");
        let err = wrap_with_seatbelt(
            &SandboxPolicy::new(),
            &mut cmd,
            &SeatbeltOptions::default(),
            false,
            None,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            SandboxError::NetworkIsolationUnavailable {
                layer: Layer::Seatbelt,
                ..
            }
        ));
        let policy = SandboxPolicy::new().strictness(Strictness::BestEffort);
        let report =
            wrap_with_seatbelt(&policy, &mut cmd, &SeatbeltOptions::default(), false, None)
                .unwrap();
        assert!(
            matches!(report.state(Layer::Seatbelt), Some(LayerState::Unavailable(r)) if r.contains("sandbox-exec"))
        );
        assert_eq!(cmd.get_program(), "/opt/runner");
    }

    #[test]
    fn enforced_wrap_replaces_the_program_with_absolute_sandbox_exec() {
        let mut cmd = Command::new("/opt/runner");
        cmd.arg("x");
        let report = wrap_with_seatbelt(
            &SandboxPolicy::new(),
            &mut cmd,
            &SeatbeltOptions::default(),
            true,
            Some(Path::new("/nonexistent-cache")),
        )
        .unwrap();
        assert_eq!(report.state(Layer::Seatbelt), Some(&LayerState::Enforced));
        assert_eq!(cmd.get_program(), "/usr/bin/sandbox-exec");
        assert_eq!(cmd.get_args().last(), Some(OsStr::new("x")));
        // Without GPU the Metal shader cache is not granted, even when its root is known.
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            !args.iter().any(|a| a.contains("com.apple.metal")),
            "{args:?}"
        );
    }

    #[test]
    fn gpu_grants_the_metal_shader_cache_read_write_and_nothing_else_of_the_cache_dir() {
        let mut cmd = Command::new("/opt/runner");
        let options = SeatbeltOptions {
            gpu: true,
            ..SeatbeltOptions::default()
        };
        wrap_with_seatbelt(
            &SandboxPolicy::new(),
            &mut cmd,
            &options,
            true,
            Some(Path::new("/nonexistent-cache/C")),
        )
        .unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.contains(&"RW_0=/nonexistent-cache/C/com.apple.metal".to_owned()),
            "{args:?}"
        );
        assert_eq!(args.iter().filter(|a| a.starts_with("RW_")).count(), 1);
        let profile = &args[1];
        assert_eq!(lint_profile(profile, &params_of(&args)), Ok(()));
        assert!(profile.contains("(allow file-read* file-write*\n  (subpath (param \"RW_0\"))"));
    }

    /// The `-D NAME=VALUE` pairs of a wrapped command's arguments.
    fn params_of(args: &[String]) -> Vec<(String, String)> {
        args.windows(2)
            .filter(|w| w[0] == "-D")
            .filter_map(|w| w[1].split_once('='))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn rlimits_and_no_core_dumps_reach_the_spawned_program() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "ulimit -c; ulimit -n; ulimit -t"]);
        let state = install_rlimits(
            &mut cmd,
            crate::ResourceLimits {
                cpu_seconds: Some(77),
                open_files: Some(33),
                ..Default::default()
            },
        );
        assert_eq!(state, LayerState::Enforced);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "0\n33\n77\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_process_limit_is_reported_as_not_applied() {
        let mut cmd = Command::new("/bin/true");
        let state = install_rlimits(
            &mut cmd,
            crate::ResourceLimits {
                processes: Some(4),
                ..Default::default()
            },
        );
        assert!(matches!(state, LayerState::Degraded(r) if r.contains("RLIMIT_NPROC")));
    }

    #[test]
    fn an_address_space_limit_is_reported_as_not_enforced_by_macos() {
        let state = rlimit_state(crate::ResourceLimits {
            address_space: Some(1 << 30),
            cpu_seconds: Some(10),
            ..Default::default()
        });
        assert_eq!(
            state,
            LayerState::Degraded(
                "address-space limit set but not enforced by macOS (RLIMIT_AS)".into()
            )
        );
        let both = rlimit_state(crate::ResourceLimits {
            address_space: Some(1 << 30),
            processes: Some(2),
            ..Default::default()
        });
        assert!(
            matches!(both, LayerState::Degraded(r) if r.contains("RLIMIT_AS") && r.contains("RLIMIT_NPROC"))
        );
        assert_eq!(
            rlimit_state(crate::ResourceLimits {
                cpu_seconds: Some(1),
                open_files: Some(8),
                ..Default::default()
            }),
            LayerState::Enforced
        );
    }

    #[test]
    fn check_reports_seatbelt_unavailable_when_sandbox_exec_is_missing() {
        let r = seatbelt_check_at(Path::new("/nonexistent/sandbox-exec"), Path::new("/t"));
        assert!(
            matches!(r.state(Layer::Seatbelt), Some(LayerState::Unavailable(m)) if m.contains("/nonexistent/sandbox-exec is missing"))
        );
    }

    /// A stand-in for `/usr/bin/sandbox-exec`: checks the argv shape the runner launch uses
    /// (`-p PROFILE`, `-D NAME=VALUE`..., `--`, program) and then runs the program, or fails as
    /// a profile that does not compile would.
    #[cfg(unix)]
    struct FakeSandboxExec {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    #[cfg(unix)]
    impl FakeSandboxExec {
        fn with_script(body: &str) -> Self {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sandbox-exec");
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            FakeSandboxExec { _dir: dir, path }
        }

        fn passing() -> Self {
            Self::with_script(
                "[ \"$1\" = -p ] || exit 2\n[ -n \"$2\" ] || exit 3\nshift 2\n\
                 while [ \"$1\" = -D ]; do case \"$2\" in *=/*) ;; *) exit 4;; esac; shift 2; done\n\
                 [ \"$1\" = -- ] || exit 5\nshift\nexec \"$@\"",
            )
        }

        fn path(&self) -> &Path {
            &self.path
        }
    }

    #[cfg(unix)]
    #[test]
    fn check_runs_a_generated_profile_through_sandbox_exec_as_a_self_test() {
        let ok = FakeSandboxExec::passing();
        let r = seatbelt_check_at(ok.path(), Path::new("/bin/true"));
        assert_eq!(r.state(Layer::Seatbelt), Some(&LayerState::Enforced));
        // The program itself failing under the profile fails the self-test.
        let r = seatbelt_check_at(ok.path(), Path::new("/bin/false"));
        assert!(
            matches!(r.state(Layer::Seatbelt), Some(LayerState::Unavailable(m)) if m.contains("/bin/false exited with exit status: 1")),
            "{r:?}"
        );
        let broken = FakeSandboxExec::with_script(
            "echo 'sandbox-exec: unbound variable: ANC_0' >&2\nexit 65",
        );
        let r = seatbelt_check_at(broken.path(), Path::new("/bin/true"));
        assert!(
            matches!(r.state(Layer::Seatbelt), Some(LayerState::Unavailable(m))
                if m.ends_with("exited with exit status: 65: sandbox-exec: unbound variable: ANC_0")),
            "{r:?}"
        );
    }
}
