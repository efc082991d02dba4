//! OpenAI-compatible endpoints: `/v1/chat/completions`, `/v1/completions` (SSE when
//! `stream: true`), `/v1/models`. Errors are OpenAI-shaped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secllama_runner::{ChatMessage, ChatRequest, CompletionRequest, Done, GenerationParams};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{AuditHandle, update};
use crate::body::{JsonBody, collect, first_event, stream};
use crate::error::{ApiError, Dialect};
use crate::ollama::{check_role, done_reason, find_model};
use crate::pool::{Event, Work};
use crate::registry::ModelEntry;
use crate::server::AppRef;
use crate::time::unix_secs;

const DIALECT: Dialect = Dialect::OpenAi;

fn oa(e: ApiError) -> ApiError {
    e.dialect(DIALECT)
}

fn next_id(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "{prefix}-{:x}{:06x}",
        unix_secs(SystemTime::now()),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `stop`: a string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Message content: a string, or parts of which only `text` is supported.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    role: String,
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The sampling fields both endpoints share.
#[derive(Debug, Deserialize)]
pub(crate) struct Sampling {
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<Stop>,
    seed: Option<i64>,
    n: Option<u32>,
}

impl Sampling {
    fn params(&self, context_length: u32, default_max: u32) -> Result<GenerationParams, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::bad_request("only n = 1 is supported"));
        }
        let mut p = GenerationParams {
            // OpenAI's defaults: temperature 1, top_p 1, no other filters
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            ..GenerationParams::default()
        };
        p.max_tokens = self
            .max_completion_tokens
            .or(self.max_tokens)
            .unwrap_or(default_max)
            .min(context_length);
        if p.max_tokens == 0 {
            return Err(ApiError::bad_request("max_tokens must be at least 1"));
        }
        if let Some(t) = self.temperature {
            p.temperature = t;
        }
        if let Some(t) = self.top_p {
            p.top_p = t;
        }
        p.stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        let seed = self
            .seed
            .map(|s| u32::try_from(s.rem_euclid(1 << 32)).unwrap_or_default());
        let random: GenerationParams = crate::params::Options::default().to_params(1)?;
        p.seed = seed.unwrap_or(random.seed);
        crate::params::check(&p)?;
        Ok(p)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletionRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(flatten)]
    sampling: Sampling,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    tools: Option<Vec<Value>>,
    response_format: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompletionRequestBody {
    model: String,
    prompt: PromptField,
    #[serde(flatten)]
    sampling: Sampling,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    suffix: Option<String>,
    #[serde(default)]
    echo: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum PromptField {
    One(String),
    Many(Vec<String>),
}

fn message_text(content: Option<Content>) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(t)) => Ok(t),
        Some(Content::Parts(parts)) => {
            let mut out = String::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(ApiError::bad_request(format!(
                        "content parts of type {:?} are not supported: the model reads text only",
                        p.kind
                    )));
                }
                out.push_str(p.text.as_deref().unwrap_or_default());
            }
            Ok(out)
        }
    }
}

fn usage(done: &Done) -> Value {
    let m = &done.metrics;
    json!({
        "prompt_tokens": m.prompt_eval_count,
        "completion_tokens": m.eval_count,
        "total_tokens": m.prompt_eval_count + m.eval_count,
    })
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

pub(crate) async fn chat_completions(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(oa(ApiError::bad_request(
            "tools are not supported by this server",
        )));
    }
    if req.response_format.as_ref().is_some_and(|f| {
        f.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "text")
    }) {
        return Err(oa(ApiError::bad_request(
            "response_format other than text is not supported",
        )));
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in req.messages {
        let role = if m.role == "developer" {
            "system".to_owned()
        } else {
            m.role
        };
        check_role(&role).map_err(oa)?;
        messages.push(ChatMessage::new(role, message_text(m.content).map_err(oa)?));
    }
    if messages.is_empty() {
        return Err(oa(ApiError::bad_request("messages must not be empty")));
    }
    let ctx = app.config.context_length;
    let params = req.sampling.params(ctx, ctx).map_err(oa)?;
    let entry = find_model(&app, &req.model).await.map_err(oa)?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let work = Work::Chat(
        ChatRequest::new(messages)
            .with_params(params)
            .with_num_keep(crate::params::DEFAULT_NUM_KEEP),
    );
    let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
    respond(
        app,
        audit,
        entry,
        work,
        req.stream,
        include_usage,
        Kind::Chat,
    )
    .await
}

pub(crate) async fn completions(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<CompletionRequestBody>,
) -> Result<Response, ApiError> {
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(oa(ApiError::bad_request(
            "suffix is not supported by this server",
        )));
    }
    if req.echo {
        return Err(oa(ApiError::bad_request(
            "echo is not supported by this server",
        )));
    }
    let prompt = match req.prompt {
        PromptField::One(p) => p,
        PromptField::Many(mut v) if v.len() == 1 => v.remove(0),
        PromptField::Many(_) => {
            return Err(oa(ApiError::bad_request("exactly one prompt is supported")));
        }
    };
    let ctx = app.config.context_length;
    // OpenAI's default max_tokens for completions is 16
    let params = req.sampling.params(ctx, 16).map_err(oa)?;
    let entry = find_model(&app, &req.model).await.map_err(oa)?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let work = Work::Complete(
        CompletionRequest::new(prompt)
            .with_params(params)
            .with_num_keep(crate::params::DEFAULT_NUM_KEEP),
    );
    let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
    respond(
        app,
        audit,
        entry,
        work,
        req.stream,
        include_usage,
        Kind::Text,
    )
    .await
}

