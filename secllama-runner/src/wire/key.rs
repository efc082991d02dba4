//! The key-pipe message: how the host hands the runner its session key (never through argv or
//! the environment).
//!
//! Format: `"SLK1" | mode u8 (1 sealed, 0 clear) | length u32 BE | keyset bytes`.

use secllama_crypto::Keyset;
use zeroize::Zeroizing;

/// The magic at the start of the key message.
const KEY_MAGIC: &[u8; 4] = b"SLK1";
/// Upper bound on the key message (a fresh keyset is well under 100 bytes).
pub(crate) const MAX_KEY_MESSAGE: usize = 4096;

/// The key message is malformed (or, when encoding, the keyset is too large to frame).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadKeyMessage;

/// Encodes the key message: `Some(keyset)` for a sealed channel, `None` for clear mode.
pub(crate) fn encode_key_message(
    keyset: Option<&Keyset>,
) -> Result<Zeroizing<Vec<u8>>, BadKeyMessage> {
    let mut msg = Zeroizing::new(Vec::with_capacity(128));
    msg.extend_from_slice(KEY_MAGIC);
    match keyset {
        Some(ks) => {
            let bytes = ks.to_bytes();
            let len = u32::try_from(bytes.len()).map_err(|_| BadKeyMessage)?;
            msg.push(1);
            msg.extend_from_slice(&len.to_be_bytes());
            msg.extend_from_slice(&bytes);
        }
        None => {
            msg.push(0);
            msg.extend_from_slice(&0u32.to_be_bytes());
        }
    }
    if msg.len() > MAX_KEY_MESSAGE {
        return Err(BadKeyMessage);
    }
    Ok(msg)
}

/// Parses the key message: `Ok(Some(keyset))` for sealed mode, `Ok(None)` for clear mode.
pub(crate) fn parse_key_message(buf: &[u8]) -> Result<Option<Keyset>, BadKeyMessage> {
    if buf.len() < 9 || buf.len() > MAX_KEY_MESSAGE || &buf[..4] != KEY_MAGIC {
        return Err(BadKeyMessage);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&buf[5..9]);
    let len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| BadKeyMessage)?;
    let rest = &buf[9..];
    if rest.len() != len {
        return Err(BadKeyMessage);
    }
    match buf[4] {
        1 if len > 0 => Keyset::from_bytes(rest)
            .map(Some)
            .map_err(|_| BadKeyMessage),
        0 if len == 0 => Ok(None),
        _ => Err(BadKeyMessage),
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
        assert_eq!(
            parse_key_message(&key_message(0, &bytes)).err(),
            Some(BadKeyMessage)
        );
        assert_eq!(
            parse_key_message(&key_message(1, &[])).err(),
            Some(BadKeyMessage)
        );
        assert_eq!(
            parse_key_message(&key_message(2, &bytes)).err(),
            Some(BadKeyMessage)
        );
        let mut truncated = key_message(1, &bytes);
        truncated.pop();
        assert_eq!(parse_key_message(&truncated).err(), Some(BadKeyMessage));
        let mut bad_magic = key_message(1, &bytes);
        bad_magic[0] = b'X';
        assert_eq!(parse_key_message(&bad_magic).err(), Some(BadKeyMessage));
        assert_eq!(parse_key_message(&[]).err(), Some(BadKeyMessage));
    }

    #[test]
    fn what_the_host_encodes_the_runner_parses() {
        let ks = Keyset::generate();
        let sealed = encode_key_message(Some(&ks)).unwrap();
        let back = parse_key_message(&sealed).unwrap().unwrap();
        assert_eq!(back.primary_id(), ks.primary_id());
        let clear = encode_key_message(None).unwrap();
        assert_eq!(clear.as_slice(), b"SLK1\x00\x00\x00\x00\x00");
        assert!(parse_key_message(&clear).unwrap().is_none());
    }
}
