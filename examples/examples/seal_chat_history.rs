//! Sealing a chat history with a keyset kept in the OS keychain.
//!
//! ```sh
//! cargo run -p secllama-examples --example seal_chat_history -- history.sealed
//! ```
//!
//! The keyset of the service `secllama-example` is created in the keychain on first use
//! (Secret Service on Linux; `SECLLAMA_KEYSTORE` picks another backend). The history is
//! serialised as JSON and sealed with AES-256-GCM under the keyset's primary key; the file holds
//! only the envelope. Reading it back needs the same keychain entry and the same associated
//! data, and any change to the file is detected.

use secllama_crypto::CryptoError;
use secllama_crypto::message::{ChatMessage, open_json, seal_json};
use secllama_keystore::{Keystore, KeystoreConfig};

/// Binds the envelope to what it is: opening it as anything else fails.
const AAD: &[u8] = b"secllama-example/chat-history/1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: seal_chat_history <file to write>")?;

    let store = Keystore::open(KeystoreConfig::new("secllama-example")?)?;
    let keyset = store.load()?; // created on first use
    eprintln!("keyset in the {} keychain backend", store.backend());

    let history = vec![
        ChatMessage::system("You are a helpful assistant."),
        ChatMessage::user("What is the capital of France?"),
        ChatMessage::assistant("The capital of France is Paris."),
    ];
    let envelope = seal_json(&keyset, &history, AAD)?;
    std::fs::write(&path, &envelope)?;
    let on_disk = std::fs::read(&path)?;
    let in_clear = on_disk.windows(5).any(|w| w == b"Paris");
    println!(
        "sealed {} messages into {} bytes ({path}); plaintext visible: {in_clear}",
        history.len(),
        on_disk.len()
    );

    // Reading it back: a fresh load from the keychain, as another process would.
    let reopened: Vec<ChatMessage> = open_json(&store.load()?, &on_disk, AAD)?;
    for m in &reopened {
        println!("{}: {}", m.role, m.content);
    }

    // One flipped bit anywhere is refused, and so is the right file under the wrong label.
    let mut tampered = on_disk.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    match open_json::<Vec<ChatMessage>>(&keyset, &tampered, AAD) {
        Err(CryptoError::AuthenticationFailed) => println!("tampered file: refused"),
        other => return Err(format!("tampered file was not refused: {other:?}").into()),
    }
    match open_json::<Vec<ChatMessage>>(&keyset, &on_disk, b"another label") {
        Err(CryptoError::AuthenticationFailed) => println!("wrong associated data: refused"),
        other => return Err(format!("wrong label was not refused: {other:?}").into()),
    }
    Ok(())
}
