//! The runner's allow-list as plain data: the only system calls a model runtime makes once it
//! is running, each with the reason it is there and, where cheap, the arguments it may take.
//!
//! Measured, not guessed: `strace -f` of the runner's whole test suite (load errors, long
//! prompts, cancel, embeddings, tokenize, JSON grammars, concurrent slots, shutdown and a
//! host that closes the pipe) and of the hostile replay runner's panic and abort paths; see
//! the sandbox README ("The runner's allow-list"). Everything else answers `EPERM`.

pub use crate::syscalls::SyscallProfile;

/// One check on a system call argument (`seccomp_data.args[arg]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The low 32 bits of `arg` equal `value` (an int argument: a flag, an option).
    Eq {
        /// Argument index.
        arg: u8,
        /// The value.
        value: u64,
    },
    /// All 64 bits of `arg` equal `value` (a pointer: `0` is NULL).
    Eq64 {
        /// Argument index.
        arg: u8,
        /// The value.
        value: u64,
    },
    /// The low 32 bits of `arg`, masked with `mask`, equal `value`.
    Masked {
        /// Argument index.
        arg: u8,
        /// The mask.
        mask: u64,
        /// The value after masking.
        value: u64,
    },
}

/// One entry of an allow-list. Several entries for one call are alternatives (any of them
/// allows it); the checks of one entry must all hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowRule {
    /// The system call's name.
    pub name: &'static str,
    /// Its number on the target architecture.
    pub nr: i64,
    /// The argument checks (empty: any arguments).
    pub checks: &'static [Check],
    /// Why a runner needs it (who calls it, on which path).
    pub reason: &'static str,
}

impl SyscallProfile {
    /// The rules of this profile.
    pub fn table(self) -> Vec<AllowRule> {
        let mut t = runner_cpu_table();
        if self == SyscallProfile::Gpu {
            t.extend(runner_gpu_table());
        }
        t
    }
}

const fn any(name: &'static str, nr: libc::c_long, reason: &'static str) -> AllowRule {
    AllowRule {
        name,
        nr,
        checks: &[],
        reason,
    }
}

const fn when(
    name: &'static str,
    nr: libc::c_long,
    checks: &'static [Check],
    reason: &'static str,
) -> AllowRule {
    AllowRule {
        name,
        nr,
        checks,
        reason,
    }
}

/// `PROT_EXEC` clear: no new executable memory on the CPU (no JIT, nothing loaded after start).
const NO_EXEC: &[Check] = &[Check::Masked {
    arg: 2,
    mask: libc::PROT_EXEC as u64,
    value: 0,
}];

/// `clone` for a thread only: `CLONE_VM | CLONE_THREAD` set (no new process; the sandbox's
/// deny list below already refuses namespace flags).
const THREAD_ONLY: &[Check] = &[Check::Masked {
    arg: 0,
    mask: (libc::CLONE_VM | libc::CLONE_THREAD) as u64,
    value: (libc::CLONE_VM | libc::CLONE_THREAD) as u64,
}];

/// `prlimit64(0, resource, NULL, old)`: reading its own limits only (glibc's `getrlimit`).
const READ_OWN_LIMIT: &[Check] = &[
    Check::Eq { arg: 0, value: 0 },
    Check::Eq64 { arg: 2, value: 0 },
];

/// `sendto(fd, buf, len, flags, NULL, 0)`: on the connected channel, no address.
const NO_ADDRESS: &[Check] = &[Check::Eq64 { arg: 4, value: 0 }];

/// The `prctl` options a runner uses after start: naming its threads.
pub const PRCTL_OPTIONS: [(&str, libc::c_int); 2] = [
    ("PR_SET_NAME", libc::PR_SET_NAME),
    ("PR_GET_NAME", libc::PR_GET_NAME),
];
const PRCTL_SET_NAME: &[Check] = &[Check::Eq {
    arg: 0,
    value: libc::PR_SET_NAME as u64,
}];
const PRCTL_GET_NAME: &[Check] = &[Check::Eq {
    arg: 0,
    value: libc::PR_GET_NAME as u64,
}];

