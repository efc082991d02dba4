//! `secllama run`: one completion from a sandboxed runner over the encrypted channel.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use secllama_runner::{
    CompletionRequest, DEFAULT_MODEL_SHA256, Done, GenerationParams, LoadProgress, LoadStage,
    MAX_PROMPT_BYTES, Runner, RunnerConfig, SandboxMode, StreamEvent, default_model_path,
};

use super::CliResult;
use super::exit::{Failure, Status};
use super::ui::{self, ModelText};

/// Model and runner options shared by `run` and `chat`.
#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    /// GGUF model file [default: the cached default model, SmolLM2-135M-Instruct, pinned by SHA-256]
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    /// Refuse the model unless its SHA-256 is this (64 hex digits)
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Threads for generation [default: available cores, at most 8]
    #[arg(long, value_name = "N")]
    threads: Option<u32>,
    /// Layers to offload to the GPU (the runner must have a GPU backend and find a device)
    #[arg(long, value_name = "N", default_value_t = 0)]
    gpu_layers: u32,
    /// With --gpu-layers: load on the CPU instead of failing when no GPU can be used
    #[arg(long)]
    cpu_fallback: bool,
    /// Context window in tokens (prompt + output)
    #[arg(long, value_name = "N", default_value_t = 4096)]
    context_length: u32,
    /// Run the model WITHOUT the sandbox (debugging only)
    #[arg(long)]
    no_sandbox: bool,
}

impl ModelArgs {
    /// Builds the runner configuration, with a clear error when the default model is missing.
    pub(crate) fn config(&self) -> Result<RunnerConfig, Box<dyn std::error::Error>> {
        let mut config = match &self.model {
            Some(path) => RunnerConfig::new(path)?,
            None => {
                let path = default_model_path().ok_or_else(|| {
                    Failure::new(
                        Status::Model,
                        "cannot locate the default model: neither XDG_CACHE_HOME nor HOME is set",
                    )
                })?;
                if !path.is_file() {
                    return Err(Failure::new(
                        Status::Model,
                        format!(
                            "default model not found at {}: run examples/fetch-model.sh to fetch \
                             it, or pass --model PATH",
                            path.display()
                        ),
                    )
                    .into());
                }
                RunnerConfig::new(path)?.with_sha256(DEFAULT_MODEL_SHA256)
            }
        };
        if let Some(hex) = &self.sha256 {
            config = config.with_sha256(hex.clone());
        }
        if let Some(n) = self.threads {
            config = config.with_threads(n);
        }
        config = config
            .with_gpu_layers(self.gpu_layers)
            .with_cpu_fallback(self.cpu_fallback)
            .with_context_length(self.context_length);
        if self.no_sandbox {
            config = config.with_sandbox(SandboxMode::Disabled);
        }
        if config.sandbox == SandboxMode::Disabled {
            ui::warn(
                "the model runs WITHOUT a sandbox: it can read your files and reach the network",
            );
        }
        if !config.encryption {
            ui::warn(
                "SECLLAMA_ENABLE_ENCRYPTION=false: messages to and from the model travel in clear \
                 text",
            );
        }
        Ok(config)
    }

    /// Starts the runner, drawing a progress bar on stderr when it is a terminal (or JSON
    /// progress events with `json`).
    pub(crate) fn spawn(&self, json: bool) -> Result<Runner, Box<dyn std::error::Error>> {
        let config = self.config()?;
        let tty = ui::progress_enabled();
        let mut last = None;
        let runner = Runner::spawn_with_progress(config, |p: LoadProgress| {
            if json {
                emit_json(
                    &serde_json::json!({"event": "progress", "stage": p.stage, "fraction": p.fraction}),
                );
            } else if tty {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let pct = (p.fraction.clamp(0.0, 1.0) * 100.0).round() as u32;
                if last != Some((p.stage, pct)) {
                    last = Some((p.stage, pct));
                    let label = match p.stage {
                        LoadStage::Verifying => "verifying",
                        LoadStage::Loading => "loading  ",
                    };
                    let filled = usize::try_from(pct / 4).unwrap_or(25);
                    eprint!(
                        "\r{label} [{}{}] {pct:3}%",
                        "#".repeat(filled),
                        ".".repeat(25 - filled.min(25))
                    );
                }
            }
        });
        if tty && !json && last.is_some() {
            // Blank the bar without an escape sequence (a dumb terminal shows no junk).
            eprint!("\r{:50}\r", "");
        }
        Ok(runner?)
    }
}

