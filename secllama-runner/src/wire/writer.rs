//! The one writer of each side: a frame writer shared between the threads that send (the
//! request loop and a cancel handle on the host; the generation loop and the load-progress
//! callback in the runner), with the one `send`.

use crate::ipc::Channel;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::wire::frame::{Direction, FrameError, FrameWriter, Mode};

/// A cloneable handle on one direction's frame writer.
#[derive(Clone, Debug)]
pub(crate) struct SharedWriter(Arc<Mutex<FrameWriter<Channel>>>);

impl SharedWriter {
    pub(crate) fn new(socket: Channel, mode: Mode, dir: Direction) -> Self {
        SharedWriter(Arc::new(Mutex::new(FrameWriter::new(socket, mode, dir))))
    }

    /// Seals `msg` as the next frame and writes it. A poisoned lock (a sender panicked while
    /// writing, so the stream may hold half a frame) is a closed channel.
    pub(crate) fn send<T: Serialize>(&self, msg: &T) -> Result<(), FrameError> {
        let mut w = self.0.lock().map_err(|_| FrameError::Closed)?;
        w.send(msg)
    }

    /// Writes raw bytes, bypassing sealing and numbering (attack tests through `internal`).
    pub(crate) fn write_raw(&self, bytes: &[u8]) -> Result<(), FrameError> {
        let mut w = self.0.lock().map_err(|_| FrameError::Closed)?;
        w.write_raw(bytes)
    }

    /// The last frame written, exactly as it went on the wire (replay tests).
    pub(crate) fn last_frame(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|w| w.last_frame.clone())
            .unwrap_or_default()
    }

    /// Shuts the socket's write half: the peer's next read sees the end of the stream.
    pub(crate) fn shutdown_write(&self) {
        if let Ok(w) = self.0.lock() {
            let _ = w.get_ref().shutdown(std::net::Shutdown::Write);
        }
    }
}
