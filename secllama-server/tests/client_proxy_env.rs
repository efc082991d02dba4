//! `LocalhostClient` ignores proxy settings from the environment. Its own test binary: it sets
//! environment variables, which must happen while no other test thread runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations loudly

mod client_support;

use std::net::TcpListener;

use client_support::{Reply, has_pending_connection, serve};
use secllama_server::client::LocalhostClient;

#[test]
fn proxy_environment_variables_are_ignored() {
    // A loopback "proxy" that must never see a connection.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
    ] {
        // SAFETY: this binary has exactly one test, so no other thread reads the environment.
        unsafe { std::env::set_var(var, &proxy_url) };
    }
    let server = serve(1, |_| Reply::status(200, "", b"direct"));
    let client = LocalhostClient::builder().build().unwrap();
    assert_eq!(client.get(&server.url("/")).unwrap().body(), b"direct");
    assert_eq!(server.finish().len(), 1);
    assert!(!has_pending_connection(&proxy), "the proxy was contacted");
}
