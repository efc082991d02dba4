//! Ollama's API: `/api/*`. Field names, types and units as Ollama's published API docs
//! (durations in nanoseconds, NDJSON streams, `{"error": "..."}` errors).

use std::time::{Duration, Instant, SystemTime};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secllama_runner::{ChatMessage, ChatRequest, CompletionRequest, Done, StopReason};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{AuditHandle, update};
use crate::body::{JsonBody, collect, first_event, stream};
use crate::config::parse_keep_alive;
use crate::error::{ApiError, Dialect};
use crate::params::{Options, context_length};
use crate::pool::{Event, Work};
use crate::registry::ModelEntry;
use crate::server::AppRef;
use crate::time::rfc3339;

/// The Ollama API version this server answers to clients that check it.
pub(crate) const OLLAMA_API_VERSION: &str = "0.12.0";

pub(crate) async fn version() -> Response {
    axum::Json(json!({ "version": OLLAMA_API_VERSION })).into_response()
}

pub(crate) async fn not_here() -> ApiError {
    ApiError::bad_request(
        "this server does not download or build models: add a local GGUF file with \
         `secllama model add PATH --name NAME`",
    )
}

/// Finds `name` in the registry (blocking file I/O off the executor).
pub(crate) async fn find_model(app: &AppRef, name: &str) -> Result<ModelEntry, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let registry = app.registry.clone();
    let owned = name.to_owned();
    let found = tokio::task::spawn_blocking(move || registry.find(&owned))
        .await
        .map_err(|_| ApiError::internal("the registry lookup failed"))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "model {name:?} not found; see /api/tags, or add it with `secllama model add`"
        ))
    })
}

pub(crate) fn done_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens | StopReason::ContextFull => "length",
        StopReason::EndOfText | StopReason::StopString | StopReason::Cancelled => "stop",
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The final fields of a generate or chat answer.
fn final_fields(out: &mut Value, done: &Done, load: Duration, started: Instant) {
    let m = &done.metrics;
    out["done"] = json!(true);
    out["done_reason"] = json!(done_reason(done.reason));
    out["total_duration"] = json!(nanos(started.elapsed()));
    out["load_duration"] = json!(nanos(load));
    out["prompt_eval_count"] = json!(m.prompt_eval_count);
    out["prompt_eval_duration"] = json!(m.prompt_eval_duration);
    out["eval_count"] = json!(m.eval_count);
    out["eval_duration"] = json!(m.eval_duration);
}

