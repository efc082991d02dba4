//! A real server on a random loopback port with real runners, for the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use secllama_server::client::{HttpResponse, LocalhostClient};
use secllama_server::{ApiToken, App, Auth, ServerConfig};

pub const TOKEN: &str = "integration-test-token-0123456789";

pub struct TestServer {
    pub addr: SocketAddr,
    pub audit: PathBuf,
    pub models: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl TestServer {
    pub fn start(tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let models = tempfile::tempdir().unwrap();
        let audit = models.path().join("audit.jsonl");
        let mut config = ServerConfig::new(
            Auth::Token(ApiToken::new(TOKEN.into()).unwrap()),
            models.path().join("registry"),
        );
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.audit_log = Some(audit.clone());
        config.context_length = 512;
        tune(&mut config);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = App::new(config).map_err(|e| e.to_string())?;
                secllama_server::serve(app, Some(listener), None, async {
                    let _ = stop_rx.await;
                })
                .await
                .map_err(|e| e.to_string())
            })
        });
        let addr = addr_rx.recv().unwrap();
        TestServer {
            addr,
            audit,
            models,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn client(&self) -> LocalhostClient {
        LocalhostClient::builder()
            .bearer_token(TOKEN)
            .read_timeout(Duration::from_secs(600))
            .build()
            .unwrap()
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        self.client()
            .post(
                &self.url(path),
                "application/json",
                body.to_string().as_bytes(),
            )
            .unwrap()
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        self.client().get(&self.url(path)).unwrap()
    }

    /// Stops the server (as SIGTERM would) and waits for it and its runners.
    pub fn stop(&mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.thread.take().map_or(Ok(()), |t| t.join().unwrap())
    }

    /// Sends `stop` without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub fn join(&mut self) -> Result<(), String> {
        self.thread.take().map_or(Ok(()), |t| t.join().unwrap())
    }

    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        // the audit thread writes asynchronously
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").text_lossy();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// One raw HTTP/1.1 request with extra headers (Origin, methods the client lacks); returns
/// status, lower-cased headers and body.
pub fn raw(
    addr: SocketAddr,
    request_head: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{request_head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let code = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut body = String::new();
    let _ = r.read_to_string(&mut body);
    (code, headers, body)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn model() -> String {
    secllama_server::default_model_name()
}

/// The default model must be fetched (examples/fetch-model.sh) for the runner tests.
pub fn require_model() {
    let p = secllama_runner::default_model_path().unwrap();
    assert!(
        p.is_file(),
        "{} missing: run examples/fetch-model.sh",
        p.display()
    );
}
