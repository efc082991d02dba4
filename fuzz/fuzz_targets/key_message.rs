//! The key-pipe message the runner reads first (`"SLK1" | mode u8 | len u32 BE | keyset`):
//! arbitrary bytes never panic; a well-framed message is accepted exactly when its keyset parses
//! (sealed mode) or it is the empty clear-mode marker.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_crypto::Keyset;
use secllama_runner::internal::parse_key_message;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw(&'a [u8]),
    Framed { mode: u8, body: &'a [u8], len_delta: i8 },
}

const MAX_KEY_MESSAGE: usize = 4096;

fuzz_target!(|input: Input<'_>| match input {
    Input::Raw(b) => {
        if parse_key_message(b) {
            assert!(b.len() >= 9 && b.len() <= MAX_KEY_MESSAGE);
            assert_eq!(&b[..4], b"SLK1");
            let len = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) as usize;
            assert_eq!(len, b.len() - 9);
            match b[4] {
                0 => assert_eq!(len, 0),
                1 => assert!(Keyset::from_bytes(&b[9..]).is_ok()),
                m => panic!("mode {m} accepted"),
            }
        }
    }
    Input::Framed { mode, body, len_delta } => {
        let mut m = b"SLK1".to_vec();
        m.push(mode);
        let len = (body.len() as i64 + i64::from(len_delta)).clamp(0, i64::from(u32::MAX));
        m.extend_from_slice(&(len as u32).to_be_bytes());
        m.extend_from_slice(body);
        // A negative delta clamped to 0 can still frame the body exactly (an empty body):
        // what matters is whether the length field matches, not the delta.
        let want = len as usize == body.len()
            && m.len() <= MAX_KEY_MESSAGE
            && match mode {
                0 => body.is_empty(),
                1 => !body.is_empty() && Keyset::from_bytes(body).is_ok(),
                _ => false,
            };
        assert_eq!(parse_key_message(&m), want, "mode {mode} len {}", body.len());
    }
});
