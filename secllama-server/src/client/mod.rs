//! `LocalhostClient`: an HTTP/1.1 client that can only ever talk to loopback.
//!
//! Every request (and every redirect hop) goes through `LoopbackResolver`, which resolves the
//! host and refuses unless *every* resolved address is loopback; a second check in the connector
//! chain (`LoopbackGuard`) re-verifies the exact addresses handed to `connect`, so no code path
//! opens a socket to anything else. Proxies from the environment are ignored, redirects are
//! followed by hand (bounded, each hop checked), and response bodies have a size limit.
//!
//! It moved here from secllama-sandbox: it is the server's client, used by `secllama ps` and
//! `secllama list` against a running server and by this crate's tests.

mod error;
mod loopback;
#[cfg(test)]
mod tests;
mod tls;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ureq::http::{self, HeaderValue, Method, Uri};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{Connector, TcpConnector};
use zeroize::Zeroizing;

pub use self::error::HttpError;
use self::error::map_ureq;
pub use self::loopback::{HostResolver, is_loopback};
use self::loopback::{LoopbackGuard, LoopbackResolver};
pub use self::tls::get_tls;

/// Default bound on how long establishing a TCP connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on each single read from the server (restarted on every read, so a slowly
/// streaming model server is fine as long as it keeps sending).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Default limit on a response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Default number of redirects followed (each hop is checked to stay on loopback).
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;
/// Hard upper bound on [`LocalhostClientBuilder::max_redirects`].
pub const MAX_REDIRECTS_LIMIT: u32 = 20;

/// Configures a [`LocalhostClient`].
pub struct LocalhostClientBuilder {
    connect_timeout: Duration,
    read_timeout: Duration,
    total_timeout: Option<Duration>,
    token: Option<Zeroizing<String>>,
    max_response_bytes: u64,
    max_redirects: u32,
    resolver: Option<Arc<dyn HostResolver>>,
}

impl fmt::Debug for LocalhostClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalhostClientBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("bearer_token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_redirects", &self.max_redirects)
            .field("custom_resolver", &self.resolver.is_some())
            .finish()
    }
}

impl Default for LocalhostClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            total_timeout: None,
            token: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            resolver: None,
        }
    }
}

impl LocalhostClientBuilder {
    /// Bound on establishing each connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// Bound on each read from the server (default [`DEFAULT_READ_TIMEOUT`]).
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = t;
        self
    }
    /// Optional bound on a whole request including redirects and reading the body.
    pub fn total_timeout(mut self, t: Duration) -> Self {
        self.total_timeout = Some(t);
        self
    }
    /// Sends `Authorization: Bearer <token>` (never logged; `Debug` shows `<redacted>`). The token
    /// is dropped on a redirect to a different host or port.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }
    /// Largest response body accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, n: u64) -> Self {
        self.max_response_bytes = n;
        self
    }
    /// Redirects followed, each checked to stay on loopback (default [`DEFAULT_MAX_REDIRECTS`],
    /// capped at [`MAX_REDIRECTS_LIMIT`]); `0` returns 3xx responses as they are.
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n.min(MAX_REDIRECTS_LIMIT);
        self
    }
    /// Uses `resolver` for host names instead of the system's (IP literals are never looked
    /// up). The answer is still checked to be loopback only.
    pub fn resolver(mut self, resolver: impl HostResolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`HttpError::InvalidToken`] if the bearer token cannot be sent in a header.
    pub fn build(self) -> Result<LocalhostClient, HttpError> {
        if let Some(t) = &self.token
            && (t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(HttpError::InvalidToken);
        }
        let config = ureq::Agent::config_builder()
            // Ignore HTTP_PROXY/HTTPS_PROXY/ALL_PROXY: a proxy would see (and route) the traffic.
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_per_read(Some(self.read_timeout))
            .timeout_global(self.total_timeout)
            .max_response_header_size(64 * 1024)
            .build();
        let resolver = LoopbackResolver {
            custom: self.resolver,
            system: DefaultResolver::default(),
        };
        let connector = LoopbackGuard.chain(TcpConnector::default());
        Ok(LocalhostClient {
            agent: ureq::Agent::with_parts(config, connector, resolver),
            token: self.token,
            max_response_bytes: self.max_response_bytes,
            max_redirects: self.max_redirects,
        })
    }
}