fn ndjson(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

fn json_response(v: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

pub(crate) fn keep_alive(v: Option<&Value>) -> Result<Option<Option<Duration>>, ApiError> {
    v.map(parse_keep_alive)
        .transpose()
        .map_err(ApiError::bad_request)
}

#[derive(Debug, Deserialize)]
pub(crate) struct GenerateRequest {
    model: String,
    #[serde(default)]
    prompt: String,
    suffix: Option<String>,
    system: Option<String>,
    template: Option<String>,
    #[serde(default)]
    raw: bool,
    stream: Option<bool>,
    #[serde(default)]
    options: Options,
    keep_alive: Option<Value>,
    images: Option<Vec<String>>,
    format: Option<Value>,
    context: Option<Vec<i64>>,
    think: Option<Value>,
}

/// Fields this server cannot honour are refused, not silently ignored.
fn unsupported(what: &str) -> ApiError {
    ApiError::bad_request(format!("{what} is not supported by this server"))
}

fn no_images(images: Option<&Vec<String>>) -> Result<(), ApiError> {
    if images.is_some_and(|i| !i.is_empty()) {
        return Err(ApiError::bad_request(
            "images are not supported: the model has no vision",
        ));
    }
    Ok(())
}

fn no_format(format: Option<&Value>) -> Result<(), ApiError> {
    match format {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(_) => Err(unsupported("format (structured output)")),
    }
}

/// What a request resolved to: the model, the work, and how to answer.
struct Prepared {
    entry: ModelEntry,
    work: Work,
    context_length: u32,
    keep_alive: Option<Option<Duration>>,
}

pub(crate) async fn generate(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<GenerateRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported("suffix (fill-in-the-middle)"));
    }
    if req.template.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported(
            "template; send raw: true with the formatted prompt",
        ));
    }
    if req.context.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err(unsupported("context; use /api/chat for conversations"));
    }
    if req
        .think
        .as_ref()
        .is_some_and(|t| t != &Value::Bool(false) && !t.is_null())
    {
        return Err(unsupported("think"));
    }
    no_images(req.images.as_ref())?;
    no_format(req.format.as_ref())?;
    let entry = find_model(&app, &req.model).await?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;
    let ctx = context_length(
        req.options.num_ctx,
        app.config.context_length,
        app.config.parallel,
    )?;
    let params = req.options.to_params(ctx)?;
    let work = if req.prompt.is_empty() {
        if keep_alive == Some(Some(Duration::ZERO)) {
            app.pool.unload(&entry.name);
            return Ok(json_response(&json!({
                "model": entry.name, "created_at": rfc3339(SystemTime::now()),
                "response": "", "done": true, "done_reason": "unload",
            })));
        }
        Work::Load
    } else if req.raw {
        Work::Complete(
            CompletionRequest::new(req.prompt)
                .with_params(params)
                .with_num_keep(req.options.num_keep()),
        )
    } else {
        let mut messages = Vec::new();
        if let Some(system) = req.system.filter(|s| !s.is_empty()) {
            messages.push(ChatMessage::system(system));
        }
        messages.push(ChatMessage::user(req.prompt));
        Work::Chat(
            ChatRequest::new(messages)
                .with_params(params)
                .with_num_keep(req.options.num_keep()),
        )
    };
    let prepared = Prepared {
        entry,
        work,
        context_length: ctx,
        keep_alive,
    };
    run(
        app,
        audit,
        prepared,
        req.stream.unwrap_or(true),
        started,
        Shape::Generate,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequestBody {
    model: String,
    #[serde(default)]
    messages: Vec<MessageBody>,
    tools: Option<Vec<Value>>,
    format: Option<Value>,
    #[serde(default)]
    options: Options,
    stream: Option<bool>,
    keep_alive: Option<Value>,
    think: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessageBody {
    role: String,
    #[serde(default)]
    content: String,
    images: Option<Vec<String>>,
    tool_calls: Option<Vec<Value>>,
}

pub(crate) fn check_role(role: &str) -> Result<(), ApiError> {
    match role {
        "system" | "user" | "assistant" => Ok(()),
        other => Err(ApiError::bad_request(format!(
            "message role {other:?} is not supported (system, user, assistant)"
        ))),
    }
}

pub(crate) async fn chat(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<ChatRequestBody>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(unsupported("tools"));
    }
    if req
        .think
        .as_ref()
        .is_some_and(|t| t != &Value::Bool(false) && !t.is_null())
    {
        return Err(unsupported("think"));
    }
    no_format(req.format.as_ref())?;
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in req.messages {
        check_role(&m.role)?;
        no_images(m.images.as_ref())?;
        if m.tool_calls.is_some_and(|t| !t.is_empty()) {
            return Err(unsupported("tool_calls"));
        }
        messages.push(ChatMessage::new(m.role, m.content));
    }
    let entry = find_model(&app, &req.model).await?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;
    let ctx = context_length(
        req.options.num_ctx,
        app.config.context_length,
        app.config.parallel,
    )?;
    let params = req.options.to_params(ctx)?;
    let work = if messages.is_empty() {
        if keep_alive == Some(Some(Duration::ZERO)) {
            app.pool.unload(&entry.name);
            return Ok(json_response(&json!({
                "model": entry.name, "created_at": rfc3339(SystemTime::now()),
                "message": {"role": "assistant", "content": ""},
                "done": true, "done_reason": "unload",
            })));
        }
        Work::Load
    } else {
        Work::Chat(
            ChatRequest::new(messages)
                .with_params(params)
                .with_num_keep(req.options.num_keep()),
        )
    };
    let prepared = Prepared {
        entry,
        work,
        context_length: ctx,
        keep_alive,
    };
    run(
        app,
        audit,
        prepared,
        req.stream.unwrap_or(true),
        started,
        Shape::Chat,
    )
    .await
}

#[derive(Clone, Copy)]
enum Shape {
    Generate,
    Chat,
}

impl Shape {
    fn chunk(self, model: &str, text: &str) -> Value {
        let mut v = json!({ "model": model, "created_at": rfc3339(SystemTime::now()) });
        match self {
            Shape::Generate => v["response"] = json!(text),
            Shape::Chat => v["message"] = json!({ "role": "assistant", "content": text }),
        }
        v["done"] = json!(false);
        v
    }
}

async fn run(
    app: AppRef,
    audit: AuditHandle,
    p: Prepared,
    streamed: bool,
    started: Instant,
    shape: Shape,
) -> Result<Response, ApiError> {
    let model = p.entry.name.clone();
    let (ticket, mut rx) = app
        .pool
        .submit(&p.entry, p.work, p.context_length, p.keep_alive)?;
    let first = first_event(&mut rx, Dialect::Ollama).await?;
    if let Event::Loaded(load) = first {
        let mut v = shape.chunk(&model, "");
        v["done"] = json!(true);
        v["done_reason"] = json!("load");
        v["load_duration"] = json!(nanos(load));
        return Ok(json_response(&v));
    }
    if !streamed {
        let (text, done, load) = collect(first, &mut rx, Dialect::Ollama).await?;
        drop(ticket);
        update(&audit, |a| {
            a.prompt_tokens = Some(done.metrics.prompt_eval_count);
            a.eval_tokens = Some(done.metrics.eval_count);
            a.completed = Some(true);
        });
        let mut v = shape.chunk(&model, &text);
        final_fields(&mut v, &done, load, started);
        return Ok(json_response(&v));
    }
    update(&audit, |a| a.completed = Some(false));
    let body: Body = stream(first, rx, ticket, move |ev| match ev {
        Event::Piece(text) => ndjson(&shape.chunk(&model, &text)),
        Event::Done(done, load) => {
            update(&audit, |a| {
                a.prompt_tokens = Some(done.metrics.prompt_eval_count);
                a.eval_tokens = Some(done.metrics.eval_count);
                a.completed = Some(true);
            });
            let mut v = shape.chunk(&model, "");
            final_fields(&mut v, &done, load, started);
            ndjson(&v)
        }
        Event::Failed(e) => ndjson(&json!({ "error": e.message })),
        Event::Loaded(_) | Event::Embedded(..) => Bytes::new(),
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

// ---- models ----

#[derive(Debug, Deserialize)]
pub(crate) struct ModelRef {
    model: Option<String>,
    name: Option<String>,
}

impl ModelRef {
    fn get(&self) -> Result<&str, ApiError> {
        self.model
            .as_deref()
            .or(self.name.as_deref())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad_request("model is required"))
    }
}

pub(crate) async fn details(app: &AppRef, entry: &ModelEntry) -> Option<crate::gguf::GgufDetails> {
    app.details(entry).await
}

fn details_json(d: Option<&crate::gguf::GgufDetails>) -> Value {
    let family = d.map(|d| d.architecture.clone()).unwrap_or_default();
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": if family.is_empty() { json!(null) } else { json!([family]) },
        "parameter_size": d.map(crate::gguf::GgufDetails::parameter_size).unwrap_or_default(),
        "quantization_level": d.map(|d| d.quantization.clone()).unwrap_or_default(),
    })
}

fn modified_at(entry: &ModelEntry) -> String {
    rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(entry.added))
}

