//! llama.cpp inside the runner process: model verification and loading, then generation.

use std::fs::File;
use std::io::Read;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use sha2::{Digest, Sha256};

use crate::child::{Fatal, Inbound, SharedWriter, channel_failed, send_error};
use crate::protocol::{
    ChatMessage, Done, GenerationParams, HostMessage, LoadProgress, LoadRequest, LoadStage,
    MAX_NAME_BYTES, Metrics, ModelInfo, RunnerMessage, StopReason, WireErrorKind, printable,
    validate_messages, validate_prompt,
};
use crate::text::TextStream;

/// The GGUF magic at the start of every model file.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn send(writer: &SharedWriter, msg: &RunnerMessage) -> Result<(), Fatal> {
    let mut w = writer.lock().map_err(|_| Fatal::Other)?;
    w.send(msg).map_err(|_| Fatal::Other)
}

fn fail(writer: &SharedWriter, kind: WireErrorKind, message: impl Into<String>) -> Fatal {
    send_error(writer, None, kind, message, None);
    Fatal::Other
}

/// Checks that this CPU has the SIMD instructions llama.cpp was compiled for (see
/// `.cargo/config.toml`); without them ggml would die with SIGILL mid-load.
pub(crate) fn cpu_check() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    {
        let on = |v: Option<&str>| matches!(v, Some("ON" | "on" | "1" | "TRUE" | "true"));
        let mut missing = Vec::new();
        if on(option_env!("GGML_AVX2")) && !std::arch::is_x86_feature_detected!("avx2") {
            missing.push("avx2");
        }
        if on(option_env!("GGML_FMA")) && !std::arch::is_x86_feature_detected!("fma") {
            missing.push("fma");
        }
        if on(option_env!("GGML_F16C")) && !std::arch::is_x86_feature_detected!("f16c") {
            missing.push("f16c");
        }
        if on(option_env!("GGML_BMI2")) && !std::arch::is_x86_feature_detected!("bmi2") {
            missing.push("bmi2");
        }
        if on(option_env!("GGML_AVX")) && !std::arch::is_x86_feature_detected!("avx") {
            missing.push("avx");
        }
        if !missing.is_empty() {
            return Err(format!(
                "this cpu lacks {} that llama.cpp was built for: rebuild with those GGML_* \
                 options set to OFF (see secllama-runner/README.md, \"llama.cpp build\")",
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// The opened, checked model file. Loading goes through `/proc/self/fd/N` so llama.cpp reads
/// exactly the inode that was hashed, whatever happens to the path meanwhile.
struct ModelFile {
    file: File,
    path: PathBuf,
    identity: (u64, u64, u64, i64, i64, i64, i64),
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

impl ModelFile {
    fn load_path(&self) -> PathBuf {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.path.clone()
        }
    }

    /// True when the file is unchanged since it was opened and hashed.
    fn unchanged(&self) -> bool {
        let by_fd = self.file.metadata().map(|m| identity(&m));
        let by_path = std::fs::metadata(&self.path).map(|m| identity(&m));
        matches!((by_fd, by_path), (Ok(a), Ok(b)) if a == self.identity && b == self.identity)
    }
}

/// Opens the model for reading without blocking: a FIFO or device swapped in for the model after
/// the host's check must not hang the runner in `open` (the `is_file` check that follows then
/// refuses it). Regular files ignore `O_NONBLOCK`.
fn open_nonblocking(path: &std::path::Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

fn open_and_verify(writer: &SharedWriter, load: &LoadRequest) -> Result<(ModelFile, u64), Fatal> {
    let path = PathBuf::from(&load.model_path);
    let mut file = open_nonblocking(&path).map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelNotFound,
            format!("the runner cannot open the model file: {e}"),
        )
    })?;
    let meta = file.metadata().map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelNotFound,
            format!("cannot stat the model file: {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(fail(
            writer,
            WireErrorKind::InvalidModel,
            "the model path is not a regular file",
        ));
    }
    let size = meta.len();
    let mut magic = [0u8; 4];
    if size < 24 || file.read_exact(&mut magic).is_err() || &magic != GGUF_MAGIC {
        return Err(fail(
            writer,
            WireErrorKind::InvalidModel,
            "the file does not start with the GGUF magic (not a GGUF model)",
        ));
    }
    if let Some(expected) = &load.sha256 {
        let mut file = File::open(format!("/proc/self/fd/{}", raw_fd(&file)))
            .or_else(|_| file.try_clone())
            .map_err(|e| {
                fail(
                    writer,
                    WireErrorKind::ModelNotFound,
                    format!("cannot reread the model: {e}"),
                )
            })?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut done: u64 = 0;
        let mut last_step = u64::MAX;
        loop {
            let n = file.read(&mut buf).map_err(|e| {
                fail(
                    writer,
                    WireErrorKind::ModelLoad,
                    format!("reading the model failed: {e}"),
                )
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            done += n as u64;
            let step = done * 20 / size.max(1);
            if step != last_step {
                last_step = step;
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let fraction = (done as f64 / size.max(1) as f64).min(1.0) as f32;
                send(
                    writer,
                    &RunnerMessage::Progress(LoadProgress {
                        stage: LoadStage::Verifying,
                        fraction,
                    }),
                )?;
            }
        }
        let actual = hex(&hasher.finalize());
        if &actual != expected {
            tracing::warn!(target: "secllama::audit", event = "model-checksum-rejected", "model sha-256 mismatch");
            send_error(writer, None, WireErrorKind::ChecksumMismatch, actual, None);
            return Err(Fatal::Other);
        }
    }
    let identity = identity(&meta);
    Ok((
        ModelFile {
            file,
            path,
            identity,
        },
        size,
    ))
}

fn raw_fd(file: &File) -> i32 {
    use std::os::fd::AsRawFd;
    file.as_raw_fd()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Verifies and loads the model, reports Ready, then serves requests until shutdown.
pub(crate) fn run(
    writer: &SharedWriter,
    rx: &Receiver<Inbound>,
    load: &LoadRequest,
) -> Result<(), Fatal> {
    let started = Instant::now();
    cpu_check().map_err(|msg| fail(writer, WireErrorKind::UnsupportedCpu, msg))?;
    if load.context_length < 16 || load.batch_size == 0 || load.threads == 0 {
        return Err(fail(
            writer,
            WireErrorKind::Protocol,
            "invalid load parameters",
        ));
    }
    let (model_file, _size) = open_and_verify(writer, load)?;

    let mut backend = LlamaBackend::init().map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelLoad,
            format!("llama.cpp backend: {e}"),
        )
    })?;
    backend.void_logs();

    let progress_writer = writer.clone();
    let params = LlamaModelParams::default()
        .with_n_gpu_layers(load.gpu_layers)
        // Read the weights into memory once instead of mapping the file: what was hashed is
        // what is used, and the file is not touched again after loading.
        .with_use_mmap(false)
        .with_progress_callback(move |fraction| {
            if let Ok(mut w) = progress_writer.lock() {
                let _ = w.send(&RunnerMessage::Progress(LoadProgress {
                    stage: LoadStage::Loading,
                    fraction: fraction.clamp(0.0, 1.0),
                }));
            }
            true
        });
    let model =
        LlamaModel::load_from_file(&backend, model_file.load_path(), &params).map_err(|e| {
            fail(
                writer,
                WireErrorKind::InvalidModel,
                format!(
                    "llama.cpp could not load it (truncated, corrupt or unsupported GGUF: {e})"
                ),
            )
        })?;
    if !model_file.unchanged() {
        return Err(fail(
            writer,
            WireErrorKind::ChecksumMismatch,
            "the model file changed while it was being verified or loaded",
        ));
    }
    drop(model_file);

    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(load.context_length))
        .with_n_batch(load.batch_size)
        .with_n_ubatch(load.batch_size)
        .with_n_threads(i32::try_from(load.threads).unwrap_or(1))
        .with_n_threads_batch(i32::try_from(load.threads).unwrap_or(1));
    let mut ctx = model.new_context(&backend, ctx_params).map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelLoad,
            format!("creating the llama.cpp context failed: {e}"),
        )
    })?;
    let load_duration = nanos(started.elapsed());

    let info = ModelInfo {
        // The file decides this text: bounded here so the ready frame always fits, and made
        // printable again by the host.
        name: printable(
            &model
                .meta_val_str("general.name")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| {
                    PathBuf::from(&load.model_path)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                }),
            MAX_NAME_BYTES,
        ),
        parameters: model.n_params(),
        size_bytes: model.size(),
        context_length: ctx.n_ctx(),
        training_context_length: model.n_ctx_train(),
        chat_template: match chat_format(&model) {
            ChatFormat::Model(_) => "model".into(),
            ChatFormat::Builtin(name) => format!("builtin:{name}"),
            ChatFormat::Plain => "plain".into(),
        },
        vocab_size: u32::try_from(model.n_vocab()).unwrap_or(0),
        threads: load.threads,
        gpu_layers: load.gpu_layers,
    };
    send(writer, &RunnerMessage::Ready(info))?;

    let mut session = Session {
        model: &model,
        ctx: &mut ctx,
        writer,
        rx,
        batch_size: load.batch_size,
        load_duration,
        shutdown: false,
    };
    loop {
        let msg = match rx.recv() {
            Ok(Inbound::Message(m)) => m,
            Ok(Inbound::Failed(e)) => return Err(channel_failed(writer, &e)),
            Err(_) => return Err(Fatal::Other),
        };
        match msg {
            HostMessage::Shutdown => return Ok(()),
            HostMessage::Cancel { .. } => {} // late cancel of a finished request
            HostMessage::Load(_) => {
                return Err(fail(
                    writer,
                    WireErrorKind::Protocol,
                    "the model is already loaded",
                ));
            }
            HostMessage::Complete { id, request } => {
                let prompt = validate_prompt(&request.prompt)
                    .and_then(|()| request.params.validate())
                    .map(|()| Prompt::Text(request.prompt));
                session.handle(id, prompt, &request.params)?;
            }
            HostMessage::Chat { id, request } => {
                let prompt = validate_messages(&request.messages)
                    .and_then(|()| request.params.validate())
                    .map(|()| Prompt::Chat(request.messages));
                session.handle(id, prompt, &request.params)?;
            }
        }
        if session.shutdown {
            return Ok(());
        }
    }
}

enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// Why one request failed (reported, then the runner serves the next one).
enum RequestError {
    Report(WireErrorKind, String, Option<(u64, u64)>),
    Fatal(Fatal),
}

impl From<Fatal> for RequestError {
    fn from(f: Fatal) -> Self {
        RequestError::Fatal(f)
    }
}

struct Session<'a, 'm> {
    model: &'m LlamaModel,
    ctx: &'a mut LlamaContext<'m>,
    writer: &'a SharedWriter,
    rx: &'a Receiver<Inbound>,
    batch_size: u32,
    load_duration: u64,
    shutdown: bool,
}

/// How chat messages become a prompt for this model.
pub(crate) enum ChatFormat {
    /// The template in the GGUF (`tokenizer.chat_template`).
    Model(LlamaChatTemplate),
    /// llama.cpp's built-in template of this name, chosen by `general.architecture`.
    Builtin(&'static str),
    /// `role: content` lines (see `fallback_chat_prompt`).
    Plain,
}

/// llama.cpp's built-in template for a model family that ships GGUFs without a template.
pub(crate) fn builtin_template_for(architecture: &str) -> Option<&'static str> {
    let arch = architecture.to_ascii_lowercase();
    let table: &[(&str, &'static str)] = &[
        ("gemma", "gemma"),
        ("llama", "llama3"),
        ("qwen", "chatml"),
        ("phi3", "phi3"),
        ("mistral", "mistral-v7"),
    ];
    table
        .iter()
        .find(|(prefix, _)| arch.starts_with(prefix))
        .map(|(_, name)| *name)
}

pub(crate) fn chat_format(model: &LlamaModel) -> ChatFormat {
    if let Ok(t) = model.chat_template(None) {
        return ChatFormat::Model(t);
    }
    model
        .meta_val_str("general.architecture")
        .ok()
        .and_then(|a| builtin_template_for(&a))
        .map_or(ChatFormat::Plain, ChatFormat::Builtin)
}

/// The fallback chat format for models without a template: one `role: content` line per
/// message, then `assistant:`.
pub(crate) fn fallback_chat_prompt(messages: &[ChatMessage]) -> String {
    let mut s = String::new();
    for m in messages {
        s.push_str(&m.role);
        s.push_str(": ");
        s.push_str(&m.content);
        s.push('\n');
    }
    s.push_str("assistant:");
    s
}

impl Session<'_, '_> {
    fn handle(
        &mut self,
        id: u64,
        prompt: Result<Prompt, String>,
        params: &GenerationParams,
    ) -> Result<(), Fatal> {
        let result = prompt
            .map_err(|m| RequestError::Report(WireErrorKind::InvalidRequest, m, None))
            .and_then(|p| self.generate(id, p, params));
        match result {
            Ok(done) => send(self.writer, &RunnerMessage::Done { id, done }),
            Err(RequestError::Report(kind, message, detail)) => {
                send_error(self.writer, Some(id), kind, message, detail);
                Ok(())
            }
            Err(RequestError::Fatal(f)) => Err(f),
        }
    }

