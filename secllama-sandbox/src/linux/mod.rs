//! The Linux sandbox: the orchestrator of the per-layer modules.
//!
//! Layers, in the order they are applied: [`namespaces`] (user + network), [`limits`]
//! (rlimits), [`caps`] (no_new_privs, capabilities, dumpable, parent-death signal),
//! [`landlock`], [`seccomp`]. Seccomp comes last because it forbids `unshare`, and Landlock
//! after the namespaces because it would forbid writing `/proc/self/uid_map`.
//!
//! [`apply_to`] prepares every layer in the parent (all allocation, all path opening, the BPF
//! compilation) and hands the child a closure that performs only raw, async-signal-safe system
//! calls on that prepared data, in the order above. If any step fails in the child, the
//! closure returns the errno and `Command::spawn` fails: the program never runs with less than
//! the report promised.

mod caps;
mod confine;
mod landlock;
mod limits;
mod namespaces;
mod probe;
mod rootfs;
#[doc(hidden)]
pub mod seccomp;

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::SandboxError;
use crate::mode::Strictness;
use crate::policy::SandboxPolicy;
use crate::report::{Layer, LayerState, SandboxReport};

/// Tiny wrappers turning `-1` into `io::Error` (no allocation: `Os` errors are inline).
pub(crate) use probe::probe;

pub(crate) mod sys {
    use std::io;

