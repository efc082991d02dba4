//! The stream of one request, and cancelling it from another thread.

use crate::ipc::Channel;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::router::{Routed, Router};
use super::{Runner, send};
use crate::RunnerError;
use crate::api::Done;
use crate::wire::{HostMessage, SharedWriter};

/// One event of a generation stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A piece of generated text (always complete UTF-8 characters).
    Piece(String),
    /// The end of the generation; the stream yields nothing after it.
    Done(Done),
}

/// Cancels requests from any thread: from [`Runner::cancel_handle`] every request in flight
/// on that runner, from [`Generation::cancel_handle`] that one request.
#[derive(Clone)]
pub struct CancelHandle {
    pub(super) writer: SharedWriter,
    pub(super) router: Arc<Router>,
    pub(super) only: Option<u64>,
    pub(super) socket: Arc<Channel>,
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle").finish_non_exhaustive()
    }
}

impl CancelHandle {
    /// Asks the runner to stop the request(s) in progress; each stops within one token and
    /// its stream ends with [`StopReason::Cancelled`](crate::StopReason::Cancelled). Does
    /// nothing when no request is running. Other requests are not disturbed.
    ///
    /// # Errors
    /// The channel is broken (the runner died).
    pub fn cancel(&self) -> Result<(), RunnerError> {
        let ids = match self.only {
            Some(id) => vec![id],
            None => self.router.in_flight(),
        };
        for id in ids {
            send(&self.writer, &HostMessage::Cancel { id })?;
        }
        Ok(())
    }

    /// Ends the session from any thread, for a runner that does not answer
    /// [`cancel`](Self::cancel) (stopped, stuck): the channel is shut down, so a request
    /// blocked on it ends with an error at once, and the runner that owns the process kills it
    /// if it has not exited within [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE). The runner is
    /// closed afterwards.
    pub fn terminate(&self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// The stream of one request: an iterator of [`StreamEvent`]s ending with
/// [`StreamEvent::Done`] (or an error). Dropping it early cancels the request, which frees
/// its slot for the next one; other requests in flight on the same runner go on.
pub struct Generation<'r> {
    pub(super) runner: &'r Runner,
    pub(super) id: u64,
    pub(super) events: Receiver<Routed>,
    pub(super) finished: bool,
    pub(super) sent: Instant,
    pub(super) first_piece: Option<Duration>,
}

impl std::fmt::Debug for Generation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("id", &self.id)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Generation<'_> {
    /// Asks the runner to stop; the stream then ends with `Done` and
    /// [`StopReason::Cancelled`](crate::StopReason::Cancelled) within one token.
    ///
    /// # Errors
    /// The channel is broken.
    pub fn cancel(&mut self) -> Result<(), RunnerError> {
        if self.finished {
            return Ok(());
        }
        send(&self.runner.writer, &HostMessage::Cancel { id: self.id })
    }

    /// A handle that cancels this request (and no other) from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            writer: self.runner.writer.clone(),
            router: self.runner.router.clone(),
            only: Some(self.id),
            socket: self.runner.socket.clone(),
        }
    }

    /// Time from sending the request to the first text piece (host side, so it includes the
    /// channel and sandbox overhead).
    pub fn time_to_first_piece(&self) -> Option<Duration> {
        self.first_piece
    }

    /// Callback form: calls `on_piece` for each text piece; returning
    /// `ControlFlow::Break(())` cancels the request. Returns the final [`Done`].
    ///
    /// # Errors
    /// As the iterator's items.
    pub fn for_each_piece(
        mut self,
        mut on_piece: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Done, RunnerError> {
        let mut cancelled = false;
        while let Some(event) = self.next() {
            match event? {
                StreamEvent::Piece(p) if !cancelled => {
                    if on_piece(&p).is_break() {
                        cancelled = true;
                        self.cancel()?;
                    }
                }
                StreamEvent::Piece(_) => {}
                StreamEvent::Done(done) => return Ok(done),
            }
        }
        Err(RunnerError::Protocol(
            "the stream ended without done".into(),
        ))
    }

    /// Collects the whole text and the final [`Done`].
    ///
    /// # Errors
    /// As the iterator's items.
    pub fn collect_text(self) -> Result<(String, Done), RunnerError> {
        let mut text = String::new();
        let done = self.for_each_piece(|p| {
            text.push_str(p);
            ControlFlow::Continue(())
        })?;
        Ok((text, done))
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<StreamEvent, RunnerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let event = match self.events.recv() {
            Ok(Routed::Piece(text)) => {
                if self.first_piece.is_none() {
                    self.first_piece = Some(self.sent.elapsed());
                }
                return Some(Ok(StreamEvent::Piece(text)));
            }
            Ok(Routed::Done(done)) => Ok(StreamEvent::Done(done)),
            Ok(Routed::Error(e)) => Err(e),
            Ok(Routed::Embedding(..) | Routed::Tokens(_) | Routed::Text(_)) => {
                Err(RunnerError::Protocol(
                    "the runner answered a generation with another request's kind of frame".into(),
                ))
            }
            // The reader thread ended without a word for this request: the session is over.
            Err(_) => Err(self.runner.router.failure()),
        };
        self.finished = true;
        Some(event)
    }
}

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        if self.finished || self.runner.router.is_closed() {
            self.runner.router.forget(self.id);
            return;
        }
        self.runner.router.abandon(self.id);
        // The caller went away: free the slot. Frames still on their way are dropped.
        let _ = self.cancel();
    }
}
