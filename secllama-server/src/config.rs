//! Server settings: where to listen, who may connect, and every limit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use secllama_runner::{MAX_TOTAL_CONTEXT, MIN_CONTEXT_LENGTH};

use crate::{Auth, ServerError};

/// The default listen address: Ollama's port, loopback only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 11434);
/// The default request body limit.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How long a model stays loaded after its last request unless the request says otherwise.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5 * 60);
/// The most requests one runner may serve at once (the runner's own slot limit).
pub const MAX_PARALLEL: u32 = secllama_runner::MAX_SLOTS;
/// How long streams may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A token bucket: `per_second` requests on average, bursts of `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (per token).
    pub per_second: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

/// TLS certificate chain and private key files (PEM).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Everything [`router`](crate::router) and [`serve`](crate::serve) need.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// TCP address to listen on.
    pub listen: SocketAddr,
    /// TLS for the TCP listener (required off loopback).
    pub tls: Option<TlsFiles>,
    /// How requests are authenticated.
    pub auth: Auth,
    /// Browser origins allowed by CORS (none by default).
    pub allowed_origins: Vec<String>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Request rate per token.
    pub rate_limit: RateLimit,
    /// Most requests waiting for one model before new ones get 503.
    pub queue_limit: usize,
    /// Most models loaded at once (the least recently used is unloaded).
    pub max_loaded_models: usize,
    /// Default `keep_alive`.
    pub keep_alive: Duration,
    /// Context window of runners (tokens) unless a request's `num_ctx` says otherwise.
    pub context_length: u32,
    /// Threads per runner; `None` uses the runner's default.
    pub threads: Option<u32>,
    /// Layers each runner offloads to the GPU (0: CPU only). The runner binary must have a GPU
    /// backend and find a device, or the model's load fails with the runner's reason, unless
    /// `cpu_fallback` allows the CPU. `/api/ps` shows where each model runs.
    pub gpu_layers: u32,
    /// With `gpu_layers`: load on the CPU instead of failing when no GPU can be used.
    pub cpu_fallback: bool,
    /// Requests one model's runner serves at once (batched in one context; each takes a
    /// sequence slot with `context_length` tokens of cache); more wait in the queue.
    pub parallel: u32,
    /// Directory of the model registry.
    pub models_dir: PathBuf,
    /// Audit log file (JSON lines); `None` is stderr.
    pub audit_log: Option<PathBuf>,
}

