//! The host's reader thread: after the handshake it reads every frame from the runner and
//! routes it, by request id, to the stream of the request it belongs to, so several requests
//! can be in flight on one runner. A failure of the whole session (a rejected frame, a dead
//! runner, a session-level error) reaches every stream in flight and closes the runner.

use crate::ipc::Channel;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitStatus;

use super::launch::Process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};

use super::errors::{map_wire_error, message_name, reap_error};
use crate::RunnerError;
use crate::api::Done;
use crate::wire::{FrameError, FrameReader, RunnerMessage, WireErrorKind};

/// How many abandoned requests the router remembers (see [`Router::abandoned`]).
const MAX_ABANDONED: usize = 256;

/// What a request's stream receives.
pub(super) enum Routed {
    Piece(String),
    Embedding(u32, Vec<f32>),
    Tokens(Vec<i32>),
    Text(String),
    Done(Done),
    Error(RunnerError),
}

/// Why the session ended; turned into a `RunnerError` for each stream (which is not `Clone`).
#[derive(Clone, Debug)]
pub(super) enum Failure {
    FrameRejected(String),
    PeerRejectedFrame,
    Crashed(ExitStatus),
    Wire(WireErrorKind, String, Option<(u64, u64)>),
    Protocol(String),
    Closed,
}

impl Failure {
    pub(super) fn to_error(&self) -> RunnerError {
        match self {
            Failure::FrameRejected(reason) => RunnerError::FrameRejected {
                reason: reason.clone(),
            },
            Failure::PeerRejectedFrame => RunnerError::PeerRejectedFrame,
            Failure::Crashed(status) => RunnerError::Crashed { status: *status },
            Failure::Wire(kind, message, detail) => {
                map_wire_error(*kind, message.clone(), *detail, Path::new(""), None)
            }
            Failure::Protocol(m) => RunnerError::Protocol(m.clone()),
            Failure::Closed => RunnerError::Closed,
        }
    }

    fn from_error(e: &RunnerError) -> Failure {
        match e {
            RunnerError::PeerRejectedFrame => Failure::PeerRejectedFrame,
            RunnerError::Crashed { status } => Failure::Crashed(*status),
            RunnerError::FrameRejected { reason } => Failure::FrameRejected(reason.clone()),
            RunnerError::Protocol(m) => Failure::Protocol(m.clone()),
            _ => Failure::Closed,
        }
    }
}

