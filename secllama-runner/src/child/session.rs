//! The session: the reader thread, the error frames, and the first message (load or
//! shutdown) before the engine takes over.

use crate::ipc::Channel;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver};

use crate::wire::{
    Direction, FrameError, FrameReader, HostMessage, Mode, RunnerMessage, SharedWriter,
    WireErrorKind, exit,
};

/// What the reader thread hands to the main loop.
pub(crate) enum Inbound {
    Message(HostMessage),
    /// The channel failed; the session must end.
    Failed(FrameError),
}

pub(super) fn serve(socket: Channel, mode: Mode) -> ExitCode {
    let read_half = match socket.try_clone() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("secllama-runner: duplicating the socket failed: {e}");
            return ExitCode::from(exit::FATAL);
        }
    };
    let writer = SharedWriter::new(socket, mode.clone(), Direction::RunnerToHost);
    let (tx, rx) = mpsc::channel();
    let reader = FrameReader::new(read_half, mode, Direction::HostToRunner);
    if std::thread::Builder::new()
        .name("secllama-rx".into())
        .spawn(move || reader_loop(reader, tx))
        .is_err()
    {
        eprintln!("secllama-runner: starting the reader thread failed");
        return ExitCode::from(exit::FATAL);
    }
    match session(&writer, &rx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal::FrameRejected) => ExitCode::from(exit::FRAME_REJECTED),
        Err(Fatal::Other) => ExitCode::from(exit::FATAL),
    }
}

fn reader_loop(mut reader: FrameReader<Channel>, tx: mpsc::Sender<Inbound>) {
    loop {
        match reader.recv::<HostMessage>() {
            Ok(msg) => {
                if tx.send(Inbound::Message(msg)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Inbound::Failed(e));
                return;
            }
        }
    }
}

/// Why the session ended abnormally.
pub(crate) enum Fatal {
    FrameRejected,
    Other,
}

/// Sends an error frame; failures to send are ignored (the session is ending anyway).
pub(crate) fn send_error(
    writer: &SharedWriter,
    id: Option<u64>,
    kind: WireErrorKind,
    message: impl Into<String>,
    detail: Option<(u64, u64)>,
) {
    let _ = writer.send(&RunnerMessage::Error {
        id,
        kind,
        message: message.into(),
        detail,
    });
}

/// Handles a channel failure: a rejected frame is reported to the host before the session
/// closes; a clean close or an i/o error just ends it.
pub(crate) fn channel_failed(writer: &SharedWriter, err: &FrameError) -> Fatal {
    match err {
        FrameError::Closed => Fatal::Other,
        FrameError::Io(_) => Fatal::Other,
        FrameError::Rejected(_) | FrameError::Malformed | FrameError::BadLength { .. } => {
            eprintln!("secllama-runner: {err}; closing the session");
            send_error(
                writer,
                None,
                WireErrorKind::FrameRejected,
                err.to_string(),
                None,
            );
            Fatal::FrameRejected
        }
    }
}

fn session(writer: &SharedWriter, rx: &Receiver<Inbound>) -> Result<(), Fatal> {
    let load = match rx.recv() {
        Ok(Inbound::Message(HostMessage::Load(load))) => load,
        Ok(Inbound::Message(HostMessage::Shutdown)) => return Ok(()),
        Ok(Inbound::Message(_)) => {
            send_error(
                writer,
                None,
                WireErrorKind::Protocol,
                "expected a load request first",
                None,
            );
            return Err(Fatal::Other);
        }
        Ok(Inbound::Failed(e)) => return Err(channel_failed(writer, &e)),
        Err(_) => return Err(Fatal::Other),
    };
    #[cfg(feature = "engine")]
    {
        super::engine::run(writer, rx, &load)
    }
    #[cfg(not(feature = "engine"))]
    {
        let _ = load;
        send_error(
            writer,
            None,
            WireErrorKind::ModelLoad,
            "this runner was built without llama.cpp (cargo feature `engine`)",
            None,
        );
        Err(Fatal::Other)
    }
}
