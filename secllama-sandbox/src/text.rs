//! Bounding text that comes from outside (tool output, kernel messages) before it goes into an
//! error or a report.

/// `text` trimmed, cut to at most `max_chars` characters (`...` appended when cut), with line
/// breaks turned into spaces so that it stays one line.
pub(crate) fn bounded_line(text: &str, max_chars: usize) -> String {
    let t = text.trim();
    let mut out: String = t.chars().take(max_chars).collect();
    if out.len() < t.len() {
        out.push_str("...");
    }
    out.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_multi_line_text_becomes_one_bounded_line() {
        let m = bounded_line(&"x\n".repeat(1000), 300);
        assert_eq!(m.chars().count(), 303);
        assert!(m.ends_with("...") && !m.contains('\n'));
        assert_eq!(bounded_line("  short\r\n", 300), "short");
        assert_eq!(bounded_line("a\nb", 300), "a b");
    }
}
