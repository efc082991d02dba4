//! `LocalhostClient` against real HTTP servers on 127.0.0.1. Refusals of non-loopback targets are
//! decided in the client's resolver, before any socket exists: the documentation addresses used
//! here (192.0.2.0/24, 2001:db8::/32) are never contacted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations loudly

mod client_support;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_support::{Reply, serve};
use secllama_server::client::{HostResolver, HttpError, LocalhostClient};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A resolver from a fixed table that records every name it was asked about.
#[derive(Clone, Default)]
struct TableResolver {
    table: HashMap<String, Vec<IpAddr>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl TableResolver {
    fn with(mut self, name: &str, addrs: &[&str]) -> Self {
        self.table
            .insert(name.to_owned(), addrs.iter().map(|a| ip(a)).collect());
        self
    }
}

impl HostResolver for TableResolver {
    fn resolve(&self, host: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        self.asked.lock().unwrap().push(host.to_owned());
        self.table
            .get(host)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such test name"))
    }
}

fn not_loopback(err: HttpError) -> (String, IpAddr) {
    match err {
        HttpError::NotLoopback { host, addr } => (host, addr),
        other => panic!("expected NotLoopback, got {other:?}"),
    }
}

#[test]
fn get_from_a_loopback_server_returns_status_type_and_body() {
    let server = serve(1, |_| {
        Reply::status(200, "Content-Type: text/plain\r\n", b"hello")
    });
    let client = LocalhostClient::builder().build().unwrap();
    let resp = client.get(&server.url("/api/tags?x=1")).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_type(), Some("text/plain"));
    assert_eq!(resp.body(), b"hello");
    let reqs = server.finish();
    assert!(
        reqs[0].starts_with("GET /api/tags?x=1 HTTP/1.1\r\n"),
        "{}",
        reqs[0]
    );
    assert!(!reqs[0].to_ascii_lowercase().contains("authorization"));
}

#[test]
fn non_2xx_statuses_are_returned_not_turned_into_errors() {
    let server = serve(1, |_| Reply::status(404, "", b"nope"));
    let client = LocalhostClient::builder().build().unwrap();
    let resp = client.get(&server.url("/missing")).unwrap();
    assert_eq!((resp.status(), resp.body()), (404, &b"nope"[..]));
    server.finish();
}

#[test]
fn post_sends_body_content_type_and_bearer_token() {
    let server = serve(1, |_| Reply::status(200, "", b"{}"));
    let client = LocalhostClient::builder()
        .bearer_token("tok-123.abc")
        .build()
        .unwrap();
    let resp = client
        .post(
            &server.url("/api/generate"),
            "application/json",
            br#"{"a":1}"#,
        )
        .unwrap();
    assert_eq!(resp.status(), 200);
    let req = server.finish().remove(0);
    assert!(req.starts_with("POST /api/generate HTTP/1.1\r\n"), "{req}");
    let lower = req.to_ascii_lowercase();
    assert!(
        lower.contains("\r\nauthorization: bearer tok-123.abc\r\n"),
        "{req}"
    );
    assert!(
        lower.contains("\r\ncontent-type: application/json\r\n"),
        "{req}"
    );
    assert!(req.ends_with("\r\n\r\n{\"a\":1}"), "{req}");
}

