//! The stream of one request, and cancelling it from another thread.

use std::ops::ControlFlow;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::errors::{map_wire_error, message_name};
use super::{Runner, send};
use crate::RunnerError;
use crate::api::Done;
use crate::wire::{HostMessage, RunnerMessage, SharedWriter};

/// One event of a generation stream.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A piece of generated text (always complete UTF-8 characters).
    Piece(String),
    /// The end of the generation; the stream yields nothing after it.
    Done(Done),
}

/// Cancels the runner's current request from any thread.
#[derive(Clone)]
pub struct CancelHandle {
    pub(super) writer: SharedWriter,
    pub(super) current: Arc<AtomicU64>,
    pub(super) socket: Arc<UnixStream>,
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle").finish_non_exhaustive()
    }
}

impl CancelHandle {
    /// Asks the runner to stop the request in progress; it stops within one token and the
    /// stream ends with [`StopReason::Cancelled`](crate::StopReason::Cancelled). Does nothing
    /// when no request is running.
    ///
    /// # Errors
    /// The channel is broken (the runner died).
    pub fn cancel(&self) -> Result<(), RunnerError> {
        let id = self.current.load(Ordering::SeqCst);
        send(&self.writer, &HostMessage::Cancel { id })
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
/// [`StreamEvent::Done`] (or an error). Dropping it early cancels the request and drains it,
/// so the runner is ready for the next one.
pub struct Generation<'r> {
    pub(super) runner: &'r mut Runner,
    pub(super) id: u64,
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
        loop {
            let msg = match self.runner.recv() {
                Ok(m) => m,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            };
            match msg {
                RunnerMessage::Token { id, text } if id == self.id => {
                    if self.first_piece.is_none() {
                        self.first_piece = Some(self.sent.elapsed());
                    }
                    return Some(Ok(StreamEvent::Piece(text)));
                }
                RunnerMessage::Done { id, done } if id == self.id => {
                    self.finished = true;
                    return Some(Ok(StreamEvent::Done(done)));
                }
                RunnerMessage::Error {
                    id,
                    kind,
                    message,
                    detail,
                } if id == Some(self.id) || id.is_none() => {
                    self.finished = true;
                    let model = PathBuf::new();
                    let err = map_wire_error(kind, message, detail, &model, None);
                    if id.is_none() {
                        // A session-level error: the runner is ending the session.
                        self.runner.close();
                    }
                    return Some(Err(err));
                }
                // Leftovers of an earlier, cancelled request.
                RunnerMessage::Token { .. }
                | RunnerMessage::Done { .. }
                | RunnerMessage::Error { .. } => {}
                other => {
                    self.finished = true;
                    self.runner.close();
                    return Some(Err(RunnerError::Protocol(format!(
                        "unexpected {} during generation",
                        message_name(&other)
                    ))));
                }
            }
        }
    }
}

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        if self.finished || self.runner.closed {
            return;
        }
        if self.cancel().is_err() {
            self.runner.close();
            return;
        }
        for event in self.by_ref() {
            if matches!(event, Ok(StreamEvent::Done(_)) | Err(_)) {
                break;
            }
        }
    }
}
