//! Starting the runner process on its ends of the channel, behind one `cfg` seam per OS:
//! Unix ([`unix`]: `fork`/`exec` through the sandbox's `Command` hooks, Seatbelt's
//! `sandbox-exec` on macOS) and Windows ([`windows`]: the sandbox's AppContainer launcher). What
//! every OS shares is here: the sandbox policy and the GPU request it carries.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(super) use unix::{Process, start_child};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(super) use windows::{Process, start_child};

use std::path::{Path, PathBuf};

use secllama_sandbox::{
    Layer, LayerReport, LayerState, SandboxPolicy, SandboxReport, SeatbeltIpc, SeatbeltOptions,
    SyscallProfile,
};

use super::policy::runner_policy;
use crate::config::{RunnerConfig, SandboxMode};
use crate::gpu::{self, GpuGrant};
use crate::ipc::HostEnds;

/// The host's side of a started runner.
pub(super) struct Started {
    pub(super) child: Process,
    pub(super) host: HostEnds,
    pub(super) report: Option<SandboxReport>,
    pub(super) gpu_grants: Vec<GpuGrant>,
}

/// The model file as the host checked it: canonical path (the one the sandbox allows), the
/// same as UTF-8 for the load request, size.
pub(in crate::host) struct CheckedModel {
    pub(in crate::host) path: PathBuf,
    pub(in crate::host) path_str: String,
    pub(in crate::host) size: u64,
}

/// The runner's sandbox policy as configured (`None`: the sandbox is disabled, said loudly),
/// and with GPU layers what it grants for the GPU (into `gpu_grants`).
pub(super) fn sandbox_policy(
    config: &RunnerConfig,
    runner_path: &Path,
    model: &CheckedModel,
    gpu_grants: &mut Vec<GpuGrant>,
) -> Option<SandboxPolicy> {
    match config.sandbox {
        SandboxMode::Enabled(strictness) => {
            if config.gpu_layers > 0 {
                *gpu_grants = gpu::gpu_grants();
                gpu_grants.retain(|g| Some(g) != config.omit_gpu_grant.as_ref());
            }
            Some(runner_policy(
                config,
                runner_path,
                &model.path,
                model.size,
                strictness,
                gpu_grants,
            ))
        }
        SandboxMode::Disabled => {
            tracing::warn!(
                target: "secllama::audit",
                event = "sandbox-disabled",
                "the runner starts WITHOUT a sandbox: the model can read your files and reach \
                 the network"
            );
            None
        }
    }
}

/// Logs what the sandbox enforces for this runner.
pub(super) fn log_report(report: &SandboxReport) {
    tracing::info!(
        target: "secllama::audit",
        event = "runner-sandboxed",
        report = %report,
        "runner sandbox configured"
    );
}

/// Which system call allow-list a sandboxed runner installs on itself (`None`: none), recorded
/// in the report. The runner refuses to start if the kernel refuses the list, so a runner that
/// reached the handshake has it. It needs the seccomp layer, i.e. Linux.
pub(super) fn syscall_allow_list(
    config: &RunnerConfig,
    report: &mut SandboxReport,
) -> Option<SyscallProfile> {
    let (state, profile) = if !config.syscall_allow_list {
        let why = "switched off (RunnerConfig::syscall_allow_list)";
        (LayerState::Unavailable(why.into()), None)
    } else if !report
        .state(Layer::Seccomp)
        .is_some_and(|s| s.is_enforced())
    {
        let why = "needs seccomp, which is not enforced";
        (LayerState::Unavailable(why.into()), None)
    } else if config.gpu_layers > 0 {
        (LayerState::Enforced, Some(SyscallProfile::Gpu))
    } else {
        (LayerState::Enforced, Some(SyscallProfile::Cpu))
    };
    tracing::info!(
        target: "secllama::audit",
        event = "runner-syscall-allow-list",
        state = %state,
        "runner system call allow-list"
    );
    report.layers.push(LayerReport {
        layer: Layer::SeccompAllowList,
        state,
    });
    profile
}

/// The Seatbelt options of a runner (macOS): the channel is the inherited socket (so the
/// profile grants no network at all), and the Metal rules exactly when GPU layers are asked
/// for. Pure, so Linux tests check the profile a GPU runner gets.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(super) fn seatbelt_options(config: &RunnerConfig) -> SeatbeltOptions {
    SeatbeltOptions {
        ipc: SeatbeltIpc::InheritedFd,
        gpu: config.gpu_layers > 0,
    }
}

// Unix paths (the profile is macOS's; Linux and macOS run it).
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use secllama_sandbox::Strictness;
    use secllama_sandbox::internal::{
        METAL_IOKIT_CONNECTIONS, METAL_MACH_SERVICES, METAL_READ_ONLY, SeatbeltProfile,
        lint_profile,
    };

    use super::*;

    fn profile_for(gpu_layers: u32) -> SeatbeltProfile {
        let mut config = RunnerConfig::new("/models/m.gguf").unwrap();
        config.gpu_layers = gpu_layers;
        config.sandbox = SandboxMode::Enabled(Strictness::Strict);
        let runner = Path::new("/opt/secllama/secllama-runner");
        let mut grants = Vec::new();
        let model = CheckedModel {
            path: "/models/m.gguf".into(),
            path_str: "/models/m.gguf".into(),
            size: 1 << 30,
        };
        let policy = sandbox_policy(&config, runner, &model, &mut grants).unwrap();
        let options = seatbelt_options(&config);
        assert_eq!(options.ipc, SeatbeltIpc::InheritedFd);
        SeatbeltProfile::build(&policy, runner, &options.ipc, options.gpu).unwrap()
    }

    #[test]
    fn a_gpu_runner_gets_the_metal_rules_and_a_cpu_runner_does_not() {
        let gpu = profile_for(99);
        let cpu = profile_for(0);
        for p in [&gpu, &cpu] {
            lint_profile(p.text(), p.params()).unwrap();
        }
        let metal = METAL_MACH_SERVICES
            .iter()
            .chain(METAL_IOKIT_CONNECTIONS)
            .map(|s| format!("\"{s}\""));
        for needle in metal {
            assert!(gpu.text().contains(&needle), "{needle} missing for GPU");
            assert!(!cpu.text().contains(&needle), "{needle} granted on the CPU");
        }
        // The driver bundles are constants of the profile text, not parameters.
        for dir in METAL_READ_ONLY {
            let needle = format!("\"{dir}\"");
            assert!(gpu.text().contains(&needle), "{dir} missing for GPU");
            assert!(!cpu.text().contains(&needle), "{dir} granted on the CPU");
        }
    }
}
