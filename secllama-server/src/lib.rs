#![doc = include_str!("../README.md")]

mod audit;
mod auth;
mod body;
pub mod client;
mod config;
mod embed;
mod error;
mod gguf;
mod listen;
mod metrics;
mod ollama;
mod openai;
mod params;
mod pool;
mod ratelimit;
mod registry;
mod server;
mod time;
mod tls;

pub use crate::auth::{
    ApiToken, Auth, TOKEN_ENV, TOKEN_PREFIX, TOKEN_SERVICE, keychain_token, resolve_token,
    rotate_keychain_token,
};
pub use crate::config::{
    DEFAULT_BODY_LIMIT, DEFAULT_KEEP_ALIVE, DEFAULT_LISTEN, MAX_PARALLEL, RateLimit,
    SHUTDOWN_GRACE, ServerConfig, TlsFiles,
};
pub use crate::error::ServerError;
pub use crate::listen::{OwnerOnlyUnixListener, serve, shutdown_signal};
pub use crate::registry::{
    MODELS_ENV, ModelEntry, Registry, default_model_name, models_dir_from_env, normalize_name,
};
pub use crate::server::{App, Peer};
pub use crate::tls::{HANDSHAKE_TIMEOUT, MAX_HANDSHAKES, MAX_PEM_FILE};

/// The repository README's Rust programs, compiled (and the runnable ones run) as doctests so
/// that what a newcomer copies works. Not an API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