    fn tokenize(&self, prompt: Prompt) -> Result<Vec<LlamaToken>, RequestError> {
        let vocab = self.model.vocab();
        match prompt {
            // User text: special-token spellings stay text.
            Prompt::Text(text) => Ok(vocab.tokenize(text.as_bytes(), true, false)),
            Prompt::Chat(messages) => {
                let template = match chat_format(self.model) {
                    ChatFormat::Model(t) => Some(t),
                    ChatFormat::Builtin(name) => LlamaChatTemplate::new(name).ok(),
                    ChatFormat::Plain => None,
                };
                let text = match template {
                    Some(template) => {
                        let chat = messages
                            .iter()
                            .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| {
                                RequestError::Report(
                                    WireErrorKind::InvalidRequest,
                                    e.to_string(),
                                    None,
                                )
                            })?;
                        self.model
                            .apply_chat_template(&template, &chat, true)
                            .map_err(|e| {
                                RequestError::Report(
                                    WireErrorKind::InvalidRequest,
                                    format!("the model's chat template failed: {e}"),
                                    None,
                                )
                            })?
                    }
                    None => fallback_chat_prompt(&messages),
                };
                // The template's own markers (like <start_of_turn>) are special tokens.
                Ok(vocab.tokenize(text.as_bytes(), true, true))
            }
        }
    }

