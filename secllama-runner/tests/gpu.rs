//! GPU offload, decided by the runner binary, inside the strict sandbox.
//!
//! The CPU-only runner that cargo builds for these tests must refuse GPU layers in one line,
//! or fall back to the CPU when allowed. With `SECLLAMA_TEST_VULKAN_RUNNER` set to a runner
//! built with `--features vulkan` (`.ci/test.d/50-gpu-vulkan.sh` builds one and runs these tests on
//! Mesa's lavapipe), the model must load on the Vulkan device in the strict sandbox, produce the
//! CPU run's greedy first word, map the Vulkan driver, and fail clearly without any one of its
//! GPU grants. Without that variable the Vulkan tests skip visibly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use secllama_runner::{
    CompletionRequest, DEFAULT_MODEL_SHA256, GenerationParams, GpuGrant, Runner, RunnerConfig,
    RunnerError, SandboxMode, Strictness, gpu_grants, internal,
};

mod common;

use common::model;

fn config(model: &PathBuf, runner: impl Into<PathBuf>) -> RunnerConfig {
    RunnerConfig::new(model)
        .unwrap()
        .with_runner_path(runner)
        .with_sha256(DEFAULT_MODEL_SHA256)
        .with_context_length(512)
        .with_threads(2)
        .with_encryption(true)
        .with_sandbox(SandboxMode::Enabled(Strictness::Strict))
}

const CPU_RUNNER: &str = env!("CARGO_BIN_EXE_secllama-runner");
const PROMPT: &str = "The capital of France is";

fn first_word(runner: &mut Runner) -> String {
    let (text, _) = runner
        .complete(CompletionRequest::new(PROMPT).with_params(GenerationParams::greedy(4)))
        .unwrap()
        .collect_text()
        .unwrap();
    let word = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(!word.is_empty(), "no text generated: {text:?}");
    word
}

#[test]
fn a_cpu_only_runner_refuses_gpu_layers_in_one_line() {
    let Some(model) = model() else { return };
    let err = Runner::spawn(config(&model, CPU_RUNNER).with_gpu_layers(99)).unwrap_err();
    let RunnerError::GpuUnavailable(msg) = &err else {
        panic!("expected GpuUnavailable, got {err:?}");
    };
    assert_eq!(
        msg,
        "99 GPU layers were asked for, but this secllama-runner was built without a GPU backend \
         (build it with --features vulkan, cuda or metal, or ask for 0 GPU layers)"
    );
    assert_eq!(err.to_string(), *msg);
}

#[test]
fn the_cpu_fallback_is_taken_only_when_allowed_and_reported() {
    let Some(model) = model() else { return };
    let config = config(&model, CPU_RUNNER)
        .with_gpu_layers(99)
        .with_cpu_fallback(true);
    let mut runner = Runner::spawn(config).unwrap();
    let info = runner.model_info().clone();
    assert_eq!(info.backend, "CPU");
    assert_eq!(info.device, "CPU");
    assert_eq!(info.gpu_layers, 0);
    assert_eq!(info.backends, ["CPU"]);
    let plain = Runner::spawn(config_cpu(&model)).unwrap();
    assert_eq!(plain.model_info().backend, "CPU");
    assert_eq!(plain.model_info().gpu_layers, 0);
    assert!(plain.gpu_grants().is_empty());
    assert!(!first_word(&mut runner).is_empty());
}

fn config_cpu(model: &PathBuf) -> RunnerConfig {
    config(model, CPU_RUNNER)
}

/// The Vulkan runner under test, or `None` (skipped) when the variable is not set.
fn vulkan_runner() -> Option<PathBuf> {
    let Some(path) = std::env::var_os("SECLLAMA_TEST_VULKAN_RUNNER").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: SECLLAMA_TEST_VULKAN_RUNNER is not set (see .ci/test.d/50-gpu-vulkan.sh)"
        );
        return None;
    };
    assert!(
        std::env::var_os("GGML_VK_VISIBLE_DEVICES").is_some(),
        "set GGML_VK_VISIBLE_DEVICES=0: ggml skips CPU-type Vulkan devices such as lavapipe"
    );
    Some(path)
}

