//! TLS for the TCP listener (rustls with its default aws-lc-rs provider, through tokio-rustls): required
//! before the server listens anywhere but loopback, so the bearer token never crosses a
//! network in clear.
//!
//! Handshakes run in their own tasks, each bounded by [`HANDSHAKE_TIMEOUT`], and at most
//! [`MAX_HANDSHAKES`] at once: a client that connects and says nothing cannot hold up the
//! others, and the accept loop hands axum finished TLS streams only.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use zeroize::Zeroizing;

use crate::{ServerError, TlsFiles};

/// Largest certificate chain or key file read (PEM).
pub const MAX_PEM_FILE: u64 = 1024 * 1024;
/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes in progress at once; connections beyond are closed at once.
pub const MAX_HANDSHAKES: usize = 256;

fn tls_error(files: &TlsFiles, what: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!(
        "certificate {} / key {}: {what}",
        files.cert.display(),
        files.key.display()
    ))
}

/// Reads a PEM file of at most [`MAX_PEM_FILE`] bytes (the buffer is wiped when dropped: it
/// may hold the private key).
fn read_pem(path: &Path, files: &TlsFiles) -> Result<Zeroizing<Vec<u8>>, ServerError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| ServerError::io(format!("opening {}", path.display()), e))?;
    let mut buf = Zeroizing::new(Vec::new());
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?;
    if buf.len() as u64 > MAX_PEM_FILE {
        return Err(tls_error(
            files,
            format!("{} is over {MAX_PEM_FILE} bytes", path.display()),
        ));
    }
    Ok(buf)
}

/// Loads the certificate chain and key and builds the server's TLS settings: TLS 1.2 and 1.3
/// with rustls's safe defaults, ALPN `http/1.1`, no client certificates.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let cert_pem = read_pem(&files.cert, files)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(files, format!("the certificate file is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(
            files,
            "the certificate file holds no CERTIFICATE block",
        ));
    }
    let key_pem = read_pem(&files.key, files)?;
    // Never the parser's detail here: it could quote the file.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        tls_error(
            files,
            "the key file holds no PKCS#8, PKCS#1 or SEC1 private key in PEM",
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(files, e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error(files, format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TCP listener whose connections are TLS streams, handshaken concurrently.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        TlsListener {
            tcp,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, peer: SocketAddr) {
        if self.handshakes.len() >= MAX_HANDSHAKES {
            tracing::warn!(%peer, "too many TLS handshakes in progress; connection closed");
            return;
        }
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => self.start_handshake(stream, peer),
                    Err(e) => {
                        // As axum's own loop: out of descriptors and the like pass.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &[u8], key: &[u8]) -> TlsFiles {
        let f = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&f.cert, cert).unwrap();
        std::fs::write(&f.key, key).unwrap();
        f
    }

    #[test]
    fn bad_certificate_and_key_files_are_named_errors_without_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let secret =
            b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
        let f = files(dir.path(), b"not a certificate", secret);
        let e = acceptor(&f).err().unwrap().to_string();
        assert!(e.contains("no CERTIFICATE block"), "{e}");

        let big = vec![b'a'; usize::try_from(MAX_PEM_FILE).unwrap() + 1];
        let f = files(dir.path(), &big, secret);
        let e = acceptor(&f).err().unwrap().to_string();
        assert!(e.contains("is over 1048576 bytes"), "{e}");

        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let f = files(dir.path(), cert.cert.pem().as_bytes(), b"no key here");
        let e = acceptor(&f).err().unwrap().to_string();
        assert!(e.contains("holds no PKCS#8"), "{e}");

        // a valid key of another certificate: refused, and the message quotes no key bytes
        let other = rcgen::generate_simple_self_signed(vec!["other".into()]).unwrap();
        let other_key = other.signing_key.serialize_pem();
        let f = files(dir.path(), cert.cert.pem().as_bytes(), other_key.as_bytes());
        let e = acceptor(&f).err().unwrap().to_string();
        assert!(e.contains("does not fit the certificate"), "{e}");
        assert!(!e.contains("BEGIN") && !e.contains("c2VjcmV0"), "{e}");

        let f = files(
            dir.path(),
            cert.cert.pem().as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        );
        acceptor(&f).unwrap();

        let missing = TlsFiles {
            cert: dir.path().join("absent.pem"),
            key: f.key.clone(),
        };
        assert!(matches!(
            acceptor(&missing),
            Err(ServerError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        ));
    }
}