/// An HTTP client for local model servers (Ollama, llama-server) that refuses to connect
/// anywhere but loopback.
///
/// ```no_run
/// use secllama_server::client::LocalhostClient;
/// # fn main() -> Result<(), secllama_server::client::HttpError> {
/// let client = LocalhostClient::builder().bearer_token("s3cret").build()?;
/// let resp = client.get("http://127.0.0.1:11434/api/tags")?;
/// println!("{} {}", resp.status(), resp.text_lossy());
/// // Anything that is not loopback is refused before a packet is sent:
/// assert!(client.get("http://192.0.2.1/").is_err());
/// # Ok(()) }
/// ```
pub struct LocalhostClient {
    agent: ureq::Agent,
    token: Option<Zeroizing<String>>,
    max_response_bytes: u64,
    max_redirects: u32,
}

impl fmt::Debug for LocalhostClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalhostClient")
            .field("bearer_token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_redirects", &self.max_redirects)
            .finish_non_exhaustive()
    }
}

/// A complete, size-limited response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl HttpResponse {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The `Content-Type` header, if present and valid text.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// The body as text, invalid UTF-8 replaced.
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Takes the body.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// A response whose body is read incrementally, bounded in total by the client's
/// `max_response_bytes`. Read errors are `io::Error`s whose inner error is the [`HttpError`]
/// (`ResponseTooLarge`, `Timeout`, ...), recoverable with `get_ref()` + `downcast_ref`.
pub struct HttpStream {
    status: u16,
    content_type: Option<String>,
    reader: ureq::BodyReader<'static>,
    max_response_bytes: u64,
    remaining: u64,
}

