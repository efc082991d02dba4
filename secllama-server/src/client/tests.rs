//! Unit tests of the loopback decision and the builder.

use std::net::IpAddr;

use super::loopback::check_all_loopback;
use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn loopback_is_exactly_127_slash_8_and_ipv6_localhost() {
    for ok in [
        "127.0.0.1",
        "127.0.0.0",
        "127.255.255.255",
        "127.1.2.3",
        "::1",
    ] {
        assert!(is_loopback(ip(ok)), "{ok}");
    }
    for bad in [
        "126.255.255.255",
        "128.0.0.0",
        "0.0.0.0",
        "::",
        "::2",
        "::ffff:127.0.0.1",
        "192.0.2.1",
        "2001:db8::1",
        "fe80::1",
    ] {
        assert!(!is_loopback(ip(bad)), "{bad}");
    }
}

#[test]
fn a_single_non_loopback_address_among_loopback_ones_is_refused() {
    let err = check_all_loopback("mixed.test", &[ip("127.0.0.1"), ip("2001:db8::1")]).unwrap_err();
    assert!(matches!(err, HttpError::NotLoopback { addr, .. } if addr == ip("2001:db8::1")));
    assert!(matches!(
        check_all_loopback("none.test", &[]),
        Err(HttpError::Resolve { .. })
    ));
    check_all_loopback("ok.test", &[ip("127.0.0.1"), ip("::1")]).unwrap();
}

#[test]
fn redirect_locations_resolve_against_the_current_url() {
    let base: Uri = "http://127.0.0.1:8080/api/v1/tags?x=1".parse().unwrap();
    let r = |l: &str| resolve_location(&base, l, 302).map(|u| u.to_string());
    assert_eq!(r("http://[::1]:9/a").unwrap(), "http://[::1]:9/a");
    assert_eq!(r("/root").unwrap(), "http://127.0.0.1:8080/root");
    assert_eq!(
        r("other?y=2").unwrap(),
        "http://127.0.0.1:8080/api/v1/other?y=2"
    );
    assert_eq!(r("//localhost:1/p").unwrap(), "http://localhost:1/p");
    assert!(matches!(
        r("https://127.0.0.1/"),
        Err(HttpError::UnsupportedScheme { .. })
    ));
    assert!(matches!(
        r(""),
        Err(HttpError::BadRedirect { status: 302, .. })
    ));
}

#[test]
fn debug_output_never_contains_the_bearer_token() {
    let b = LocalhostClient::builder().bearer_token("tok-SECRET-123");
    assert!(!format!("{b:?}").contains("SECRET"));
    let c = b.build().unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("SECRET"));
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn tokens_that_cannot_be_a_header_value_are_refused() {
    for bad in ["", "a b", "line\nbreak", "ünï"] {
        let err = LocalhostClient::builder()
            .bearer_token(bad)
            .build()
            .unwrap_err();
        assert!(matches!(err, HttpError::InvalidToken), "{bad:?}: {err}");
    }
}