    fn generate(
        &mut self,
        id: u64,
        prompt: Prompt,
        params: &GenerationParams,
    ) -> Result<Done, RequestError> {
        let t_start = Instant::now();
        let tokens = self.tokenize(prompt)?;
        let n_ctx = u64::from(self.ctx.n_ctx());
        let n_prompt = tokens.len() as u64;
        if n_prompt == 0 {
            return Err(RequestError::Report(
                WireErrorKind::InvalidRequest,
                "the prompt is empty".into(),
                None,
            ));
        }
        if n_prompt >= n_ctx {
            return Err(RequestError::Report(
                WireErrorKind::PromptTooLong,
                "prompt too long".into(),
                Some((n_prompt, n_ctx)),
            ));
        }
        let gen_err = |e: String| RequestError::Report(WireErrorKind::Generation, e, None);

        self.ctx.clear_kv_cache();
        // llama.cpp may clamp the batch to the context: use what the context really has.
        let batch_cap =
            usize::try_from(self.ctx.n_batch().min(self.batch_size).max(1)).unwrap_or(512);
        let mut batch = LlamaBatch::new(batch_cap, 1);
        let last = tokens.len() - 1;
        let t_prompt = Instant::now();
        for (chunk_no, chunk) in tokens.chunks(batch_cap).enumerate() {
            batch.clear();
            for (j, tok) in chunk.iter().enumerate() {
                let pos = chunk_no * batch_cap + j;
                let pos_i32 =
                    i32::try_from(pos).map_err(|_| gen_err("position overflow".into()))?;
                batch
                    .add(*tok, pos_i32, &[0], pos == last)
                    .map_err(|e| gen_err(e.to_string()))?;
            }
            self.ctx
                .decode(&mut batch)
                .map_err(|e| gen_err(format!("prompt decode: {e}")))?;
        }
        let prompt_eval_duration = nanos(t_prompt.elapsed());

        let model = self.model;
        let mut sampler = build_sampler(model, params);
        let vocab = model.vocab();
        let mut text = TextStream::new(params.stop.clone());
        let mut n_cur = tokens.len();
        let mut generated: u64 = 0;
        let t_eval = Instant::now();
        let reason = loop {
            if generated >= u64::from(params.max_tokens) {
                break StopReason::MaxTokens;
            }
            if n_cur as u64 >= n_ctx {
                break StopReason::ContextFull;
            }
            let token = sampler.sample(self.ctx, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                break StopReason::EndOfText;
            }
            generated += 1;
            let bytes = vocab.token_to_piece(token, false, None);
            let pushed = text.push(&bytes);
            if !pushed.text.is_empty() {
                send(
                    self.writer,
                    &RunnerMessage::Token {
                        id,
                        text: pushed.text,
                    },
                )?;
            }
            if pushed.stopped {
                break StopReason::StopString;
            }
            batch.clear();
            let pos = i32::try_from(n_cur).map_err(|_| gen_err("position overflow".into()))?;
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| gen_err(e.to_string()))?;
            n_cur += 1;
            self.ctx
                .decode(&mut batch)
                .map_err(|e| gen_err(format!("decode: {e}")))?;
            if self.cancelled(id)? {
                break StopReason::Cancelled;
            }
        };
        let rest = text.finish();
        if !rest.is_empty() && reason != StopReason::StopString {
            send(self.writer, &RunnerMessage::Token { id, text: rest })?;
        }
        let eval_duration = nanos(t_eval.elapsed());
        Ok(Done {
            reason,
            metrics: Metrics {
                prompt_eval_count: n_prompt,
                prompt_eval_duration,
                eval_count: generated,
                eval_duration,
                load_duration: self.load_duration,
                total_duration: nanos(t_start.elapsed()),
            },
        })
    }

    /// Checks, without blocking, whether the host cancelled request `id` (or asked to shut
    /// down, which cancels it too).
    fn cancelled(&mut self, id: u64) -> Result<bool, Fatal> {
        loop {
            match self.rx.try_recv() {
                Ok(Inbound::Message(HostMessage::Cancel { id: c })) if c == id => return Ok(true),
                Ok(Inbound::Message(HostMessage::Cancel { .. })) => {}
                Ok(Inbound::Message(HostMessage::Shutdown)) => {
                    self.shutdown = true;
                    return Ok(true);
                }
                Ok(Inbound::Message(_)) => {
                    return Err(fail(
                        self.writer,
                        WireErrorKind::Protocol,
                        "a request arrived while another was running",
                    ));
                }
                Ok(Inbound::Failed(e)) => return Err(channel_failed(self.writer, &e)),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => return Err(Fatal::Other),
            }
        }
    }
}

