//! `secllama sandbox check|exec`: what this machine can enforce, and running any program under
//! a sandbox policy.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Args, Subcommand};
use secllama_sandbox::{
    ResourceLimits, SandboxError, SandboxPolicy, SandboxReport, SandboxSettings, Strictness,
};

use super::CliResult;

/// Inspect the OS sandbox or run a program inside it.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  secllama sandbox check")]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Show what this machine can enforce and what a default runner policy gets, layer by layer.
    #[command(after_help = "Example:\n  secllama sandbox check --json")]
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also list what a runner asked for GPU layers is granted here (device nodes, files,
        /// selection variables), beyond the baseline.
        #[arg(long)]
        gpu: bool,
    },
    /// Run PROGRAM inside the sandbox and exit with its status (128+N if killed by signal N).
    Exec(ExecArgs),
    /// Kept for scripts of older versions, which left Windows firewall rules behind: there is
    /// nothing to remove any more (says so and succeeds).
    #[command(after_help = "Example:\n  secllama sandbox cleanup")]
    Cleanup,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example (ls may read /usr, nothing else, and has no network):\n  \
                        secllama sandbox exec --ro /usr -- /usr/bin/ls /usr"
)]
struct ExecArgs {
    /// Grant read and execute access to PATH (file or directory tree); repeatable.
    #[arg(long = "ro", value_name = "PATH")]
    read_only: Vec<PathBuf>,
    /// Grant read-write access to PATH; repeatable.
    #[arg(long = "rw", value_name = "PATH")]
    read_write: Vec<PathBuf>,
    /// Allow the device node PATH, including its ioctls (e.g. /dev/dri/renderD128); repeatable.
    #[arg(long = "dev", value_name = "PATH")]
    devices: Vec<PathBuf>,
    /// Keep environment variable NAME (PATH, LANG and LC_ALL are always kept); repeatable.
    #[arg(long = "env", value_name = "NAME")]
    env: Vec<String>,
    /// Run even when network isolation cannot be fully enforced (a warning is logged).
    #[arg(long)]
    best_effort: bool,
    /// Address-space limit in bytes.
    #[arg(long, value_name = "BYTES")]
    mem: Option<u64>,
    /// CPU-time limit in seconds.
    #[arg(long, value_name = "N")]
    cpu_seconds: Option<u64>,
    /// Process/thread limit (not applied by the kernel to uid 0).
    #[arg(long, value_name = "N")]
    processes: Option<u64>,
    /// Print the layer-by-layer report on stderr before running.
    #[arg(long)]
    report: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

impl SandboxArgs {
    pub(crate) fn exec(self) -> CliResult {
        match self.command {
            SandboxCommand::Check { json, gpu } => check(json, gpu),
            SandboxCommand::Exec(args) => run(args),
            SandboxCommand::Cleanup => cleanup(),
        }
    }
}

/// The report a default runner policy gets here, or the reason strict mode refuses it.
fn default_policy_report(strictness: Strictness) -> Result<SandboxReport, SandboxError> {
    // macOS and Windows: what Seatbelt / the AppContainer and job object could enforce here.
    if let Some(report) = secllama_sandbox::platform_sandbox_check(strictness) {
        return report;
    }
    let mut cmd = Command::new("/bin/true");
    // Configures the command only; it is never spawned.
    SandboxPolicy::new()
        .strictness(strictness)
        .apply_to(&mut cmd)
}

fn check(json: bool, gpu: bool) -> CliResult {
    let settings = SandboxSettings::from_env()?;
    let caps = secllama_sandbox::probe();
    let strict = default_policy_report(Strictness::Strict);
    let best_effort = default_policy_report(Strictness::BestEffort)?;
    let strict_error = strict.as_ref().err().map(ToString::to_string);
    let mut out = std::io::stdout().lock();
    let gpu_grants = gpu.then(secllama_runner::gpu_grants);
    if json {
        let mut v = serde_json::json!({
            "settings": settings,
            "capabilities": caps,
            "default_policy": best_effort,
            "strict_mode_error": strict_error,
            "baseline": {
                "read_only": secllama_sandbox::BASELINE_READ_ONLY,
                "read_write": secllama_sandbox::BASELINE_READ_WRITE,
                "env": secllama_sandbox::BASELINE_ENV,
            },
        });
        if let Some(grants) = &gpu_grants {
            v["gpu_grants"] = serde_json::to_value(grants)?;
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "{caps}")?;
        writeln!(out, "default runner policy:")?;
        write!(out, "{best_effort}")?;
        match strict_error {
            None => writeln!(out, "\nstrict mode: OK (network isolation fully enforced)")?,
            Some(e) => writeln!(out, "\nstrict mode: REFUSED: {e}")?,
        }
        writeln!(
            out,
            "\nbaseline every policy grants (those that exist here):"
        )?;
        writeln!(
            out,
            "  read-only:  {}",
            secllama_sandbox::BASELINE_READ_ONLY.join(" ")
        )?;
        writeln!(
            out,
            "  read-write: {}",
            secllama_sandbox::BASELINE_READ_WRITE.join(" ")
        )?;
        writeln!(
            out,
            "  env kept:   {}",
            secllama_sandbox::BASELINE_ENV.join(" ")
        )?;
        if let Some(grants) = &gpu_grants {
            print_gpu_grants(&mut out, grants)?;
        }
        if !settings.enabled {
            writeln!(
                out,
                "WARNING: SECLLAMA_ENABLE_SANDBOX=false: runners start without a sandbox"
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_gpu_grants(
    out: &mut impl std::io::Write,
    grants: &[secllama_runner::GpuGrant],
) -> std::io::Result<()> {
    writeln!(
        out,
        "\nGPU grants a runner with --gpu-layers gets here, beyond the baseline:"
    )?;
    if grants.is_empty() {
        writeln!(
            out,
            "  none (no GPU device nodes, no /etc/vulkan/icd.d manifests, no selection variables set)"
        )?;
    }
    for grant in grants {
        writeln!(out, "  {grant}")?;
    }
    writeln!(
        out,
        "  (selection variables passed when set: {})",
        secllama_runner::GPU_ENV.join(" ")
    )
}

fn run(args: ExecArgs) -> CliResult {
    let settings = SandboxSettings::from_env()?;
    let strictness = if args.best_effort {
        Strictness::BestEffort
    } else {
        settings.strictness()
    };
    let mut policy = SandboxPolicy::new()
        .strictness(strictness)
        .limits(ResourceLimits {
            address_space: args.mem,
            cpu_seconds: args.cpu_seconds,
            open_files: None,
            processes: args.processes,
        });
    for p in args.read_only {
        policy = policy.read_only(p);
    }
    for p in args.read_write {
        policy = policy.read_write(p);
    }
    for p in args.devices {
        policy = policy.device(p);
    }
    for e in args.env {
        policy = policy.allow_env(e);
    }
    let (program, rest) = args
        .command
        .split_first()
        .ok_or("no program given after --")?;
    let mut cmd = Command::new(program);
    cmd.args(rest);
    let report = policy.apply_to(&mut cmd)?;
    if args.report {
        eprint!("{report}");
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    let code = match (status.code(), signal) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };
    Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)))
}

fn cleanup() -> CliResult {
    // Windows runners used to get firewall rules; their AppContainer now goes with them.
    println!("{CLEANUP_MESSAGE}");
    Ok(ExitCode::SUCCESS)
}

/// What `sandbox cleanup` says on every OS.
const CLEANUP_MESSAGE: &str = "nothing to clean up: SecLlama leaves no firewall rules behind (a \
     Windows runner's AppContainer and its file grants are removed when it ends)";
