//! `secllama chat`: an interactive, multi-turn chat with the sandboxed runner.

use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use secllama_runner::{
    ChatMessage, ChatRequest, Done, GenerationParams, MAX_PROMPT_BYTES, Runner, RunnerError,
    StreamEvent,
};

use super::CliResult;
use super::run::{ModelArgs, report_done, report_ready};
use super::ui::{self, ModelText};

/// Chat with the model, one line per message (end with Ctrl-D or /exit).
///
/// A line that cannot be sent (not UTF-8, over 2 MiB, or refused by the runner) is reported on
/// stderr with its line number and skipped; when stdin is not a terminal the exit status is
/// then 3. When the conversation outgrows the context, the oldest exchanges are forgotten.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  secllama chat --system 'Answer in one sentence.'")]
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
    /// Print the model's text byte for byte even on a terminal (by default a terminal gets
    /// it with control and escape sequences shown as visible symbols, e.g. ESC as ␛)
    #[arg(long)]
    raw: bool,
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
        let mut stdout = ModelText::new(self.raw);
        let mut refused = 0usize;
        let mut line_no = 0usize;
        loop {
            if interactive {
                eprint!(">>> ");
            }
            line_no += 1;
            let line = match read_message(&mut stdin.lock(), MAX_PROMPT_BYTES)? {
                Line::End => break,
                Line::Refused(why) => {
                    eprintln!("secllama: line {line_no}: {why}; not sent");
                    refused += 1;
                    continue;
                }
                Line::Text(line) => line,
            };
            let input = line.trim();
            if input.is_empty() {
                continue;
            }
            if input == "/exit" || input == "/bye" {
                break;
            }
            match answer(&mut runner, &mut messages, input, &params, &mut stdout) {
                Ok(Some((done, ttft))) => {
                    if ui::verbose() {
                        report_done(&done, ttft, false);
                    }
                }
                Ok(None) => {}
                // The runner refused this message and is still usable: say so and go on.
                Err(Failed::Runner(
                    e @ (RunnerError::InvalidRequest(_) | RunnerError::PromptTooLong { .. }),
                )) => {
                    eprintln!("secllama: line {line_no}: {e}; not sent");
                    refused += 1;
                }
                Err(Failed::Runner(e)) => return Err(e.into()),
                Err(Failed::Output(e)) => return Err(e.into()),
            }
        }
        // A script piping messages in learns that some were not answered.
        if refused > 0 && !interactive {
            return Ok(super::exit::Status::Input.into());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Why an answer failed: the runner, or writing it to stdout.
enum Failed {
    Runner(RunnerError),
    Output(std::io::Error),
}

impl From<RunnerError> for Failed {
    fn from(e: RunnerError) -> Self {
        Failed::Runner(e)
    }
}

/// Streams the answer to `input` after the conversation in `messages` to `out`; on success
/// the message and the answer join the conversation. When the conversation no longer fits the
/// context, the oldest exchange (after any system prompt) is forgotten and the request retried,
/// until only the new message is left; a message that is refused leaves `messages` unchanged.
fn answer(
    runner: &mut Runner,
    messages: &mut Vec<ChatMessage>,
    input: &str,
    params: &GenerationParams,
    out: &mut ModelText,
) -> Result<Option<(Done, Option<Duration>)>, Failed> {
    let mut attempt = messages.clone();
    attempt.push(ChatMessage::user(input));
    loop {
        let request = ChatRequest::new(attempt.clone()).with_params(params.clone());
        let mut text = String::new();
        let mut done = None;
        let mut stream = runner.chat(request)?;
        let mut failed = None;
        for event in stream.by_ref() {
            match event {
                Ok(StreamEvent::Piece(piece)) => {
                    out.piece(&piece).map_err(Failed::Output)?;
                    text.push_str(&piece);
                }
                Ok(StreamEvent::Done(d)) => done = Some(d),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let ttft = stream.time_to_first_piece();
        drop(stream);
        match failed {
            None => {
                out.end().map_err(Failed::Output)?;
                attempt.push(ChatMessage::assistant(text));
                *messages = attempt;
                return Ok(done.map(|d| (d, ttft)));
            }
            Some(RunnerError::PromptTooLong { .. })
                if text.is_empty() && forget_oldest(&mut attempt) =>
            {
                eprintln!(
                    "(the conversation no longer fits the context: forgot the oldest exchange)"
                );
            }
            Some(e) => {
                if !text.is_empty() {
                    out.end().map_err(Failed::Output)?;
                }
                return Err(e.into());
            }
        }
    }
}

/// Removes the oldest user/assistant exchange, keeping a system prompt and the last message;
/// false when there is none left to remove.
fn forget_oldest(messages: &mut Vec<ChatMessage>) -> bool {
    let first = usize::from(messages.first().is_some_and(|m| m.role == "system"));
    // Exchanges are user + assistant pairs before the last (unanswered) message.
    if messages.len() < first + 3 {
        return false;
    }
    messages.drain(first..first + 2);
    true
}

/// One line of input.
#[derive(Debug, PartialEq)]
enum Line {
    /// End of input.
    End,
    /// The line, newline included.
    Text(String),
    /// A line that cannot be a message (why); the rest of it was skipped.
    Refused(String),
}

/// Reads one line of at most `limit` bytes without ever holding more than `limit + 1`: a
/// longer line is skipped to its end and refused, as is one that is not UTF-8.
fn read_message(input: &mut impl BufRead, limit: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let max = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if Read::take(&mut *input, max).read_until(b'\n', &mut buf)? == 0 {
        return Ok(Line::End);
    }
    if buf.last() != Some(&b'\n') && buf.len() > limit {
        input.skip_until(b'\n')?;
        return Ok(Line::Refused(format!(
            "a message is limited to {limit} bytes"
        )));
    }
    match String::from_utf8(buf) {
        Ok(text) => Ok(Line::Text(text)),
        Err(e) => Ok(Line::Refused(format!(
            "the message is not valid UTF-8 (byte {} of the line)",
            e.utf8_error().valid_up_to() + 1
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_skipped_when_too_long_and_checked_for_utf8() {
        let input: &[u8] = b"hello\nabcdefghij\nabcdefghijk\nnext\n\xffoops\nlast";
        let mut r = std::io::BufReader::with_capacity(4, input);
        let want = [
            Line::Text("hello\n".into()),
            Line::Text("abcdefghij\n".into()),
            Line::Refused("a message is limited to 10 bytes".into()),
            Line::Text("next\n".into()),
            Line::Refused("the message is not valid UTF-8 (byte 1 of the line)".into()),
            Line::Text("last".into()),
            Line::End,
            Line::End,
        ];
        for (i, w) in want.into_iter().enumerate() {
            assert_eq!(read_message(&mut r, 10).unwrap(), w, "line {i}");
        }
    }

    #[test]
    fn forgetting_keeps_the_system_prompt_and_the_last_message() {
        let u = |s: &str| ChatMessage::user(s);
        let a = |s: &str| ChatMessage::assistant(s);
        let mut m = vec![
            ChatMessage::system("s"),
            u("1"),
            a("1"),
            u("2"),
            a("2"),
            u("3"),
        ];
        assert!(forget_oldest(&mut m));
        assert_eq!(m, vec![ChatMessage::system("s"), u("2"), a("2"), u("3")]);
        assert!(forget_oldest(&mut m));
        assert_eq!(m, vec![ChatMessage::system("s"), u("3")]);
        assert!(!forget_oldest(&mut m));
        let mut m = vec![u("1"), a("1"), u("2")];
        assert!(forget_oldest(&mut m));
        assert_eq!(m, vec![u("2")]);
        assert!(!forget_oldest(&mut m));
    }
}
