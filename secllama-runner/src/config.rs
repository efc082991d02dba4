//! Runner configuration, the default model, and the environment switches.

use std::path::{Path, PathBuf};

pub use secllama_sandbox::SandboxMode;
use secllama_sandbox::{SandboxSettings, parse_bool};

use crate::RunnerError;
use crate::gpu::GpuGrant;
use crate::wire::MAX_SLOTS;

/// File name of the default model: SmolLM2-135M-Instruct, Q4_1 (instruction-tuned, Apache-2.0;
/// its GGUF carries a ChatML chat template).
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Pinned SHA-256 of the default model.
pub const DEFAULT_MODEL_SHA256: &str =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Size in bytes of the default model.
pub const DEFAULT_MODEL_SIZE: u64 = 98_362_432;

/// Where `examples/fetch-model.sh` puts the default model:
/// `${XDG_CACHE_HOME:-~/.cache}/secllama/models/SmolLM2-135M-Instruct.Q4_1.gguf`. `None` when
/// neither `XDG_CACHE_HOME` nor `HOME` is set.
pub fn default_model_path() -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(
        cache
            .join("secllama")
            .join("models")
            .join(DEFAULT_MODEL_FILE),
    )
}

/// Reads `SECLLAMA_ENABLE_ENCRYPTION` (default `true`; `true/false`, `1/0`, `yes/no`,
/// `on/off`, any case). Anything else is an error, not a guess.
pub fn encryption_from_env() -> Result<bool, RunnerError> {
    match std::env::var("SECLLAMA_ENABLE_ENCRYPTION") {
        Err(std::env::VarError::NotPresent) => Ok(true),
        Err(std::env::VarError::NotUnicode(_)) => Err(RunnerError::Config(
            "SECLLAMA_ENABLE_ENCRYPTION is not valid UTF-8".into(),
        )),
        Ok(v) => parse_bool(&v).ok_or_else(|| {
            RunnerError::Config(format!(
                "SECLLAMA_ENABLE_ENCRYPTION must be true or false, not {v:?}"
            ))
        }),
    }
}

/// Checks and normalizes a SHA-256 given as 64 hex digits (either case) to lower case.
pub(crate) fn normalize_sha256(hex: &str) -> Result<String, RunnerError> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RunnerError::Config(
            "a pinned sha-256 must be 64 hexadecimal digits".into(),
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// Slots of a new [`RunnerConfig`]: four requests at a time (Ollama's default too).
pub const DEFAULT_SLOTS: u32 = 4;

/// The smallest context a slot may have, in tokens.
pub const MIN_CONTEXT_LENGTH: u32 = 16;

/// The most tokens of context a runner holds over all its slots (`context_length × slots`).
pub const MAX_TOTAL_CONTEXT: u32 = 1_048_576;

/// Everything [`Runner::spawn`](crate::Runner::spawn) needs. Build it with
/// [`RunnerConfig::new`] (values from the environment) and the `with_*` methods.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// The GGUF model file.
    pub model: PathBuf,
    /// Pinned SHA-256 (hex) of the model: the runner refuses a file that differs.
    pub sha256: Option<String>,
    /// The runner executable; `None` means `SECLLAMA_RUNNER_PATH`, then `secllama-runner`
    /// next to the current executable (or one directory up, for test binaries in `deps/`).
    pub runner_path: Option<PathBuf>,
    /// Context window in tokens (prompt + output).
    pub context_length: u32,
    /// Prompt evaluation batch size in tokens.
    pub batch_size: u32,
    /// Threads for generation; `None` uses the available cores, at most 8.
    pub threads: Option<u32>,
    /// Layers to offload to the GPU; 0 on CPU. The runner binary decides whether it can: one
    /// built without a GPU backend (cargo features `cuda`, `vulkan`, `metal`), or one that
    /// finds no usable device inside its sandbox, refuses with
    /// [`RunnerError::GpuUnavailable`] unless `cpu_fallback` is set.
    pub gpu_layers: u32,
    /// Requests the runner serves at the same time, batched in one llama.cpp context (each
    /// slot has `context_length` tokens of KV cache and keeps its prompt prefix for reuse).
    pub slots: u32,
    /// With `gpu_layers > 0`: load on the CPU (with a warning) instead of failing when the
    /// runner has no GPU backend or no usable device. Off by default: never a silent fallback.
    pub cpu_fallback: bool,
    /// Test-only: a GPU grant left out of the policy, to prove each one is needed.
    pub(crate) omit_gpu_grant: Option<GpuGrant>,
    /// Sandbox mode (`SECLLAMA_ENABLE_SANDBOX`, `SECLLAMA_STRICT_NETWORK_ISOLATION`).
    pub sandbox: SandboxMode,
    /// Seal the channel (`SECLLAMA_ENABLE_ENCRYPTION`); `false` only works when the runner's
    /// environment says `false` too.
    pub encryption: bool,
    /// Harden this process (the host, which holds the session key) when a runner is spawned:
    /// [`secllama_sandbox::harden_current_process`], i.e. not dumpable and a hard core limit
    /// of 0, so no other process of the user can trace it or make it dump. On by default.
    pub harden_host: bool,
    /// With the sandbox on (and seccomp enforced), the runner installs a system call
    /// allow-list on itself before it reads its first frame: everything a llama.cpp runner
    /// does not call answers `EPERM` (see the sandbox README, "The runner's allow-list"). On
    /// by default; the report's `seccomp allow-list` layer says whether it is in force.
    pub syscall_allow_list: bool,
}