pub(crate) async fn tags(State(app): State<AppRef>) -> Result<Response, ApiError> {
    let registry = app.registry.clone();
    let entries = tokio::task::spawn_blocking(move || registry.list())
        .await
        .map_err(|_| ApiError::internal("the registry lookup failed"))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut models = Vec::new();
    for e in &entries {
        let d = details(&app, e).await;
        models.push(json!({
            "name": e.name, "model": e.name, "modified_at": modified_at(e),
            "size": e.size, "digest": e.sha256, "details": details_json(d.as_ref()),
        }));
    }
    Ok(json_response(&json!({ "models": models })))
}

pub(crate) async fn show(
    State(app): State<AppRef>,
    JsonBody(req): JsonBody<ModelRef>,
) -> Result<Response, ApiError> {
    let entry = find_model(&app, req.get()?).await?;
    let d = details(&app, &entry).await;
    let template = d
        .as_ref()
        .and_then(|d| d.chat_template.clone())
        .unwrap_or_default();
    let mut info = serde_json::Map::new();
    if let Some(d) = &d {
        for (k, v) in &d.scalars {
            info.insert(k.clone(), v.clone());
        }
    }
    Ok(json_response(&json!({
        "modelfile": format!("# SecLlama model {}\nFROM {}\n", entry.name, entry.path.display()),
        "parameters": "",
        "template": template,
        "details": details_json(d.as_ref()),
        "model_info": info,
        "capabilities": ["completion"],
        "modified_at": modified_at(&entry),
        "digest": entry.sha256,
        "size": entry.size,
    })))
}

