//! The runner process: reads the session key from its pipe, opens the channel, verifies and
//! loads the model, then serves requests until told to shut down.
//!
//! By the time `runner_main` runs, the sandbox is already in force (the host applied it to
//! the `Command` before `exec`). Nothing here reads the environment except
//! `SECLLAMA_ENABLE_ENCRYPTION`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use secllama_crypto::Keyset;
use zeroize::Zeroizing;

use crate::channel::{Direction, FrameError, FrameReader, FrameWriter, Mode};
use crate::config::encryption_from_env;
#[cfg(feature = "engine")]
use crate::engine;
use crate::protocol::{HostMessage, RunnerMessage, WireErrorKind};

/// Exit codes of the runner process for failures before the channel exists. The host maps
/// them to errors.
pub(crate) mod exit {
    /// Bad command line.
    pub(crate) const USAGE: u8 = 64;
    /// The key pipe held malformed key material.
    pub(crate) const BAD_KEY: u8 = 65;
    /// The host's encryption setting differs from this process's.
    pub(crate) const ENCRYPTION_MISMATCH: u8 = 66;
    /// A frame from the host failed to open; the session was closed.
    pub(crate) const FRAME_REJECTED: u8 = 67;
    /// Another fatal error after the channel existed (reported in an error frame first).
    pub(crate) const FATAL: u8 = 70;
}

/// Key pipe format: `"SLK1" | mode u8 (1 sealed, 0 clear) | length u32 BE | keyset bytes`.
pub(crate) const KEY_MAGIC: &[u8; 4] = b"SLK1";
/// Upper bound on the key message (a fresh keyset is well under 100 bytes).
pub(crate) const MAX_KEY_MESSAGE: usize = 4096;

/// Shared writer: the generation loop and the load-progress callback both send.
pub(crate) type SharedWriter = Arc<Mutex<FrameWriter<UnixStream>>>;

/// What the reader thread hands to the main loop.
pub(crate) enum Inbound {
    Message(HostMessage),
    /// The channel failed; the session must end.
    Failed(FrameError),
}

/// Entry point of the `secllama-runner` executable. Call it from `main` and return its exit
/// code; it expects to have been started by [`Runner::spawn`](crate::Runner::spawn).
pub fn runner_main() -> ExitCode {
    set_parent_death_signal();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (socket_fd, key_fd) = match parse_args(&args) {
        Ok(fds) => fds,
        Err(msg) => {
            eprintln!("secllama-runner: {msg}");
            eprintln!(
                "secllama-runner: this program is started by secllama (Runner::spawn), not by hand"
            );
            return ExitCode::from(exit::USAGE);
        }
    };
    // SAFETY: the host passed these two descriptors to this process for its exclusive use;
    // nothing else in this process owns them.
    let (socket, key_pipe) = unsafe {
        (
            OwnedFd::from_raw_fd(socket_fd),
            OwnedFd::from_raw_fd(key_fd),
        )
    };
    let mode = match read_key(File::from(key_pipe)) {
        Ok(mode) => mode,
        Err(code) => return ExitCode::from(code),
    };
    serve(UnixStream::from(socket), mode)
}

fn set_parent_death_signal() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and has no memory effects.
        // Set again here because an exec or credential change may have cleared it.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
        // SAFETY: getppid has no preconditions. If the host already died (we were
        // reparented before the signal was armed), stop now.
        if unsafe { libc::getppid() } == 1 {
            std::process::exit(i32::from(exit::FATAL));
        }
    }
}

fn parse_args(args: &[String]) -> Result<(RawFd, RawFd), String> {
    let mut socket = None;
    let mut key = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let slot = match arg.as_str() {
            "--socket-fd" => &mut socket,
            "--key-fd" => &mut key,
            other => return Err(format!("unexpected argument {other:?}")),
        };
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let fd: RawFd = value
            .parse()
            .map_err(|_| format!("{arg}: not a descriptor number"))?;
        if fd < 3 {
            return Err(format!("{arg}: descriptor {fd} is reserved"));
        }
        *slot = Some(fd);
    }
    match (socket, key) {
        (Some(s), Some(k)) if s != k => Ok((s, k)),
        _ => Err("--socket-fd and --key-fd (two different descriptors) are required".into()),
    }
}

