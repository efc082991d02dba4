//! The deny list as plain data: which system calls answer `EPERM`, and when.

/// When a listed system call is denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// When the 32-bit argument `arg` differs from `value` (e.g. a socket family other than
    /// `AF_UNIX`, a `prlimit64` target other than the caller itself).
    ArgNe {
        /// Argument index.
        arg: u8,
        /// The one allowed value.
        value: u64,
    },
    /// When the 32-bit argument `arg`, masked with `mask`, equals `value` (e.g. a socket
    /// type).
    ArgMasked {
        /// Argument index.
        arg: u8,
        /// The mask.
        mask: u64,
        /// The value after masking.
        value: u64,
    },
    /// When the 32-bit argument `arg` has every bit of `mask` set (e.g. a namespace flag).
    ArgHasBits {
        /// Argument index.
        arg: u8,
        /// The bits.
        mask: u64,
    },
    /// When the 32-bit argument `arg` equals `value` (e.g. the `TIOCSTI` ioctl).
    ArgEq {
        /// Argument index.
        arg: u8,
        /// The value.
        value: u64,
    },
}

/// One entry of the filter: a system call, its number on this architecture, and when it is
/// denied. Several entries for one call are alternatives (any of them denies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenyRule {
    /// The system call's name.
    pub name: &'static str,
    /// Its number on the target architecture.
    pub nr: i64,
    /// The condition.
    pub when: When,
}

const fn always(name: &'static str, nr: libc::c_long) -> DenyRule {
    DenyRule {
        name,
        nr,
        when: When::Always,
    }
}

/// The namespace flags `clone` may not carry (`CLONE_NEWTIME` shares its bit with the exit
/// signal in `clone`'s flags and is reachable only through `clone3`/`unshare`, both denied).
pub const CLONE_NAMESPACE_FLAGS: [(&str, libc::c_int); 7] = [
    ("CLONE_NEWNS", libc::CLONE_NEWNS),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC),
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER),
    ("CLONE_NEWPID", libc::CLONE_NEWPID),
    ("CLONE_NEWNET", libc::CLONE_NEWNET),
];

/// The socket type bits of `socket`/`socketpair`'s type argument (the rest are flags such as
/// `SOCK_CLOEXEC` and `SOCK_NONBLOCK`).
pub const SOCK_TYPE_MASK: u64 = 0xf;

/// The socket types a `socketpair` may have: both stay connected to each other only.
pub const SOCKETPAIR_TYPES: [libc::c_int; 2] = [libc::SOCK_STREAM, libc::SOCK_SEQPACKET];

/// `TIOCSTI` (same number on every architecture we build for).
pub const TIOCSTI: u64 = 0x5412;
/// `TIOCLINUX`.
pub const TIOCLINUX: u64 = 0x541C;

/// System calls numbered after 2019 share one number on every architecture.
const SYS_FCHMODAT2: libc::c_long = 452;
const SYS_SETXATTRAT: libc::c_long = 463;
const SYS_REMOVEXATTRAT: libc::c_long = 466;

/// The calls that change a file's metadata (mode, owner, extended attributes, times), which
/// Landlock does not mediate. Denied unless the policy grants a read-write path: then the
/// read-only bind mounts answer `EROFS` everywhere else.
pub fn metadata_calls() -> Vec<(&'static str, libc::c_long)> {
    let mut calls = vec![
        ("fchmod", libc::SYS_fchmod),
        ("fchmodat", libc::SYS_fchmodat),
        ("fchmodat2", SYS_FCHMODAT2),
        ("fchown", libc::SYS_fchown),
        ("fchownat", libc::SYS_fchownat),
        ("setxattr", libc::SYS_setxattr),
        ("lsetxattr", libc::SYS_lsetxattr),
        ("fsetxattr", libc::SYS_fsetxattr),
        ("setxattrat", SYS_SETXATTRAT),
        ("removexattr", libc::SYS_removexattr),
        ("lremovexattr", libc::SYS_lremovexattr),
        ("fremovexattr", libc::SYS_fremovexattr),
        ("removexattrat", SYS_REMOVEXATTRAT),
        ("utimensat", libc::SYS_utimensat),
    ];
    // The legacy path calls exist on x86_64 only (aarch64 and riscv64 have just the *at ones).
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        ("chmod", libc::SYS_chmod),
        ("chown", libc::SYS_chown),
        ("lchown", libc::SYS_lchown),
        ("utime", libc::SYS_utime),
        ("utimes", libc::SYS_utimes),
        ("futimesat", libc::SYS_futimesat),
    ]);
    calls
}

