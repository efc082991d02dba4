//! [`TerminalText`]: model output made safe to print on a terminal.
//!
//! The runner may be hostile (a crafted model exploiting llama.cpp), and a terminal obeys the
//! control characters in what it prints: OSC 52 writes the clipboard, OSC 8 disguises links,
//! CSI sequences move the cursor and recolour or hide text, some sequences make the terminal
//! answer by typing into the shell, and bidi overrides reorder what the user reads.
//!
//! The filter keeps printable text, `\n` and `\t`, and replaces every other control character
//! with a visible stand-in: C0 controls and DEL become their Unicode control pictures (ESC
//! prints as `␛`, BEL as `␇`, CR as `␍`), C1 controls (U+0080 to U+009F, including the
//! one-character CSI U+009B) and bidi controls print as `<U+009B>`, and bytes that are not UTF-8
//! print as `�`. Replacing the character that introduces an escape sequence (ESC or a C1
//! introducer) neutralises the whole sequence: the terminal never enters it, and the rest of
//! it (`]52;c;…`, `[2J`) prints as the inert text it is, so the user sees what was attempted.
//!
//! It is stateful: a multi-byte character split over two pieces is joined, not replaced, so
//! the output is the same however the text was cut into pieces.

/// Bidirectional-text controls that reorder what is displayed (the "Trojan Source" set plus
/// the invisible direction marks).
const BIDI_CONTROLS: &[char] = &[
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Longest incomplete UTF-8 sequence held back between pieces.
const MAX_PENDING: usize = 3;

/// A streaming filter that makes untrusted text safe to print on a terminal.
///
/// Feed it the pieces in order with [`push`](Self::push) (bytes) or
/// [`push_str`](Self::push_str), print what each call returns, and print
/// [`finish`](Self::finish) at the end. Use it whenever model output goes to a terminal; pass
/// the text through unchanged when it goes to a file or a pipe that wants the exact bytes.
///
/// ```
/// use secllama_runner::TerminalText;
///
/// let mut filter = TerminalText::new();
/// // An OSC 52 clipboard write, cut over two pieces, and a C1 CSI.
/// let mut shown = filter.push_str("copy \u{1b}]52;c;aGk=");
/// shown += &filter.push_str("\u{7}\u{9b}2J done\n");
/// shown += &filter.finish();
/// assert_eq!(shown, "copy ␛]52;c;aGk=␇<U+009B>2J done\n");
/// ```
#[derive(Debug, Default, Clone)]
pub struct TerminalText {
    /// The start of a UTF-8 character whose remaining bytes are in the next piece.
    pending: Vec<u8>,
}

impl TerminalText {
    /// A filter with nothing pending.
    pub fn new() -> Self {
        TerminalText::default()
    }

    /// Filters one piece of text.
    pub fn push_str(&mut self, piece: &str) -> String {
        self.push(piece.as_bytes())
    }

    /// Filters one piece of bytes; an incomplete UTF-8 character at its end waits for the
    /// next piece. The result never holds a control character other than `\n` and `\t`.
    pub fn push(&mut self, piece: &[u8]) -> String {
        let mut out = String::with_capacity(piece.len() + self.pending.len());
        let joined;
        let mut bytes: &[u8] = if self.pending.is_empty() {
            piece
        } else {
            let mut j = std::mem::take(&mut self.pending);
            j.extend_from_slice(piece);
            joined = j;
            &joined
        };
        loop {
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    push_safe(&mut out, text);
                    return out;
                }
                Err(e) => {
                    let (valid, rest) = bytes.split_at(e.valid_up_to());
                    // `valid_up_to` guarantees this prefix is UTF-8.
                    push_safe(&mut out, std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            bytes = &rest[bad..];
                        }
                        None => {
                            // An incomplete character at the end: at most 3 bytes.
                            self.pending = rest[..rest.len().min(MAX_PENDING)].to_vec();
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// Ends the text: an incomplete character left at the end prints as `�`.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            return String::new();
        }
        self.pending.clear();
        char::REPLACEMENT_CHARACTER.to_string()
    }
}

/// Appends `text` with every unsafe character replaced by its visible stand-in.
fn push_safe(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            // C0 controls map onto the Control Pictures block, U+2400 + code.
            '\0'..='\u{1f}' => out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('?')),
            '\u{7f}' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}' => push_code(out, c),
            c if BIDI_CONTROLS.contains(&c) => push_code(out, c),
            c => out.push(c),
        }
    }
}