#[test]
fn non_loopback_literals_are_refused_before_connecting_while_loopback_works() {
    let server = serve(1, |_| Reply::status(200, "", b"ok"));
    let client = LocalhostClient::builder().build().unwrap();
    for (url, addr) in [
        ("http://192.0.2.1/", "192.0.2.1"),
        ("http://192.0.2.1:11434/api/tags", "192.0.2.1"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
        ("http://0.0.0.0:1/", "0.0.0.0"),
        ("http://[::]:1/", "::"),
    ] {
        let (_, got) = not_loopback(client.get(url).unwrap_err());
        assert_eq!(got, ip(addr), "{url}");
    }
    // The same client reaches the loopback server in the same run.
    assert_eq!(client.get(&server.url("/")).unwrap().body(), b"ok");
    assert_eq!(server.finish().len(), 1);
}

#[test]
fn names_resolving_to_any_non_loopback_address_are_refused() {
    let server = serve(1, |_| Reply::status(200, "", b"via name"));
    let resolver = TableResolver::default()
        .with("localhost.evil.test", &["127.0.0.1", "192.0.2.7"])
        .with("v6.evil.test", &["::1", "2001:db8::5"])
        .with("model.loopback.test", &["127.0.0.1", "::1"]);
    let asked = resolver.asked.clone();
    let client = LocalhostClient::builder()
        .resolver(resolver)
        .build()
        .unwrap();

    let (host, addr) = not_loopback(client.get("http://localhost.evil.test/").unwrap_err());
    assert_eq!(
        (host.as_str(), addr),
        ("localhost.evil.test", ip("192.0.2.7"))
    );
    let (_, addr) = not_loopback(
        client
            .post("http://v6.evil.test:9/", "text/plain", b"x")
            .unwrap_err(),
    );
    assert_eq!(addr, ip("2001:db8::5"));

    let url = format!("http://model.loopback.test:{}/ok", server.addr.port());
    assert_eq!(client.get(&url).unwrap().body(), b"via name");
    assert_eq!(server.finish().len(), 1);
    assert_eq!(
        *asked.lock().unwrap(),
        ["localhost.evil.test", "v6.evil.test", "model.loopback.test"]
    );
}

#[test]
fn a_name_that_does_not_resolve_is_a_resolve_error() {
    let client = LocalhostClient::builder()
        .resolver(TableResolver::default())
        .build()
        .unwrap();
    match client.get("http://unknown.test/").unwrap_err() {
        HttpError::Resolve { host, .. } => assert_eq!(host, "unknown.test"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_redirect_from_loopback_to_a_non_loopback_address_is_refused_without_connecting() {
    let server = serve(2, |i| match i {
        0 => Reply::redirect(302, "http://192.0.2.1:8080/steal"),
        _ => Reply::redirect(307, "http://exfil.test/steal"),
    });
    let resolver = TableResolver::default().with("exfil.test", &["198.51.100.9"]);
    let client = LocalhostClient::builder()
        .resolver(resolver)
        .build()
        .unwrap();
    let (_, addr) = not_loopback(client.get(&server.url("/a")).unwrap_err());
    assert_eq!(addr, ip("192.0.2.1"));
    let (host, addr) = not_loopback(client.get(&server.url("/b")).unwrap_err());
    assert_eq!((host.as_str(), addr), ("exfil.test", ip("198.51.100.9")));
    assert_eq!(server.finish().len(), 2);
}

#[test]
fn redirects_on_loopback_are_followed_and_the_token_stays_with_its_origin() {
    let second = serve(1, |_| Reply::status(200, "", b"second"));
    let target = second.url("/final");
    let first = serve(3, move |i| match i {
        0 => Reply::redirect(301, "/moved"),
        1 => Reply::redirect(303, &target),
        _ => Reply::status(500, "", b"unexpected"),
    });
    let client = LocalhostClient::builder()
        .bearer_token("tok-origin")
        .build()
        .unwrap();
    let resp = client
        .post(&first.url("/start"), "text/plain", b"data")
        .unwrap();
    assert_eq!((resp.status(), resp.body()), (200, &b"second"[..]));

    let second_reqs = second.finish();
    // 303 turns the POST into a GET; another port is another origin: no token.
    assert!(
        second_reqs[0].starts_with("GET /final HTTP/1.1"),
        "{}",
        second_reqs[0]
    );
    assert!(
        !second_reqs[0]
            .to_ascii_lowercase()
            .contains("authorization")
    );
    // Unblock the first server's third accept so it can finish.
    let _ = client.get(&first.url("/done"));
    let first_reqs = first.finish();
    assert!(
        first_reqs[0].starts_with("POST /start"),
        "{}",
        first_reqs[0]
    );
    // 301 after POST becomes GET on the same origin, token kept.
    assert!(first_reqs[1].starts_with("GET /moved"), "{}", first_reqs[1]);
    assert!(
        first_reqs[1]
            .to_ascii_lowercase()
            .contains("authorization: bearer tok-origin")
    );
}

#[test]
fn redirect_loops_stop_at_the_limit() {
    let server = serve(3, |_| Reply::redirect(302, "/again"));
    let client = LocalhostClient::builder().max_redirects(2).build().unwrap();
    match client.get(&server.url("/")).unwrap_err() {
        HttpError::TooManyRedirects { limit } => assert_eq!(limit, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.finish().len(), 3);
}

#[test]
fn a_response_over_the_size_limit_is_refused_and_one_at_the_limit_is_not() {
    let server = serve(2, |i| Reply::status(200, "", &vec![b'x'; 1024 + i]));
    let client = LocalhostClient::builder()
        .max_response_bytes(1024)
        .build()
        .unwrap();
    assert_eq!(client.get(&server.url("/fits")).unwrap().body().len(), 1024);
    match client.get(&server.url("/big")).unwrap_err() {
        HttpError::ResponseTooLarge { limit } => assert_eq!(limit, 1024),
        other => panic!("{other:?}"),
    }
    server.finish();
}

#[test]
fn a_server_that_never_answers_ends_in_a_timeout_error() {
    let server = serve(1, |_| Reply::Stall);
    let client = LocalhostClient::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    match client.get(&server.url("/stall")).unwrap_err() {
        HttpError::Timeout { .. } => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    drop(client);
    assert_eq!(server.finish().len(), 1);
}

#[test]
fn a_closed_loopback_port_is_a_connection_refused_io_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = LocalhostClient::builder().build().unwrap();
    match client
        .get(&format!("http://127.0.0.1:{port}/"))
        .unwrap_err()
    {
        HttpError::Io(e) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn https_and_relative_urls_are_refused_with_a_clear_error() {
    let client = LocalhostClient::builder().build().unwrap();
    match client.get("https://127.0.0.1/").unwrap_err() {
        HttpError::UnsupportedScheme { scheme } => assert_eq!(scheme, "https"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.get("/relative").unwrap_err(),
        HttpError::InvalidUrl { .. }
    ));
    assert!(matches!(
        client.get("http://exa mple/").unwrap_err(),
        HttpError::InvalidUrl { .. }
    ));
}

#[test]
fn error_messages_never_contain_the_bearer_token() {
    let client = LocalhostClient::builder()
        .bearer_token("tok-NEVER-PRINTED")
        .build()
        .unwrap();
    let err = client.get("http://192.0.2.1/").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("NEVER"));
}

#[test]
fn a_name_with_one_non_loopback_address_is_refused_without_contacting_even_its_loopback_one() {
    // If the client connected despite the decision, it would reach this listener first.
    let decoy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = decoy.local_addr().unwrap().port();
    let resolver = TableResolver::default().with("half.evil.test", &["127.0.0.1", "192.0.2.44"]);
    let client = LocalhostClient::builder()
        .resolver(resolver)
        .build()
        .unwrap();
    let (_, addr) = not_loopback(
        client
            .get(&format!("http://half.evil.test:{port}/"))
            .unwrap_err(),
    );
    assert_eq!(addr, ip("192.0.2.44"));
    assert!(
        !client_support::has_pending_connection(&decoy),
        "a connection was made"
    );
}

#[test]
fn a_redirect_to_a_partly_non_loopback_name_is_refused_before_connecting() {
    let decoy = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!(
        "http://half.evil.test:{}/x",
        decoy.local_addr().unwrap().port()
    );
    let server = serve(1, move |_| Reply::redirect(308, &target));
    let resolver = TableResolver::default().with("half.evil.test", &["127.0.0.1", "2001:db8::9"]);
    let client = LocalhostClient::builder()
        .resolver(resolver)
        .build()
        .unwrap();
    let (host, addr) = not_loopback(client.get(&server.url("/start")).unwrap_err());
    assert_eq!((host.as_str(), addr), ("half.evil.test", ip("2001:db8::9")));
    assert_eq!(server.finish().len(), 1);
    assert!(
        !client_support::has_pending_connection(&decoy),
        "the redirect target was contacted"
    );
}

#[test]
fn every_http_error_prints_one_lower_case_line_without_a_trailing_period() {
    let all = [
        HttpError::InvalidUrl {
            url: "x".into(),
            reason: "no host".into(),
        },
        HttpError::UnsupportedScheme {
            scheme: "https".into(),
        },
        HttpError::NotLoopback {
            host: "h".into(),
            addr: ip("192.0.2.1"),
        },
        HttpError::Resolve {
            host: "h".into(),
            reason: "r".into(),
        },
        HttpError::BadRedirect {
            status: 302,
            reason: "r".into(),
        },
        HttpError::TooManyRedirects { limit: 5 },
        HttpError::ResponseTooLarge { limit: 10 },
        HttpError::Timeout {
            phase: "per read".into(),
        },
        HttpError::InvalidToken,
        HttpError::Io(io::Error::from(io::ErrorKind::ConnectionRefused)),
        HttpError::Transport("t".into()),
    ];
    for e in all {
        let s = e.to_string();
        assert!(!s.contains('\n') && !s.ends_with('.'), "{s}");
        assert!(s.chars().next().unwrap().is_lowercase(), "{s}");
    }
}

fn chunked_ndjson(lines: &[&str]) -> Reply {
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for l in lines {
        let chunk = format!("{l}\n");
        out.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    out.extend_from_slice(b"0\r\n\r\n");
    Reply::Raw(out)
}

#[test]
fn a_streamed_ndjson_response_is_read_line_by_line() {
    use std::io::BufRead;
    let server = serve(1, |_| {
        chunked_ndjson(&[r#"{"response":"Hel"}"#, r#"{"response":"lo","done":true}"#])
    });
    let client = LocalhostClient::builder().build().unwrap();
    let stream = client
        .post_stream(&server.url("/api/generate"), "application/json", b"{}")
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.content_type(), Some("application/x-ndjson"));
    let lines: Vec<String> = io::BufReader::new(stream)
        .lines()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        lines,
        [r#"{"response":"Hel"}"#, r#"{"response":"lo","done":true}"#]
    );
    assert!(server.finish()[0].starts_with("POST /api/generate "));
}

#[test]
fn a_stream_longer_than_the_limit_fails_with_response_too_large() {
    use std::io::Read;
    let long = "x".repeat(300);
    let server = serve(1, move |_| chunked_ndjson(&[&long, &long]));
    let client = LocalhostClient::builder()
        .max_response_bytes(400)
        .build()
        .unwrap();
    let mut stream = client.get_stream(&server.url("/")).unwrap();
    let mut sink = Vec::new();
    let err = stream.read_to_end(&mut sink).unwrap_err();
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<HttpError>());
    assert!(
        matches!(inner, Some(HttpError::ResponseTooLarge { limit: 400 })),
        "{err:?}"
    );
    assert!(sink.len() <= 400, "{} bytes delivered", sink.len());
    server.finish();
}

#[test]
fn streaming_refuses_non_loopback_targets_like_buffered_requests() {
    let client = LocalhostClient::builder().build().unwrap();
    let err = client.get_stream("http://192.0.2.3:11434/").unwrap_err();
    assert_eq!(not_loopback(err).1, ip("192.0.2.3"));
}

#[test]
fn a_stream_exactly_at_the_limit_is_read_completely() {
    use std::io::Read;
    let long = "y".repeat(300);
    let server = serve(1, move |_| chunked_ndjson(&[&long, &long]));
    let client = LocalhostClient::builder()
        .max_response_bytes(602)
        .build()
        .unwrap();
    let mut body = Vec::new();
    client
        .get_stream(&server.url("/"))
        .unwrap()
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body.len(), 602);
    server.finish();
}