/// The `EPERM` deny list for this architecture. `grants_writes`: the policy grants a
/// read-write path (else the metadata calls are denied too). A pure function: the unit tests
/// check it and run the compiled program without a kernel.
pub fn deny_table(grants_writes: bool) -> Vec<DenyRule> {
    let af_unix = libc::AF_UNIX as u64;
    let mut t = vec![
        // Network. No new socket of any family, not even AF_UNIX: a fresh unix socket could
        // connect to a pathname socket (the D-Bus session bus and with it the Secret Service,
        // an SSH or GPG agent), and Landlock mediates those only from ABI 9. The runner's one
        // socket is the inherited socketpair.
        always("socket", libc::SYS_socket),
        DenyRule {
            name: "socketpair",
            nr: libc::SYS_socketpair,
            when: When::ArgNe {
                arg: 0,
                value: af_unix,
            },
        },
        // Other processes' resource limits: `prlimit64` on itself only (pid 0, which is what
        // libc's getrlimit/setrlimit pass). On another process it could raise a core limit
        // and then make that process dump its memory.
        DenyRule {
            name: "prlimit64",
            nr: libc::SYS_prlimit64,
            when: When::ArgNe { arg: 0, value: 0 },
        },
        // Kernel attack surface that a model runtime never needs.
        always("io_uring_setup", libc::SYS_io_uring_setup),
        always("io_uring_enter", libc::SYS_io_uring_enter),
        always("io_uring_register", libc::SYS_io_uring_register),
        always("bpf", libc::SYS_bpf),
        always("perf_event_open", libc::SYS_perf_event_open),
        always("userfaultfd", libc::SYS_userfaultfd),
        // Other processes.
        always("ptrace", libc::SYS_ptrace),
        always("process_vm_readv", libc::SYS_process_vm_readv),
        always("process_vm_writev", libc::SYS_process_vm_writev),
        always("pidfd_getfd", libc::SYS_pidfd_getfd),
        always("process_madvise", libc::SYS_process_madvise),
        // The kernel keyring (where keystores keep keys).
        always("keyctl", libc::SYS_keyctl),
        always("add_key", libc::SYS_add_key),
        always("request_key", libc::SYS_request_key),
        // Mounts and namespaces.
        always("mount", libc::SYS_mount),
        always("umount2", libc::SYS_umount2),
        always("pivot_root", libc::SYS_pivot_root),
        always("unshare", libc::SYS_unshare),
        always("setns", libc::SYS_setns),
        always("fsopen", libc::SYS_fsopen),
        always("fsconfig", libc::SYS_fsconfig),
        always("fsmount", libc::SYS_fsmount),
        always("fspick", libc::SYS_fspick),
        always("move_mount", libc::SYS_move_mount),
        always("open_tree", libc::SYS_open_tree),
        always("mount_setattr", libc::SYS_mount_setattr),
        // Kernel modules and kexec.
        always("init_module", libc::SYS_init_module),
        always("finit_module", libc::SYS_finit_module),
        always("delete_module", libc::SYS_delete_module),
        always("kexec_load", libc::SYS_kexec_load),
        always("kexec_file_load", libc::SYS_kexec_file_load),
        // Typing into the controlling terminal of the host (a classic sandbox escape).
        DenyRule {
            name: "ioctl",
            nr: libc::SYS_ioctl,
            when: When::ArgEq {
                arg: 1,
                value: TIOCSTI,
            },
        },
        DenyRule {
            name: "ioctl",
            nr: libc::SYS_ioctl,
            when: When::ArgEq {
                arg: 1,
                value: TIOCLINUX,
            },
        },
    ];
    // socketpair: only stream and seqpacket pairs, which stay connected to each other. Any
    // other type (SOCK_DGRAM, and SOCK_RAW which the kernel turns into SOCK_DGRAM for
    // AF_UNIX) can `sendto` or re-`connect` to any pathname datagram socket (journald,
    // syslog, a service manager's notify socket). The flag bits (SOCK_CLOEXEC,
    // SOCK_NONBLOCK) are masked off.
    for ty in 0..=SOCK_TYPE_MASK {
        if SOCKETPAIR_TYPES.iter().any(|ok| *ok as u64 == ty) {
            continue;
        }
        t.push(DenyRule {
            name: "socketpair",
            nr: libc::SYS_socketpair,
            when: When::ArgMasked {
                arg: 1,
                mask: SOCK_TYPE_MASK,
                value: ty,
            },
        });
    }
    for (_, flag) in CLONE_NAMESPACE_FLAGS {
        // clone's flags are its first argument on x86_64 and aarch64.
        t.push(DenyRule {
            name: "clone",
            nr: libc::SYS_clone,
            when: When::ArgHasBits {
                arg: 0,
                mask: flag as u64,
            },
        });
    }
    if !grants_writes {
        t.extend(metadata_calls().into_iter().map(|(n, nr)| always(n, nr)));
    }
    t
}

/// The `ENOSYS` list: `clone3`.
pub fn enosys_table() -> Vec<DenyRule> {
    vec![always("clone3", libc::SYS_clone3)]
}
