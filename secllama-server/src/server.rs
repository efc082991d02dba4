//! The router and the layers every request passes: CORS, origin check, body limit, bearer
//! token, rate limit, audit line.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::audit::{AuditFields, AuditGuard, AuditHandle, AuditSink};
use crate::auth::TokenCheck;
use crate::error::ApiError;
use crate::gguf::GgufDetails;
use crate::metrics::Metrics;
use crate::pool::{Pool, PoolConfig};
use crate::ratelimit::RateLimiter;
use crate::registry::Registry;
use crate::{Auth, ServerConfig, ServerError, embed, ollama, openai};

/// Who is on the other end of a connection; inserted by the listeners.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A TCP client.
    Tcp(std::net::SocketAddr),
    /// A Unix socket client whose uid was checked to be ours.
    Unix {
        /// Its user id.
        uid: u32,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Unix { uid } => write!(f, "unix:uid={uid}"),
        }
    }
}

/// Shared state of one server: configuration, registry, runner pool, counters.
pub(crate) struct AppState {
    pub(crate) config: ServerConfig,
    pub(crate) registry: Registry,
    pub(crate) pool: Arc<Pool>,
    pub(crate) metrics: Arc<Metrics>,
    token: Option<TokenCheck>,
    limiter: RateLimiter,
    audit: Arc<AuditSink>,
    origins: Vec<HeaderValue>,
    details: std::sync::Mutex<std::collections::HashMap<String, Option<GgufDetails>>>,
}

impl AppState {
    /// The GGUF metadata of `entry` (read once per file hash, off the executor).
    pub(crate) async fn details(&self, entry: &crate::registry::ModelEntry) -> Option<GgufDetails> {
        let key = entry.sha256.clone();
        if let Some(d) = self.details.lock().ok()?.get(&key) {
            return d.clone();
        }
        let path = entry.path.clone();
        let read = tokio::task::spawn_blocking(move || crate::gguf::read(&path))
            .await
            .ok()?;
        let d = read
            .map_err(
                |e| tracing::warn!(model = %entry.name, error = %e, "cannot read GGUF metadata"),
            )
            .ok();
        self.details.lock().ok()?.insert(key, d.clone());
        d
    }
}

pub(crate) type AppRef = Arc<AppState>;

/// A server's state and router. Dropping it does not stop runners; call
/// [`App::shutdown`].
pub struct App {
    state: AppRef,
    /// Set when the configuration names a certificate: the TCP listener speaks TLS only.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listen", &self.state.config.listen)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Checks `config` ([`ServerConfig::check_exposure`]), loads its TLS certificate and key
    /// if it names them, opens the audit log and builds the state.
    ///
    /// # Errors
    /// An exposing configuration, an unusable certificate or key, a bad origin, or an audit
    /// log that cannot be opened.
    pub fn new(config: ServerConfig) -> Result<App, ServerError> {
        config.check_exposure()?;
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let origins = config
            .allowed_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o.trim_end_matches('/'))
                    .map_err(|_| ServerError::Config(format!("{o:?} is not a valid origin")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out: Box<dyn std::io::Write + Send> = match &config.audit_log {
            None => Box::new(std::io::stderr()),
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| ServerError::io(format!("opening {}", path.display()), e))?,
            ),
        };
        let metrics = Arc::new(Metrics::default());
        let pool = Pool::new(
            PoolConfig {
                queue_limit: config.queue_limit,
                max_loaded: config.max_loaded_models,
                keep_alive: config.keep_alive,
                threads: config.threads,
                gpu_layers: config.gpu_layers,
                cpu_fallback: config.cpu_fallback,
                parallel: config.parallel,
            },
            metrics.clone(),
        );
        let token = match &config.auth {
            Auth::Token(t) => Some(TokenCheck::new(t)),
            Auth::None => None,
        };
        Ok(App {
            tls,
            state: Arc::new(AppState {
                registry: Registry::new(config.models_dir.clone()),
                limiter: RateLimiter::new(config.rate_limit),
                config,
                pool,
                metrics,
                token,
                audit: Arc::new(AuditSink::new(out)),
                origins,
                details: std::sync::Mutex::default(),
            }),
        })
    }

    /// The router: every endpoint with every layer. Serve it with
    /// `into_make_service_with_connect_info::<Peer>()` (see [`serve`](crate::serve)) so the
    /// peer is known.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Whether the TCP listener speaks TLS (the configuration named a certificate).
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Refuses a TCP listener bound to `addr` when the configuration would not allow listening
    /// there (the caller may have bound another address than [`ServerConfig::listen`]).
    pub(crate) fn check_listener(&self, addr: std::net::SocketAddr) -> Result<(), ServerError> {
        let mut config = self.state.config.clone();
        config.listen = addr;
        config.check_exposure()
    }

    /// Unloads every model and waits for the runners to exit (blocking).
    pub fn shutdown(&self) {
        self.state.pool.shutdown();
    }
}

