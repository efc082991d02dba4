//! The sandbox policy of a runner: what the child may touch, and nothing more.

use std::path::Path;

use secllama_sandbox::{ResourceLimits, SandboxPolicy, Strictness};

use crate::config::RunnerConfig;
use crate::gpu::{self, GpuGrant};

/// The sandbox policy for a runner: the baseline, the runner executable and the model file
/// read-only, the GPU grants when offloading, rlimits sized for the model, and the one
/// environment variable the runner reads.
pub(crate) fn runner_policy(
    config: &RunnerConfig,
    runner: &Path,
    model: &Path,
    model_size: u64,
    strictness: Strictness,
    gpu_grants: &[GpuGrant],
) -> SandboxPolicy {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    // Weights are read into memory (2x covers the read buffers and repacking), about 1 MiB
    // per context token (of every slot) covers the KV cache of models up to ~13B, plus 2 GiB for compute
    // buffers, per-thread malloc arenas and stacks. GPU drivers reserve huge virtual
    // ranges, so no address-space limit when offloading.
    let address_space = if config.gpu_layers > 0 {
        None
    } else {
        Some(
            model_size
                .saturating_mul(2)
                .saturating_add(
                    u64::from(config.context_length)
                        .saturating_mul(u64::from(config.slots))
                        .saturating_mul(MIB),
                )
                .saturating_add(2 * GIB),
        )
    };
    let mut policy = SandboxPolicy::new()
        .read_only(runner)
        .read_only(model)
        .allow_env("SECLLAMA_ENABLE_ENCRYPTION")
        .strictness(strictness)
        .limits(ResourceLimits {
            address_space,
            cpu_seconds: None,
            open_files: Some(64),
            processes: None,
        });
    if config.gpu_layers > 0 {
        policy = gpu::apply(policy, gpu_grants);
    }
    policy
}
