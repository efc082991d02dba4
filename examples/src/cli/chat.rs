//! `secllama chat`: an interactive, multi-turn chat with the sandboxed runner.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use secllama_runner::{ChatMessage, ChatRequest, GenerationParams, StreamEvent};

use super::CliResult;
use super::run::{ModelArgs, report_done, report_ready};

/// Chat with the model, one line per message (end with Ctrl-D or /exit).
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A system prompt for the whole conversation
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// The most tokens per answer
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_tokens: u32,
    /// Sampling temperature; 0 is greedy (deterministic)
    #[arg(long, value_name = "F", default_value_t = 0.8)]
    temperature: f32,
    /// Sampler seed
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u32,
    /// Print metrics after each answer
    #[arg(long)]
    verbose: bool,
}

impl ChatArgs {
    pub(crate) fn exec(self) -> CliResult {
        let mut runner = self.model.spawn(false)?;
        report_ready(&runner, false);
        let interactive = std::io::stdin().is_terminal();
        if interactive {
            eprintln!("type a message and press Enter; /exit or Ctrl-D ends the chat");
        }
        let params = GenerationParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            seed: self.seed,
            ..GenerationParams::default()
        };
        let mut messages = Vec::new();
        if let Some(system) = self.system {
            messages.push(ChatMessage::system(system));
        }
        let stdin = std::io::stdin();
        let mut stdout = std::io::stdout();
        let mut line = String::new();
        loop {
            if interactive {
                eprint!(">>> ");
            }
            line.clear();
            if stdin.lock().read_line(&mut line)? == 0 {
                break;
            }
            let input = line.trim();
            if input.is_empty() {
                continue;
            }
            if input == "/exit" || input == "/bye" {
                break;
            }
            messages.push(ChatMessage::user(input));
            let request = ChatRequest::new(messages.clone()).with_params(params.clone());
            let mut answer = String::new();
            let mut stream = runner.chat(request)?;
            let mut done = None;
            for event in stream.by_ref() {
                match event? {
                    StreamEvent::Piece(text) => {
                        stdout.write_all(text.as_bytes())?;
                        stdout.flush()?;
                        answer.push_str(&text);
                    }
                    StreamEvent::Done(d) => done = Some(d),
                }
            }
            let ttft = stream.time_to_first_piece();
            drop(stream);
            writeln!(stdout)?;
            if let (true, Some(done)) = (self.verbose, done) {
                report_done(&done, ttft, false);
            }
            messages.push(ChatMessage::assistant(answer));
        }
        Ok(ExitCode::SUCCESS)
    }
}
