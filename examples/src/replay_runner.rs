//! `secllama-replay-runner`: a runner that is hostile on purpose, for the CLI's tests only
//! (cargo feature `replay-runner`). It speaks the real sealed channel and answers each
//! prompt with scripted pieces that try to drive the terminal; see tests/hostile_runner.rs.

use secllama_runner::internal::{ReplayFrame, replay_runner_main};

fn piece(s: &str) -> ReplayFrame {
    ReplayFrame::Piece(s.to_owned())
}

/// The pieces sent for each prompt.
fn script(prompt: &str) -> Vec<ReplayFrame> {
    match prompt {
        "hostile" => vec![
            piece("osc52:\u{1b}]52;c;SGVsbG8=\u{7}|"),
            piece("csi:\u{1b}[2J\u{1b}[31mred\u{1b}[0m|"),
            piece("c1:\u{9b}6n|"),
            piece("dcs:\u{1b}P1$r\u{1b}\\|apc:\u{1b}_x\u{1b}\\|"),
            piece("split:\u{1b}"),
            piece("]0;title\u{7}|"),
            piece("bidi:a\u{202e}b|cr:\r|tab:\t|end"),
        ],
        "invalid-utf8" => vec![
            piece("before|"),
            ReplayFrame::RawPiece(b"\xff\xfe".to_vec()),
        ],
        other => vec![piece(other)],
    }
}

fn main() -> std::process::ExitCode {
    replay_runner_main(script)
}