/// Reads the session key (or the clear-mode marker) and checks it against this process's own
/// encryption setting.
fn read_key(pipe: File) -> Result<Mode, u8> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    if pipe
        .take(u64::try_from(MAX_KEY_MESSAGE + 1).unwrap_or(u64::MAX))
        .read_to_end(&mut buf)
        .is_err()
    {
        eprintln!("secllama-runner: reading the session key failed");
        return Err(exit::BAD_KEY);
    }
    let parsed = parse_key_message(&buf);
    let want_encryption = match encryption_from_env() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("secllama-runner: {e}");
            return Err(exit::ENCRYPTION_MISMATCH);
        }
    };
    match parsed {
        Ok(Some(keyset)) if want_encryption => Ok(Mode::Sealed(Arc::new(keyset))),
        Ok(None) if !want_encryption => {
            eprintln!(
                "secllama-runner: WARNING: SECLLAMA_ENABLE_ENCRYPTION=false: host-runner messages \
                 travel in clear text (debugging only)"
            );
            Ok(Mode::Clear)
        }
        Ok(_) => {
            eprintln!(
                "secllama-runner: the host's SECLLAMA_ENABLE_ENCRYPTION differs from this \
                 process's; refusing to start"
            );
            Err(exit::ENCRYPTION_MISMATCH)
        }
        Err(()) => {
            eprintln!("secllama-runner: the session key message is malformed");
            Err(exit::BAD_KEY)
        }
    }
}

/// `Ok(Some(keyset))` for sealed mode, `Ok(None)` for clear mode.
pub(crate) fn parse_key_message(buf: &[u8]) -> Result<Option<Keyset>, ()> {
    if buf.len() < 9 || buf.len() > MAX_KEY_MESSAGE || &buf[..4] != KEY_MAGIC {
        return Err(());
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&buf[5..9]);
    let len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| ())?;
    let rest = &buf[9..];
    if rest.len() != len {
        return Err(());
    }
    match buf[4] {
        1 if len > 0 => Keyset::from_bytes(rest).map(Some).map_err(|_| ()),
        0 if len == 0 => Ok(None),
        _ => Err(()),
    }
}

fn serve(socket: UnixStream, mode: Mode) -> ExitCode {
    let read_half = match socket.try_clone() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("secllama-runner: duplicating the socket failed: {e}");
            return ExitCode::from(exit::FATAL);
        }
    };
    let writer: SharedWriter = Arc::new(Mutex::new(FrameWriter::new(
        socket,
        mode.clone(),
        Direction::RunnerToHost,
    )));
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

fn reader_loop(mut reader: FrameReader<UnixStream>, tx: mpsc::Sender<Inbound>) {
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
    if let Ok(mut w) = writer.lock() {
        let _ = w.send(&RunnerMessage::Error {
            id,
            kind,
            message: message.into(),
            detail,
        });
    }
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
        engine::run(writer, rx, &load)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key_message(mode: u8, body: &[u8]) -> Vec<u8> {
        let mut m = KEY_MAGIC.to_vec();
        m.push(mode);
        m.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn key_messages_parse_only_in_their_exact_shape() {
        let ks = Keyset::generate();
        let bytes = ks.to_bytes();
        let parsed = parse_key_message(&key_message(1, &bytes)).unwrap().unwrap();
        assert_eq!(parsed.primary_id(), ks.primary_id());
        assert!(parse_key_message(&key_message(0, &[])).unwrap().is_none());
        assert!(parse_key_message(&key_message(0, &bytes)).is_err());
        assert!(parse_key_message(&key_message(1, &[])).is_err());
        assert!(parse_key_message(&key_message(2, &bytes)).is_err());
        let mut truncated = key_message(1, &bytes);
        truncated.pop();
        assert!(parse_key_message(&truncated).is_err());
        let mut bad_magic = key_message(1, &bytes);
        bad_magic[0] = b'X';
        assert!(parse_key_message(&bad_magic).is_err());
        assert!(parse_key_message(&[]).is_err());
    }

    #[test]
    fn arguments_need_two_distinct_descriptors_above_stderr() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&args(&["--socket-fd", "5", "--key-fd", "6"])),
            Ok((5, 6))
        );
        assert!(parse_args(&args(&["--socket-fd", "5", "--key-fd", "5"])).is_err());
        assert!(parse_args(&args(&["--socket-fd", "1", "--key-fd", "6"])).is_err());
        assert!(parse_args(&args(&["--socket-fd", "x", "--key-fd", "6"])).is_err());
        assert!(parse_args(&args(&["--model", "/etc/passwd"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
    }
}