#[test]
fn vulkan_offloads_every_layer_to_lavapipe_inside_the_strict_sandbox() {
    let Some(vulkan) = vulkan_runner() else {
        return;
    };
    let Some(model) = model() else { return };
    let mut cpu = Runner::spawn(config_cpu(&model)).unwrap();
    let cpu_word = first_word(&mut cpu);
    drop(cpu);

    let mut gpu = Runner::spawn(config(&model, &vulkan).with_gpu_layers(99)).unwrap();
    let report = gpu.sandbox_report().unwrap();
    assert!(
        report.is_fully_enforced(),
        "not strictly sandboxed:\n{report}"
    );
    let info = gpu.model_info().clone();
    assert_eq!(info.backend, "Vulkan");
    assert!(
        info.device.starts_with("llvmpipe"),
        "device {:?}",
        info.device
    );
    assert_eq!(info.backends, ["CPU", "Vulkan"]);
    assert!(
        info.gpu_layers > 1,
        "only {} layers offloaded",
        info.gpu_layers
    );
    assert!(
        gpu.gpu_grants()
            .contains(&GpuGrant::Env("GGML_VK_VISIBLE_DEVICES".into())),
        "{:?}",
        gpu.gpu_grants()
    );

    let pid = gpu.pid().unwrap();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    for lib in ["libvulkan.so.1", "libvulkan_lvp.so"] {
        assert!(maps.contains(lib), "{lib} is not mapped in the runner");
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l == "Seccomp:\t2"),
        "no seccomp filter"
    );

    assert_eq!(
        first_word(&mut gpu),
        cpu_word,
        "Vulkan and CPU greedy output differ"
    );
}

#[test]
fn without_any_one_gpu_grant_the_vulkan_load_fails_clearly() {
    let Some(vulkan) = vulkan_runner() else {
        return;
    };
    let Some(model) = model() else { return };
    let grants = gpu_grants();
    assert!(!grants.is_empty(), "no GPU grants on this machine");
    for grant in grants {
        let config =
            internal::omit_gpu_grant(config(&model, &vulkan).with_gpu_layers(99), grant.clone());
        let err = Runner::spawn(config).unwrap_err();
        let RunnerError::GpuUnavailable(msg) = &err else {
            panic!("without {grant}: expected GpuUnavailable, got {err:?}");
        };
        assert!(
            msg.starts_with(
                "99 GPU layers were asked for, but this secllama-runner (Vulkan) found no usable \
                 GPU device inside its sandbox"
            ),
            "without {grant}: {msg}"
        );
    }
}

/// With `VK_DRIVER_FILES` naming a driver manifest outside the baseline (the CI part copies
/// lavapipe's manifest and library into a directory of their own), the manifest and the
/// library it names are granted, that copy of the driver is the one mapped, and without either
/// grant the load fails clearly. Skipped unless the variable is set.
#[test]
fn a_driver_named_by_vk_driver_files_outside_the_baseline_is_granted_and_needed() {
    let Some(vulkan) = vulkan_runner() else {
        return;
    };
    let Some(manifest) = std::env::var_os("VK_DRIVER_FILES").map(PathBuf::from) else {
        eprintln!("SKIPPED: VK_DRIVER_FILES is not set (see .ci/test.d/50-gpu-vulkan.sh)");
        return;
    };
    let Some(model) = model() else { return };
    let files: Vec<PathBuf> = gpu_grants()
        .into_iter()
        .filter_map(|g| match g {
            GpuGrant::ReadOnly(p) => Some(p),
            _ => None,
        })
        .collect();
    let [granted_manifest, library] = files.as_slice() else {
        panic!("expected the manifest and its library as grants, got {files:?}");
    };
    assert_eq!(*granted_manifest, manifest);
    assert_eq!(library.parent(), manifest.parent(), "{library:?}");

    let gpu = Runner::spawn(config(&model, &vulkan).with_gpu_layers(99)).unwrap();
    assert_eq!(gpu.model_info().backend, "Vulkan");
    let pid = gpu.pid().unwrap();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        maps.contains(library.to_str().unwrap()),
        "the granted driver {library:?} is not mapped in the runner"
    );
    drop(gpu);

    for grant in [granted_manifest, library] {
        let grant = GpuGrant::ReadOnly(grant.clone());
        let config =
            internal::omit_gpu_grant(config(&model, &vulkan).with_gpu_layers(99), grant.clone());
        let err = Runner::spawn(config).unwrap_err();
        let RunnerError::GpuUnavailable(msg) = &err else {
            panic!("without {grant}: expected GpuUnavailable, got {err:?}");
        };
        assert!(
            msg.starts_with(
                "99 GPU layers were asked for, but this secllama-runner (Vulkan) found no usable \
                 GPU device inside its sandbox"
            ),
            "without {grant}: {msg}"
        );
    }
}