/// The allow-list of a CPU runner, installed by the runner on itself before it reads its
/// first frame. A pure function: unit tests check it and run its compiled program.
pub fn runner_cpu_table() -> Vec<AllowRule> {
    let mut t = vec![
        // Memory.
        any("brk", libc::SYS_brk, "malloc's main arena"),
        when(
            "mmap",
            libc::SYS_mmap,
            NO_EXEC,
            "malloc's large blocks and arenas, thread stacks, llama.cpp's model and KV buffers; never executable",
        ),
        when(
            "mprotect",
            libc::SYS_mprotect,
            NO_EXEC,
            "thread stack guard pages and malloc arena growth; never executable",
        ),
        any(
            "munmap",
            libc::SYS_munmap,
            "freeing what mmap mapped; thread stacks at exit",
        ),
        any(
            "mremap",
            libc::SYS_mremap,
            "realloc of an mmap'd block (token and logit vectors)",
        ),
        any(
            "madvise",
            libc::SYS_madvise,
            "glibc returns freed memory and dead thread stacks (MADV_DONTNEED)",
        ),
        // Threads: ggml's thread pool, the reader thread, the host-closed-pipe path.
        when(
            "clone",
            libc::SYS_clone,
            THREAD_ONLY,
            "pthread_create (threads only, no processes)",
        ),
        any(
            "clone3",
            libc::SYS_clone3,
            "passed on to the filter installed just before this one, which answers ENOSYS: its flags are out of a filter's reach, so libc falls back to clone",
        ),
        any(
            "set_robust_list",
            libc::SYS_set_robust_list,
            "every new thread (glibc)",
        ),
        any(
            "rseq",
            libc::SYS_rseq,
            "every new thread registers restartable sequences (glibc)",
        ),
        any(
            "futex",
            libc::SYS_futex,
            "mutexes, condition variables, channels, thread joins",
        ),
        any(
            "sched_yield",
            libc::SYS_sched_yield,
            "ggml's thread pool while it waits for work",
        ),
        any(
            "sched_getaffinity",
            libc::SYS_sched_getaffinity,
            "the number of usable cores (std::thread::available_parallelism, ggml)",
        ),
        any("gettid", libc::SYS_gettid, "thread ids (glibc, abort)"),
        any(
            "getpid",
            libc::SYS_getpid,
            "abort() signals its own process",
        ),
        any("exit", libc::SYS_exit, "a thread ends"),
        any("exit_group", libc::SYS_exit_group, "the process ends"),
        when(
            "prctl",
            libc::SYS_prctl,
            PRCTL_SET_NAME,
            "naming a thread (std::thread::Builder::name)",
        ),
        when(
            "prctl",
            libc::SYS_prctl,
            PRCTL_GET_NAME,
            "reading a thread's name",
        ),
        // Signals: Rust's stack-overflow handler (per-thread alternate stack), abort.
        any(
            "rt_sigaction",
            libc::SYS_rt_sigaction,
            "abort() resets SIGABRT; std installs its overflow handler",
        ),
        any(
            "rt_sigprocmask",
            libc::SYS_rt_sigprocmask,
            "pthread_create and abort() mask signals",
        ),
        any(
            "rt_sigreturn",
            libc::SYS_rt_sigreturn,
            "returning from any signal handler",
        ),
        any(
            "sigaltstack",
            libc::SYS_sigaltstack,
            "each Rust thread's stack-overflow handler stack",
        ),
        any(
            "tgkill",
            libc::SYS_tgkill,
            "abort() raises SIGABRT on itself (its PID namespace holds only its init, which Landlock's signal scope shields)",
        ),
        any(
            "restart_syscall",
            libc::SYS_restart_syscall,
            "the kernel restarts an interrupted sleep",
        ),
        // Time.
        any(
            "clock_gettime",
            libc::SYS_clock_gettime,
            "timings (normally the vDSO; the syscall is its fallback)",
        ),
        any(
            "clock_getres",
            libc::SYS_clock_getres,
            "timer resolution (vDSO fallback)",
        ),
        any(
            "gettimeofday",
            libc::SYS_gettimeofday,
            "wall-clock time (vDSO fallback)",
        ),
        any(
            "clock_nanosleep",
            libc::SYS_clock_nanosleep,
            "thread::sleep",
        ),
        any(
            "nanosleep",
            libc::SYS_nanosleep,
            "ggml's and glibc's short sleeps",
        ),
        // Files: the model (Landlock and the mount namespace decide which).
        any("openat", libc::SYS_openat, "opening the model file"),
        any("close", libc::SYS_close, "closing descriptors"),
        any("read", libc::SYS_read, "the model file, the channel"),
        any(
            "pread64",
            libc::SYS_pread64,
            "llama.cpp reads tensors at offsets; hashing the model",
        ),
        any(
            "write",
            libc::SYS_write,
            "the channel and stderr (the host's log pipe; panic messages)",
        ),
        any("writev", libc::SYS_writev, "stderr through a line buffer"),
        any("lseek", libc::SYS_lseek, "llama.cpp's GGUF reader seeks"),
        any(
            "newfstatat",
            libc::SYS_newfstatat,
            "fstat of the model file (glibc's fstat)",
        ),
        any(
            "statx",
            libc::SYS_statx,
            "std::fs::metadata of the model file",
        ),
        any(
            "fcntl",
            libc::SYS_fcntl,
            "duplicating the channel's socket (F_DUPFD_CLOEXEC), descriptor flags",
        ),
        any(
            "faccessat",
            libc::SYS_faccessat,
            "llama.cpp checks the model file exists",
        ),
        any(
            "faccessat2",
            libc::SYS_faccessat2,
            "the same through newer glibc",
        ),
        // The channel: the inherited, connected socket (new sockets stay impossible).
        when(
            "sendto",
            libc::SYS_sendto,
            NO_ADDRESS,
            "writing frames on the connected channel (std's send)",
        ),
        any(
            "recvfrom",
            libc::SYS_recvfrom,
            "reading frames (std's recv)",
        ),
        // Odds and ends.
        any(
            "getrandom",
            libc::SYS_getrandom,
            "nonces, hash map seeds, sampler seeds",
        ),
        any("sysinfo", libc::SYS_sysinfo, "ggml reads the memory size"),
        when(
            "prlimit64",
            libc::SYS_prlimit64,
            READ_OWN_LIMIT,
            "pthread_create reads its stack limit (getrlimit)",
        ),
    ];
    // The legacy calls exist on x86_64 only; aarch64 and riscv64 have just the *at ones.
    #[cfg(target_arch = "x86_64")]
    t.extend([
        any(
            "access",
            libc::SYS_access,
            "llama.cpp checks the model file exists",
        ),
        any(
            "poll",
            libc::SYS_poll,
            "std checks its standard descriptors (and nothing else polls)",
        ),
    ]);
    t
}

