//! What this kernel can enforce, found out once per process by trying it in a short child.

use std::io;
use std::sync::OnceLock;

use super::{confine, landlock, namespaces, rootfs, seccomp, sys};
use crate::probe::Capabilities;

/// The cached result of [`probe`].
static CAPABILITIES: OnceLock<Capabilities> = OnceLock::new();

pub(crate) fn probe() -> Capabilities {
    CAPABILITIES.get_or_init(probe_uncached).clone()
}

fn probe_uncached() -> Capabilities {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let (user_namespaces, network_namespaces, namespace_error) = probe_namespaces();
    // The confinement is built on a user namespace, for root too (see `plan`).
    let confine_error = if user_namespaces {
        probe_confine(root).err()
    } else {
        Some("needs a user namespace (see user namespaces)".to_owned())
    };
    Capabilities {
        os: "linux",
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        root,
        landlock_abi: landlock::kernel_abi(),
        seccomp_filter: seccomp::available(),
        user_namespaces,
        network_namespaces,
        namespace_error,
        confine_error,
    }
}

/// Forks a child that tries exactly what the sandbox will do: a user + network namespace and
/// the uid/gid maps. The child only makes async-signal-safe calls on data prepared here.
fn probe_namespaces() -> (bool, bool, Option<String>) {
    let ns = namespaces::Prepared::new(true);
    let net_only = namespaces::Prepared::new(false);
    let try_child = |p: &namespaces::Prepared| -> Result<(), i32> {
        // SAFETY: the child calls only async-signal-safe functions (raw syscalls on data
        // prepared before the fork) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(sys::errno());
        }
        if pid == 0 {
            let code = match p.apply() {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(255).clamp(1, 255),
            };
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child just forked; status is a valid out pointer.
        if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            return Err(sys::errno());
        }
        match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
            Some(0) => Ok(()),
            Some(errno) => Err(errno),
            None => Err(libc::ECHILD),
        }
    };
    match try_child(&ns) {
        Ok(()) => (true, true, None),
        Err(e) => {
            let why = format!(
                "creating a user namespace failed: {} (check kernel.unprivileged_userns_clone, \
                 user.max_user_namespaces, an AppArmor userns restriction, or whether this \
                 runs in a chroot, where the kernel refuses user namespaces: use a container \
                 or the host instead)",
                io::Error::from_raw_os_error(e)
            );
            // Root can still make a network namespace without a user namespace.
            let net = try_child(&net_only).is_ok();
            (false, net, Some(why))
        }
    }
}

/// Runs exactly the v2 confinement with an empty root in a short child: namespaces, the
/// staging and final `pivot_root`, `/proc`, the identity change. The error names the cause
/// and the fix.
fn probe_confine(root: bool) -> Result<(), String> {
    let empty = rootfs::Prepared::new(&[], &[], &[], None).map_err(|e| e.to_string())?;
    let plan = confine::Prepared::new(root, empty, &[]);
    // SAFETY: the child only makes raw system calls on data prepared above and leaves with
    // _exit; the outer half of `apply` never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    if pid == 0 {
        let code = match plan.apply() {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(255).clamp(1, 255),
        };
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child just forked; status is a valid out pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    let errno = match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
        Some(0) => return Ok(()),
        Some(errno) => errno,
        None => libc::ECHILD,
    };
    let apparmor =
        std::fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
            .is_ok_and(|v| v.trim() == "1");
    let fix = if apparmor && !root {
        "Ubuntu's AppArmor restricts unprivileged user namespaces: install the profile in \
         secllama-sandbox/apparmor/secllama (see its header)"
    } else {
        "in a container, allow mount and pivot_root (e.g. a seccomp/AppArmor profile that \
         permits them) or run the runner outside it"
    };
    Err(format!(
        "mount/PID namespaces with a pivot_root cannot be set up: {} ({fix})",
        io::Error::from_raw_os_error(errno)
    ))
}
