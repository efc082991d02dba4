//! Layer 5: the seccomp filter.
//!
//! Three BPF programs, all compiled before `fork`:
//! 1. the deny list (built with `seccompiler` from [`deny_table`]), answering `EPERM`;
//! 2. `clone3` answering `ENOSYS`: its flags live in memory a filter cannot read, so libc is
//!    told the call does not exist and falls back to `clone`, whose flags the deny list checks;
//! 3. a hand-written guard, installed last so that it runs first, killing the process for a
//!    foreign architecture (e.g. `int 0x80` i386 calls on x86_64) or an x32 system call number.
//!
//! Everything not listed is allowed: the filter removes the kernel interfaces a compromised
//! model runtime could use to reach the network, other processes, the kernel keyring or the
//! kernel's attack surface, and leaves ordinary computation alone.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, OnceLock};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use crate::error::SandboxError;

/// When a listed system call is denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// When the 32-bit argument `arg` differs from `value` (e.g. a socket family other than
    /// `AF_UNIX`).
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
/// `SOCK_CLOEXEC`).
const SOCK_TYPE_MASK: u64 = 0xf;

/// `TIOCSTI` (same number on every architecture we build for).
const TIOCSTI: u64 = 0x5412;
/// `TIOCLINUX`.
const TIOCLINUX: u64 = 0x541C;

/// The `EPERM` deny list for this architecture. A pure function: the unit tests check it and
/// run the compiled program without a kernel.
pub fn deny_table() -> Vec<DenyRule> {
    let af_unix = libc::AF_UNIX as u64;
    let mut t = vec![
        // Network. No new socket of any family, not even AF_UNIX: a fresh unix socket could
        // connect to a pathname socket (the D-Bus session bus and with it the Secret Service,
        // an SSH or GPG agent), and Landlock mediates those only from ABI 9. The runner's one
        // socket is the inherited socketpair.
        always("socket", libc::SYS_socket),
        // socketpair: AF_UNIX only, and not SOCK_DGRAM: a datagram socket from a pair can still
        // `sendto` or re-`connect` to any pathname datagram socket (journald, syslog, a
        // service manager's notify socket). Stream and seqpacket pairs stay connected to each
        // other.
        DenyRule {
            name: "socketpair",
            nr: libc::SYS_socketpair,
            when: When::ArgNe {
                arg: 0,
                value: af_unix,
            },
        },
        DenyRule {
            name: "socketpair",
            nr: libc::SYS_socketpair,
            when: When::ArgMasked {
                arg: 1,
                mask: SOCK_TYPE_MASK,
                value: libc::SOCK_DGRAM as u64,
            },
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
    t
}

/// The `ENOSYS` list: `clone3`.
pub fn enosys_table() -> Vec<DenyRule> {
    vec![always("clone3", libc::SYS_clone3)]
}

fn target_arch() -> Result<TargetArch, SandboxError> {
    #[cfg(target_arch = "x86_64")]
    {
        Ok(TargetArch::x86_64)
    }
    #[cfg(target_arch = "aarch64")]
    {
        Ok(TargetArch::aarch64)
    }
    #[cfg(target_arch = "riscv64")]
    {
        Ok(TargetArch::riscv64)
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )))]
    {
        Err(SandboxError::Seccomp(
            "this CPU architecture has no seccomp table".into(),
        ))
    }
}

/// `AUDIT_ARCH_*` of this build.
pub const AUDIT_ARCH: u32 = if cfg!(target_arch = "x86_64") {
    0xC000_003E
} else if cfg!(target_arch = "aarch64") {
    0xC000_00B7
} else {
    0xC000_00F3 // riscv64
};