impl RunnerConfig {
    /// A configuration for `model` with defaults and the sandbox and encryption settings
    /// from the environment: context 4096 per slot, 4 slots, batch 512, threads = cores (at most 8), CPU only.
    ///
    /// # Errors
    /// A `SECLLAMA_*` variable with a value that is not a boolean.
    pub fn new(model: impl Into<PathBuf>) -> Result<Self, RunnerError> {
        let settings = SandboxSettings::from_env()?;
        let sandbox = settings.mode();
        Ok(RunnerConfig {
            model: model.into(),
            sha256: None,
            runner_path: None,
            context_length: 4096,
            batch_size: 512,
            threads: None,
            gpu_layers: 0,
            slots: DEFAULT_SLOTS,
            cpu_fallback: false,
            omit_gpu_grant: None,
            sandbox,
            encryption: encryption_from_env()?,
            harden_host: true,
            syscall_allow_list: true,
        })
    }

    /// The default model at [`default_model_path`], pinned to [`DEFAULT_MODEL_SHA256`].
    ///
    /// # Errors
    /// No cache directory can be determined, or as [`RunnerConfig::new`].
    pub fn default_model() -> Result<Self, RunnerError> {
        let path = default_model_path()
            .ok_or_else(|| RunnerError::Config("neither XDG_CACHE_HOME nor HOME is set".into()))?;
        Ok(Self::new(path)?.with_sha256(DEFAULT_MODEL_SHA256))
    }