fn build_sampler(model: &LlamaModel, params: &GenerationParams) -> LlamaSampler {
    let mut chain = Vec::new();
    if (params.repeat_penalty - 1.0).abs() > f32::EPSILON {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            i32::try_from(params.repeat_last_n).unwrap_or(64),
            params.repeat_penalty,
            0.0,
            0.0,
        ));
    }
    if params.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if params.top_k > 0 {
            chain.push(LlamaSampler::top_k(
                i32::try_from(params.top_k).unwrap_or(40),
            ));
        }
        if params.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(params.top_p, 1));
        }
        if params.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(params.min_p, 1));
        }
        chain.push(LlamaSampler::temp(params.temperature));
        chain.push(LlamaSampler::dist(params.seed));
    }
    LlamaSampler::chain_simple(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_in_place_of_the_model_opens_without_blocking_and_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("model.gguf");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let opened = open_nonblocking(&path).map(|f| f.metadata().map(|m| m.is_file()));
            let _ = tx.send(opened.map_err(|e| e.kind()));
        });
        // A blocking open of a FIFO with no writer never returns; this one must.
        let opened = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("opening a FIFO as the model blocked");
        assert!(matches!(opened, Ok(Ok(false))), "{opened:?}");
        let regular = dir.path().join("regular");
        std::fs::write(&regular, b"GGUF").unwrap();
        let mut bytes = Vec::new();
        open_nonblocking(&regular)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, b"GGUF");
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn gguf_files_without_a_template_get_their_familys_builtin_one() {
        assert_eq!(builtin_template_for("gemma3"), Some("gemma"));
        assert_eq!(builtin_template_for("Qwen2"), Some("chatml"));
        assert_eq!(builtin_template_for("some-new-arch"), None);
    }

    #[test]
    fn the_fallback_chat_format_ends_with_the_assistant_turn() {
        let p = fallback_chat_prompt(&[ChatMessage::system("be brief"), ChatMessage::user("hi")]);
        assert_eq!(p, "system: be brief\nuser: hi\nassistant:");
    }
}