impl ServerConfig {
    /// Defaults: loopback port 11434, the given auth, no CORS origins, 8 MiB bodies, 10
    /// requests/s with bursts of 20, 16 queued requests per model, 2 loaded models, 5 min
    /// keep-alive, 4096-token context, 4 requests at once per model, models in `models_dir`.
    ///
    /// ```
    /// use secllama_server::{Auth, ServerConfig};
    /// let config = ServerConfig::new(Auth::None, "/tmp/models".into());
    /// assert_eq!(config.listen.to_string(), "127.0.0.1:11434");
    /// config.check_exposure()?;
    /// # Ok::<(), secllama_server::ServerError>(())
    /// ```
    pub fn new(auth: Auth, models_dir: PathBuf) -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN,
            tls: None,
            auth,
            allowed_origins: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            rate_limit: RateLimit {
                per_second: 10.0,
                burst: 20,
            },
            queue_limit: 16,
            max_loaded_models: 2,
            keep_alive: DEFAULT_KEEP_ALIVE,
            context_length: 4096,
            threads: None,
            gpu_layers: 0,
            cpu_fallback: false,
            parallel: secllama_runner::DEFAULT_SLOTS,
            models_dir,
            audit_log: None,
        }
    }

    /// Refuses settings that expose the server: a non-loopback address without TLS, or no
    /// authentication off loopback; and limits it cannot run with (among them a context that
    /// the runner would refuse with `parallel` slots).
    ///
    /// # Errors
    /// [`ServerError::ExposedWithoutTls`], [`ServerError::NoAuthNotLoopback`] or
    /// [`ServerError::Config`].
    pub fn check_exposure(&self) -> Result<(), ServerError> {
        let loopback = self.listen.ip().is_loopback();
        if matches!(self.auth, Auth::None) && !loopback {
            return Err(ServerError::NoAuthNotLoopback { addr: self.listen });
        }
        if !loopback && self.tls.is_none() {
            return Err(ServerError::ExposedWithoutTls { addr: self.listen });
        }
        if self.body_limit == 0 || self.queue_limit == 0 || self.max_loaded_models == 0 {
            return Err(ServerError::Config(
                "body limit, queue limit and max loaded models must be at least 1".into(),
            ));
        }
        if !(1..=MAX_PARALLEL).contains(&self.parallel) {
            return Err(ServerError::Config(format!(
                "parallel must be between 1 and {MAX_PARALLEL}"
            )));
        }
        // The runner's own bounds, checked here so that no request meets them as a 500.
        let most = crate::params::max_context_length(self.parallel);
        if !(MIN_CONTEXT_LENGTH..=most).contains(&self.context_length) {
            return Err(ServerError::Config(format!(
                "the context length must be between {MIN_CONTEXT_LENGTH} and {most} tokens with \
                 {} requests at once ({MAX_TOTAL_CONTEXT} tokens of context per runner at most)",
                self.parallel
            )));
        }
        if !(self.rate_limit.per_second.is_finite() && self.rate_limit.per_second > 0.0)
            || self.rate_limit.burst == 0
        {
            return Err(ServerError::Config(
                "the rate limit must be a positive rate with a burst of at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Parses an Ollama `keep_alive`: a number of seconds, or a duration like `5m`, `1h30m`,
/// `500ms`; negative keeps the model loaded for good (`None`).
pub(crate) fn parse_keep_alive(v: &serde_json::Value) -> Result<Option<Duration>, String> {
    const BAD: &str = "keep_alive must be a number of seconds or a duration like \"5m\"";
    match v {
        serde_json::Value::Number(n) => {
            let secs = n.as_f64().ok_or(BAD)?;
            if secs < 0.0 {
                return Ok(None);
            }
            Duration::try_from_secs_f64(secs)
                .map(Some)
                .map_err(|_| BAD.to_owned())
        }
        serde_json::Value::String(s) => parse_duration(s).ok_or_else(|| BAD.to_owned()),
        _ => Err(BAD.to_owned()),
    }
}

fn parse_duration(s: &str) -> Option<Option<Duration>> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        parse_duration(rest)?;
        return Some(None);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok().map(Some);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_loopback_needs_tls_and_auth() {
        let mut c = ServerConfig::new(Auth::None, "/tmp/m".into());
        c.check_exposure().unwrap();
        c.listen = "0.0.0.0:11434".parse().unwrap();
        assert!(matches!(
            c.check_exposure(),
            Err(ServerError::NoAuthNotLoopback { addr }) if addr == c.listen
        ));
        c.auth = Auth::Token(crate::ApiToken::new("0123456789abcdef".into()).unwrap());
        assert!(matches!(
            c.check_exposure(),
            Err(ServerError::ExposedWithoutTls { addr }) if addr == c.listen
        ));
        c.tls = Some(TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        });
        c.check_exposure().unwrap();
        c.listen = "[::1]:1".parse().unwrap();
        c.auth = Auth::None;
        c.check_exposure().unwrap();
    }

    #[test]
    fn a_context_the_runner_would_refuse_is_refused_at_start() {
        let mut c = ServerConfig::new(Auth::None, "/m".into());
        c.context_length = 131_072;
        c.parallel = 8;
        c.check_exposure().unwrap();
        c.parallel = 9;
        match c.check_exposure() {
            Err(ServerError::Config(m)) => assert_eq!(
                m,
                "the context length must be between 16 and 116508 tokens with 9 requests at \
                 once (1048576 tokens of context per runner at most)"
            ),
            other => panic!("{other:?}"),
        }
        c.parallel = 1;
        c.context_length = 15;
        match c.check_exposure() {
            Err(ServerError::Config(m)) => assert_eq!(
                m,
                "the context length must be between 16 and 131072 tokens with 1 requests at \
                 once (1048576 tokens of context per runner at most)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keep_alive_follows_ollama() {
        let d = |v| parse_keep_alive(&v).unwrap();
        assert_eq!(d(json!(0)), Some(Duration::ZERO));
        assert_eq!(d(json!(30)), Some(Duration::from_secs(30)));
        assert_eq!(d(json!(-1)), None);
        assert_eq!(d(json!("5m")), Some(Duration::from_secs(300)));
        assert_eq!(d(json!("1h30m")), Some(Duration::from_secs(5400)));
        assert_eq!(d(json!("500ms")), Some(Duration::from_millis(500)));
        assert_eq!(d(json!("-1m")), None);
        assert_eq!(d(json!("10")), Some(Duration::from_secs(10)));
        for bad in [json!("5x"), json!(""), json!("m"), json!(true), json!([1])] {
            assert!(parse_keep_alive(&bad).is_err(), "{bad}");
        }
    }
}