pub(crate) async fn ps(State(app): State<AppRef>) -> Response {
    let mut models = Vec::new();
    for m in app.pool.loaded() {
        let d = details(&app, &m.entry).await;
        models.push(json!({
            "name": m.entry.name,
            "model": m.entry.name,
            "size": m.entry.size,
            "digest": m.entry.sha256,
            "details": details_json(d.as_ref()),
            "expires_at": m.expires_at.map_or_else(
                || "2318-01-01T00:00:00.000000000Z".to_owned(), rfc3339),
            "size_vram": 0,
            "context_length": m.info.as_ref().map(|i| i.context_length),
            "secllama": {
                "pid": m.pid,
                "sandbox": match m.sandbox_enforced {
                    Some(true) => "enforced",
                    Some(false) => "degraded",
                    None => "disabled",
                },
                "encrypted": m.encrypted,
                "queued": m.queued,
                "running": m.running,
                "rss_bytes": m.pid.and_then(crate::metrics::rss_bytes),
                // Where the model runs, as the runner reported it when it loaded.
                "backend": m.info.as_ref().map(|i| i.backend.as_str()),
                "device": m.info.as_ref().map(|i| i.device.as_str()),
                "gpu_layers": m.info.as_ref().map(|i| i.gpu_layers),
            },
        }));
    }
    json_response(&json!({ "models": models }))
}

pub(crate) async fn delete(
    State(app): State<AppRef>,
    JsonBody(req): JsonBody<ModelRef>,
) -> Result<Response, ApiError> {
    let name = req.get()?.to_owned();
    let registry = app.registry.clone();
    let n = name.clone();
    let removed = tokio::task::spawn_blocking(move || registry.remove(&n))
        .await
        .map_err(|_| ApiError::internal("the registry update failed"))?
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !removed {
        return Err(ApiError::not_found(format!("model {name:?} not found")));
    }
    if let Ok(n) = crate::registry::normalize_name(&name) {
        app.pool.unload(&n);
    }
    Ok(StatusCode::OK.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct CopyRequest {
    source: String,
    destination: String,
}

pub(crate) async fn copy(
    State(app): State<AppRef>,
    JsonBody(req): JsonBody<CopyRequest>,
) -> Result<Response, ApiError> {
    let registry = app.registry.clone();
    let (s, d) = (req.source.clone(), req.destination.clone());
    let copied = tokio::task::spawn_blocking(move || registry.copy(&s, &d))
        .await
        .map_err(|_| ApiError::internal("the registry update failed"))?
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if !copied {
        return Err(ApiError::not_found(format!(
            "model {:?} not found",
            req.source
        )));
    }
    Ok(StatusCode::OK.into_response())
}
