//! Embeddings: Ollama's `/api/embed` and legacy `/api/embeddings`, OpenAI's `/v1/embeddings`,
//! all through [`Runner::embed`](secllama_runner::Runner::embed) (pooled, L2-normalised).

use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secllama_runner::{EmbedRequest, Embeddings, check_embed_inputs};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{AuditHandle, update};
use crate::body::{JsonBody, first_event};
use crate::error::{ApiError, Dialect};
use crate::ollama::{find_model, keep_alive, nanos};
use crate::params::{Options, context_length};
use crate::pool::{Event, Work};
use crate::registry::ModelEntry;
use crate::server::AppRef;

/// `/api/embed`'s body (Ollama's API docs); unknown fields are ignored as Ollama does.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbedBody {
    model: String,
    input: Option<Value>,
    truncate: Option<bool>,
    #[serde(default)]
    options: Options,
    keep_alive: Option<Value>,
    dimensions: Option<i64>,
}

/// `/api/embeddings`' body (Ollama's legacy endpoint).
#[derive(Debug, Deserialize)]
pub(crate) struct LegacyBody {
    model: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    options: Options,
    keep_alive: Option<Value>,
}

/// `/v1/embeddings`' body (OpenAI's embeddings reference).
#[derive(Debug, Deserialize)]
pub(crate) struct OpenAiBody {
    model: String,
    input: Value,
    dimensions: Option<i64>,
    encoding_format: Option<String>,
}

/// The texts of an `input`: a string, or an array of strings. Ollama treats a missing or
/// empty string as no input at all (the model is loaded, nothing embedded).
fn texts(input: Option<&Value>, dialect: Dialect) -> Result<Vec<String>, ApiError> {
    let bad = |m: &str| ApiError::bad_request(m.to_owned()).dialect(dialect);
    let texts = match input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    Value::Number(_) | Value::Array(_) if dialect == Dialect::OpenAi => {
                        return Err(bad(
                            "input as token arrays is not supported: send the text as a string \
                             or an array of strings",
                        ));
                    }
                    _ => return Err(bad("input must be a string or an array of strings")),
                }
            }
            out
        }
        Some(_) => return Err(bad("input must be a string or an array of strings")),
    };
    check_texts(&texts).map_err(|e| e.dialect(dialect))?;
    Ok(texts)
}

/// The runner's limits, checked before anything queues or loads (none: Ollama loads the model
/// and answers no vectors).
fn check_texts(texts: &[String]) -> Result<(), ApiError> {
    if texts.is_empty() {
        return Ok(());
    }
    check_embed_inputs(texts).map_err(ApiError::bad_request)
}

/// `dimensions`: keep the first `n` values of each vector and scale them back to unit length
/// (as Ollama does); a value at or over the model's size changes nothing.
fn dimensions(d: Option<i64>) -> Result<Option<usize>, ApiError> {
    match d {
        None => Ok(None),
        Some(n) if n > 0 => Ok(usize::try_from(n).ok()),
        Some(_) => Err(ApiError::bad_request(
            "dimensions must be a positive integer",
        )),
    }
}

fn shorten(vectors: &mut [Vec<f32>], dims: Option<usize>) {
    let Some(n) = dims else { return };
    for v in vectors.iter_mut().filter(|v| n < v.len()) {
        v.truncate(n);
        secllama_runner::normalize_embedding(v);
    }
}

/// What to embed and how.
struct Texts {
    texts: Vec<String>,
    truncate: bool,
    context_length: u32,
    keep_alive: Option<Option<Duration>>,
}

/// Runs the texts on `entry`'s runner (only loads it when there are none); the vectors and
/// the load time.
async fn run(
    app: &AppRef,
    audit: &AuditHandle,
    entry: &ModelEntry,
    t: Texts,
    dialect: Dialect,
) -> Result<(Embeddings, Duration), ApiError> {
    let Texts {
        texts,
        truncate,
        context_length: ctx,
        keep_alive,
    } = t;
    let work = if texts.is_empty() {
        Work::Load
    } else {
        Work::Embed(EmbedRequest::new(texts).with_truncate(truncate))
    };
    let (ticket, mut rx) = app
        .pool
        .submit(entry, work, ctx, keep_alive)
        .map_err(|e| e.dialect(dialect))?;
    let out = match first_event(&mut rx, dialect).await? {
        Event::Embedded(out, load) => (out, load),
        Event::Loaded(load) => (
            Embeddings {
                vectors: Vec::new(),
                prompt_eval_count: 0,
                total_duration: 0,
                load_duration: 0,
            },
            load,
        ),
        _ => {
            return Err(
                ApiError::internal("the runner answered with a generation").dialect(dialect)
            );
        }
    };
    drop(ticket);
    update(audit, |a| {
        a.prompt_tokens = Some(out.0.prompt_eval_count);
        a.completed = Some(true);
    });
    Ok(out)
}

