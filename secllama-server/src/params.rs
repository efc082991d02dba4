//! Request options mapped onto the runner's [`GenerationParams`].

use std::sync::atomic::{AtomicU32, Ordering};

use secllama_runner::{GenerationParams, MAX_TOTAL_CONTEXT, MIN_CONTEXT_LENGTH};
use serde::Deserialize;

use crate::error::ApiError;

/// The largest `num_ctx` a request may ask for.
pub(crate) const MAX_NUM_CTX: i64 = 131_072;
/// Ollama's default `num_keep`: a prompt over the context keeps its first 4 tokens, then its
/// end.
pub(crate) const DEFAULT_NUM_KEEP: u32 = 4;

/// Ollama's `options` (the ones the runner supports; others are ignored, as Ollama does).
/// A value of the wrong type is a 400.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Options {
    pub(crate) temperature: Option<f32>,
    pub(crate) top_k: Option<i64>,
    pub(crate) top_p: Option<f32>,
    pub(crate) min_p: Option<f32>,
    pub(crate) num_predict: Option<i64>,
    pub(crate) stop: Option<Vec<String>>,
    pub(crate) seed: Option<i64>,
    pub(crate) repeat_penalty: Option<f32>,
    pub(crate) repeat_last_n: Option<i64>,
    pub(crate) num_ctx: Option<i64>,
    pub(crate) num_keep: Option<i64>,
}

/// The largest context per request the runner accepts with `parallel` slots (it holds at most
/// [`MAX_TOTAL_CONTEXT`] tokens over all of them), and never over [`MAX_NUM_CTX`].
pub(crate) fn max_context_length(parallel: u32) -> u32 {
    let most = MAX_TOTAL_CONTEXT / parallel.max(1);
    u32::try_from(MAX_NUM_CTX).map_or(most, |cap| most.min(cap))
}

/// The context length a request asks for (`num_ctx`), else the server's; out of the runner's
/// bounds with `parallel` slots it is a 400, never a runner that fails to start.
pub(crate) fn context_length(
    num_ctx: Option<i64>,
    default: u32,
    parallel: u32,
) -> Result<u32, ApiError> {
    let most = max_context_length(parallel);
    match num_ctx {
        None => Ok(default),
        Some(n) if (i64::from(MIN_CONTEXT_LENGTH)..=i64::from(most)).contains(&n) => {
            u32::try_from(n).map_err(|_| ApiError::bad_request("num_ctx is out of range"))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "num_ctx must be between {MIN_CONTEXT_LENGTH} and {most} (with {parallel} requests \
             at once per model)"
        ))),
    }
}

/// A fresh seed for requests that give none (or a negative one): Ollama samples randomly
/// unless a seed is set.
fn fresh_seed() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ COUNTER.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}

impl Options {
    /// How many of a prompt's first tokens stay when it is cut to fit the context (Ollama's
    /// `num_keep`, default 4; negative keeps as many as the runner allows).
    pub(crate) fn num_keep(&self) -> u32 {
        match self.num_keep {
            None => DEFAULT_NUM_KEEP,
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        }
    }

    /// The runner parameters; `num_predict` unset or negative means "until the context is
    /// full" (Ollama's -1 and -2).
    pub(crate) fn to_params(&self, context_length: u32) -> Result<GenerationParams, ApiError> {
        let max_tokens = match self.num_predict {
            Some(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX).min(context_length),
            Some(0) => return Err(ApiError::bad_request("num_predict must not be 0")),
            _ => context_length,
        };
        let mut p = GenerationParams {
            max_tokens,
            ..GenerationParams::default()
        };
        if let Some(t) = self.temperature {
            p.temperature = t;
        }
        if let Some(k) = self.top_k {
            p.top_k =
                u32::try_from(k).map_err(|_| ApiError::bad_request("top_k must be 0 or more"))?;
        }
        if let Some(v) = self.top_p {
            p.top_p = v;
        }
        if let Some(v) = self.min_p {
            p.min_p = v;
        }
        if let Some(stop) = &self.stop {
            p.stop = stop.clone();
        }
        p.seed = match self.seed {
            Some(s) if s >= 0 => {
                u32::try_from(s).map_err(|_| ApiError::bad_request("seed must fit in 32 bits"))?
            }
            _ => fresh_seed(),
        };
        if let Some(v) = self.repeat_penalty {
            p.repeat_penalty = v;
        }
        match self.repeat_last_n {
            Some(n) if n < 0 => p.repeat_last_n = context_length,
            Some(n) => {
                p.repeat_last_n = u32::try_from(n)
                    .map_err(|_| ApiError::bad_request("repeat_last_n is too large"))?;
            }
            None => {}
        }
        check(&p)?;
        Ok(p)
    }
}

