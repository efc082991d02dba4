//! The runner's allow-lists as data, and their compiled programs run by the BPF interpreter
//! of `tests.rs` (no kernel needed).

use std::collections::{BTreeMap, BTreeSet};

use super::allow::{AllowRule, Check, MIN_REASON_LEN};
use super::arch::{SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS};
use super::tests::run;
use super::*;

const EPERM_RET: u32 = 0x0005_0000 | libc::EPERM as u32;
const ENOSYS_RET: u32 = 0x0005_0000 | libc::ENOSYS as u32;

/// Runs the three programs the way the kernel stacks them: the most severe action wins, and
/// among errno answers the newest program's.
fn verdict(profile: SyscallProfile, nr: i64, args: [u64; 6]) -> u32 {
    let programs = runner_programs(profile).unwrap();
    let mut ret = SECCOMP_RET_ALLOW;
    for p in programs.iter().rev() {
        let r = run(p, AUDIT_ARCH, nr, args);
        if ((r & 0xffff_0000) as i32) < ((ret & 0xffff_0000) as i32) {
            ret = r;
        }
    }
    ret
}

/// Arguments that satisfy every check of `rule`.
fn satisfying(rule: &AllowRule) -> [u64; 6] {
    let mut args = [0u64; 6];
    for c in rule.checks {
        match *c {
            Check::Eq { arg, value } | Check::Eq64 { arg, value } => args[arg as usize] = value,
            Check::Masked { arg, value, .. } => args[arg as usize] |= value,
        }
    }
    args
}

/// `#define __NR_<name> <nr>` of the kernel's header for this architecture.
fn kernel_syscall_table() -> Option<BTreeMap<String, i64>> {
    let header = if cfg!(target_arch = "x86_64") {
        "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
    } else {
        return None;
    };
    let text = std::fs::read_to_string(header).ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let mut w = l.strip_prefix("#define __NR_")?.split_whitespace();
                Some((w.next()?.to_owned(), w.next()?.parse().ok()?))
            })
            .collect(),
    )
}

fn check_table(table: &[AllowRule]) {
    let mut seen = BTreeSet::new();
    let mut names: BTreeMap<i64, &str> = BTreeMap::new();
    for r in table {
        assert!(
            r.reason.len() >= MIN_REASON_LEN,
            "{}: every entry says why",
            r.name
        );
        assert!(
            seen.insert((r.nr, format!("{:?}", r.checks))),
            "{} is listed twice with the same checks",
            r.name
        );
        assert_eq!(
            *names.entry(r.nr).or_insert(r.name),
            r.name,
            "number {}",
            r.nr
        );
        assert!(r.checks.iter().all(|c| match *c {
            Check::Eq { arg, .. } | Check::Eq64 { arg, .. } | Check::Masked { arg, .. } => arg < 6,
        }));
    }
    match kernel_syscall_table() {
        Some(kernel) => {
            for r in table {
                assert_eq!(
                    kernel.get(r.name),
                    Some(&r.nr),
                    "{} in the kernel's table",
                    r.name
                );
            }
        }
        None => eprintln!("SKIPPED: the kernel header with this architecture's numbers is absent"),
    }
}

#[test]
fn every_allow_list_entry_has_a_reason_a_known_number_and_no_twin() {
    check_table(&runner_cpu_table());
    check_table(&runner_gpu_table());
    check_table(&SyscallProfile::Gpu.table());
}

#[test]
fn the_cpu_list_covers_what_a_real_completion_calls_after_start() {
    // strace -f of a sandboxed completion, minus the calls made only before the list is
    // installed (execve, arch_prctl, set_tid_address, getppid of the parent-death check).
    let names: BTreeSet<_> = runner_cpu_table().iter().map(|r| r.name).collect();
    let mut measured = vec![
        "brk",
        "clone",
        "close",
        "exit_group",
        "fcntl",
        "futex",
        "getrandom",
        "gettid",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "newfstatat",
        "openat",
        "pread64",
        "prctl",
        "prlimit64",
        "read",
        "rseq",
        "rt_sigaction",
        "rt_sigprocmask",
        "sched_getaffinity",
        "sendto",
        "set_robust_list",
        "sigaltstack",
        "statx",
        "sysinfo",
    ];
    if cfg!(target_arch = "x86_64") {
        measured.extend(["access", "poll"]);
    }
    for m in measured {
        assert!(names.contains(m), "{m} missing");
    }
}

#[test]
fn every_listed_call_passes_with_its_arguments() {
    for profile in [SyscallProfile::Cpu, SyscallProfile::Gpu] {
        for r in profile.table().into_iter().filter(|r| r.name != "clone3") {
            assert_eq!(
                verdict(profile, r.nr, satisfying(&r)),
                SECCOMP_RET_ALLOW,
                "{} ({profile:?})",
                r.name
            );
        }
    }
}

