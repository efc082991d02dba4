//! `secllama serve` through the real binary: exposure refused before anything listens, and
//! `--tls-cert/--tls-key` serving TLS only. Loopback only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn secllama(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_secllama"));
    c.env("SECLLAMA_API_TOKEN", "cli-test-token-0123456789")
        .env("SECLLAMA_MODELS", dir.join("models"))
        .env_remove("SECLLAMA_HOST")
        .env_remove("SECLLAMA_ORIGINS");
    c
}

#[test]
fn serve_refuses_a_non_loopback_address_without_tls_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1"] {
        let out = secllama(dir.path())
            .args(["serve", "--listen", addr])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{addr}: {err}");
        assert!(
            err.contains("refusing to listen on") && err.contains("no TLS certificate"),
            "{addr}: {err}"
        );
        assert!(!err.contains("serving"), "{err}");
    }
    // a certificate without its key is a usage error
    let out = secllama(dir.path())
        .args(["serve", "--tls-cert", "c.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_with_a_certificate_speaks_tls_only_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    // a free loopback port
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = secllama(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("serving") {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("secllama serve ended: {banner}");
        }
        banner.push_str(&line);
    }
    assert!(
        banner.contains(&format!("on https://127.0.0.1:{port}")),
        "{banner}"
    );
    // plain HTTP gets no HTTP answer
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(!out.starts_with(b"HTTP/"), "{out:?}");

    // `secllama list` / `ps` against it: with the certificate as CA they work; without it
    // (plain HTTP) or trusting another certificate they fail with the cause.
    let host = format!("127.0.0.1:{port}");
    for (command, header) in [
        ("list", "NAME\tSIZE\tQUANT\tDIGEST\n"),
        ("ps", "NAME\tPID\tSANDBOX"),
    ] {
        let out = secllama(dir.path())
            .args([command, "--host", &host, "--tls-ca"])
            .arg(&cert)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with(header), "{command}: {stdout}");
        let out = secllama(dir.path())
            .args([command, "--host", &host])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is `secllama serve` running on"),
            "{stderr}"
        );
    }
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let out = secllama(dir.path())
        .args(["list", "--host", &host, "--tls-ca"])
        .arg(&other_pem)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS") && stderr.contains("certificate"),
        "{stderr}"
    );

    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory preconditions; the pid is our own child's, not yet reaped.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
