//! The framed, sealed channel between host and runner.
//!
//! Wire format of one frame: `length u32 BE | body`, `1 <= length <= MAX_FRAME_LEN`.
//!
//! * Sealed mode (the default): `body` is a `secllama-crypto` envelope (v1, AES-256-GCM) of
//!   the message's JSON, sealed with the session keyset. The associated data is
//!   `"secllama-runner" | protocol version u8 | direction u8 | sequence u64 BE`: a frame only
//!   opens in the direction it was sent (no reflection), at its own position in the stream
//!   (no replay, reordering or dropping), and only for this protocol version.
//! * Clear mode (`SECLLAMA_ENABLE_ENCRYPTION=false` on both sides, for debugging): `body` is
//!   `0x00 | direction u8 | sequence u64 BE | JSON`. An envelope never starts with `0x00`, so a
//!   sealed peer rejects every clear frame and a clear peer every sealed one.
//!
//! The sequence number starts at 0 in each direction and grows by one per frame. Any frame
//! that fails to open or decode is an error after which the session is unusable: the caller
//! closes it.

use std::io::{self, Read, Write};
use std::sync::Arc;

use secllama_crypto::Keyset;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// Version of the framing and message protocol, bound into every frame's associated data.
pub const PROTOCOL_VERSION: u8 = 1;
/// The largest frame body accepted or produced (4 MiB): a prompt at its size limit, JSON
/// escaped, plus the envelope, fits.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

const AAD_LABEL: &[u8] = b"secllama-runner";
const CLEAR_MARKER: u8 = 0x00;
const CLEAR_HEADER_LEN: usize = 1 + 1 + 8;

/// Which way a frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the host program to the runner process.
    HostToRunner,
    /// From the runner process to the host program.
    RunnerToHost,
}

impl Direction {
    fn byte(self) -> u8 {
        match self {
            Direction::HostToRunner => 1,
            Direction::RunnerToHost => 2,
        }
    }
}

