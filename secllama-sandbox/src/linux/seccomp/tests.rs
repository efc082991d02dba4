//! The compiled filters, run by a small BPF interpreter (no kernel needed).

use seccompiler::sock_filter;

use super::arch::{SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS};
use super::table::{SOCKETPAIR_TYPES, TIOCSTI, metadata_calls};
use super::*;

/// A classic-BPF interpreter for the instructions seccomp programs use, so the compiled
/// filter can be checked without a kernel.
pub(super) fn run(prog: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
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
    deny_with(false, nr, args)
}

fn deny_with(grants_writes: bool, nr: i64, args: [u64; 6]) -> u32 {
    run(
        &compile(&deny_table(grants_writes), libc::EPERM).unwrap(),
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
    for r in deny_table(false).iter().filter(|r| r.when == When::Always) {
        assert_eq!(deny(r.nr, [0; 6]), EPERM_RET, "{}", r.name);
        assert_eq!(deny(r.nr, [u64::MAX; 6]), EPERM_RET, "{}", r.name);
    }
    let names: Vec<_> = deny_table(false).iter().map(|r| r.name).collect();
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
    let p = compile(&deny_table(false), libc::EPERM).unwrap();
    assert_ne!(
        run(&p, 0x4000_0003, libc::SYS_read, [0; 6]),
        SECCOMP_RET_ALLOW
    );
}

#[test]
fn socketpairs_are_stream_or_seqpacket_whatever_the_flags_and_raw_is_denied() {
    let unix = libc::AF_UNIX as u64;
    let flags = [
        0,
        libc::SOCK_CLOEXEC,
        libc::SOCK_NONBLOCK,
        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
    ];
    for f in flags {
        for ty in SOCKETPAIR_TYPES {
            assert_eq!(
                deny(libc::SYS_socketpair, [unix, (ty | f) as u64, 0, 0, 0, 0]),
                SECCOMP_RET_ALLOW,
                "type {ty} flags {f:#x}"
            );
        }
        // SOCK_RAW is what the red team used: the kernel makes an AF_UNIX raw pair a
        // datagram pair, which can `sendto` any pathname datagram socket.
        for ty in [
            libc::SOCK_DGRAM,
            libc::SOCK_RAW,
            libc::SOCK_RDM,
            10, // SOCK_PACKET
            0,
            15,
        ] {
            assert_eq!(
                deny(libc::SYS_socketpair, [unix, (ty | f) as u64, 0, 0, 0, 0]),
                EPERM_RET,
                "type {ty} flags {f:#x}"
            );
        }
    }
}

#[test]
fn prlimit64_works_on_the_caller_itself_only() {
    let core = libc::RLIMIT_CORE as u64;
    assert_eq!(
        deny(libc::SYS_prlimit64, [0, core, 0, 0x1000, 0, 0]),
        SECCOMP_RET_ALLOW
    );
    for pid in [1u64, 2, 4242, u64::from(u32::MAX)] {
        assert_eq!(
            deny(libc::SYS_prlimit64, [pid, core, 0x1000, 0, 0, 0]),
            EPERM_RET,
            "pid {pid}"
        );
    }
}

#[test]
fn metadata_changes_are_denied_unless_the_policy_grants_writes() {
    let calls = metadata_calls();
    let names: Vec<_> = calls.iter().map(|(n, _)| *n).collect();
    for required in [
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "fchown",
        "fchownat",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "removexattr",
        "utimensat",
    ] {
        assert!(names.contains(&required), "{required} missing");
    }
    for (name, nr) in calls {
        assert_eq!(deny_with(false, nr, [0; 6]), EPERM_RET, "{name}");
        assert_eq!(deny_with(true, nr, [0; 6]), SECCOMP_RET_ALLOW, "{name}");
    }
    // Reading metadata is not in the family.
    for nr in [libc::SYS_newfstatat, libc::SYS_getxattr, libc::SYS_statx] {
        assert_eq!(deny_with(false, nr, [0; 6]), SECCOMP_RET_ALLOW, "{nr}");
    }
    // Everything else is the same in both tables.
    let with: Vec<_> = deny_table(true);
    let without = deny_table(false);
    assert!(with.iter().all(|r| without.contains(r)));
    assert_eq!(without.len() - with.len(), metadata_calls().len());
}