#[test]
fn everything_else_answers_eperm_on_the_cpu() {
    let cpu = SyscallProfile::Cpu;
    for nr in [
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_kill,
        libc::SYS_uname,
        libc::SYS_ioctl,
        libc::SYS_ptrace,
        libc::SYS_getdents64,
        libc::SYS_memfd_create,
        libc::SYS_sched_setaffinity,
        libc::SYS_mknodat,
        libc::SYS_unlinkat,
        libc::SYS_keyctl,
        libc::SYS_seccomp,
    ] {
        assert_eq!(verdict(cpu, nr, [0; 6]), EPERM_RET, "{nr}");
    }
    let exec = libc::PROT_READ | libc::PROT_EXEC;
    for nr in [libc::SYS_mmap, libc::SYS_mprotect] {
        assert_eq!(verdict(cpu, nr, [0, 4096, exec as u64, 0, 0, 0]), EPERM_RET);
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        assert_eq!(verdict(cpu, nr, [0, 4096, rw, 0, 0, 0]), SECCOMP_RET_ALLOW);
    }
    // fork-like clone (no CLONE_THREAD): no new process.
    assert_eq!(
        verdict(cpu, libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
        EPERM_RET
    );
    // prctl: naming threads only.
    for option in [
        libc::PR_SET_DUMPABLE,
        libc::PR_SET_NO_NEW_PRIVS,
        libc::PR_SET_SECCOMP,
    ] {
        assert_eq!(
            verdict(cpu, libc::SYS_prctl, [option as u64, 1, 0, 0, 0, 0]),
            EPERM_RET
        );
    }
    // prlimit64: reading its own limits, never setting one, never another process's.
    let stack = libc::RLIMIT_STACK as u64;
    assert_eq!(
        verdict(cpu, libc::SYS_prlimit64, [0, stack, 0, 0x1000, 0, 0]),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(
        verdict(cpu, libc::SYS_prlimit64, [0, stack, 0x1000, 0, 0, 0]),
        EPERM_RET
    );
    assert_eq!(
        verdict(cpu, libc::SYS_prlimit64, [1, stack, 0, 0x1000, 0, 0]),
        EPERM_RET
    );
    // sendto with an address.
    assert_eq!(
        verdict(cpu, libc::SYS_sendto, [3, 0x1000, 10, 0, 0x2000, 16]),
        EPERM_RET
    );
    assert_eq!(
        verdict(cpu, libc::SYS_sendto, [3, 0x1000, 10, 0, 1 << 32, 16]),
        EPERM_RET,
        "the whole 64-bit pointer is checked"
    );
}

#[test]
fn the_gpu_extension_adds_driver_calls_and_nothing_the_deny_list_holds() {
    let gpu = SyscallProfile::Gpu;
    assert_eq!(
        verdict(gpu, libc::SYS_ioctl, [3, 0xc010_6446, 0, 0, 0, 0]),
        SECCOMP_RET_ALLOW
    );
    let exec = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    assert_eq!(
        verdict(gpu, libc::SYS_mmap, [0, 4096, exec, 0, 3, 0]),
        SECCOMP_RET_ALLOW
    );
    let cpu: Vec<_> = runner_cpu_table();
    let deny: BTreeSet<_> = deny_table(false)
        .iter()
        .filter(|r| r.when == When::Always)
        .map(|r| r.nr)
        .collect();
    for r in runner_gpu_table() {
        assert!(!cpu.contains(&r), "{} is already in the CPU list", r.name);
        assert!(!deny.contains(&r.nr), "{} is on the deny list", r.name);
    }
    for nr in [
        libc::SYS_socket,
        libc::SYS_execve,
        libc::SYS_ptrace,
        libc::SYS_kill,
    ] {
        assert_eq!(verdict(gpu, nr, [0; 6]), EPERM_RET, "{nr}");
    }
}

#[test]
fn clone3_answers_enosys_and_a_foreign_architecture_kills() {
    for profile in [SyscallProfile::Cpu, SyscallProfile::Gpu] {
        assert_eq!(verdict(profile, libc::SYS_clone3, [0; 6]), ENOSYS_RET);
        let programs = runner_programs(profile).unwrap();
        assert_eq!(
            run(&programs[1], 0x4000_0003, 3, [0; 6]),
            SECCOMP_RET_KILL_PROCESS
        );
        assert_ne!(run(&programs[2], 0x4000_0003, 3, [0; 6]), SECCOMP_RET_ALLOW);
        // The allow-list passes clone3 on to the ENOSYS program installed before it.
        assert_eq!(
            run(&programs[2], AUDIT_ARCH, libc::SYS_clone3, [0; 6]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(&programs[0], AUDIT_ARCH, libc::SYS_clone3, [0; 6]),
            ENOSYS_RET
        );
    }
}