/// How frames are protected.
#[derive(Clone)]
pub(crate) enum Mode {
    /// Sealed with the session keyset.
    Sealed(Arc<Keyset>),
    /// Unprotected (debugging only).
    Clear,
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Sealed(_) => f.write_str("Sealed(..)"),
            Mode::Clear => f.write_str("Clear"),
        }
    }
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The peer closed the stream at a frame boundary.
    #[error("the peer closed the channel")]
    Closed,
    /// Reading or writing the socket failed (including a stream cut inside a frame).
    #[error("channel i/o failed: {0}")]
    Io(io::Error),
    /// A length prefix outside `1..=MAX_FRAME_LEN`.
    #[error("frame length {len} is outside 1..={MAX_FRAME_LEN}")]
    BadLength {
        /// The announced length.
        len: u64,
    },
    /// The body did not authenticate: forged, replayed, reordered, reflected, corrupted, or
    /// in the wrong protection mode.
    #[error("frame failed authentication ({0})")]
    Rejected(&'static str),
    /// The body opened but is not a valid message.
    #[error("frame holds no valid message")]
    Malformed,
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// The associated data bound into the frame at `seq` travelling in `dir`.
pub(crate) fn frame_aad(dir: Direction, seq: u64) -> [u8; 15 + 1 + 1 + 8] {
    let mut aad = [0u8; 25];
    aad[..15].copy_from_slice(AAD_LABEL);
    aad[15] = PROTOCOL_VERSION;
    aad[16] = dir.byte();
    aad[17..].copy_from_slice(&seq.to_be_bytes());
    aad
}

/// Serializes and protects `msg` as the frame body at `seq` (without the length prefix).
pub(crate) fn seal_body<T: Serialize>(
    mode: &Mode,
    dir: Direction,
    seq: u64,
    msg: &T,
) -> Result<Vec<u8>, FrameError> {
    let json = Zeroizing::new(serde_json::to_vec(msg).map_err(|_| FrameError::Malformed)?);
    let body = match mode {
        Mode::Sealed(keyset) => keyset
            .seal(&json, &frame_aad(dir, seq))
            .map_err(|_| FrameError::Rejected("sealing failed; the session key is exhausted"))?,
        Mode::Clear => {
            let mut body = Vec::with_capacity(CLEAR_HEADER_LEN + json.len());
            body.push(CLEAR_MARKER);
            body.push(dir.byte());
            body.extend_from_slice(&seq.to_be_bytes());
            body.extend_from_slice(&json);
            body
        }
    };
    if body.is_empty() || body.len() > MAX_FRAME_LEN {
        return Err(FrameError::BadLength {
            len: body.len() as u64,
        });
    }
    Ok(body)
}

/// Opens and decodes the frame body expected at `seq` travelling in `dir`. Pure: the fuzz
/// targets call it through `internal`.
pub(crate) fn open_body<T: DeserializeOwned>(
    mode: &Mode,
    dir: Direction,
    seq: u64,
    body: &[u8],
) -> Result<T, FrameError> {
    if body.is_empty() || body.len() > MAX_FRAME_LEN {
        return Err(FrameError::BadLength {
            len: body.len() as u64,
        });
    }
    match mode {
        Mode::Sealed(keyset) => {
            if body[0] == CLEAR_MARKER {
                return Err(FrameError::Rejected(
                    "a clear frame on an encrypted channel",
                ));
            }
            let json = keyset
                .open(body, &frame_aad(dir, seq))
                .map_err(|_| FrameError::Rejected("forged, replayed, reordered or corrupt"))?;
            serde_json::from_slice(&json).map_err(|_| FrameError::Malformed)
        }
        Mode::Clear => {
            if body[0] != CLEAR_MARKER {
                return Err(FrameError::Rejected(
                    "an encrypted frame on a channel configured without encryption",
                ));
            }
            if body.len() < CLEAR_HEADER_LEN {
                return Err(FrameError::Malformed);
            }
            if body[1] != dir.byte() {
                return Err(FrameError::Rejected("frame from the wrong direction"));
            }
            let mut seq_bytes = [0u8; 8];
            seq_bytes.copy_from_slice(&body[2..CLEAR_HEADER_LEN]);
            if u64::from_be_bytes(seq_bytes) != seq {
                return Err(FrameError::Rejected("replayed or reordered frame"));
            }
            serde_json::from_slice(&body[CLEAR_HEADER_LEN..]).map_err(|_| FrameError::Malformed)
        }
    }
}

/// Writes frames in one direction, numbering them.
#[derive(Debug)]
pub(crate) struct FrameWriter<W> {
    inner: W,
    mode: Mode,
    dir: Direction,
    seq: u64,
    /// The last frame written (length prefix included; ciphertext in sealed mode), kept for
    /// the replay tests reached through `internal`.
    pub(crate) last_frame: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub(crate) fn new(inner: W, mode: Mode, dir: Direction) -> Self {
        FrameWriter {
            inner,
            mode,
            dir,
            seq: 0,
            last_frame: Vec::new(),
        }
    }

    /// Seals `msg` as the next frame and writes it with one `write_all`.
    pub(crate) fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), FrameError> {
        let body = seal_body(&self.mode, self.dir, self.seq, msg)?;
        let mut frame = Vec::with_capacity(4 + body.len());
        // The body length is at most MAX_FRAME_LEN, which fits in u32.
        let len = u32::try_from(body.len()).map_err(|_| FrameError::BadLength {
            len: body.len() as u64,
        })?;
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&body);
        self.inner.write_all(&frame)?;
        self.inner.flush()?;
        self.seq += 1;
        self.last_frame = frame;
        Ok(())
    }

    /// Writes raw bytes, bypassing sealing and numbering (tests through `internal` only).
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        self.inner.write_all(bytes)?;
        self.inner.flush()?;
        Ok(())
    }

    pub(crate) fn get_ref(&self) -> &W {
        &self.inner
    }
}

/// Reads frames in one direction, checking their numbers.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    inner: R,
    mode: Mode,
    dir: Direction,
    seq: u64,
}