/// What a GPU runner needs beyond [`runner_cpu_table`]: the drivers talk to their device nodes
/// with `ioctl`, map device memory, load their ICD libraries (executable mappings) and start
/// helper threads. Only used when the runner offloads layers (`gpu_layers > 0`).
///
/// Written from what the Vulkan loader, Mesa (lavapipe, RADV, ANV) and the NVIDIA/CUDA
/// drivers are known to call, generously; not yet measured on a GPU runner. To extend it from
/// a measurement: `strace -f -e status=failed` of a GPU runner test shows each call that
/// answered `EPERM`; add one line with its reason here.
pub fn runner_gpu_table() -> Vec<AllowRule> {
    let mut t = vec![
        any(
            "ioctl",
            libc::SYS_ioctl,
            "DRM (/dev/dri/renderD*) and NVIDIA (/dev/nvidia*) driver calls; Landlock grants ioctls only on the granted device nodes",
        ),
        any(
            "mmap",
            libc::SYS_mmap,
            "the Vulkan loader maps ICD libraries (PROT_EXEC) and device memory",
        ),
        any(
            "mprotect",
            libc::SYS_mprotect,
            "relocating the ICD libraries it loads",
        ),
        any(
            "getdents64",
            libc::SYS_getdents64,
            "the Vulkan loader lists its ICD and layer directories",
        ),
        any(
            "readlinkat",
            libc::SYS_readlinkat,
            "the loader resolves library paths",
        ),
        any(
            "getcwd",
            libc::SYS_getcwd,
            "the loader resolves relative manifest paths",
        ),
        any("uname", libc::SYS_uname, "drivers check the kernel version"),
        any(
            "getuid",
            libc::SYS_getuid,
            "the loader's secure-environment checks",
        ),
        any(
            "geteuid",
            libc::SYS_geteuid,
            "the loader's secure-environment checks",
        ),
        any(
            "getgid",
            libc::SYS_getgid,
            "the loader's secure-environment checks",
        ),
        any(
            "getegid",
            libc::SYS_getegid,
            "the loader's secure-environment checks",
        ),
        any(
            "sched_setaffinity",
            libc::SYS_sched_setaffinity,
            "driver worker threads pin themselves",
        ),
        any("dup", libc::SYS_dup, "drivers duplicate device descriptors"),
        any(
            "dup3",
            libc::SYS_dup3,
            "drivers duplicate device descriptors",
        ),
        any(
            "memfd_create",
            libc::SYS_memfd_create,
            "shared memory for device buffers (lavapipe, Mesa)",
        ),
        any("ftruncate", libc::SYS_ftruncate, "sizing a memfd"),
        any("eventfd2", libc::SYS_eventfd2, "driver fences"),
        any(
            "pipe2",
            libc::SYS_pipe2,
            "driver and loader helper threads' wake-up pipes",
        ),
        any(
            "epoll_create1",
            libc::SYS_epoll_create1,
            "driver event loops (CUDA)",
        ),
        any(
            "epoll_ctl",
            libc::SYS_epoll_ctl,
            "driver event loops (CUDA)",
        ),
        any(
            "epoll_pwait",
            libc::SYS_epoll_pwait,
            "driver event loops (CUDA)",
        ),
        any(
            "fstatfs",
            libc::SYS_fstatfs,
            "Mesa checks the file system of its shader cache and device nodes",
        ),
        any(
            "statfs",
            libc::SYS_statfs,
            "Mesa checks the file system of its shader cache",
        ),
        any(
            "flock",
            libc::SYS_flock,
            "Mesa locks its shader cache index",
        ),
        any(
            "mkdirat",
            libc::SYS_mkdirat,
            "Mesa creates its shader cache directory (where a grant allows writes)",
        ),
        any(
            "sched_getparam",
            libc::SYS_sched_getparam,
            "driver threads read their scheduling parameters",
        ),
        any(
            "sched_setscheduler",
            libc::SYS_sched_setscheduler,
            "driver threads set their scheduling policy",
        ),
        any("ppoll", libc::SYS_ppoll, "waiting on device fences"),
    ];
    #[cfg(target_arch = "x86_64")]
    t.extend([
        any(
            "readlink",
            libc::SYS_readlink,
            "the loader resolves /proc/self/exe",
        ),
        any(
            "stat",
            libc::SYS_stat,
            "the loader checks ICD manifest paths",
        ),
        any(
            "lstat",
            libc::SYS_lstat,
            "the loader checks ICD manifest paths",
        ),
    ]);
    t
}

/// The arguments' reasons must say something; this length is the least.
pub const MIN_REASON_LEN: usize = 10;
