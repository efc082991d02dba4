//! What goes to the terminal besides the results: progress, status, warnings, and model text.
//!
//! - Results go to stdout; progress, status and warnings to stderr.
//! - Progress and status (the model/channel/sandbox report, metrics) appear only when stderr is
//!   a terminal, never with `--quiet`, and also off a terminal with `--verbose`.
//! - Warnings and errors always appear. Colour (a bold "WARNING") only on a terminal, never
//!   when `NO_COLOR` is set to anything non-empty or `TERM=dumb`.
//! - Model text goes through [`TerminalText`] when stdout is a terminal, unless `--raw`.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use secllama_runner::TerminalText;

/// The global output options, set once from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ui {
    /// `--quiet`: no progress, status or metrics.
    pub(crate) quiet: bool,
    /// `--verbose`: status and metrics even when stderr is not a terminal.
    pub(crate) verbose: bool,
}

static UI: OnceLock<Ui> = OnceLock::new();

impl Ui {
    /// Records the options for the rest of the process (the first call wins).
    pub(crate) fn install(self) {
        let _ = UI.set(self);
    }

    fn get() -> Ui {
        UI.get().copied().unwrap_or_default()
    }
}

/// Whether progress bars may be drawn: stderr is a terminal and not `--quiet`.
pub(crate) fn progress_enabled() -> bool {
    !Ui::get().quiet && io::stderr().is_terminal()
}

/// Whether status reports and metrics are printed on stderr.
pub(crate) fn status_enabled() -> bool {
    let ui = Ui::get();
    !ui.quiet && (ui.verbose || io::stderr().is_terminal())
}

/// Whether `--verbose` was given (and not `--quiet`).
pub(crate) fn verbose() -> bool {
    let ui = Ui::get();
    ui.verbose && !ui.quiet
}

/// The decision behind colour, from its inputs (unit-tested).
fn colour_allowed(
    stderr_tty: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&str>,
) -> bool {
    stderr_tty && no_color.is_none_or(|v| v.is_empty()) && term != Some("dumb")
}

fn colour_enabled() -> bool {
    colour_allowed(
        io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var("TERM").ok().as_deref(),
    )
}

/// Prints `secllama: WARNING: {message}` on stderr, "WARNING" in bold yellow when colour is
/// allowed.
pub(crate) fn warn(message: &str) {
    if colour_enabled() {
        eprintln!("secllama: \x1b[1;33mWARNING\x1b[0m: {message}");
    } else {
        eprintln!("secllama: WARNING: {message}");
    }
}

/// Where model text goes: stdout, through [`TerminalText`] when stdout is a terminal (unless
/// `raw`), else byte for byte.
pub(crate) struct ModelText {
    filter: Option<TerminalText>,
    out: io::Stdout,
}

impl ModelText {
    pub(crate) fn new(raw: bool) -> Self {
        let out = io::stdout();
        let filter = (!raw && out.is_terminal()).then(TerminalText::new);
        ModelText { filter, out }
    }

    /// Writes one piece and flushes it.
    pub(crate) fn piece(&mut self, text: &str) -> io::Result<()> {
        match &mut self.filter {
            Some(f) => self.out.write_all(f.push_str(text).as_bytes())?,
            None => self.out.write_all(text.as_bytes())?,
        }
        self.out.flush()
    }

    /// Ends one answer: whatever the filter held back, then a newline.
    pub(crate) fn end(&mut self) -> io::Result<()> {
        if let Some(f) = &mut self.filter {
            self.out.write_all(f.finish().as_bytes())?;
        }
        writeln!(self.out)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::colour_allowed;
    use std::ffi::OsStr;

    #[test]
    fn colour_needs_a_terminal_no_no_color_and_a_capable_term() {
        assert!(colour_allowed(true, None, Some("xterm-256color")));
        assert!(colour_allowed(true, Some(OsStr::new("")), None));
        assert!(!colour_allowed(false, None, Some("xterm")));
        assert!(!colour_allowed(true, Some(OsStr::new("1")), Some("xterm")));
        assert!(!colour_allowed(true, None, Some("dumb")));
    }
}
