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
use crate::{
    ChildStdio, Layer, LayerState, SandboxError, SandboxPolicy, SandboxReport, Strictness,
};

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
    for fd in policy.passed_fds() {
        out = out.pass_fd(*fd);
    }
    out
}

/// Builds the command that runs what `cmd` describes under `profile`: program `launcher`
/// (`/usr/bin/sandbox-exec`; a fake in tests), the profile's argv, the same current directory,
/// and an environment reduced to `env_allow` (values from `cmd` if it sets them, else from
/// `lookup`).
///
/// `std::process::Command` cannot report its stdio settings or `pre_exec` hooks, so nothing of
/// them is carried over: [`wrap_with_seatbelt`] sets the stdio it is given and passes the
/// policy's descriptors on the new command.
pub(crate) fn wrap_command(
    cmd: &Command,
    launcher: &Path,
    program: &Path,
    profile: &SeatbeltProfile,
    env_allow: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Command {
    let argv = profile.argv(program, cmd.get_args());
    let mut out = Command::new(launcher);
    out.args(&argv[1..]);
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out.env_clear();
    out.envs(allowed_env(cmd, env_allow, lookup));
    out
}

/// The logic of [`apply_seatbelt`], with `sandbox-exec` as a parameter (`None`: missing) so
/// that it is tested on every OS, with a fake `sandbox-exec` on Unix.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn wrap_with_seatbelt(
    policy: &SandboxPolicy,
    cmd: &mut Command,
    options: &SeatbeltOptions,
    sandbox_exec: Option<&Path>,
    user_cache_dir: Option<&Path>,
    stdio: ChildStdio,
) -> Result<SandboxReport, SandboxError> {
    let mut report = SandboxReport::default();
    let lookup = |n: &str| std::env::var_os(n);
    let Some(sandbox_exec) = sandbox_exec else {
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
        stdio.apply(cmd);
        pass_fds(cmd, policy.passed_fds());
        report.push(Layer::Seatbelt, LayerState::Unavailable(reason));
        report.push(Layer::Environment, LayerState::Enforced);
        report.push(
            Layer::ResourceLimits,
            install_rlimits(cmd, policy.resource_limits()),
        );
        report.emit_audit_events();
        return Ok(report);
    };
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
    *cmd = wrap_command(
        cmd,
        sandbox_exec,
        &program,
        &profile,
        policy.env_allow_list(),
        lookup,
    );
    stdio.apply(cmd);
    pass_fds(cmd, policy.passed_fds());
    report.push(Layer::Seatbelt, LayerState::Enforced);
    report.push(Layer::Environment, LayerState::Enforced);
    report.push(
        Layer::ResourceLimits,
        install_rlimits(cmd, policy.resource_limits()),
    );
    report.emit_audit_events();
    Ok(report)
}

/// Without unix descriptors there is nothing to pass.
#[cfg(not(unix))]
pub(crate) fn pass_fds(_cmd: &mut Command, _fds: &[i32]) {}

/// Highest descriptor number [`pass_fds`] marks close-on-exec (a host with more open files
/// than this is not supported).
#[cfg(unix)]
const MAX_SCANNED_FD: libc::c_int = 1 << 16;

/// Makes exactly `fds` inheritable in the child just before it execs `sandbox-exec`, which
/// execs the runner with them (`sandbox-exec` keeps its descriptors), and marks every other
/// descriptor above stderr close-on-exec: a descriptor the host's own parent left inheritable
/// (a shell, a test harness) must not reach the runner either. A passed descriptor that is not
/// open fails the spawn (`EBADF`) instead of starting a runner without its channel.
#[cfg(unix)]
pub(crate) fn pass_fds(cmd: &mut Command, fds: &[i32]) {
    use std::os::unix::process::CommandExt;

    let fds = fds.to_vec();
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let limit = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        libc::c_int::try_from(rl.rlim_cur).unwrap_or(MAX_SCANNED_FD)
    } else {
        MAX_SCANNED_FD
    }
    .min(MAX_SCANNED_FD);
    // SAFETY: the hook only calls fcntl (async-signal-safe) on integers computed before fork;
    // the Vec is only read (no allocation) after fork.
    unsafe {
        cmd.pre_exec(move || {
            for fd in 3..limit {
                if !fds.contains(&fd) {
                    // EBADF (not open) is the common case and fine.
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
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

#[cfg_attr(not(unix), allow(dead_code))]
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
/// [`SandboxPolicy::apply_to`] on macOS is this with the default [`SeatbeltOptions`] and
/// [`ChildStdio::null`]; call it directly for the runner's stdio, a unix-socket IPC or the
/// Metal (GPU) rules.
///
/// The command is rebuilt: program, arguments, current directory and the allowed environment
/// are kept; its stdio settings and `pre_exec` hooks are not (`Command` cannot report them).
/// The new command gets `stdio` and passes exactly the policy's descriptors
/// ([`SandboxPolicy::pass_fd`]) through `sandbox-exec` to the program; never the host's own
/// stdin or stdout unless `stdio` says so. Without `sandbox-exec`, [`Strictness::Strict`] refuses with
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
    stdio: ChildStdio,
) -> Result<SandboxReport, SandboxError> {
    let sandbox_exec = Path::new(SANDBOX_EXEC);
    let present = sandbox_exec.is_file().then_some(sandbox_exec);
    let cache = if options.gpu {
        darwin_user_cache_dir()
    } else {
        None
    };
    wrap_with_seatbelt(policy, cmd, options, present, cache.as_deref(), stdio)
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
    apply_seatbelt(policy, cmd, &SeatbeltOptions::default(), ChildStdio::null())
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
mod tests;

#[cfg(test)]
#[cfg(target_os = "linux")]
mod launch_tests;
