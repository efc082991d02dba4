//! A tiny HTTP/1.1 server on 127.0.0.1 for the `LocalhostClient` tests: it serves a fixed
//! number of connections (bounded loop), records each request and answers from a closure.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server does with the n-th request.
pub enum Reply {
    /// Send these bytes and close.
    Raw(Vec<u8>),
    /// Never answer; wait until the client gives up (or 30 s pass).
    Stall,
}

impl Reply {
    /// `200 OK` (or another status) with a body.
    pub fn status(code: u16, extra_headers: &str, body: &[u8]) -> Reply {
        let mut out = format!(
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        Reply::Raw(out)
    }
    /// A redirect to `location`.
    pub fn redirect(code: u16, location: &str) -> Reply {
        Reply::status(code, &format!("Location: {location}\r\n"), b"moved")
    }
}

/// A running test server.
pub struct TestServer {
    /// Where it listens (always 127.0.0.1).
    pub addr: SocketAddr,
    /// Each request received: head and body, lossily decoded.
    pub requests: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    /// Waits for the server to have served all its connections and returns the requests.
    pub fn finish(mut self) -> Vec<String> {
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread");
        }
        self.requests.lock().unwrap().clone()
    }
}

/// Serves exactly `connections` connections, answering request `i` with `reply(i)`.
pub fn serve(connections: usize, reply: impl Fn(usize) -> Reply + Send + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let handle = std::thread::spawn(move || {
        for i in 0..connections {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let req = read_request(&mut stream);
            seen.lock().unwrap().push(req);
            match reply(i) {
                Reply::Raw(bytes) => {
                    let _ = stream.write_all(&bytes);
                }
                Reply::Stall => {
                    // Hold the connection open until the client closes it.
                    let mut buf = [0u8; 256];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                }
            }
        }
    });
    TestServer {
        addr,
        requests,
        handle: Some(handle),
    }
}

fn read_request(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        assert!(data.len() < 64 * 1024, "request head too large");
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap())
        .unwrap_or(0);
    while data.len() < head_end + len {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}

/// `true` if a connection is waiting on `listener` (non-blocking check).
pub fn has_pending_connection(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}
