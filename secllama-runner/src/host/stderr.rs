//! The runner's stderr: a pipe the host reads, never the host's terminal. Each line is logged
//! (`warn`, target `secllama::runner`) bounded to [`MAX_STDERR_LINE_BYTES`] and made printable,
//! at most [`MAX_STDERR_LINES`] lines per runner; the rest is read and dropped, so a chatty or
//! hostile runner can neither block on a full pipe nor flood the log or the terminal.

use std::io::{BufRead, BufReader, Read};

use crate::wire::printable;

/// A longer line is cut (and marked with `…`).
pub(crate) const MAX_STDERR_LINE_BYTES: usize = 1024;
/// Lines logged per runner; later ones are counted and dropped.
pub(crate) const MAX_STDERR_LINES: usize = 1000;

/// Reads `input` to its end, handing each line (bounded, printable) to `sink`, at most
/// [`MAX_STDERR_LINES`] of them, then once the number of lines dropped. Returns the number of
/// lines read.
pub(crate) fn relay_lines(input: impl Read, sink: &mut dyn FnMut(String)) -> usize {
    let mut reader = BufReader::new(input);
    let mut line = Vec::with_capacity(MAX_STDERR_LINE_BYTES);
    let mut count = 0usize;
    loop {
        line.clear();
        // Read one line, keeping at most the bound plus one byte (so `printable` sees that it
        // was longer and marks the cut).
        let ended = loop {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            };
            if buf.is_empty() {
                break true;
            }
            let (chunk, newline) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], Some(i)),
                None => (buf, None),
            };
            let room = MAX_STDERR_LINE_BYTES + 1 - line.len().min(MAX_STDERR_LINE_BYTES + 1);
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = newline.map_or(buf.len(), |i| i + 1);
            reader.consume(used);
            if newline.is_some() {
                break false;
            }
        };
        if ended && line.is_empty() {
            break;
        }
        count += 1;
        if count <= MAX_STDERR_LINES {
            let text = String::from_utf8_lossy(&line);
            sink(printable(&text, MAX_STDERR_LINE_BYTES));
        }
        if ended {
            break;
        }
    }
    if count > MAX_STDERR_LINES {
        sink(format!(
            "({} more lines of runner stderr dropped)",
            count - MAX_STDERR_LINES
        ));
    }
    count
}

/// Starts the thread that logs what the runner writes to `read` (the spawner's tracing
/// subscriber receives the lines). The thread ends when the runner closes its stderr.
pub(super) fn spawn_relay(read: std::fs::File) -> std::io::Result<()> {
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    std::thread::Builder::new()
        .name("secllama-runner-stderr".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                relay_lines(read, &mut |line| {
                    tracing::warn!(target: "secllama::runner", line = %line, "runner stderr");
                });
            });
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(input: &[u8]) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let n = relay_lines(input, &mut |l| out.push(l));
        (out, n)
    }

    #[test]
    fn lines_are_printable_and_bounded_and_a_missing_last_newline_is_fine() {
        let mut input = b"plain\n\x1b[2J\x07bell\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend(b"\nlast");
        let (out, n) = relay(&input);
        assert_eq!(n, 4);
        assert_eq!(out[0], "plain");
        assert_eq!(out[1], "\u{fffd}[2J\u{fffd}bell ");
        assert_eq!(out[2].len(), MAX_STDERR_LINE_BYTES);
        assert!(out[2].ends_with('…'));
        assert_eq!(out[3], "last");
        assert_eq!(relay(b"").1, 0);
        // Invalid UTF-8 is replaced, not passed on.
        assert_eq!(relay(b"\xff\xfe ok\n").0, vec!["\u{fffd}\u{fffd} ok"]);
    }

    #[test]
    fn after_the_line_limit_the_rest_is_drained_and_counted() {
        let input = "line\n".repeat(MAX_STDERR_LINES + 25);
        let (out, n) = relay(input.as_bytes());
        assert_eq!(n, MAX_STDERR_LINES + 25);
        assert_eq!(out.len(), MAX_STDERR_LINES + 1);
        assert_eq!(
            out.last().map(String::as_str),
            Some("(25 more lines of runner stderr dropped)")
        );
    }
}