    pub(crate) fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }

    pub(crate) fn check_long(rc: libc::c_long) -> io::Result<libc::c_long> {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }

    pub(crate) fn errno() -> libc::c_int {
        io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

/// Everything the child needs, prepared before `fork`.
struct Plan {
    report: SandboxReport,
    /// Sandbox v2 for a spawned child: every namespace, the minimal root, nobody for root.
    confine: Option<confine::Prepared>,
    namespaces: Option<namespaces::Prepared>,
    limits: limits::Prepared,
    caps: caps::Prepared,
    require_empty_bounding: bool,
    landlock: Option<landlock::Prepared>,
    seccomp: Option<seccomp::Prepared>,
}

fn unavailable(policy: &SandboxPolicy, layer: Layer, real: Option<String>) -> Option<String> {
    if policy.is_simulated_unavailable(layer) {
        Some(format!(
            "simulated: {layer} switched off by the test-only override"
        ))
    } else {
        real
    }
}

/// Builds the plan and the report. `threads`: how many threads the target process has
/// (1 for a freshly forked child).
/// What only a spawned child gets: the working directory it keeps in its new root.
struct Spawn {
    cwd: Option<PathBuf>,
}

fn plan(
    policy: &SandboxPolicy,
    mut caps_for: caps::Prepared,
    threads: usize,
    extra_read_only: &[PathBuf],
    spawn: Option<Spawn>,
) -> Result<Plan, SandboxError> {
    let c = probe();
    let mut report = SandboxReport::default();

    // Layer 1: namespaces.
    let multi = (threads > 1).then(|| {
        format!("the process has {threads} threads; namespaces can only be entered by a single-threaded process")
    });
    let user_missing = unavailable(
        policy,
        Layer::UserNamespace,
        multi.clone().or_else(|| {
            (!c.user_namespaces).then(|| c.namespace_error.clone().unwrap_or_default())
        }),
    );
    let net_missing = unavailable(
        policy,
        Layer::NetworkNamespace,
        multi.or_else(|| {
            (!c.network_namespaces).then(|| c.namespace_error.clone().unwrap_or_default())
        }),
    );
    let namespaces = match (&user_missing, &net_missing) {
        (None, None) => Some(namespaces::Prepared::new(true)),
        (Some(_), None) if c.root => Some(namespaces::Prepared::new(false)),
        _ => None,
    };
    let user_state = match &user_missing {
        None if namespaces.is_some() => LayerState::Enforced,
        None => LayerState::Unavailable("skipped: the network namespace cannot be created".into()),
        Some(r) => LayerState::Unavailable(r.clone()),
    };
    let net_state = match (&net_missing, &namespaces) {
        (None, Some(_)) => LayerState::Enforced,
        (None, None) => LayerState::Unavailable(
            "without a user namespace only root can create a network namespace".into(),
        ),
        (Some(r), _) => LayerState::Unavailable(r.clone()),
    };
    report.push(Layer::UserNamespace, user_state);
    report.push(Layer::NetworkNamespace, net_state);

    // Layer 1b (spawned children): sandbox v2 on top of the namespaces above.
    let mut namespaces = namespaces;
    let mut confine = None;
    let mut confine_refusal = None;
    // Root without a user namespace (a chroot, user.max_user_namespaces=0) still gets a network
    // namespace, but the confinement's identity change then drops the capabilities that the
    // later steps need: refuse it with the cause instead of failing the spawn with a bare EPERM.
    let v2_missing = match (&spawn, &namespaces, &user_missing) {
        (None, _, _) => Some("a running process cannot enter these namespaces".to_owned()),
        (Some(_), None, _) => Some("needs the user and network namespaces above".to_owned()),
        (Some(_), Some(_), Some(why)) => Some(format!("needs a user namespace: {why}")),
        (Some(_), Some(_), None) => c.confine_error.clone(),
    };
    let v2_missing = match spawn {
        Some(_) => unavailable(policy, Layer::MountNamespace, v2_missing),
        None => v2_missing,
    };
    match (&spawn, v2_missing) {
        (Some(sp), None) => {
            let mut ro = policy.effective_read_only_paths();
            ro.extend(extra_read_only.iter().cloned());
            let root = rootfs::Prepared::new(
                &ro,
                &policy.effective_read_write_paths(),
                policy.devices(),
                sp.cwd.as_deref(),
            )
            .map_err(|error| SandboxError::Os {
                step: "plan the sandbox root file system",
                error,
            })?;
            confine = Some(confine::Prepared::new(c.root, root, policy.passed_fds()));
            namespaces = None;
            caps_for = caps::Prepared::for_current_process();
            report.push(Layer::MountNamespace, LayerState::Enforced);
            report.push(Layer::PidIpcUtsCgroupNamespaces, LayerState::Enforced);
            if c.root {
                report.push(Layer::Identity, LayerState::Enforced);
            }
            report.push(Layer::SessionAndDescriptors, LayerState::Enforced);
        }
        (None, _) => {} // enforce_current_process: not applicable
        (_, missing) => {
            let r = missing.unwrap_or_default();
            confine_refusal = Some(r.clone());
            tracing::warn!(
                target: "secllama::audit",
                event = "sandbox-confinement-missing",
                reason = %r,
                "best-effort sandbox: no mount/PID namespaces; the program sees the host's \
                 file names, processes and IPC objects (Landlock and seccomp still apply)"
            );
            for layer in [
                Layer::MountNamespace,
                Layer::PidIpcUtsCgroupNamespaces,
                Layer::SessionAndDescriptors,
            ] {
                report.push(layer, LayerState::Unavailable(r.clone()));
            }
        }
    }

    // Layer 2: limits.
    let mut wanted = policy.resource_limits();
    if confine.is_some() {
        // The sandbox's init and, for a non-root caller, the waiter outside (see `confine`)
        // live in the same user namespace and count against RLIMIT_NPROC: add them, so the
        // program gets the number the policy says.
        let helpers = if c.root { 1 } else { 2 };
        wanted.processes = wanted.processes.map(|n| n.saturating_add(helpers));
    }
    let limits = limits::Prepared::new(wanted);
    let limits_state = if let Some(r) = unavailable(policy, Layer::ResourceLimits, None) {
        LayerState::Unavailable(r)
    } else if c.root && confine.is_none() && policy.resource_limits().processes.is_some() {
        LayerState::Degraded(
            "running as uid 0: the kernel does not apply the process limit (RLIMIT_NPROC) to root"
                .into(),
        )
    } else {
        LayerState::Enforced
    };
    let limits_on = !policy.is_simulated_unavailable(Layer::ResourceLimits);
    report.push(Layer::ResourceLimits, limits_state);

    // Layer 3: privileges. The bounding set can be emptied with CAP_SETPCAP, which a fresh
    // user namespace or root has.
    let has_setpcap = (namespaces.as_ref().is_some() && user_missing.is_none()) || c.root;
    report.push(
        Layer::NoNewPrivileges,
        if threads > 1 {
            LayerState::Degraded(format!(
                "applied to the calling thread only ({} other threads exist)",
                threads - 1
            ))
        } else {
            LayerState::Enforced
        },
    );
    report.push(
        Layer::Capabilities,
        if threads > 1 {
            LayerState::Degraded(format!("dropped in the calling thread only ({} other threads exist)", threads - 1))
        } else if has_setpcap {
            LayerState::Enforced
        } else {
            LayerState::Degraded(
                "bounding set kept (no CAP_SETPCAP without a user namespace); no_new_privs keeps execve from granting anything".into(),
            )
        },
    );

    // Layer 4: Landlock.
    let abi = if policy.is_simulated_unavailable(Layer::LandlockFilesystem) {
        None
    } else {
        c.landlock_abi
    };
    let landlock = match abi {
        Some(abi) => {
            let mut ro = policy.effective_read_only_paths();
            ro.extend(extra_read_only.iter().cloned());
            Some(landlock::prepare(
                &ro,
                &policy.effective_read_write_paths(),
                policy.devices(),
                abi,
            )?)
        }
        None => None,
    };
    for (layer, mut state) in landlock::states(abi) {
        if abi.is_none() && policy.is_simulated_unavailable(Layer::LandlockFilesystem) {
            state = LayerState::Unavailable(format!(
                "simulated: {layer} switched off by the test-only override"
            ));
        } else if threads > 1 && state.is_enforced() {
            state = LayerState::Degraded(format!(
                "applies to the calling thread only ({} other threads exist)",
                threads - 1
            ));
        }
        report.push(layer, state);
    }

    // Layer 5: seccomp.
    let seccomp_missing = unavailable(
        policy,
        Layer::Seccomp,
        (!c.seccomp_filter).then(|| "the kernel does not accept seccomp filters".to_owned()),
    );
    let seccomp = match &seccomp_missing {
        None => Some(seccomp::Prepared::new(
            !policy.read_write_paths().is_empty(),
        )?),
        Some(_) => None,
    };
    report.push(
        Layer::Seccomp,
        match seccomp_missing {
            None => LayerState::Enforced,
            Some(r) => LayerState::Unavailable(r),
        },
    );
    report.push(Layer::Environment, LayerState::Enforced);

    // Strictness: network isolation = network namespace + seccomp socket filter.
    for layer in [Layer::NetworkNamespace, Layer::Seccomp] {
        if let Some(state) = report.state(layer).filter(|s| !s.is_enforced()) {
            let reason = match state {
                LayerState::Degraded(r) | LayerState::Unavailable(r) => r.clone(),
                LayerState::Enforced => String::new(),
            };
            match policy.strictness_level() {
                Strictness::Strict => {
                    tracing::error!(target: "secllama::audit", event = "sandbox-refused", layer = layer.name(), reason = %reason);
                    return Err(SandboxError::NetworkIsolationUnavailable { layer, reason });
                }
                Strictness::BestEffort => tracing::warn!(
                    target: "secllama::audit",
                    event = "sandbox-network-isolation-degraded",
                    layer = layer.name(),
                    reason = %reason,
                    "best-effort sandbox: network isolation is NOT fully enforced"
                ),
            }
        }
    }

    // Fail closed on files too: as root the child keeps uid 0 (so root's own files stay
    // readable), which without Landlock would leave every root-owned file writable; as a user,
    // every file of that user readable.
    if let Some(LayerState::Unavailable(reason)) = report.state(Layer::LandlockFilesystem) {
        let layer = Layer::LandlockFilesystem;
        match policy.strictness_level() {
            Strictness::Strict => {
                tracing::error!(target: "secllama::audit", event = "sandbox-refused", layer = layer.name(), reason = %reason);
                return Err(SandboxError::FilesystemIsolationUnavailable {
                    layer,
                    reason: reason.clone(),
                });
            }
            Strictness::BestEffort => tracing::warn!(
                target: "secllama::audit",
                event = "sandbox-filesystem-isolation-missing",
                layer = layer.name(),
                reason = %reason,
                "best-effort sandbox: the sandboxed process can read every file its user can"
            ),
        }
    }

    // Strictness: sandbox v2's confinement, after the older layers' own refusals.
    if let Some(reason) = confine_refusal
        && policy.strictness_level() == Strictness::Strict
    {
        tracing::error!(target: "secllama::audit", event = "sandbox-refused", layer = Layer::MountNamespace.name(), reason = %reason);
        return Err(SandboxError::LayerUnavailable {
            layer: Layer::MountNamespace,
            reason,
        });
    }

    let require_empty_bounding = has_setpcap && threads <= 1;
    Ok(Plan {
        report,
        confine,
        namespaces,
        limits: if limits_on {
            limits
        } else {
            limits::Prepared::new(Default::default())
        },
        caps: caps_for,
        require_empty_bounding,
        landlock,
        seccomp,
    })
}

impl Plan {
    /// Runs every layer. In the forked child this must stay async-signal-safe: every callee
    /// documents that it only makes raw system calls on data prepared before `fork`.
    fn enforce(&self, own_proc_rule: bool, all_threads: bool) -> io::Result<()> {
        if let Some(c) = &self.confine {
            c.apply()?;
        }
        if let Some(ns) = &self.namespaces {
            ns.apply()?;
        }
        self.limits.apply()?;
        if let Some(ll) = &self.landlock
            && own_proc_rule
        {
            ll.allow_own_proc()?;
        }
        let outcome = self.caps.apply()?;
        if self.require_empty_bounding && !outcome.bounding_empty {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        if let Some(ll) = &self.landlock {
            ll.restrict_self()?;
        }
        if let Some(sc) = &self.seccomp {
            sc.install(all_threads)?;
        }
        Ok(())
    }
}

/// Resolves the program `cmd` will run, so the policy can grant it read + execute.
fn resolve_program(cmd: &Command) -> Option<PathBuf> {
    let program = Path::new(cmd.get_program());
    if program.components().count() > 1 || program.is_absolute() {
        let p = match cmd.get_current_dir() {
            Some(dir) if program.is_relative() => dir.join(program),
            _ => program.to_path_buf(),
        };
        return p.canonicalize().ok();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// `secllama sandbox check` on Linux needs nothing beyond [`probe`] and `apply_to` on a
/// command that is never spawned.
pub(crate) fn check(_strictness: Strictness) -> Option<Result<SandboxReport, SandboxError>> {
    None
}

pub(crate) fn apply_to(
    policy: &SandboxPolicy,
    cmd: &mut Command,
) -> Result<SandboxReport, SandboxError> {
    let program: Vec<PathBuf> = resolve_program(cmd).into_iter().collect();
    let cwd = match cmd.get_current_dir() {
        Some(d) => std::env::current_dir().ok().map(|c| c.join(d)),
        None => std::env::current_dir().ok(),
    };
    let plan = plan(
        policy,
        caps::Prepared::for_child(),
        1,
        &program,
        Some(Spawn { cwd }),
    )?;
    crate::env::restrict_env(cmd, policy.env_allow_list());
    let report = plan.report.clone();
    // SAFETY: the closure runs between fork and exec in the child. Plan::enforce only makes
    // raw system calls (unshare, open/write/close, prlimit64, prctl, capget/capset, getppid,
    // landlock_add_rule, landlock_restrict_self, seccomp) on memory allocated before the fork,
    // and builds errors with io::Error::last_os_error/from_raw_os_error, which do not allocate.
    unsafe {
        cmd.pre_exec(move || plan.enforce(true, false));
    }
    report.emit_audit_events();
    Ok(report)
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(usize::MAX)
}

pub(crate) fn enforce_current_process(
    policy: &SandboxPolicy,
) -> Result<SandboxReport, SandboxError> {
    let threads = thread_count();
    let current = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let extra: Vec<PathBuf> = current.into_iter().collect();
    let plan = plan(
        policy,
        caps::Prepared::for_current_process(),
        threads,
        &extra,
        None,
    )?;
    if threads <= 1 {
        let keep: Vec<_> = policy.env_allow_list().to_vec();
        for (k, _) in std::env::vars_os() {
            if !keep.iter().any(|n| k.as_os_str() == n.as_str()) {
                // SAFETY: the process is single-threaded (checked above), so nothing reads the
                // environment concurrently.
                unsafe { std::env::remove_var(&k) };
            }
        }
    }
    plan.enforce(true, true).map_err(|error| SandboxError::Os {
        step: "enforce the sandbox on the current process",
        error,
    })?;
    let mut report = plan.report;
    if threads > 1
        && let Some(l) = report
            .layers
            .iter_mut()
            .find(|l| l.layer == Layer::Environment)
    {
        l.state = LayerState::Unavailable(
            "the process is multi-threaded; its environment was left as is".into(),
        );
    }
    report.emit_audit_events();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_resolved_through_path_or_the_commands_directory() {
        let sh = resolve_program(&Command::new("sh")).unwrap();
        assert!(sh.is_absolute() && sh.is_file(), "{}", sh.display());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool"), b"").unwrap();
        let mut cmd = Command::new("./tool");
        cmd.current_dir(dir.path());
        assert_eq!(
            resolve_program(&cmd).unwrap(),
            dir.path().join("tool").canonicalize().unwrap()
        );
        assert_eq!(resolve_program(&Command::new("/nonexistent/x")), None);
    }

    #[test]
    fn the_environment_keeps_only_allowed_names_preferring_the_commands_own_values() {
        let policy = SandboxPolicy::new().allow_env("SECLLAMA_UNIT_KEEP");
        let mut cmd = Command::new("x");
        cmd.env("SECLLAMA_UNIT_KEEP", "mine")
            .env("SECLLAMA_UNIT_DROP", "secret")
            .env_remove("LANG")
            .env("PATH", "/bin");
        crate::env::restrict_env(&mut cmd, policy.env_allow_list());
        let mut envs: Vec<_> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
            .collect();
        envs.sort();
        let lc_all = std::env::var_os("LC_ALL");
        let mut expected = vec![
            ("PATH".into(), Some("/bin".into())),
            ("SECLLAMA_UNIT_KEEP".into(), Some("mine".into())),
        ];
        if let Some(v) = lc_all {
            expected.push(("LC_ALL".into(), Some(v)));
        }
        expected.sort();
        assert_eq!(envs, expected);
    }
}