impl fmt::Debug for HttpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStream")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl HttpStream {
    fn new(resp: http::Response<ureq::Body>, max_response_bytes: u64) -> HttpStream {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let reader = resp
            .into_body()
            .into_with_config()
            .limit(max_response_bytes.saturating_add(1))
            .reader();
        HttpStream {
            status,
            content_type,
            reader,
            max_response_bytes,
            remaining: max_response_bytes,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Content-Type` header, if present and valid text.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

impl HttpStream {
    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.reader, buf).map_err(|e| {
            let kind = e.kind();
            match e.into_inner() {
                Some(inner) => match inner.downcast::<ureq::Error>() {
                    Ok(u) => io::Error::other(map_ureq(*u, self.max_response_bytes)),
                    Err(other) => io::Error::new(kind, other),
                },
                None => io::Error::from(kind),
            }
        })
    }
}

impl io::Read for HttpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // At the limit: the body may end here, or it is too large.
            let mut probe = [0u8; 1];
            return match self.read_inner(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(HttpError::ResponseTooLarge {
                    limit: self.max_response_bytes,
                })),
            };
        }
        let want = u64::try_from(buf.len())
            .unwrap_or(u64::MAX)
            .min(self.remaining);
        let want = usize::try_from(want).unwrap_or(buf.len());
        let got = self.read_inner(&mut buf[..want])?;
        self.remaining = self
            .remaining
            .saturating_sub(u64::try_from(got).unwrap_or(u64::MAX));
        Ok(got)
    }
}

fn parse_url(url: &str) -> Result<Uri, HttpError> {
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| HttpError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(s) => {
            return Err(HttpError::UnsupportedScheme {
                scheme: s.to_owned(),
            });
        }
        None => {
            return Err(HttpError::InvalidUrl {
                url: url.to_owned(),
                reason: "not an absolute http:// url".to_owned(),
            });
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(HttpError::InvalidUrl {
            url: url.to_owned(),
            reason: "no host".to_owned(),
        });
    }
    Ok(uri)
}

/// Resolves a redirect `Location` against the URL that produced it (RFC 3986 reference
/// resolution, simplified: absolute, scheme-relative, absolute-path and relative-path forms).
pub(crate) fn resolve_location(base: &Uri, location: &str, status: u16) -> Result<Uri, HttpError> {
    let bad = |reason: &str| HttpError::BadRedirect {
        status,
        reason: reason.to_owned(),
    };
    let location = location.split('#').next().unwrap_or("");
    if location.is_empty() {
        return Err(bad("empty Location"));
    }
    let scheme_end = location.find(':');
    let first_sep = location.find(['/', '?']);
    let is_absolute = match (scheme_end, first_sep) {
        (Some(c), Some(s)) => c < s,
        (Some(_), None) => true,
        _ => false,
    };
    let base_scheme = base.scheme_str().unwrap_or("http");
    let base_auth = base.authority().map(|a| a.as_str()).unwrap_or("");
    let joined = if is_absolute {
        location.to_owned()
    } else if location.starts_with("//") {
        format!("{base_scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{base_scheme}://{base_auth}{location}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{base_scheme}://{base_auth}{dir}{location}")
    };
    parse_url(&joined).map_err(|e| match e {
        HttpError::UnsupportedScheme { scheme } => HttpError::UnsupportedScheme { scheme },
        other => bad(&other.to_string()),
    })
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    a.scheme_str() == b.scheme_str()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && a.port_u16().unwrap_or(80) == b.port_u16().unwrap_or(80)
}

impl LocalhostClient {
    /// A builder with the defaults (see the `DEFAULT_*` constants).
    pub fn builder() -> LocalhostClientBuilder {
        LocalhostClientBuilder::default()
    }

    /// `GET url`.
    ///
    /// # Errors
    /// [`HttpError::Http`](crate::HttpError) with [`HttpError::NotLoopback`] if the host
    /// (or a redirect target) is not loopback-only, and the other [`HttpError`]s for timeouts,
    /// oversized bodies, connection failures.
    pub fn get(&self, url: &str) -> Result<HttpResponse, HttpError> {
        self.request(Method::GET, url, None)
    }

    /// `POST url` with `body` of type `content_type`.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        self.request(Method::POST, url, Some((content_type, body)))
    }

    /// `POST url` like [`post`](Self::post), returning as soon as the response headers are in;
    /// the body is read incrementally from the returned [`HttpStream`] (e.g. a model server's
    /// newline-delimited JSON token stream), still bounded by `max_response_bytes` in total and
    /// by the read timeout per read.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn post_stream(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<HttpStream, HttpError> {
        let resp = self.follow(Method::POST, url, Some((content_type, body)))?;
        Ok(HttpStream::new(resp, self.max_response_bytes))
    }

    /// `GET url`, streaming the body (see [`post_stream`](Self::post_stream)).
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn get_stream(&self, url: &str) -> Result<HttpStream, HttpError> {
        let resp = self.follow(Method::GET, url, None)?;
        Ok(HttpStream::new(resp, self.max_response_bytes))
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<HttpResponse, HttpError> {
        let resp = self.follow(method, url, body)?;
        self.finish(resp)
    }

    /// Sends the request and follows redirects (each hop checked); returns the final response
    /// with its body unread.
    fn follow(
        &self,
        method: Method,
        url: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<http::Response<ureq::Body>, HttpError> {
        let first = parse_url(url)?;
        let mut uri = first.clone();
        let mut method = method;
        let mut body = body;
        let mut send_token = true;
        let mut hops = 0u32;
        loop {
            let resp = self.send_once(&method, &uri, body, send_token)?;
            let status = resp.status().as_u16();
            let is_redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
            if !is_redirect || self.max_redirects == 0 {
                return Ok(resp);
            }
            if hops >= self.max_redirects {
                return Err(HttpError::TooManyRedirects {
                    limit: self.max_redirects,
                });
            }
            hops += 1;
            let location = resp
                .headers()
                .get(http::header::LOCATION)
                .ok_or_else(|| HttpError::BadRedirect {
                    status,
                    reason: "no Location header".to_owned(),
                })?
                .to_str()
                .map_err(|_| HttpError::BadRedirect {
                    status,
                    reason: "Location is not visible ASCII".to_owned(),
                })?
                .to_owned();
            // The redirect's body is never read; dropping the response closes the connection.
            drop(resp);
            let next = resolve_location(&uri, &location, status)?;
            if status == 303 || (matches!(status, 301 | 302) && method == Method::POST) {
                method = Method::GET;
                body = None;
            }
            // The next hop's resolver refuses it if it is not loopback; the token only follows
            // to the same origin.
            send_token = send_token && same_origin(&first, &next);
            uri = next;
        }
    }

    fn send_once(
        &self,
        method: &Method,
        uri: &Uri,
        body: Option<(&str, &[u8])>,
        send_token: bool,
    ) -> Result<http::Response<ureq::Body>, HttpError> {
        let mut builder = http::Request::builder()
            .method(method.clone())
            .uri(uri.clone());
        if let (Some(token), true) = (&self.token, send_token) {
            let value = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let mut hv = HeaderValue::from_str(&value).map_err(|_| HttpError::InvalidToken)?;
            hv.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, hv);
        }
        if let Some((ct, _)) = body {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        let payload: Vec<u8> = body.map(|(_, b)| b.to_vec()).unwrap_or_default();
        let request = builder.body(payload).map_err(|e| HttpError::InvalidUrl {
            url: uri.to_string(),
            reason: e.to_string(),
        })?;
        self.agent
            .run(request)
            .map_err(|e| map_ureq(e, self.max_response_bytes))
    }

    fn finish(&self, mut resp: http::Response<ureq::Body>) -> Result<HttpResponse, HttpError> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .body_mut()
            .with_config()
            // ureq's limit errors once `limit` bytes were read and more is asked for, even at
            // EOF; one extra byte makes `max_response_bytes` itself acceptable.
            .limit(self.max_response_bytes.saturating_add(1))
            .read_to_vec()
            .map_err(|e| map_ureq(e, self.max_response_bytes))?;
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }
}