#[derive(Clone, Copy)]
enum Kind {
    Chat,
    Text,
}

fn finish_reason(done: &Done) -> &'static str {
    done_reason(done.reason)
}

async fn respond(
    app: AppRef,
    audit: AuditHandle,
    entry: ModelEntry,
    work: Work,
    streamed: bool,
    include_usage: bool,
    kind: Kind,
) -> Result<Response, ApiError> {
    let model = entry.name.clone();
    let ctx = app.config.context_length;
    let (ticket, mut rx) = app.pool.submit(&entry, work, ctx, None).map_err(oa)?;
    let first = first_event(&mut rx, DIALECT).await?;
    let created = unix_secs(SystemTime::now());
    let (id, object) = match kind {
        Kind::Chat => (next_id("chatcmpl"), "chat.completion"),
        Kind::Text => (next_id("cmpl"), "text_completion"),
    };
    if !streamed {
        let (text, done, _) = collect(first, &mut rx, DIALECT).await?;
        drop(ticket);
        update(&audit, |a| {
            a.prompt_tokens = Some(done.metrics.prompt_eval_count);
            a.eval_tokens = Some(done.metrics.eval_count);
            a.completed = Some(true);
        });
        let choice = match kind {
            Kind::Chat => json!({"index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": null, "finish_reason": finish_reason(&done)}),
            Kind::Text => json!({"index": 0, "text": text, "logprobs": null,
                "finish_reason": finish_reason(&done)}),
        };
        let v = json!({"id": id, "object": object, "created": created, "model": model,
            "system_fingerprint": "secllama", "choices": [choice], "usage": usage(&done)});
        return Ok(axum::Json(v).into_response());
    }
    update(&audit, |a| a.completed = Some(false));
    let chunk_object = match kind {
        Kind::Chat => "chat.completion.chunk",
        Kind::Text => "text_completion",
    };
    let base = json!({"id": id, "object": chunk_object, "created": created, "model": model,
        "system_fingerprint": "secllama"});
    let mut first_piece = true;
    let chunk = move |choice: Value| {
        let mut v = base.clone();
        v["choices"] = json!([choice]);
        v
    };
    let body = stream(first, rx, ticket, move |ev| match ev {
        Event::Piece(text) => {
            let choice = match kind {
                Kind::Chat if first_piece => json!({"index": 0,
                    "delta": {"role": "assistant", "content": text},
                    "logprobs": null, "finish_reason": null}),
                Kind::Chat => json!({"index": 0, "delta": {"content": text},
                    "logprobs": null, "finish_reason": null}),
                Kind::Text => json!({"index": 0, "text": text, "logprobs": null,
                    "finish_reason": null}),
            };
            first_piece = false;
            sse(&chunk(choice))
        }
        Event::Done(done, _) => {
            update(&audit, |a| {
                a.prompt_tokens = Some(done.metrics.prompt_eval_count);
                a.eval_tokens = Some(done.metrics.eval_count);
                a.completed = Some(true);
            });
            let choice = match kind {
                Kind::Chat => json!({"index": 0, "delta": {}, "logprobs": null,
                    "finish_reason": finish_reason(&done)}),
                Kind::Text => json!({"index": 0, "text": "", "logprobs": null,
                    "finish_reason": finish_reason(&done)}),
            };
            let mut out = sse(&chunk(choice)).to_vec();
            if include_usage {
                let mut v = chunk(json!(null));
                v["choices"] = json!([]);
                v["usage"] = usage(&done);
                out.extend_from_slice(&sse(&v));
            }
            out.extend_from_slice(b"data: [DONE]\n\n");
            Bytes::from(out)
        }
        Event::Failed(e) => sse(&e.dialect(DIALECT).body()),
        Event::Loaded(_) | Event::Embedded(..) => Bytes::new(),
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

fn model_object(e: &ModelEntry) -> Value {
    json!({"id": e.name, "object": "model", "created": e.added, "owned_by": "library"})
}

/// `GET /v1/models/{model}` (OpenAI's "retrieve model"): the one model object, or 404.
pub(crate) async fn model(
    State(app): State<AppRef>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let entry = find_model(&app, &name).await.map_err(oa)?;
    Ok(axum::Json(model_object(&entry)).into_response())
}

pub(crate) async fn models(State(app): State<AppRef>) -> Result<Response, ApiError> {
    let registry = app.registry.clone();
    let entries = tokio::task::spawn_blocking(move || registry.list())
        .await
        .map_err(|_| oa(ApiError::internal("the registry lookup failed")))?
        .map_err(|e| oa(ApiError::internal(e.to_string())))?;
    let data: Vec<Value> = entries.iter().map(model_object).collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}
