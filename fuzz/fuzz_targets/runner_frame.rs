//! Runner IPC frames: arbitrary bytes, and arbitrary JSON properly sealed (or framed in clear
//! mode) for the right direction and sequence number, so the fuzzer reaches the message
//! decoding behind the AEAD; plus whole length-prefixed streams as the runner reads them.
//! Decoding never panics; a frame only ever decodes in its own direction, at its own sequence
//! number and in its own protection mode; sealed and clear mode agree on which JSON is a valid
//! message; a stream decodes exactly up to its first bad frame.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_crypto::Keyset;
use secllama_fuzz::{fixed_keyset, fixed_keyset_bytes};
use secllama_runner::internal::FrameDecoder;
use secllama_runner::{MAX_FRAME_LEN, PROTOCOL_VERSION};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Arbitrary bytes as one frame body.
    Body { to_runner: bool, sealed: bool, seq: u16, bytes: &'a [u8] },
    /// Arbitrary bytes as the JSON of one correctly framed message.
    Json { to_runner: bool, seq: u16, json: &'a [u8] },
    /// Arbitrary bytes as a whole host-to-runner stream.
    RawStream { sealed: bool, bytes: &'a [u8] },
    /// Messages framed correctly one after the other, then cut at `cut` bytes.
    Stream { sealed: bool, messages: Vec<&'a [u8]>, cut: Option<u16>, bad_length: Option<u32> },
}

/// `"secllama-runner" | version | direction | seq BE` (secllama-runner/src/channel.rs).
fn aad(to_runner: bool, seq: u64) -> Vec<u8> {
    let mut a = b"secllama-runner".to_vec();
    a.push(PROTOCOL_VERSION);
    a.push(if to_runner { 1 } else { 2 });
    a.extend_from_slice(&seq.to_be_bytes());
    a
}

fn clear_body(to_runner: bool, seq: u64, json: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, if to_runner { 1 } else { 2 }];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(json);
    b
}

fn body(sealed: bool, to_runner: bool, seq: u64, json: &[u8]) -> Vec<u8> {
    if sealed {
        fixed_keyset().seal(json, &aad(to_runner, seq)).expect("seal")
    } else {
        clear_body(to_runner, seq, json)
    }
}

fn decoder(sealed: bool) -> &'static FrameDecoder {
    static SEALED: OnceLock<FrameDecoder> = OnceLock::new();
    static CLEAR: OnceLock<FrameDecoder> = OnceLock::new();
    if sealed {
        SEALED.get_or_init(|| {
            FrameDecoder::new(Some(Keyset::from_bytes(&fixed_keyset_bytes()).expect("keyset")))
        })
    } else {
        CLEAR.get_or_init(|| FrameDecoder::new(None))
    }
}

fn decode(sealed: bool, to_runner: bool, seq: u64, body: &[u8]) -> bool {
    let d = decoder(sealed);
    if to_runner { d.decode_host_frame(seq, body) } else { d.decode_runner_frame(seq, body) }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Body { to_runner: dir, sealed, seq, bytes: b } => {
        let seq = u64::from(seq);
        let ok = decode(sealed, dir, seq, b);
        if sealed {
            assert!(!ok, "unauthenticated bytes decoded as a sealed frame");
        } else if ok {
            assert!(!b.is_empty() && b.len() <= MAX_FRAME_LEN);
            assert_eq!(b[0], 0);
            assert_eq!(b[1], if dir { 1 } else { 2 });
            assert_eq!(&b[2..10], &seq.to_be_bytes());
            assert!(!decode(false, dir, seq + 1, b), "decoded at two sequence numbers");
            assert!(!decode(false, !dir, seq, b), "decoded in both directions");
            assert!(!decode(true, dir, seq, b), "a clear frame decoded on a sealed channel");
        }
    }
    Input::Json { to_runner: dir, seq, json } => {
        let seq = u64::from(seq);
        let sealed = body(true, dir, seq, json);
        let clear = body(false, dir, seq, json);
        let sealed_ok = decode(true, dir, seq, &sealed);
        assert_eq!(sealed_ok, decode(false, dir, seq, &clear), "modes disagree about one JSON");
        assert!(!decode(true, !dir, seq, &sealed), "reflected frame decoded");
        assert!(!decode(true, dir, seq + 1, &sealed), "replayed frame decoded");
        assert!(!decode(false, dir, seq, &sealed), "sealed frame decoded in clear mode");
        assert!(!decode(true, dir, seq, &clear), "clear frame decoded in sealed mode");
        assert!(!decode(false, !dir, seq, &clear), "clear frame decoded the other way");
        assert!(!decode(false, dir, seq + 1, &clear), "clear frame decoded at another position");
    }
    Input::RawStream { sealed, bytes } => {
        let n = decoder(sealed).decode_host_stream(bytes);
        if sealed {
            assert_eq!(n, 0, "an unauthenticated stream decoded");
        }
        assert!(n <= bytes.len() / 15, "more frames than the bytes can hold");
    }
    Input::Stream { sealed, messages, cut, bad_length } => {
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        let mut valid_prefix = None;
        for (i, json) in messages.iter().enumerate() {
            let b = body(sealed, true, i as u64, json);
            if valid_prefix.is_none() && !decode(sealed, true, i as u64, &b) {
                valid_prefix = Some(i);
            }
            stream.extend_from_slice(&(b.len() as u32).to_be_bytes());
            stream.extend_from_slice(&b);
            ends.push(stream.len());
        }
        let mut want = valid_prefix.unwrap_or(messages.len());
        if let Some(len) = bad_length {
            // A frame announcing a length outside 1..=MAX_FRAME_LEN (e.g. gigabytes) ends the
            // stream there, before anything is allocated for it.
            let len = if len == 0 || len as usize > MAX_FRAME_LEN { len } else { u32::MAX - len };
            stream.extend_from_slice(&len.to_be_bytes());
        }
        if let Some(cut) = cut {
            let cut = usize::from(cut).min(stream.len());
            stream.truncate(cut);
            want = want.min(ends.iter().filter(|&&e| e <= cut).count());
        }
        assert_eq!(decoder(sealed).decode_host_stream(&stream), want);
    }
});
