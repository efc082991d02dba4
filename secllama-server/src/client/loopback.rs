//! The loopback checks: the resolver every request goes through and the connector guard.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{ConnectionDetails, Connector, NextTimeout};

use super::HttpError;

/// Resolves a host name to addresses; plug in your own with
/// [`LocalhostClientBuilder::resolver`](super::LocalhostClientBuilder::resolver) (tests, or a fixed table). Its answer is still checked:
/// every address must be loopback.
pub trait HostResolver: Send + Sync + 'static {
    /// Returns every address `host` resolves to.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<IpAddr>>;
}

/// `true` only for 127.0.0.0/8 and `::1`.
///
/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are deliberately **not** loopback here: they
/// depend on dual-stack socket behaviour that differs by OS, so one rule reads the same
/// everywhere: exactly 127.0.0.0/8 and `::1`. `0.0.0.0`/`::` are refused too.
///
/// ```
/// use secllama_server::client::is_loopback;
/// assert!(is_loopback("127.8.9.10".parse().unwrap()));
/// assert!(is_loopback("::1".parse().unwrap()));
/// assert!(!is_loopback("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(!is_loopback("192.0.2.1".parse().unwrap()));
/// ```
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == std::net::Ipv6Addr::LOCALHOST,
    }
}

/// The decision: `Ok` only if there is at least one address and all are loopback.
pub(super) fn check_all_loopback(host: &str, addrs: &[IpAddr]) -> Result<(), HttpError> {
    if addrs.is_empty() {
        return Err(HttpError::Resolve {
            host: host.to_owned(),
            reason: "no addresses".to_owned(),
        });
    }
    match addrs.iter().find(|a| !is_loopback(**a)) {
        Some(bad) => Err(HttpError::NotLoopback {
            host: host.to_owned(),
            addr: *bad,
        }),
        None => Ok(()),
    }
}

/// Host of a URI without IPv6 brackets.
pub(super) fn bare_host(uri: &Uri) -> Option<&str> {
    let h = uri.host()?;
    Some(
        h.strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(h),
    )
}

pub(super) fn http_err(e: HttpError) -> ureq::Error {
    ureq::Error::Other(Box::new(e))
}

/// The ureq resolver: resolve (custom resolver, IP literal, or the system's), then refuse unless
/// every address is loopback.
pub(crate) struct LoopbackResolver {
    pub(super) custom: Option<Arc<dyn HostResolver>>,
    pub(super) system: DefaultResolver,
}

impl fmt::Debug for LoopbackResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackResolver")
            .field("custom", &self.custom.is_some())
            .finish()
    }
}

impl LoopbackResolver {
    /// Resolves and checks; the pure-ish core used by the ureq trait impl and by tests.
    pub(crate) fn resolve_checked(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<Vec<SocketAddr>, HttpError> {
        if uri.scheme_str() != Some("http") {
            return Err(HttpError::UnsupportedScheme {
                scheme: uri.scheme_str().unwrap_or("").to_owned(),
            });
        }
        let host = bare_host(uri).ok_or_else(|| HttpError::InvalidUrl {
            url: uri.to_string(),
            reason: "no host".to_owned(),
        })?;
        let port = uri.port_u16().unwrap_or(80);
        let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
            // A literal: decided without any lookup.
            vec![SocketAddr::new(ip, port)]
        } else if let Some(custom) = &self.custom {
            custom
                .resolve(host, port)
                .map_err(|e| HttpError::Resolve {
                    host: host.to_owned(),
                    reason: e.to_string(),
                })?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect()
        } else {
            self.system
                .resolve(uri, config, timeout)
                .map_err(|e| match e {
                    ureq::Error::Timeout(t) => HttpError::Timeout {
                        phase: t.to_string(),
                    },
                    other => HttpError::Resolve {
                        host: host.to_owned(),
                        reason: other.to_string(),
                    },
                })?
                .iter()
                .copied()
                .collect()
        };
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        check_all_loopback(host, &ips)?;
        Ok(addrs)
    }
}

impl Resolver for LoopbackResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self
            .resolve_checked(uri, config, timeout)
            .map_err(http_err)?;
        let mut out = self.empty();
        // ureq keeps at most 16 addresses; all of them were checked above.
        for a in addrs.into_iter().take(16) {
            out.push(a);
        }
        Ok(out)
    }
}

/// First link of the connector chain: re-checks the exact addresses about to be connected and
/// refuses anything that is not loopback (defence in depth if a future ureq resolved elsewhere).
#[derive(Debug)]
pub(crate) struct LoopbackGuard;

impl Connector<()> for LoopbackGuard {
    type Out = ();

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        _chained: Option<()>,
    ) -> Result<Option<()>, ureq::Error> {
        let host = bare_host(details.uri).unwrap_or("");
        let ips: Vec<IpAddr> = details.addrs.iter().map(SocketAddr::ip).collect();
        check_all_loopback(host, &ips).map_err(http_err)?;
        Ok(None)
    }
}
