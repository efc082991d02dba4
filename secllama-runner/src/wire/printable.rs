//! Bounds and cleans text that came from the peer (and so possibly from the model file)
//! before anyone prints or logs it.

/// The most bytes of a model-controlled name (`general.name`) the host keeps.
pub(crate) const MAX_NAME_BYTES: usize = 256;
/// The most bytes of an error message from the runner the host keeps.
pub(crate) const MAX_ERROR_TEXT_BYTES: usize = 4096;

/// Makes text that came from the runner (and so possibly from the model file) safe to print
/// and log: tabs and line breaks become spaces, every other control character and every
/// bidirectional formatting character (which can reorder what a terminal shows) becomes
/// U+FFFD, and the result is cut to at most `max_bytes` bytes on a character boundary, ending
/// in `…` when cut.
pub(crate) fn printable(text: &str, max_bytes: usize) -> String {
    const ELLIPSIS: char = '…';
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let c = match c {
            '\t' | '\n' | '\r' => ' ',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {
                char::REPLACEMENT_CHARACTER
            }
            c if c.is_control() => char::REPLACEMENT_CHARACTER,
            c => c,
        };
        if out.len() + c.len_utf8() > max_bytes {
            while out.len() + ELLIPSIS.len_utf8() > max_bytes {
                if out.pop().is_none() {
                    return out;
                }
            }
            out.push(ELLIPSIS);
            return out;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_has_no_controls_or_bidi_overrides_and_respects_its_bound() {
        let cases: Vec<(&str, usize, &str)> = vec![
            ("Gemma 3 270m", 256, "Gemma 3 270m"),
            ("", 256, ""),
            ("a\tb\nc\r\nd", 256, "a b c  d"),
            (
                "\u{1b}[2J\u{7}\u{0}\u{7f}\u{9b}",
                256,
                "\u{fffd}[2J\u{fffd}\u{fffd}\u{fffd}\u{fffd}",
            ),
            (
                "abc\u{202e}fed\u{2066}\u{200f}",
                256,
                "abc\u{fffd}fed\u{fffd}\u{fffd}",
            ),
            ("abcdef", 6, "abcdef"),
            ("abcdefg", 6, "abc…"),
            ("ééé", 5, "é…"),
            ("abcdefg", 3, "…"),
            ("abcdefg", 2, ""),
            ("abcdefg", 0, ""),
        ];
        for (text, max, want) in cases {
            let got = printable(text, max);
            assert_eq!(got, want, "{text:?} within {max}");
            assert!(got.len() <= max, "{text:?} within {max}");
        }
        let long = "x".repeat(10 * MAX_NAME_BYTES);
        assert_eq!(printable(&long, MAX_NAME_BYTES).len(), MAX_NAME_BYTES);
    }
}
