//! Listeners and the serve loop: TCP (loopback unless TLS), an optional Unix socket (mode
//! 0600, peer uid checked with `SO_PEERCRED`), and graceful shutdown on SIGTERM/SIGINT.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::config::SHUTDOWN_GRACE;
use crate::tls::TlsListener;
use crate::{App, Peer, ServerError};

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer::Tcp(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Peer::Tcp(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, OwnerOnlyUnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, OwnerOnlyUnixListener>) -> Self {
        Peer::Unix {
            uid: *stream.remote_addr(),
        }
    }
}

/// A Unix socket listener that accepts connections from this process's own user only
/// (checked with `SO_PEERCRED` on every connection); the socket file is mode 0600.
#[derive(Debug)]
pub struct OwnerOnlyUnixListener {
    /// Bound without a runtime; becomes a tokio listener on the first accept.
    bound: Option<std::os::unix::net::UnixListener>,
    inner: Option<UnixListener>,
    uid: u32,
    path: PathBuf,
}

impl OwnerOnlyUnixListener {
    /// Binds `path`. A stale socket file (nothing listening) is replaced; any other existing
    /// file is an error.
    ///
    /// # Errors
    /// The path exists and is not a stale socket, or binding fails.
    pub fn bind(path: &Path) -> Result<Self, ServerError> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(ServerError::Config(format!(
                        "{} is in use by another server",
                        path.display()
                    )));
                }
                std::fs::remove_file(path)
                    .map_err(|e| ServerError::io(format!("removing {}", path.display()), e))?;
            }
            Ok(_) => {
                return Err(ServerError::Config(format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                )));
            }
            Err(_) => {}
        }
        let bound = std::os::unix::net::UnixListener::bind(path)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| ServerError::io(format!("binding {}", path.display()), e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ServerError::io(format!("chmod 0600 {}", path.display()), e))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        Ok(OwnerOnlyUnixListener {
            bound: Some(bound),
            inner: None,
            uid,
            path: path.to_owned(),
        })
    }
}

impl Drop for OwnerOnlyUnixListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener for OwnerOnlyUnixListener {
    type Io = UnixStream;
    type Addr = u32;

    async fn accept(&mut self) -> (UnixStream, u32) {
        loop {
            if let Some(std) = self.bound.take() {
                match UnixListener::from_std(std) {
                    Ok(l) => self.inner = Some(l),
                    Err(e) => tracing::error!(error = %e, "cannot register the unix socket"),
                }
            }
            let Some(inner) = self.inner.as_ref() else {
                // Nothing can be accepted; wait for shutdown.
                std::future::pending::<()>().await;
                continue;
            };
            match inner.accept().await {
                Ok((stream, _)) => match stream.peer_cred() {
                    Ok(cred) if cred.uid() == self.uid => return (stream, cred.uid()),
                    Ok(cred) => tracing::warn!(
                        target: "secllama::audit",
                        uid = cred.uid(),
                        "unix socket connection from another user refused"
                    ),
                    Err(e) => tracing::warn!(error = %e, "SO_PEERCRED failed; connection refused"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed on the unix socket");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<u32> {
        Ok(self.uid)
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called (inside a
/// tokio runtime), not when it is first awaited: call it before announcing the server, so a
/// signal sent right after the announcement is caught rather than killing the process.
///
/// # Errors
/// The signal handlers cannot be installed (the future resolves at once with the error).
pub fn shutdown_signal() -> impl Future<Output = Result<(), ServerError>> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let installed = signal(SignalKind::terminate())
        .map_err(|e| ServerError::io("installing the SIGTERM handler", e))
        .and_then(|term| {
            signal(SignalKind::interrupt())
                .map(|int| (term, int))
                .map_err(|e| ServerError::io("installing the SIGINT handler", e))
        });
    async move {
        let (mut term, mut int) = installed?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
}

/// Serves `app` on the listeners until `shutdown` resolves, then stops accepting, gives open
/// requests and streams up to 10 s to finish, and shuts every runner down.
///
/// The TCP listener speaks TLS when the configuration names a certificate (then only TLS),
/// and is refused when bound to a non-loopback address without one, whatever
/// [`ServerConfig::listen`](crate::ServerConfig::listen) said.
///
/// # Errors
/// The TCP listener's address is not allowed ([`ServerError::ExposedWithoutTls`],
/// [`ServerError::NoAuthNotLoopback`]), or a listener failed.
pub async fn serve(
    app: App,
    tcp: Option<TcpListener>,
    unix: Option<OwnerOnlyUnixListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = tcp {
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::io("reading the listener's address", e))?;
        app.check_listener(addr)?;
        let service = app.router().into_make_service_with_connect_info::<Peer>();
        let rx = stop_rx.clone();
        match app.tls.clone() {
            Some(acceptor) => tasks.spawn(async move {
                axum::serve(TlsListener::new(listener, acceptor), service)
                    .with_graceful_shutdown(stopped(rx))
                    .await
            }),
            None => tasks.spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(stopped(rx))
                    .await
            }),
        };
    }
    if let Some(listener) = unix {
        let service = app.router().into_make_service_with_connect_info::<Peer>();
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(stopped(rx))
                .await
        });
    }
    let mut result = Ok(());
    tokio::select! {
        () = shutdown => tracing::info!("shutting down: no new connections; open requests get {SHUTDOWN_GRACE:?}"),
        Some(done) = tasks.join_next() => {
            if let Ok(Err(e)) = done {
                result = Err(ServerError::io("serving", e));
            }
        }
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still open after {SHUTDOWN_GRACE:?}; closing them");
        tasks.abort_all();
    }
    let state = app;
    let _ = tokio::task::spawn_blocking(move || state.shutdown()).await;
    result
}
