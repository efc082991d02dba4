//! Which system call allow-list a runner installs on itself (Linux; see
//! [`restrict_runner_syscalls`](crate::restrict_runner_syscalls)).

/// Which allow-list a runner gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyscallProfile {
    /// llama.cpp on the CPU.
    Cpu,
    /// A GPU build offloading layers: the CPU list plus the documented GPU extension.
    Gpu,
}

impl SyscallProfile {
    /// The name on the runner's command line (`--syscalls cpu|gpu`).
    ///
    /// ```
    /// use secllama_sandbox::SyscallProfile;
    /// assert_eq!(SyscallProfile::from_name(SyscallProfile::Gpu.name()), Some(SyscallProfile::Gpu));
    /// assert_eq!(SyscallProfile::from_name("all"), None);
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            SyscallProfile::Cpu => "cpu",
            SyscallProfile::Gpu => "gpu",
        }
    }

    /// The profile of a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "cpu" => Some(SyscallProfile::Cpu),
            "gpu" => Some(SyscallProfile::Gpu),
            _ => None,
        }
    }
}