fn router(state: AppRef) -> Router {
    let api = Router::new()
        .route("/api/version", get(ollama::version))
        .route("/api/tags", get(ollama::tags))
        .route("/api/ps", get(ollama::ps))
        .route("/api/show", post(ollama::show))
        .route("/api/generate", post(ollama::generate))
        .route("/api/chat", post(ollama::chat))
        .route("/api/delete", axum::routing::delete(ollama::delete))
        .route("/api/copy", post(ollama::copy))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/v1/embeddings", post(embed::openai))
        .route("/api/pull", post(ollama::not_here))
        .route("/api/push", post(ollama::not_here))
        .route("/api/create", post(ollama::not_here))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*model}", get(openai::model))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(state.origins.clone()))
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    Router::new()
        .route("/", get(health).head(health))
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), audit))
        .layer(middleware::from_fn_with_state(state.clone(), check_origin))
        .layer(cors)
        .with_state(state)
}

async fn health() -> &'static str {
    "SecLlama is running (Ollama-compatible API)"
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn metrics(State(app): State<AppRef>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

/// A browser request from an origin not on the allow-list is refused outright (CORS alone
/// only hides the answer; the request would still run).
async fn check_origin(State(app): State<AppRef>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = app
            .origins
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes()));
        if !allowed {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "this origin is not allowed; list it in SECLLAMA_ORIGINS",
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn authenticate(State(app): State<AppRef>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.clone());
    let unix = matches!(peer, Some(Peer::Unix { .. }));
    let id = match (&app.token, unix) {
        (Some(check), false) => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            match check.verify(presented) {
                Some(id) => Some(id.to_owned()),
                None => {
                    return ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "missing or wrong bearer token (Authorization: Bearer <token>; see \
                         `secllama serve token`)",
                    )
                    .into_response();
                }
            }
        }
        _ => None,
    };
    let who = id
        .clone()
        .or_else(|| peer.as_ref().map(|p| p.to_string()))
        .unwrap_or_default();
    if let Err(secs) = app.limiter.check(&who, Instant::now()) {
        app.metrics.rate_limited();
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded; retry later",
        );
        e.retry_after = Some(secs);
        return e.into_response();
    }
    if let Some(slot) = request.extensions().get::<TokenSlot>() {
        slot.set(id);
    }
    next.run(request).await
}

/// Lets the inner auth layer tell the outer audit layer which token was used.
#[derive(Clone, Default)]
struct TokenSlot(Arc<std::sync::Mutex<Option<String>>>);

impl TokenSlot {
    fn set(&self, id: Option<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = id;
    }
    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn audit(State(app): State<AppRef>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let fields: AuditHandle = Arc::new(std::sync::Mutex::new(AuditFields::default()));
    let slot = TokenSlot::default();
    request.extensions_mut().insert(fields.clone());
    request.extensions_mut().insert(slot.clone());
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.to_string());
    let method = request.method().to_string();
    let endpoint = endpoint_label(request.uri().path());
    let response = next.run(request).await;
    let guard = AuditGuard {
        sink: app.audit.clone(),
        metrics: app.metrics.clone(),
        fields,
        peer,
        method,
        endpoint,
        status: response.status().as_u16(),
        token: slot.get(),
        started,
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Audited {
            inner: body,
            _guard: guard,
        }),
    )
}

/// Known paths as themselves, anything else as `other` (bounded metric labels).
fn endpoint_label(path: &str) -> String {
    const KNOWN: &[&str] = &[
        "/",
        "/api/version",
        "/api/tags",
        "/api/ps",
        "/api/show",
        "/api/generate",
        "/api/chat",
        "/api/delete",
        "/api/copy",
        "/api/embed",
        "/api/embeddings",
        "/v1/embeddings",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/completions",
        "/metrics",
    ];
    if path.starts_with("/v1/models/") {
        return "/v1/models/{model}".to_owned();
    }
    KNOWN
        .iter()
        .find(|k| **k == path)
        .map_or_else(|| "other".to_owned(), |k| (*k).to_owned())
}

/// A response body that writes the audit line when it ends or is dropped.
struct Audited {
    inner: Body,
    _guard: AuditGuard,
}

impl http_body::Body for Audited {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_refuses_a_listener_bound_off_loopback_without_tls() {
        // The decision alone: nothing is bound or connected.
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(
            Auth::Token(crate::ApiToken::new("0123456789abcdef".into()).unwrap()),
            dir.path().into(),
        );
        config.audit_log = Some(dir.path().join("audit"));
        let app = App::new(config).unwrap();
        app.check_listener("127.0.0.1:4000".parse().unwrap())
            .unwrap();
        app.check_listener("[::1]:4000".parse().unwrap()).unwrap();
        for exposed in ["0.0.0.0:11434", "[::]:11434", "192.0.2.1:80"] {
            let addr: std::net::SocketAddr = exposed.parse().unwrap();
            assert!(
                matches!(app.check_listener(addr), Err(ServerError::ExposedWithoutTls { addr: a }) if a == addr),
                "{exposed}"
            );
        }
    }
}
