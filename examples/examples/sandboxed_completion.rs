//! A sandboxed, encrypted chat completion on the default model.
//!
//! ```sh
//! bash examples/fetch-model.sh          # once: the default model, pinned by SHA-256
//! cargo build -p secllama-runner        # the runner executable
//! SECLLAMA_RUNNER_PATH=target/debug/secllama-runner \
//!     cargo run -p secllama-examples --example sandboxed_completion -- "What is the capital of France?"
//! ```
//!
//! The model runs in a child process that the OS sandboxes before it reads the model; the
//! question and every piece of the answer cross an AES-256-GCM channel. The sandbox report
//! goes to stderr, the answer to stdout.

use secllama_runner::{ChatMessage, ChatRequest, GenerationParams, Runner, RunnerConfig};
use secllama_runner::{StreamEvent, TerminalText};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What is the capital of France?".to_string());

    // The default model from the cache, pinned to its SHA-256; sandbox and encryption on.
    let runner = Runner::spawn(RunnerConfig::default_model()?.with_threads(2))?;
    if let Some(report) = runner.sandbox_report() {
        eprint!("{report}");
    }

    // A chat request: the model's own chat template; greedy, so the answer is reproducible.
    let request = ChatRequest::new(vec![ChatMessage::user(question)])
        .with_params(GenerationParams::greedy(64));
    // Model text is untrusted: TerminalText removes escape sequences before printing.
    let mut out = TerminalText::new();
    let mut generation = runner.chat(request)?;
    let done = loop {
        match generation.next() {
            Some(Ok(StreamEvent::Piece(piece))) => print!("{}", out.push_str(&piece)),
            Some(Ok(StreamEvent::Done(done))) => break done,
            Some(Err(e)) => return Err(e.into()),
            None => return Err("the runner ended the stream without a result".into()),
        }
    };
    println!("{}", out.finish());
    eprintln!(
        "{} tokens generated, stop reason {:?}",
        done.metrics.eval_count, done.reason
    );
    Ok(())
}