    /// Pins the model's SHA-256 (64 hex digits; checked in [`Runner::spawn`](crate::Runner::spawn)).
    pub fn with_sha256(mut self, hex: impl Into<String>) -> Self {
        self.sha256 = Some(hex.into());
        self
    }
    /// Sets the runner executable.
    pub fn with_runner_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runner_path = Some(path.into());
        self
    }
    /// Sets the context window.
    pub fn with_context_length(mut self, tokens: u32) -> Self {
        self.context_length = tokens;
        self
    }
    /// Sets the number of threads.
    pub fn with_threads(mut self, threads: u32) -> Self {
        self.threads = Some(threads);
        self
    }
    /// Sets the layers offloaded to the GPU.
    pub fn with_gpu_layers(mut self, layers: u32) -> Self {
        self.gpu_layers = layers;
        self
    }
    /// Sets how many requests run at the same time (1 to 64).
    pub fn with_slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }
    /// Allows (or forbids, the default) loading on the CPU when GPU layers were asked for but
    /// the runner has no GPU backend or no usable device.
    pub fn with_cpu_fallback(mut self, allowed: bool) -> Self {
        self.cpu_fallback = allowed;
        self
    }
    /// Turns the hardening of this process at spawn on (the default) or off; see
    /// [`harden_host`](Self::harden_host).
    pub fn with_host_hardening(mut self, on: bool) -> Self {
        self.harden_host = on;
        self
    }
    /// Sets the sandbox mode.
    pub fn with_sandbox(mut self, mode: SandboxMode) -> Self {
        self.sandbox = mode;
        self
    }
    /// Turns channel encryption on or off (off needs `SECLLAMA_ENABLE_ENCRYPTION=false` in
    /// the runner's environment too; the runner inherits this process's value).
    pub fn with_encryption(mut self, on: bool) -> Self {
        self.encryption = on;
        self
    }

    pub(crate) fn effective_threads(&self) -> u32 {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(8).min(8))
                .unwrap_or(4)
        })
    }

    pub(crate) fn validate(&self) -> Result<Option<String>, RunnerError> {
        if !(MIN_CONTEXT_LENGTH..=MAX_TOTAL_CONTEXT).contains(&self.context_length) {
            return Err(RunnerError::Config(format!(
                "context_length must be between {MIN_CONTEXT_LENGTH} and {MAX_TOTAL_CONTEXT} tokens"
            )));
        }
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Err(RunnerError::Config(format!(
                "slots must be between 1 and {MAX_SLOTS}"
            )));
        }
        if u64::from(self.context_length) * u64::from(self.slots) > u64::from(MAX_TOTAL_CONTEXT) {
            return Err(RunnerError::Config(format!(
                "context_length times slots must be at most {MAX_TOTAL_CONTEXT} tokens"
            )));
        }
        if !(1..=65_536).contains(&self.batch_size) {
            return Err(RunnerError::Config(
                "batch_size must be between 1 and 65536".into(),
            ));
        }
        if !(1..=512).contains(&self.effective_threads()) {
            return Err(RunnerError::Config(
                "threads must be between 1 and 512".into(),
            ));
        }
        self.sha256.as_deref().map(normalize_sha256).transpose()
    }
}

/// Finds the runner executable: explicit path, `SECLLAMA_RUNNER_PATH`, or next to the current
/// executable (also one directory up, where cargo puts binaries beside test executables).
pub(crate) fn resolve_runner_path(explicit: Option<&Path>) -> Result<PathBuf, RunnerError> {
    if let Some(p) = explicit {
        return check_runner(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SECLLAMA_RUNNER_PATH").filter(|p| !p.is_empty()) {
        return check_runner(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(RunnerError::Spawn)?;
    let name = format!("secllama-runner{}", std::env::consts::EXE_SUFFIX);
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let beside = dir.join(&name);
    if beside.is_file() {
        return Ok(beside);
    }
    if dir.file_name().is_some_and(|n| n == "deps")
        && let Some(up) = dir.parent().map(|d| d.join(&name)).filter(|p| p.is_file())
    {
        return Ok(up);
    }
    Err(RunnerError::RunnerNotFound { path: beside })
}

/// The runner executable that will be started: made absolute here, so that the file checked is
/// the file executed (`Command::new` would look a bare relative name up in `PATH`).
fn check_runner(path: PathBuf) -> Result<PathBuf, RunnerError> {
    match std::fs::canonicalize(&path) {
        Ok(abs) if abs.is_file() => Ok(abs),
        _ => Err(RunnerError::RunnerNotFound { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_hashes_must_be_64_hex_digits() {
        assert_eq!(
            normalize_sha256(&DEFAULT_MODEL_SHA256.to_ascii_uppercase()).unwrap(),
            DEFAULT_MODEL_SHA256
        );
        assert!(normalize_sha256("abc").is_err());
        assert!(normalize_sha256(&"g".repeat(64)).is_err());
    }

    #[test]
    fn an_explicit_runner_path_that_does_not_exist_is_reported_with_the_path() {
        let err = resolve_runner_path(Some(Path::new("/nonexistent/secllama-runner"))).unwrap_err();
        assert!(
            matches!(err, RunnerError::RunnerNotFound { ref path } if path == Path::new("/nonexistent/secllama-runner"))
        );
    }
}