/// The runner's own ranges, checked here so a bad value is a 400 before anything queues.
pub(crate) fn check(p: &GenerationParams) -> Result<(), ApiError> {
    let bad = |m: &str| Err(ApiError::bad_request(m.to_owned()));
    if !p.temperature.is_finite() || p.temperature < 0.0 {
        return bad("temperature must be a finite number >= 0");
    }
    if !(p.top_p.is_finite() && p.top_p > 0.0 && p.top_p <= 1.0) {
        return bad("top_p must be in (0, 1]");
    }
    if !(p.min_p.is_finite() && (0.0..=1.0).contains(&p.min_p)) {
        return bad("min_p must be in [0, 1]");
    }
    if !(p.repeat_penalty.is_finite() && p.repeat_penalty > 0.0) {
        return bad("repeat_penalty must be a finite number > 0");
    }
    if i32::try_from(p.top_k).is_err() || i32::try_from(p.repeat_last_n).is_err() {
        return bad("top_k and repeat_last_n must fit in a 32-bit signed integer");
    }
    if p.stop.len() > secllama_runner::MAX_STOP_STRINGS {
        return Err(ApiError::bad_request(format!(
            "at most {} stop strings are allowed",
            secllama_runner::MAX_STOP_STRINGS
        )));
    }
    if p.stop
        .iter()
        .any(|s| s.is_empty() || s.len() > secllama_runner::MAX_STOP_STRING_BYTES)
    {
        return Err(ApiError::bad_request(format!(
            "stop strings must be 1 to {} bytes long",
            secllama_runner::MAX_STOP_STRING_BYTES
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: serde_json::Value) -> Result<Options, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn ollama_options_map_onto_runner_params() {
        let o = opts(
            serde_json::json!({"temperature": 0, "top_k": 5, "top_p": 0.5,
            "min_p": 0.1, "num_predict": 12, "stop": ["\n"], "seed": 42,
            "repeat_penalty": 1.2, "repeat_last_n": -1, "num_ctx": 2048, "mirostat": 2}),
        )
        .unwrap();
        let p = o.to_params(2048).unwrap();
        assert_eq!(p.temperature, 0.0);
        assert_eq!((p.top_k, p.top_p, p.min_p), (5, 0.5, 0.1));
        assert_eq!((p.max_tokens, p.seed), (12, 42));
        assert_eq!(p.stop, vec!["\n".to_owned()]);
        assert_eq!((p.repeat_penalty, p.repeat_last_n), (1.2, 2048));
        assert_eq!(context_length(o.num_ctx, 4096, 4).unwrap(), 2048);
    }

    #[test]
    fn num_keep_defaults_to_ollamas_four_and_negative_keeps_all_it_can() {
        assert_eq!(Options::default().num_keep(), 4);
        let keep = |v| {
            opts(serde_json::json!({ "num_keep": v }))
                .unwrap()
                .num_keep()
        };
        assert_eq!(keep(0), 0);
        assert_eq!(keep(24), 24);
        assert_eq!(keep(-1), u32::MAX);
        assert!(opts(serde_json::json!({"num_keep": "4"})).is_err());
    }

    #[test]
    fn unset_num_predict_fills_the_context() {
        let p = Options::default().to_params(1024).unwrap();
        assert_eq!(p.max_tokens, 1024);
        let p = opts(serde_json::json!({"num_predict": -2}))
            .unwrap()
            .to_params(512)
            .unwrap();
        assert_eq!(p.max_tokens, 512);
    }

    #[test]
    fn wrong_types_and_ranges_are_rejected_with_the_field_name() {
        assert!(opts(serde_json::json!({"temperature": "hot"})).is_err());
        assert!(opts(serde_json::json!({"stop": "x"})).is_err());
        let e = opts(serde_json::json!({"top_p": 2.0}))
            .unwrap()
            .to_params(10)
            .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (400, "top_p must be in (0, 1]")
        );
        let e = opts(serde_json::json!({"top_k": -1}))
            .unwrap()
            .to_params(10)
            .unwrap_err();
        assert_eq!(e.message, "top_k must be 0 or more");
        let e = context_length(Some(0), 4096, 4).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (
                400,
                "num_ctx must be between 16 and 131072 (with 4 requests at once per model)"
            )
        );
        // The runner holds at most 1048576 tokens over all its slots: with 16 of them, a
        // request's context is at most 65536, refused before any runner starts.
        assert_eq!(context_length(Some(16), 4096, 16).unwrap(), 16);
        assert_eq!(context_length(Some(65_536), 4096, 16).unwrap(), 65_536);
        let e = context_length(Some(65_537), 4096, 16).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message.as_str()),
            (
                400,
                "num_ctx must be between 16 and 65536 (with 16 requests at once per model)"
            )
        );
        assert_eq!(max_context_length(1), 131_072);
        let e = opts(serde_json::json!({"stop": [""]}))
            .unwrap()
            .to_params(10)
            .unwrap_err();
        assert!(
            e.message.starts_with("stop strings must be 1 to"),
            "{}",
            e.message
        );
    }
}