fn push_code(out: &mut String, c: char) {
    out.push_str(&format!("<U+{:04X}>", u32::from(c)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_all(pieces: &[&[u8]]) -> String {
        let mut f = TerminalText::new();
        let mut out: String = pieces.iter().map(|p| f.push(p)).collect();
        out.push_str(&f.finish());
        out
    }

    #[test]
    fn printable_text_newlines_and_tabs_pass_unchanged() {
        let text = "Hello, world!\n\tÉté, 東京, emoji 🦙 and math ∑.\n";
        assert_eq!(filter_all(&[text.as_bytes()]), text);
    }

    #[test]
    fn every_c0_control_and_del_become_control_pictures() {
        for b in (0u8..0x20).chain([0x7f]) {
            if b == b'\n' || b == b'\t' {
                continue;
            }
            let out = filter_all(&[&[b'a', b, b'b']]);
            let picture = if b == 0x7f {
                '\u{2421}'
            } else {
                char::from_u32(0x2400 + u32::from(b)).unwrap()
            };
            assert_eq!(out, format!("a{picture}b"), "byte {b:#04x}");
        }
    }

    #[test]
    fn every_c1_control_prints_as_its_code_point() {
        for c in '\u{80}'..='\u{9f}' {
            let out = filter_all(&[c.to_string().as_bytes()]);
            assert_eq!(out, format!("<U+{:04X}>", u32::from(c)));
        }
    }

    #[test]
    fn bidi_overrides_and_isolates_print_as_their_code_points() {
        let out = filter_all(&["a\u{202e}b\u{2066}c\u{200f}".as_bytes()]);
        assert_eq!(out, "a<U+202E>b<U+2066>c<U+200F>");
    }

    #[test]
    fn escape_sequences_of_every_kind_are_neutralised_and_visible() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x1b]52;c;SGVsbG8=\x07", "␛]52;c;SGVsbG8=␇"),
            (
                b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
                "␛]8;;http://x␛\\link␛]8;;␛\\",
            ),
            (b"\x1b[2J\x1b[31mred", "␛[2J␛[31mred"),
            ("\u{9b}6n".as_bytes(), "<U+009B>6n"),
            (b"\x1bP1$r\x1b\\", "␛P1$r␛\\"),
            (
                b"\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\",
                "␛_apc␛\\␛^pm␛\\␛Xsos␛\\",
            ),
            ("\u{90}dcs\u{9c}".as_bytes(), "<U+0090>dcs<U+009C>"),
        ];
        for (input, want) in cases {
            let out = filter_all(&[input]);
            assert_eq!(&out, want);
            assert!(
                !out.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
            );
        }
    }

    #[test]
    fn a_sequence_or_character_split_over_pieces_gives_the_same_output() {
        let text = "x\u{1b}]52;c;aGk=\u{7} \u{9b}31m 🦙 é\u{202e}!".as_bytes();
        let whole = filter_all(&[text]);
        for cut in 0..=text.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(filter_all(&[a, b]), whole, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(filter_all(&bytewise), whole);
    }

    #[test]
    fn invalid_utf8_prints_as_replacement_characters() {
        assert_eq!(
            filter_all(&[b"a\xffb\xc0\xafc"]),
            "a\u{fffd}b\u{fffd}\u{fffd}c"
        );
        // A raw C1 CSI byte (8-bit terminals) is not UTF-8.
        assert_eq!(filter_all(&[b"\x9b2J"]), "\u{fffd}2J");
        // A truncated character at the very end.
        assert_eq!(filter_all(&[b"ok\xf0\x9f"]), "ok\u{fffd}");
        // A truncated character followed by more text is wrong, not pending.
        assert_eq!(filter_all(&[b"\xf0\x9f", b"x"]), "\u{fffd}x");
    }
}