/// The streams in flight and the state of the session, shared by the `Runner`, its streams
/// and the reader thread.
#[derive(Default)]
pub(super) struct Router {
    streams: Mutex<HashMap<u64, Sender<Routed>>>,
    failure: Mutex<Option<Failure>>,
    closed: AtomicBool,
    /// Requests whose stream was dropped before their end, and how each ended once the runner
    /// confirms it (so a test can see the slot was given back).
    abandoned: Mutex<HashMap<u64, Option<Done>>>,
    /// The runner process, while it runs.
    pub(super) child: Mutex<Option<Process>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Router {
    pub(super) fn new(child: Process) -> Self {
        Router {
            child: Mutex::new(Some(child)),
            ..Router::default()
        }
    }

    pub(super) fn child(&self) -> MutexGuard<'_, Option<Process>> {
        lock(&self.child)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Registers a stream for request `id`.
    pub(super) fn open(&self, id: u64) -> std::sync::mpsc::Receiver<Routed> {
        let (tx, rx) = channel();
        lock(&self.streams).insert(id, tx);
        rx
    }

    /// Forgets request `id`; frames that still arrive for it are dropped.
    pub(super) fn forget(&self, id: u64) {
        lock(&self.streams).remove(&id);
    }

    /// Forgets request `id`, whose client went away before its end; its `Done` (or error) is
    /// still recorded when it arrives.
    pub(super) fn abandon(&self, id: u64) {
        // Recorded before the stream is forgotten, so its Done cannot slip between the two.
        let mut abandoned = lock(&self.abandoned);
        // Bounded: only the most recent abandoned requests are remembered.
        if abandoned.len() >= MAX_ABANDONED {
            abandoned.retain(|_, done| done.is_none());
            if abandoned.len() >= MAX_ABANDONED {
                abandoned.clear();
            }
        }
        abandoned.insert(id, None);
        drop(abandoned);
        self.forget(id);
    }

    /// The abandoned requests: id and, once the runner ended it, its `Done`.
    pub(super) fn abandoned(&self) -> Vec<(u64, Option<Done>)> {
        let mut v: Vec<_> = lock(&self.abandoned)
            .iter()
            .map(|(id, d)| (*id, *d))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// Ids of the requests in flight.
    pub(super) fn in_flight(&self) -> Vec<u64> {
        lock(&self.streams).keys().copied().collect()
    }

    /// The error a stream reports once the session has ended.
    pub(super) fn failure(&self) -> RunnerError {
        lock(&self.failure)
            .as_ref()
            .map_or(RunnerError::Closed, Failure::to_error)
    }

    /// Ends the session: every stream in flight gets the error, the runner is killed.
    pub(super) fn fail(&self, failure: Failure) {
        {
            let mut f = lock(&self.failure);
            if f.is_none() {
                *f = Some(failure.clone());
            }
        }
        self.closed.store(true, Ordering::SeqCst);
        for (_, tx) in lock(&self.streams).drain() {
            let _ = tx.send(Routed::Error(failure.to_error()));
        }
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The channel broke: a dead child's exit status is the most precise error.
    pub(super) fn fail_with_child_status(&self, err: RunnerError) -> RunnerError {
        let reaped = self.child().take().map(|mut child| reap_error(&mut child));
        let err = match reaped {
            Some(RunnerError::Crashed { .. }) if matches!(err, RunnerError::Protocol(_)) => err,
            Some(e) => e,
            None => err,
        };
        self.fail(Failure::from_error(&err));
        err
    }

    fn deliver(&self, id: u64, routed: Routed, last: bool) {
        if last && let Some(slot) = lock(&self.abandoned).get_mut(&id) {
            if let Routed::Done(done) = &routed {
                *slot = Some(*done);
            }
            return;
        }
        let mut streams = lock(&self.streams);
        let sent = streams.get(&id).map(|tx| tx.send(routed).is_ok());
        if last || sent == Some(false) {
            streams.remove(&id);
        }
    }
}

/// Reads frames until the session ends, routing each to its request.
pub(super) fn route(router: Arc<Router>, mut reader: FrameReader<Channel>) {
    loop {
        let msg = match reader.recv::<RunnerMessage>() {
            Ok(msg) => msg,
            Err(FrameError::Closed | FrameError::Io(_)) => {
                if !router.is_closed() {
                    let eof = RunnerError::Io(std::io::ErrorKind::UnexpectedEof.into());
                    router.fail_with_child_status(eof);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(
                    target: "secllama::audit",
                    event = "frame-rejected",
                    reason = %e,
                    "a frame from the runner was rejected; stopping the runner"
                );
                router.fail(Failure::FrameRejected(e.to_string()));
                return;
            }
        };
        match msg {
            RunnerMessage::Token { id, text } => router.deliver(id, Routed::Piece(text), false),
            RunnerMessage::Done { id, done } => router.deliver(id, Routed::Done(done), true),
            RunnerMessage::Embedding { id, index, vector } => {
                router.deliver(id, Routed::Embedding(index, vector), false);
            }
            RunnerMessage::Tokens { id, tokens } => {
                router.deliver(id, Routed::Tokens(tokens), true);
            }
            RunnerMessage::Text { id, text } => router.deliver(id, Routed::Text(text), true),
            RunnerMessage::Error {
                id: Some(id),
                kind,
                message,
                detail,
            } => {
                let err = map_wire_error(kind, message, detail, Path::new(""), None);
                router.deliver(id, Routed::Error(err), true);
            }
            RunnerMessage::Error {
                id: None,
                kind,
                message,
                detail,
            } => {
                // A session-level error: the runner is ending the session.
                router.fail(Failure::Wire(kind, message, detail));
                return;
            }
            other => {
                router.fail(Failure::Protocol(format!(
                    "unexpected {} during generation",
                    message_name(&other)
                )));
                return;
            }
        }
    }
}
