//! Sealed JSON messages and `ChatMessage`.

use secllama_crypto::message::{ChatMessage, open_json, seal_json};
use secllama_crypto::{CryptoError, Keyset};
use serde::{Deserialize, Serialize};

fn png_like() -> Vec<u8> {
    let mut img = b"\x89PNG\r\n\x1a\n".to_vec();
    img.extend((0u8..=255).cycle().take(3000));
    img
}

#[test]
fn chat_message_with_images_round_trips() {
    let ks = Keyset::generate();
    let msg = ChatMessage {
        role: "user".into(),
        content: "what is in this picture?".into(),
        images: vec![png_like(), vec![], vec![0xff; 7]],
    };
    let env = seal_json(&ks, &msg, b"chat 1").unwrap();
    let back: ChatMessage = open_json(&ks, &env, b"chat 1").unwrap();
    assert_eq!(back, msg);
}

#[test]
fn neither_text_nor_image_bytes_appear_in_the_envelope() {
    let ks = Keyset::generate();
    let img = png_like();
    let msg = ChatMessage {
        role: "user".into(),
        content: "SECRET-PROMPT".into(),
        images: vec![img],
    };
    let env = seal_json(&ks, &msg, b"").unwrap();
    let hay = |needle: &[u8]| env.windows(needle.len()).any(|w| w == needle);
    assert!(!hay(b"SECRET-PROMPT"));
    assert!(!hay(b"\x89PNG"));
    assert!(!hay(b"iVBORw0KGgo")); // base64 of the PNG signature
    assert!(!hay(b"user"));
}

#[test]
fn images_are_base64_strings_inside_the_sealed_json() {
    let ks = Keyset::generate();
    let msg = ChatMessage {
        role: "user".into(),
        content: "hi".into(),
        images: vec![vec![1, 2, 3]],
    };
    let env = seal_json(&ks, &msg, b"").unwrap();
    let json = ks.open(&env, b"").unwrap();
    assert_eq!(
        std::str::from_utf8(&json).unwrap(),
        r#"{"role":"user","content":"hi","images":["AQID"]}"#
    );
    let text_only = ChatMessage::new("assistant", "hello");
    let json = ks
        .open(&seal_json(&ks, &text_only, b"").unwrap(), b"")
        .unwrap();
    assert_eq!(
        std::str::from_utf8(&json).unwrap(),
        r#"{"role":"assistant","content":"hello"}"#
    );
}

#[test]
fn any_serde_value_round_trips() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        id: u64,
        tags: Vec<String>,
        body: Option<String>,
    }
    let ks = Keyset::generate();
    let n = Note {
        id: 42,
        tags: vec!["a".into(), "ü".into()],
        body: Some("x\"y\n".into()),
    };
    let env = seal_json(&ks, &n, b"note").unwrap();
    assert_eq!(open_json::<Note>(&ks, &env, b"note").unwrap(), n);
    assert_eq!(
        open_json::<Note>(&ks, &env, b"other").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn a_json_shape_error_reports_position_but_never_the_text() {
    let ks = Keyset::generate();
    let env = seal_json(&ks, &"my secret prompt", b"").unwrap();
    let err = open_json::<u32>(&ks, &env, b"").unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::Json {
                category: "data",
                line: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn invalid_base64_image_is_a_data_error() {
    let ks = Keyset::generate();
    let env = ks
        .seal(
            br#"{"role":"user","content":"","images":["not base64!"]}"#,
            b"",
        )
        .unwrap();
    let err = open_json::<ChatMessage>(&ks, &env, b"").unwrap_err();
    assert!(
        matches!(
            err,
            CryptoError::Json {
                category: "data",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn chat_message_debug_shows_sizes_not_content() {
    let msg = ChatMessage {
        role: "user".into(),
        content: "SECRET".into(),
        images: vec![vec![0xAB; 5]],
    };
    let dbg = format!("{msg:?}");
    assert_eq!(
        dbg,
        r#"ChatMessage { role: "user", content_len: 6, image_lens: [5] }"#
    );
}

#[test]
fn zeroize_wipes_a_chat_message() {
    use zeroize::Zeroize;
    let mut msg = ChatMessage {
        role: "user".into(),
        content: "SECRET".into(),
        images: vec![vec![1]],
    };
    msg.zeroize();
    assert!(msg.content.is_empty() && msg.role.is_empty() && msg.images.is_empty());
}