pub(crate) fn emit_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Prints the model, sandbox and encryption facts to stderr (or as a JSON event).
pub(crate) fn report_ready(runner: &Runner, json: bool) {
    let info = runner.model_info();
    if json {
        emit_json(&serde_json::json!({
            "event": "ready",
            "model": info,
            "encrypted": runner.is_encrypted(),
            "sandbox": runner.sandbox_report(),
            "gpu_grants": runner.gpu_grants(),
            "startup_ms": runner.startup_duration().as_millis(),
        }));
        return;
    }
    if !ui::status_enabled() {
        return;
    }
    eprintln!(
        "model: {} ({} parameters, context {}, {} threads, chat format: {})",
        info.name, info.parameters, info.context_length, info.threads, info.chat_template
    );
    eprintln!(
        "device: {} on {}, {} layers offloaded (runner backends: {})",
        info.device,
        info.backend,
        info.gpu_layers,
        info.backends.join(", ")
    );
    eprintln!(
        "channel: {}",
        if runner.is_encrypted() {
            "AES-256-GCM sealed frames"
        } else {
            "CLEAR TEXT (encryption disabled)"
        }
    );
    match runner.sandbox_report() {
        Some(report) => eprintln!("sandbox:\n{report}"),
        None => eprintln!("sandbox: DISABLED"),
    }
    for grant in runner.gpu_grants() {
        eprintln!("  GPU grant: {grant}");
    }
}

/// Prints a `Done` as metrics lines on stderr (or as a JSON event).
pub(crate) fn report_done(done: &Done, ttft: Option<std::time::Duration>, json: bool) {
    let m = &done.metrics;
    if json {
        emit_json(&serde_json::json!({
            "event": "done",
            "reason": done.reason,
            "metrics": m,
            "prompt_tokens_per_second": m.prompt_tokens_per_second(),
            "eval_tokens_per_second": m.eval_tokens_per_second(),
            "time_to_first_token_ms": ttft.map(|d| d.as_secs_f64() * 1e3),
        }));
        return;
    }
    if !ui::status_enabled() {
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let ms = |ns: u64| ns as f64 / 1e6;
    eprintln!("stop reason:          {}", done.reason);
    eprintln!(
        "prompt eval:          {} tokens in {:.1} ms ({:.1} tokens/s)",
        m.prompt_eval_count,
        ms(m.prompt_eval_duration),
        m.prompt_tokens_per_second()
    );
    eprintln!(
        "generation:           {} tokens in {:.1} ms ({:.1} tokens/s)",
        m.eval_count,
        ms(m.eval_duration),
        m.eval_tokens_per_second()
    );
    if let Some(t) = ttft {
        eprintln!("time to first token:  {:.1} ms", t.as_secs_f64() * 1e3);
    }
    eprintln!("model load:           {:.1} ms", ms(m.load_duration));
}

/// Run one completion in the sandboxed runner and stream it to stdout.
///
/// The model continues the prompt as raw text (no chat template). The default model is
/// instruction-tuned: to ask it a question, use `secllama chat`, which applies its template.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  secllama run --prompt 'The capital of France is' --max-tokens 16"
)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt [default: read from stdin]
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,
    /// The most tokens to generate
    #[arg(long, value_name = "N", default_value_t = 128)]
    max_tokens: u32,
    /// Sampling temperature; 0 is greedy (deterministic)
    #[arg(long, value_name = "F", default_value_t = 0.8)]
    temperature: f32,
    /// Sampler seed
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u32,
    /// One JSON object per event on stdout (progress, ready, token, done)
    #[arg(long, conflicts_with = "raw")]
    json: bool,
    /// Print the model's text byte for byte even on a terminal (by default a terminal gets
    /// it with control and escape sequences shown as visible symbols, e.g. ESC as ␛)
    #[arg(long)]
    raw: bool,
}

impl RunArgs {
    pub(crate) fn exec(self) -> CliResult {
        let prompt = match self.prompt {
            Some(p) => p,
            None => {
                let mut buf = String::new();
                std::io::stdin()
                    .lock()
                    .take(u64::try_from(MAX_PROMPT_BYTES + 1).unwrap_or(u64::MAX))
                    .read_to_string(&mut buf)
                    .map_err(|e| {
                        Failure::input(format!("reading the prompt from stdin failed: {e}"))
                    })?;
                buf
            }
        };
        if prompt.trim().is_empty() {
            return Err(Failure::new(
                Status::Usage,
                "no prompt: pass --prompt TEXT or pipe it on stdin",
            )
            .into());
        }
        let params = GenerationParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            seed: self.seed,
            ..GenerationParams::default()
        };
        let runner = self.model.spawn(self.json)?;
        report_ready(&runner, self.json);
        let mut stream = runner.complete(CompletionRequest::new(prompt).with_params(params))?;
        let mut text = ModelText::new(self.raw);
        let mut done = None;
        let mut failed = None;
        for event in stream.by_ref() {
            match event {
                Ok(StreamEvent::Piece(piece)) if self.json => {
                    emit_json(&serde_json::json!({"event": "token", "text": piece}));
                }
                Ok(StreamEvent::Piece(piece)) => text.piece(&piece)?,
                Ok(StreamEvent::Done(d)) => done = Some(d),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let ttft = stream.time_to_first_piece();
        drop(stream);
        if !self.json {
            text.end()?;
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        let done = done.ok_or_else(|| {
            Failure::new(
                Status::Runner,
                "the runner ended the stream without a result",
            )
        })?;
        report_done(&done, ttft, self.json);
        if done.metrics.eval_count == 0 && !self.json && ui::status_enabled() {
            eprintln!(
                "note: the model ended without text. `run` continues raw text; to ask an \
                 instruction-tuned model (such as the default) a question, use `secllama chat`"
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
