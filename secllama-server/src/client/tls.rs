//! One HTTPS GET to a server on loopback that trusts exactly the given CA (a `secllama serve`
//! with `--tls-cert`): what `secllama ps` / `secllama list` use against a TLS server.
//!
//! The address must be loopback (checked before any socket exists); the certificate must be
//! valid for that IP address and chain to the CA file; the response is read up to the size
//! limit and parsed with `httparse` (the parser hyper uses). Bodies must carry a
//! `Content-Length` (the server's JSON answers do); a chunked answer is refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use zeroize::Zeroizing;

use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, HttpError, is_loopback};

/// The largest CA file read.
const MAX_CA_FILE: u64 = 1024 * 1024;
/// Per-read timeout of [`get_tls`].
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn transport(e: impl std::fmt::Display) -> HttpError {
    HttpError::Transport(e.to_string())
}

/// GETs `path` from `https://addr` with the bearer `token`, trusting only the certificates
/// in the PEM file `ca`; returns the status and the body.
///
/// ```no_run
/// # fn main() -> Result<(), secllama_server::client::HttpError> {
/// let addr = "127.0.0.1:11434".parse().unwrap();
/// let (status, body) = secllama_server::client::get_tls(
///     addr, "/api/tags", std::path::Path::new("cert.pem"), Some("token"))?;
/// println!("{status}: {} bytes", body.len());
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`HttpError::NotLoopback`] for any other address; [`HttpError::Transport`] for a CA file
/// that cannot be used, a failed handshake (an untrusted certificate) or a malformed answer;
/// [`HttpError::ResponseTooLarge`]; [`HttpError::Io`].
pub fn get_tls(
    addr: SocketAddr,
    path: &str,
    ca: &Path,
    token: Option<&str>,
) -> Result<(u16, Vec<u8>), HttpError> {
    if !is_loopback(addr.ip()) {
        return Err(HttpError::NotLoopback {
            host: addr.ip().to_string(),
            addr: addr.ip(),
        });
    }
    if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(HttpError::InvalidUrl {
            url: path.to_owned(),
            reason: "the path must start with / and hold no spaces or control characters".into(),
        });
    }
    if token.is_some_and(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(HttpError::InvalidToken);
    }
    let mut roots = rustls::RootCertStore::empty();
    let mut pem = Vec::new();
    std::fs::File::open(ca)
        .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .map_err(|e| transport(format!("cannot read the CA file {}: {e}", ca.display())))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(transport(format!(
            "the CA file {} is over 1 MiB",
            ca.display()
        )));
    }
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| transport(format!("the CA file {}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| transport(format!("the CA file {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(transport(format!(
            "the CA file {} holds no certificate",
            ca.display()
        )));
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(transport)?;
    let tcp = TcpStream::connect_timeout(&addr, DEFAULT_CONNECT_TIMEOUT).map_err(HttpError::Io)?;
    tcp.set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(HttpError::Io)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Zeroizing::new(format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n"
    ));
    if let Some(t) = token {
        head.push_str("Authorization: Bearer ");
        head.push_str(t);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).map_err(tls_io)?;
    let mut raw = Vec::new();
    let limit = DEFAULT_MAX_RESPONSE_BYTES + 64 * 1024;
    match (&mut tls).take(limit + 1).read_to_end(&mut raw) {
        Ok(_) => {}
        // A server that closes without close_notify after a complete answer: parse what came.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(tls_io(e)),
    }
    if raw.len() as u64 > limit {
        return Err(HttpError::ResponseTooLarge {
            limit: DEFAULT_MAX_RESPONSE_BYTES,
        });
    }
    parse(&raw)
}

fn tls_io(e: std::io::Error) -> HttpError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        // rustls reports handshake failures (an untrusted certificate) this way
        transport(format!("TLS: {e}"))
    } else {
        HttpError::Io(e)
    }
}

/// Status and body of a complete HTTP/1.1 answer.
fn parse(raw: &[u8]) -> Result<(u16, Vec<u8>), HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let start = match response.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(transport("the answer ended in its head")),
        Err(e) => return Err(transport(format!("malformed answer: {e}"))),
    };
    let status = response.code.ok_or_else(|| transport("no status"))?;
    let mut length = None;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(transport("chunked answers are not supported here"));
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        }
    }
    let body = raw.get(start..).unwrap_or_default();
    let body = match length {
        Some(n) if n <= body.len() => body.get(..n).unwrap_or_default(),
        Some(_) => return Err(transport("the answer is shorter than its Content-Length")),
        None => body,
    };
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cut_at_their_length_and_chunked_ones_refused() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}trailing";
        assert_eq!(parse(ok).unwrap(), (200, b"{}".to_vec()));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert!(matches!(parse(chunked), Err(HttpError::Transport(m)) if m.contains("chunked")));
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}";
        assert!(matches!(parse(short), Err(HttpError::Transport(m)) if m.contains("shorter")));
        assert!(matches!(
            parse(b"HTTP/1.1 200"),
            Err(HttpError::Transport(_))
        ));
    }

    #[test]
    fn other_hosts_are_refused_before_connecting() {
        let addr = "192.0.2.1:443".parse().unwrap();
        let e = get_tls(addr, "/", Path::new("/nonexistent"), None).unwrap_err();
        assert!(matches!(e, HttpError::NotLoopback { .. }), "{e}");
    }
}