pub(crate) async fn embed(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<EmbedBody>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let texts = texts(req.input.as_ref(), Dialect::Ollama)?;
    let dims = dimensions(req.dimensions)?;
    let entry = find_model(&app, &req.model).await?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;
    let ctx = context_length(
        req.options.num_ctx,
        app.config.context_length,
        app.config.parallel,
    )?;
    let truncate = req.truncate.unwrap_or(true);
    let t = Texts {
        texts,
        truncate,
        context_length: ctx,
        keep_alive,
    };
    let (mut out, load) = run(&app, &audit, &entry, t, Dialect::Ollama).await?;
    shorten(&mut out.vectors, dims);
    Ok(axum::Json(json!({
        "model": entry.name,
        "embeddings": out.vectors,
        "total_duration": nanos(started.elapsed()),
        "load_duration": nanos(load),
        "prompt_eval_count": out.prompt_eval_count,
    }))
    .into_response())
}

pub(crate) async fn embeddings(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<LegacyBody>,
) -> Result<Response, ApiError> {
    let texts = if req.prompt.is_empty() {
        Vec::new()
    } else {
        vec![req.prompt]
    };
    check_texts(&texts)?;
    let entry = find_model(&app, &req.model).await?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let keep_alive = keep_alive(req.keep_alive.as_ref())?;
    let ctx = context_length(
        req.options.num_ctx,
        app.config.context_length,
        app.config.parallel,
    )?;
    let t = Texts {
        texts,
        truncate: true,
        context_length: ctx,
        keep_alive,
    };
    let (out, _) = run(&app, &audit, &entry, t, Dialect::Ollama).await?;
    let embedding = out.vectors.into_iter().next().unwrap_or_default();
    Ok(axum::Json(json!({ "embedding": embedding })).into_response())
}

/// A vector as OpenAI's `encoding_format: "base64"`: its little-endian `f32`s, base64.
fn base64_vector(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) async fn openai(
    State(app): State<AppRef>,
    Extension(audit): Extension<AuditHandle>,
    JsonBody(req): JsonBody<OpenAiBody>,
) -> Result<Response, ApiError> {
    let oa = |e: ApiError| e.dialect(Dialect::OpenAi);
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(oa(ApiError::bad_request(format!(
                "encoding_format must be \"float\" or \"base64\", not {other:?}"
            ))));
        }
    };
    // OpenAI: the input cannot be an empty string or an empty array.
    match &req.input {
        Value::String(s) if s.is_empty() => {
            return Err(oa(ApiError::bad_request("input must not be empty")));
        }
        Value::Array(a) if a.is_empty() => {
            return Err(oa(ApiError::bad_request("input must not be empty")));
        }
        _ => {}
    }
    let texts = texts(Some(&req.input), Dialect::OpenAi)?;
    let dims = dimensions(req.dimensions).map_err(oa)?;
    let entry = find_model(&app, &req.model).await.map_err(oa)?;
    update(&audit, |a| a.model = Some(entry.name.clone()));
    let t = Texts {
        texts,
        truncate: true,
        context_length: app.config.context_length,
        keep_alive: None,
    };
    let (mut out, _) = run(&app, &audit, &entry, t, Dialect::OpenAi).await?;
    shorten(&mut out.vectors, dims);
    let data: Vec<Value> = out
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                json!(base64_vector(v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(axum::Json(json!({
        "object": "list",
        "data": data,
        "model": entry.name,
        "usage": {"prompt_tokens": out.prompt_eval_count, "total_tokens": out.prompt_eval_count},
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secllama_runner::MAX_EMBED_INPUTS;

    #[test]
    fn inputs_are_a_string_or_strings_and_empty_means_none() {
        let t = |v: Value| texts(Some(&v), Dialect::Ollama);
        assert_eq!(t(json!("a")).unwrap(), vec!["a".to_owned()]);
        assert_eq!(t(json!(["a", "b"])).unwrap(), vec!["a", "b"]);
        assert!(t(json!("")).unwrap().is_empty());
        assert!(t(json!([])).unwrap().is_empty());
        assert!(texts(None, Dialect::Ollama).unwrap().is_empty());
        let e = t(json!(["a", 1])).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (400, "input must be a string or an array of strings")
        );
        let e = t(json!(["a", ""])).unwrap_err();
        assert_eq!(e.message, "embed input 1 is empty");
        let e = texts(Some(&json!([[1, 2]])), Dialect::OpenAi).unwrap_err();
        assert!(
            e.message.starts_with("input as token arrays"),
            "{}",
            e.message
        );
        assert_eq!(e.dialect, Dialect::OpenAi);
        let many = Value::Array(vec![json!("x"); MAX_EMBED_INPUTS + 1]);
        assert_eq!(
            t(many).unwrap_err().message,
            "an embed request needs 1 to 256 inputs, not 257"
        );
    }

    #[test]
    fn dimensions_cut_and_rescale_to_unit_length() {
        let mut v = vec![vec![0.6, 0.0, 0.8], vec![1.0]];
        shorten(&mut v, dimensions(Some(1)).unwrap());
        assert_eq!(v, vec![vec![1.0], vec![1.0]]);
        let mut v = vec![vec![0.6, 0.8]];
        shorten(&mut v, dimensions(Some(5)).unwrap());
        assert_eq!(v, vec![vec![0.6, 0.8]]);
        assert_eq!(
            dimensions(Some(0)).unwrap_err().message,
            "dimensions must be a positive integer"
        );
    }

    #[test]
    fn base64_vectors_are_little_endian_f32() {
        assert_eq!(base64_vector(&[1.0]), "AACAPw==");
    }
}
