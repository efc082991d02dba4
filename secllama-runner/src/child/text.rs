//! Turns the byte pieces of generated tokens into valid UTF-8 text pieces and applies stop
//! strings. Pure; unit-tested without a model.
//!
//! A token's bytes may end in the middle of a multi-byte character (byte-level BPE splits
//! emoji and CJK characters across tokens), so incomplete trailing bytes wait for the next
//! token; bytes that can never become valid UTF-8 are replaced by U+FFFD. Text that could be
//! the beginning of a stop string is held back until it is clear whether the stop string
//! follows, so a stop string never leaks into the output.

/// What one pushed token produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Text that is final and can be sent (may be empty).
    pub(crate) text: String,
    /// A stop string was found; `text` ends just before it.
    pub(crate) stopped: bool,
}

#[derive(Debug, Default)]
pub(crate) struct TextStream {
    pending: Vec<u8>,
    held: String,
    stop: Vec<String>,
}

impl TextStream {
    pub(crate) fn new(stop: Vec<String>) -> Self {
        TextStream {
            pending: Vec::new(),
            held: String::new(),
            stop: stop.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    /// Adds one token's bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Pushed {
        self.pending.extend_from_slice(bytes);
        let decoded = self.decode_pending();
        self.held.push_str(&decoded);
        if self.stop.is_empty() {
            return Pushed {
                text: std::mem::take(&mut self.held),
                stopped: false,
            };
        }
        if let Some(at) = self
            .stop
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let mut text = std::mem::take(&mut self.held);
            text.truncate(at);
            self.pending.clear();
            return Pushed {
                text,
                stopped: true,
            };
        }
        // Hold back the longest suffix that is a proper prefix of a stop string.
        let keep_from = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stop
                    .iter()
                    .any(|s| s.len() > tail.len() && s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let rest = self.held.split_off(keep_from);
        Pushed {
            text: std::mem::replace(&mut self.held, rest),
            stopped: false,
        }
    }

    /// Everything still held back, at the end of generation (incomplete bytes become
    /// U+FFFD). The stop strings are checked once more on that final text: a stop string that
    /// ends in U+FFFD can only be completed here.
    pub(crate) fn finish(&mut self) -> String {
        let mut text = std::mem::take(&mut self.held);
        if !self.pending.is_empty() {
            text.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
        if let Some(at) = self.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
            text.truncate(at);
        }
        text
    }

    fn decode_pending(&mut self) -> String {
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix up to `valid` is valid UTF-8 by definition of valid_up_to.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stop: &[&str], pieces: &[&[u8]]) -> (Vec<String>, bool, String) {
        let mut ts = TextStream::new(stop.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        for p in pieces {
            let r = ts.push(p);
            out.push(r.text);
            if r.stopped {
                return (out, true, String::new());
            }
        }
        (out, false, ts.finish())
    }

    #[test]
    fn a_character_split_across_tokens_is_sent_whole() {
        let crab = "🦀".as_bytes();
        let (out, _, rest) = run(&[], &[b"a", &crab[..1], &crab[1..3], &crab[3..], b"b"]);
        assert_eq!(out, vec!["a", "", "", "🦀", "b"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (out, _, rest) = run(&[], &[b"a\xffb", b"\xe2\x82"]);
        assert_eq!(out, vec!["a\u{fffd}b", ""]);
        assert_eq!(rest, "\u{fffd}");
    }

    #[test]
    fn a_stop_string_across_tokens_ends_generation_without_leaking() {
        let (out, stopped, _) = run(&["END"], &[b"hello E", b"N", b"D tail"]);
        assert!(stopped);
        assert_eq!(out.concat(), "hello ");
    }

    #[test]
    fn a_false_start_of_a_stop_string_is_released() {
        let (out, stopped, rest) = run(&["END"], &[b"aE", b"Nx", b"y"]);
        assert!(!stopped);
        assert_eq!(out, vec!["a", "ENx", "y"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn held_text_is_flushed_at_the_end() {
        let (out, stopped, rest) = run(&["STOP"], &[b"abc ST"]);
        assert!(!stopped);
        assert_eq!(out, vec!["abc "]);
        assert_eq!(rest, "ST");
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        let (out, stopped, _) = run(&["\n\n", "User:"], &[b"ok User: x\n\n"]);
        assert!(stopped);
        assert_eq!(out.concat(), "ok ");
    }

    #[test]
    fn multibyte_stop_strings_are_matched_on_character_boundaries() {
        let (out, stopped, _) = run(&["—end"], &[b"x \xe2\x80", b"\x94en", b"d"]);
        assert!(stopped);
        assert_eq!(out.concat(), "x ");
    }
}
