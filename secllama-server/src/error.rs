//! The crate's error type (setting up and running the server) and the HTTP error answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What can go wrong configuring or running the server, or managing its models and token.
///
/// Messages never carry the API token, prompts or generated text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A non-loopback listen address without TLS: the token would cross the network in clear.
    #[error(
        "refusing to listen on {addr}: it is not a loopback address and no TLS certificate is \
         configured (the bearer token would cross the network in clear); listen on 127.0.0.1 or \
         ::1, or configure TLS"
    )]
    ExposedWithoutTls {
        /// The address asked for.
        addr: std::net::SocketAddr,
    },
    /// `--insecure-no-auth` asked for on an address other hosts can reach.
    #[error("--insecure-no-auth is allowed on loopback only, not on {addr}")]
    NoAuthNotLoopback {
        /// The address asked for.
        addr: std::net::SocketAddr,
    },
    /// The TLS certificate or key cannot be used (the message names the files, never their
    /// content).
    #[error("TLS: {0}")]
    Tls(String),
    /// A configuration value is invalid (the message names it).
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// The OS keychain holding the generated token failed.
    #[error("keychain: {0}")]
    Keystore(#[from] secllama_keystore::KeystoreError),
    /// The model registry could not be read or changed.
    #[error("model registry: {0}")]
    Registry(String),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl ServerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ServerError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Which API family answers: Ollama's errors are `{"error": "..."}`, OpenAI's are
/// `{"error": {"message": "...", "type": "..."}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Ollama,
    OpenAi,
}

/// An error answer: status, message, and `Retry-After` for 429.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
    pub(crate) dialect: Dialect,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            dialect: Dialect::Ollama,
        }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub(crate) fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// The JSON body for this error.
    pub(crate) fn body(&self) -> serde_json::Value {
        match self.dialect {
            Dialect::Ollama => serde_json::json!({ "error": self.message }),
            Dialect::OpenAi => serde_json::json!({ "error": {
                "message": self.message,
                "type": openai_type(self.status),
                "param": null,
                "code": null,
            }}),
        }
    }
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 404 | 413 => "invalid_request_error",
        401 => "authentication_error",
        429 => "rate_limit_error",
        501 => "not_implemented",
        503 => "server_overloaded",
        _ => "api_error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"secllama\""),
            );
        }
        response
    }
}

/// Maps a runner failure to an answer: the client's fault is 400, everything else 503 (the
/// runner or model is unavailable) or 500, never with prompt text.
pub(crate) fn from_runner(e: &secllama_runner::RunnerError) -> ApiError {
    use secllama_runner::RunnerError as E;
    match e {
        E::InvalidRequest(m) => ApiError::bad_request(m.clone()),
        E::PromptTooLong { .. } => ApiError::bad_request(e.to_string()),
        E::ModelNotFound { .. } | E::ChecksumMismatch { .. } | E::InvalidModel(_) => {
            ApiError::unavailable(format!("the model cannot be loaded: {e}"))
        }
        E::RunnerNotFound { .. } | E::Sandbox(_) | E::Spawn(_) | E::UnsupportedCpu(_) => {
            ApiError::unavailable(format!("the runner cannot start: {e}"))
        }
        _ => ApiError::internal(format!("the runner failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_and_openai_bodies_have_their_exact_shapes() {
        let e = ApiError::bad_request("x is wrong");
        assert_eq!(e.body(), serde_json::json!({"error": "x is wrong"}));
        let e = e.dialect(Dialect::OpenAi);
        assert_eq!(
            e.body(),
            serde_json::json!({"error": {"message": "x is wrong",
                "type": "invalid_request_error", "param": null, "code": null}})
        );
    }

    #[test]
    fn rate_limited_answers_carry_retry_after() {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "slow down");
        e.retry_after = Some(3);
        let r = e.into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn invalid_runner_requests_are_400_not_5xx() {
        let e = from_runner(&secllama_runner::RunnerError::InvalidRequest(
            "top_p".into(),
        ));
        assert_eq!(e.status, 400);
        let e = from_runner(&secllama_runner::RunnerError::PromptTooLong {
            prompt_tokens: 9,
            context_length: 4,
        });
        assert_eq!(e.status, 400);
    }
}