impl<R: Read> FrameReader<R> {
    pub(crate) fn new(inner: R, mode: Mode, dir: Direction) -> Self {
        FrameReader {
            inner,
            mode,
            dir,
            seq: 0,
        }
    }

    /// Reads, opens and decodes the next frame. The length is checked before any allocation.
    pub(crate) fn recv<T: DeserializeOwned>(&mut self) -> Result<T, FrameError> {
        let mut len_bytes = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.inner.read(&mut len_bytes[got..]) {
                Ok(0) if got == 0 => return Err(FrameError::Closed),
                Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FrameError::Io(e)),
            }
        }
        let len = u32::from_be_bytes(len_bytes);
        let len_usize = usize::try_from(len).map_err(|_| FrameError::BadLength {
            len: u64::from(len),
        })?;
        if len_usize == 0 || len_usize > MAX_FRAME_LEN {
            return Err(FrameError::BadLength {
                len: u64::from(len),
            });
        }
        let mut body = Zeroizing::new(vec![0u8; len_usize]);
        self.inner.read_exact(&mut body)?;
        let msg = open_body(&self.mode, self.dir, self.seq, &body)?;
        self.seq += 1;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message::{HostMessage, RunnerMessage};

    fn sealed() -> Mode {
        Mode::Sealed(Arc::new(Keyset::generate()))
    }

    fn frames(mode: &Mode, dir: Direction, msgs: &[HostMessage]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for msg in msgs {
            let mut w = FrameWriter::new(Vec::new(), mode.clone(), dir);
            w.seq = out.len() as u64;
            w.send(msg).unwrap();
            out.push(w.inner);
        }
        out
    }

    fn read_all(mode: &Mode, dir: Direction, bytes: Vec<u8>) -> Vec<Result<HostMessage, String>> {
        let mut r = FrameReader::new(io::Cursor::new(bytes), mode.clone(), dir);
        let mut out = Vec::new();
        loop {
            match r.recv::<HostMessage>() {
                Err(FrameError::Closed) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
                Ok(m) => out.push(Ok(m)),
            }
        }
    }

    #[test]
    fn sealed_frames_round_trip_in_order() {
        let mode = sealed();
        let msgs = [HostMessage::Cancel { id: 1 }, HostMessage::Shutdown];
        let bytes = frames(&mode, Direction::HostToRunner, &msgs).concat();
        let got = read_all(&mode, Direction::HostToRunner, bytes);
        assert_eq!(got, vec![Ok(msgs[0].clone()), Ok(msgs[1].clone())]);
    }

    #[test]
    fn a_sealed_frame_hides_the_message_text() {
        let mode = sealed();
        let mut w = FrameWriter::new(Vec::new(), mode, Direction::RunnerToHost);
        let secret = "the-secret-token-text";
        w.send(&RunnerMessage::Token {
            id: 1,
            text: secret.into(),
        })
        .unwrap();
        let hay = String::from_utf8_lossy(&w.inner);
        assert!(!hay.contains(secret));
        assert!(!hay.contains("token"));
    }

    #[test]
    fn a_replayed_frame_is_rejected() {
        let mode = sealed();
        let f = frames(
            &mode,
            Direction::HostToRunner,
            &[HostMessage::Cancel { id: 1 }],
        );
        let bytes = [f[0].clone(), f[0].clone()].concat();
        let got = read_all(&mode, Direction::HostToRunner, bytes);
        assert_eq!(got[0], Ok(HostMessage::Cancel { id: 1 }));
        assert!(
            got[1].as_ref().unwrap_err().contains("forged, replayed"),
            "{got:?}"
        );
    }

    #[test]
    fn reordered_frames_are_rejected() {
        let mode = sealed();
        let f = frames(
            &mode,
            Direction::HostToRunner,
            &[HostMessage::Cancel { id: 1 }, HostMessage::Shutdown],
        );
        let got = read_all(
            &mode,
            Direction::HostToRunner,
            [f[1].clone(), f[0].clone()].concat(),
        );
        assert_eq!(got.len(), 1);
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("failed authentication")
        );
    }

    #[test]
    fn a_reflected_frame_is_rejected() {
        let mode = sealed();
        let f = frames(&mode, Direction::HostToRunner, &[HostMessage::Shutdown]);
        let got = read_all(&mode, Direction::RunnerToHost, f[0].clone());
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("failed authentication")
        );
    }

    #[test]
    fn a_frame_sealed_with_another_key_is_rejected() {
        let f = frames(&sealed(), Direction::HostToRunner, &[HostMessage::Shutdown]);
        let got = read_all(&sealed(), Direction::HostToRunner, f[0].clone());
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("failed authentication")
        );
    }

    #[test]
    fn every_flipped_bit_of_a_sealed_body_is_detected() {
        let mode = sealed();
        let f = frames(
            &mode,
            Direction::HostToRunner,
            &[HostMessage::Cancel { id: 9 }],
        );
        for i in 4..f[0].len() {
            let mut bad = f[0].clone();
            bad[i] ^= 0x01;
            let got = read_all(&mode, Direction::HostToRunner, bad);
            assert!(got[0].is_err(), "flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn clear_frames_are_rejected_by_a_sealed_reader_and_vice_versa() {
        let clear = frames(
            &Mode::Clear,
            Direction::HostToRunner,
            &[HostMessage::Shutdown],
        );
        let got = read_all(&sealed(), Direction::HostToRunner, clear[0].clone());
        assert_eq!(
            got,
            vec![Err(
                "frame failed authentication (a clear frame on an encrypted channel)".into()
            )]
        );

        let sealed_frame = frames(&sealed(), Direction::HostToRunner, &[HostMessage::Shutdown]);
        let got = read_all(
            &Mode::Clear,
            Direction::HostToRunner,
            sealed_frame[0].clone(),
        );
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("configured without encryption")
        );
    }

    #[test]
    fn clear_mode_still_checks_direction_and_sequence() {
        let f = frames(
            &Mode::Clear,
            Direction::HostToRunner,
            &[HostMessage::Shutdown],
        );
        assert_eq!(
            read_all(&Mode::Clear, Direction::HostToRunner, f[0].clone()),
            vec![Ok(HostMessage::Shutdown)]
        );
        assert!(read_all(&Mode::Clear, Direction::RunnerToHost, f[0].clone())[0].is_err());
        let replay = [f[0].clone(), f[0].clone()].concat();
        assert!(read_all(&Mode::Clear, Direction::HostToRunner, replay)[1].is_err());
    }

    #[test]
    fn lengths_outside_the_limit_are_refused_before_allocating() {
        let mode = sealed();
        for len in [0u32, u32::try_from(MAX_FRAME_LEN).unwrap() + 1, u32::MAX] {
            let got = read_all(&mode, Direction::HostToRunner, len.to_be_bytes().to_vec());
            assert_eq!(
                got,
                vec![Err(format!(
                    "frame length {len} is outside 1..={MAX_FRAME_LEN}"
                ))]
            );
        }
    }

    #[test]
    fn a_stream_cut_inside_a_frame_is_an_io_error_not_a_clean_close() {
        let mode = sealed();
        let f = frames(&mode, Direction::HostToRunner, &[HostMessage::Shutdown]);
        for cut in [1, 3, 4, f[0].len() - 1] {
            let got = read_all(&mode, Direction::HostToRunner, f[0][..cut].to_vec());
            assert!(
                got[0]
                    .as_ref()
                    .unwrap_err()
                    .starts_with("channel i/o failed"),
                "cut {cut}: {got:?}"
            );
        }
    }

    #[test]
    fn a_valid_envelope_with_garbage_inside_is_malformed() {
        let mode = sealed();
        let Mode::Sealed(ks) = &mode else {
            unreachable!()
        };
        let body = ks
            .seal(b"not json", &frame_aad(Direction::HostToRunner, 0))
            .unwrap();
        let res: Result<HostMessage, _> = open_body(&mode, Direction::HostToRunner, 0, &body);
        assert!(matches!(res, Err(FrameError::Malformed)));
    }
}