/// x32 system calls on x86_64 carry this bit.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Compiles `table` into a BPF program returning `errno` on a match and allowing the rest.
pub fn compile(table: &[DenyRule], errno: i32) -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for r in table {
        let cond = |op: SeccompCmpOp, arg: u8, value: u64| {
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
                .map_err(|e| SandboxError::Seccomp(format!("{}: {e}", r.name)))
        };
        let entry = rules.entry(r.nr).or_default();
        match r.when {
            When::Always => entry.clear(),
            When::ArgNe { arg, value } => {
                entry.push(rule(vec![cond(SeccompCmpOp::Ne, arg, value)?])?)
            }
            When::ArgEq { arg, value } => {
                entry.push(rule(vec![cond(SeccompCmpOp::Eq, arg, value)?])?)
            }
            When::ArgMasked { arg, mask, value } => {
                entry.push(rule(vec![cond(SeccompCmpOp::MaskedEq(mask), arg, value)?])?)
            }
            When::ArgHasBits { arg, mask } => {
                entry.push(rule(vec![cond(SeccompCmpOp::MaskedEq(mask), arg, mask)?])?)
            }
        }
    }
    let errno = u32::try_from(errno).map_err(|_| SandboxError::Seccomp("negative errno".into()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno),
        target_arch()?,
    )
    .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, SandboxError> {
    SeccompRule::new(conditions).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The architecture guard: kill on a foreign `AUDIT_ARCH` or (x86_64) an x32 number.
pub fn arch_guard() -> BpfProgram {
    let mut p = vec![
        insn(BPF_LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        insn(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH),
        insn(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ];
    if cfg!(target_arch = "x86_64") {
        p.extend([
            insn(BPF_LD_W_ABS, 0, 0, 0), // seccomp_data.nr
            insn(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
            insn(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        ]);
    }
    p.push(insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
    p
}

/// The three compiled programs, in installation order.
pub(super) struct Prepared {
    programs: Arc<[BpfProgram; 3]>,
}

/// The programs depend on nothing but the architecture: compiled once per process.
static PROGRAMS: OnceLock<Arc<[BpfProgram; 3]>> = OnceLock::new();

impl Prepared {
    pub(super) fn new() -> Result<Self, SandboxError> {
        if let Some(programs) = PROGRAMS.get() {
            return Ok(Prepared {
                programs: Arc::clone(programs),
            });
        }
        let programs = Arc::new([
            compile(&deny_table(), libc::EPERM)?,
            compile(&enosys_table(), libc::ENOSYS)?,
            arch_guard(),
        ]);
        let _ = PROGRAMS.set(Arc::clone(&programs));
        Ok(Prepared { programs })
    }

    /// Installs the programs. `all_threads` adds `SECCOMP_FILTER_FLAG_TSYNC` (for a running
    /// process). Async-signal-safe: the `sock_fprog` is built on the stack around vectors
    /// allocated before `fork`, then one raw `seccomp` call per program.
    pub(super) fn install(&self, all_threads: bool) -> io::Result<()> {
        let flags: libc::c_ulong = if all_threads {
            libc::SECCOMP_FILTER_FLAG_TSYNC
        } else {
            0
        };
        for p in self.programs.iter() {
            let len =
                u16::try_from(p.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
            let prog = libc::sock_fprog {
                len,
                filter: p.as_ptr().cast_mut().cast::<libc::sock_filter>(),
            };
            // SAFETY: prog points at a valid BPF program of `len` instructions (seccompiler's
            // sock_filter has libc's layout) that outlives the call; the kernel copies it.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    &prog as *const libc::sock_fprog,
                )
            };
            // With TSYNC a positive return is the id of a thread that could not be synced.
            if rc != 0 {
                return Err(if rc > 0 {
                    io::Error::from_raw_os_error(libc::EBUSY)
                } else {
                    io::Error::last_os_error()
                });
            }
        }
        Ok(())
    }
}

/// Whether the kernel accepts seccomp filters.
pub(super) fn available() -> bool {
    let ret_errno: u32 = 0x0005_0000;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from a valid pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &ret_errno as *const u32,
        )
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic-BPF interpreter for the instructions seccomp programs use, so the compiled
    /// filter can be checked without a kernel.
    fn run(prog: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&i32::try_from(nr).unwrap_or(i32::MAX).to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                0x20 => {
                    let o = i.k as usize;
                    acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                0x54 => acc &= i.k,         // ALU AND K
                0x05 => pc += i.k as usize, // JA
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let t = match i.code {
                        0x15 => acc == i.k,
                        0x25 => acc > i.k,
                        0x35 => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += usize::from(if t { i.jt } else { i.jf });
                }
                0x06 => return i.k,
                c => panic!("unexpected BPF opcode {c:#x}"),
            }
        }
    }

    const EPERM_RET: u32 = 0x0005_0000 | libc::EPERM as u32;
    const ENOSYS_RET: u32 = 0x0005_0000 | libc::ENOSYS as u32;

    fn deny(nr: i64, args: [u64; 6]) -> u32 {
        run(
            &compile(&deny_table(), libc::EPERM).unwrap(),
            AUDIT_ARCH,
            nr,
            args,
        )
    }

    #[test]
    fn every_new_socket_is_denied_and_only_unix_stream_socketpairs_pass() {
        let stream_cloexec = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64;
        let dgram_cloexec = (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as u64;
        for family in [
            libc::AF_UNIX,
            libc::AF_INET,
            libc::AF_INET6,
            libc::AF_PACKET,
            libc::AF_NETLINK,
            libc::AF_VSOCK,
        ] {
            assert_eq!(
                deny(
                    libc::SYS_socket,
                    [family as u64, stream_cloexec, 0, 0, 0, 0]
                ),
                EPERM_RET
            );
        }
        for family in [libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK] {
            assert_eq!(
                deny(
                    libc::SYS_socketpair,
                    [family as u64, stream_cloexec, 0, 0, 0, 0]
                ),
                EPERM_RET
            );
        }
        let unix = libc::AF_UNIX as u64;
        assert_eq!(
            deny(libc::SYS_socketpair, [unix, stream_cloexec, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            deny(
                libc::SYS_socketpair,
                [unix, libc::SOCK_SEQPACKET as u64, 0, 0, 0, 0]
            ),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            deny(libc::SYS_socketpair, [unix, dgram_cloexec, 0, 0, 0, 0]),
            EPERM_RET
        );
    }

    #[test]
    fn clone_with_any_namespace_flag_is_denied_and_plain_threads_pass() {
        let thread_flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM) as u64;
        assert_eq!(
            deny(libc::SYS_clone, [thread_flags, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            deny(libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        for (name, flag) in CLONE_NAMESPACE_FLAGS {
            assert_eq!(
                deny(
                    libc::SYS_clone,
                    [libc::SIGCHLD as u64 | flag as u64, 0, 0, 0, 0, 0]
                ),
                EPERM_RET,
                "{name}"
            );
        }
    }

    #[test]
    fn every_unconditional_entry_is_denied_whatever_its_arguments() {
        for r in deny_table().iter().filter(|r| r.when == When::Always) {
            assert_eq!(deny(r.nr, [0; 6]), EPERM_RET, "{}", r.name);
            assert_eq!(deny(r.nr, [u64::MAX; 6]), EPERM_RET, "{}", r.name);
        }
        let names: Vec<_> = deny_table().iter().map(|r| r.name).collect();
        for required in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ] {
            assert!(names.contains(&required), "{required} missing");
        }
    }

    #[test]
    fn ordinary_calls_and_ordinary_ioctls_are_allowed() {
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_mmap,
            libc::SYS_futex,
            libc::SYS_execve,
            libc::SYS_exit_group,
            libc::SYS_kill,
        ] {
            assert_eq!(deny(nr, [0; 6]), SECCOMP_RET_ALLOW, "{nr}");
        }
        assert_eq!(
            deny(libc::SYS_ioctl, [0, libc::FIONREAD, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(deny(libc::SYS_ioctl, [0, TIOCSTI, 0, 0, 0, 0]), EPERM_RET);
    }

    #[test]
    fn clone3_answers_enosys_so_libc_falls_back_to_clone() {
        let p = compile(&enosys_table(), libc::ENOSYS).unwrap();
        assert_eq!(run(&p, AUDIT_ARCH, libc::SYS_clone3, [0; 6]), ENOSYS_RET);
        assert_eq!(
            run(&p, AUDIT_ARCH, libc::SYS_clone, [0; 6]),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn a_foreign_architecture_or_an_x32_number_kills_the_process() {
        let g = arch_guard();
        assert_eq!(
            run(&g, AUDIT_ARCH, libc::SYS_read, [0; 6]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&g, 0x4000_0003 /* AUDIT_ARCH_I386 */, 3, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                run(&g, AUDIT_ARCH, i64::from(X32_SYSCALL_BIT) + 1, [0; 6]),
                SECCOMP_RET_KILL_PROCESS
            );
        }
        // seccompiler's own program also refuses a foreign architecture.
        let p = compile(&deny_table(), libc::EPERM).unwrap();
        assert_ne!(
            run(&p, 0x4000_0003, libc::SYS_read, [0; 6]),
            SECCOMP_RET_ALLOW
        );
    }
}
