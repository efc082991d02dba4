//! The architecture: seccompiler's target, `AUDIT_ARCH_*`, and the hand-written guard that
//! kills the process for a foreign architecture or an x32 system call number.

use seccompiler::{BpfProgram, TargetArch, sock_filter};

use crate::error::SandboxError;

pub(super) fn target_arch() -> Result<TargetArch, SandboxError> {
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

pub(super) const BPF_LD_W_ABS: u16 = 0x20;
pub(super) const BPF_JMP_JEQ_K: u16 = 0x15;
pub(super) const BPF_JMP_JGE_K: u16 = 0x35;
pub(super) const BPF_RET_K: u16 = 0x06;
/// `SECCOMP_RET_KILL_PROCESS`.
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ALLOW`.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

pub(super) const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
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
