//! What can go wrong in a [`LocalhostClient`](super::LocalhostClient) request.

use std::io;
use std::net::IpAddr;

/// What went wrong in a [`LocalhostClient`](super::LocalhostClient) request.
///
/// Messages never contain the bearer token or request/response bodies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL could not be parsed or has no host.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Only plain `http://` is supported (loopback traffic never leaves the host).
    #[error("unsupported url scheme {scheme:?}: LocalhostClient only speaks http:// to loopback")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The host resolved to (or is) an address outside 127.0.0.0/8 and ::1; nothing was sent.
    #[error(
        "refusing to connect: {host} resolves to {addr}, which is not loopback \
         (only 127.0.0.0/8 and ::1 are allowed); nothing was sent"
    )]
    NotLoopback {
        /// The host from the URL.
        host: String,
        /// The first offending address.
        addr: IpAddr,
    },
    /// Name resolution failed or returned nothing.
    #[error("could not resolve {host}: {reason}")]
    Resolve {
        /// The host from the URL.
        host: String,
        /// Why.
        reason: String,
    },
    /// A redirect response had a missing or unusable `Location`.
    #[error("bad redirect (status {status}): {reason}")]
    BadRedirect {
        /// The 3xx status.
        status: u16,
        /// What is wrong with the `Location` header.
        reason: String,
    },
    /// More redirects than allowed.
    #[error("too many redirects (limit {limit}); raise max_redirects or fix the server")]
    TooManyRedirects {
        /// The configured limit.
        limit: u32,
    },
    /// The response body is larger than the configured limit; it was not read further.
    #[error(
        "response body exceeds the limit of {limit} bytes; raise max_response_bytes if expected"
    )]
    ResponseTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// A connect, read or total timeout expired.
    #[error("request timed out ({phase}); is the local server running and responsive?")]
    Timeout {
        /// Which timeout fired, as ureq names it.
        phase: String,
    },
    /// The bearer token contains bytes that cannot go into an HTTP header.
    #[error("bearer token must be printable ASCII without spaces")]
    InvalidToken,
    /// An I/O error while connecting or talking to the server (e.g. connection refused).
    #[error("connection to the local server failed: {0}")]
    Io(#[source] io::Error),
    /// Any other protocol or transport failure.
    #[error("http request failed: {0}")]
    Transport(String),
}

/// Maps ureq errors onto [`HttpError`], recovering our own refusals.
pub(super) fn map_ureq(e: ureq::Error, max_response_bytes: u64) -> HttpError {
    match e {
        ureq::Error::Other(inner) => match inner.downcast::<HttpError>() {
            Ok(h) => *h,
            Err(other) => HttpError::Transport(other.to_string()),
        },
        ureq::Error::Timeout(t) => HttpError::Timeout {
            phase: t.to_string(),
        },
        ureq::Error::BodyExceedsLimit(_) => HttpError::ResponseTooLarge {
            limit: max_response_bytes,
        },
        ureq::Error::Io(io) => HttpError::Io(io),
        ureq::Error::HostNotFound => HttpError::Resolve {
            host: String::new(),
            reason: "host not found".to_owned(),
        },
        other => HttpError::Transport(other.to_string()),
    }
}
