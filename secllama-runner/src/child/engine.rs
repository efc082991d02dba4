//! Loading the model into llama.cpp, reporting `Ready`, and the request loop.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use llama_cpp_2::LlamaBackendDeviceType;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use super::cpu::cpu_check;
use super::generate::{Scheduler, nanos};
use super::model::{fail, open_and_verify};
use super::placement::{Device, choose, compiled_backends};
use super::session::{Fatal, Inbound};
use super::template::{ChatFormat, chat_format};
use crate::api::{LoadProgress, LoadStage, ModelInfo};
use crate::wire::{
    LoadRequest, MAX_NAME_BYTES, MAX_SLOTS, RunnerMessage, SharedWriter, WireErrorKind, printable,
};

/// The devices ggml registered in this process (inside the sandbox: only what it can reach).
fn backend_devices() -> Vec<Device> {
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| Device {
            index: d.index,
            gpu: matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            ),
            backend: d.backend,
            description: d.description,
        })
        .collect()
}

/// Verifies and loads the model, reports Ready, then serves requests until shutdown.
pub(crate) fn run(
    writer: &SharedWriter,
    rx: &Receiver<Inbound>,
    load: &LoadRequest,
) -> Result<(), Fatal> {
    let started = Instant::now();
    cpu_check().map_err(|msg| fail(writer, WireErrorKind::UnsupportedCpu, msg))?;
    if load.context_length < 16
        || load.batch_size == 0
        || load.threads == 0
        || !(1..=MAX_SLOTS).contains(&load.slots)
    {
        return Err(fail(
            writer,
            WireErrorKind::Protocol,
            "invalid load parameters",
        ));
    }
    let mut backend = LlamaBackend::init().map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelLoad,
            format!("llama.cpp backend: {e}"),
        )
    })?;
    backend.void_logs();

    let backends = compiled_backends();
    let placement = choose(
        load.gpu_layers,
        load.cpu_fallback,
        &backends,
        &backend_devices(),
    )
    .map_err(|msg| fail(writer, WireErrorKind::GpuUnavailable, msg))?;
    if let Some(warning) = &placement.fallback_warning {
        eprintln!("secllama-runner: WARNING: {warning}");
    }
    // Where the model can go is known before its bytes are read: a refusal is immediate.
    let (model_file, _size) = open_and_verify(writer, load)?;

    let progress_writer = writer.clone();
    let mut params = LlamaModelParams::default()
        .with_n_gpu_layers(placement.gpu_layers)
        // Read the weights into memory once instead of mapping the file: what was hashed is
        // what is used, and the file is not touched again after loading.
        .with_use_mmap(false)
        .with_progress_callback(move |fraction| {
            let _ = progress_writer.send(&RunnerMessage::Progress(LoadProgress {
                stage: LoadStage::Loading,
                fraction: fraction.clamp(0.0, 1.0),
            }));
            true
        });
    if let Some(index) = placement.device_index {
        params = params.with_devices(&[index]).map_err(|e| {
            fail(
                writer,
                WireErrorKind::GpuUnavailable,
                format!("selecting {} device {index}: {e}", placement.backend),
            )
        })?;
    }
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
        // Each slot is a sequence with its own `context_length` tokens of KV cache.
        .with_n_ctx(NonZeroU32::new(
            load.context_length.saturating_mul(load.slots),
        ))
        .with_n_seq_max(load.slots)
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
        context_length: ctx.n_ctx() / load.slots,
        training_context_length: model.n_ctx_train(),
        chat_template: match chat_format(&model) {
            ChatFormat::Model(_) => "model".into(),
            ChatFormat::Builtin(name) => format!("builtin:{name}"),
            ChatFormat::Plain => "plain".into(),
        },
        vocab_size: u32::try_from(model.n_vocab()).unwrap_or(0),
        threads: load.threads,
        // llama.cpp offloads the repeating layers and then the output layer.
        gpu_layers: placement.gpu_layers.min(model.n_layer().saturating_add(1)),
        backend: placement.backend,
        device: printable(&placement.device, MAX_NAME_BYTES),
        backends,
    };
    writer
        .send(&RunnerMessage::Ready(info))
        .map_err(|_| Fatal::Other)?;

    Scheduler::new(&model, &mut ctx, &backend, writer, rx, load, load_duration).run()
}
