//! TLS on the TCP listener: a real server on a random 127.0.0.1 port with a self-signed
//! certificate made here, and a rustls client that trusts exactly that certificate. Loopback
//! only; addresses off the host are only ever checked, never connected to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod server_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use secllama_server::{App, Auth, ServerConfig, TlsFiles};
use serde_json::{Value, json};
use server_support::{TOKEN, TestServer, model, require_model};

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
fn self_signed(dir: &Path) -> (TlsFiles, CertificateDer<'static>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, made.cert.pem()).unwrap();
    std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
    (files, made.cert.der().clone())
}

fn client_config(trusted: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

struct Answer {
    status: u16,
    head: String,
    body: String,
    protocol: Option<rustls::ProtocolVersion>,
    group: Option<rustls::NamedGroup>,
    alpn: Option<Vec<u8>>,
}

/// One HTTP/1.1 request over TLS to `addr`, checking the certificate against `config`'s roots
/// for the name 127.0.0.1.
fn https(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    head: &str,
    body: &[u8],
) -> Result<Answer, std::io::Error> {
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(300)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(request.as_bytes())?;
    tls.write_all(body)?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // a peer that closes without close_notify: the bytes read so far are the answer
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Ok(Answer {
        status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        head: head.to_owned(),
        body: body.to_owned(),
        protocol: tls.conn.protocol_version(),
        group: tls.conn.negotiated_key_exchange_group().map(|g| g.name()),
        alpn: tls.conn.alpn_protocol().map(<[u8]>::to_vec),
    })
}

#[test]
fn a_tls_round_trip_on_loopback_answers_with_the_token_and_401_without() {
    let dir = tempfile::tempdir().unwrap();
    let (files, cert) = self_signed(dir.path());
    let server = TestServer::start(|c| c.tls = Some(files));
    let trusting = client_config(&cert);

    let auth = format!("Authorization: Bearer {TOKEN}");
    let a = https(
        server.addr,
        trusting.clone(),
        &format!("GET /api/version HTTP/1.1\r\n{auth}"),
        b"",
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.head);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert!(v["version"].is_string(), "{v}");
    // rustls's defaults: TLS 1.3 with the post-quantum hybrid key exchange, HTTP/1.1 by ALPN
    assert_eq!(a.protocol, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(a.group, Some(rustls::NamedGroup::X25519MLKEM768));
    assert_eq!(a.alpn.as_deref(), Some(&b"http/1.1"[..]));

    // the token is still required over TLS
    let a = https(server.addr, trusting.clone(), "GET /api/tags HTTP/1.1", b"").unwrap();
    assert_eq!(a.status, 401);
    assert!(a.body.contains("bearer token"), "{}", a.body);

    // a request body over TLS: an unknown model is the usual JSON 404
    let a = https(
        server.addr,
        trusting,
        &format!("POST /api/generate HTTP/1.1\r\n{auth}"),
        br#"{"model":"no-such-model","prompt":"x"}"#,
    )
    .unwrap();
    assert_eq!(a.status, 404);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("not found"), "{v}");

    // the audit line names the TLS peer like any TCP peer
    let lines = server.audit_lines();
    let line = lines
        .iter()
        .find(|l| l["endpoint"] == "/api/generate")
        .unwrap();
    assert!(
        line["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn the_tls_port_speaks_no_plain_http_and_an_untrusting_client_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (files, cert) = self_signed(dir.path());
    let server = TestServer::start(|c| c.tls = Some(files));

    // plain HTTP to the TLS port: no HTTP answer, never the API in clear
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        !out.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // what comes back, if anything, is a TLS alert record (content type 21)
    assert!(out.is_empty() || out[0] == 21, "{out:?}");

    // a client that trusts another certificate refuses this server before sending anything
    let other = tempfile::tempdir().unwrap();
    let (_, other_cert) = self_signed(other.path());
    let e = https(
        server.addr,
        client_config(&other_cert),
        "GET / HTTP/1.1",
        b"",
    )
    .err()
    .unwrap();
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    assert!(
        matches!(
            inner,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature | rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{e:?}"
    );

    // and the server still serves a trusting client afterwards
    let a = https(server.addr, client_config(&cert), "GET / HTTP/1.1", b"").unwrap();
    assert_eq!(a.status, 200);
}

#[test]
fn off_loopback_is_allowed_with_tls_and_the_bound_address_is_checked_again() {
    // Decided without listening or connecting: 192.0.2.1 is a documentation address.
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = self_signed(dir.path());
    let mut c = ServerConfig::new(
        Auth::Token(secllama_server::ApiToken::new(TOKEN.into()).unwrap()),
        dir.path().join("m"),
    );
    c.audit_log = Some(dir.path().join("audit"));
    c.listen = "192.0.2.1:11434".parse().unwrap();
    c.tls = Some(files.clone());
    c.check_exposure().unwrap();
    let app = App::new(c.clone()).unwrap();
    assert!(app.uses_tls());

    // a certificate that cannot be used is refused when the server is built
    c.tls = Some(TlsFiles {
        cert: files.cert.clone(),
        key: files.cert.clone(),
    });
    let e = App::new(c).unwrap_err();
    assert!(
        matches!(&e, secllama_server::ServerError::Tls(m) if m.contains("no PKCS#8")),
        "{e}"
    );
}

#[test]
fn a_streamed_generation_over_tls_from_the_real_model() {
    require_model();
    let dir = tempfile::tempdir().unwrap();
    let (files, cert) = self_signed(dir.path());
    let server = TestServer::start(|c| c.tls = Some(files));
    let body = json!({"model": model(), "prompt": "The capital of France is", "raw": true,
        "options": {"temperature": 0, "num_predict": 4, "seed": 7}})
    .to_string();
    let a = https(
        server.addr,
        client_config(&cert),
        &format!("POST /api/generate HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(
        a.head
            .to_ascii_lowercase()
            .contains("content-type: application/x-ndjson"),
        "{}",
        a.head
    );
    // chunked NDJSON: pieces, then the done line with 4 evaluated tokens
    let lines: Vec<Value> = a
        .body
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, pieces) = lines.split_last().unwrap();
    assert!(!pieces.is_empty() && pieces.iter().all(|p| p["done"] == false));
    assert_eq!(
        (last["done"].clone(), last["eval_count"].clone()),
        (json!(true), json!(4))
    );
}
