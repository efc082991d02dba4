//! What a sandboxed child gets as stdin, stdout and stderr, given explicitly: a launcher that
//! rebuilds the command (macOS `sandbox-exec`) cannot read these back from a `Command`, and
//! must never fall back to the host's own terminal.

use std::process::{Command, Stdio};

/// The three standard streams of a sandboxed child. [`ChildStdio::null`] is the safe default:
/// nothing in, output discarded.
#[derive(Debug)]
pub struct ChildStdio {
    /// Standard input.
    pub stdin: Stdio,
    /// Standard output.
    pub stdout: Stdio,
    /// Standard error.
    pub stderr: Stdio,
}

impl ChildStdio {
    /// `/dev/null` (`NUL` on Windows) for all three.
    pub fn null() -> ChildStdio {
        ChildStdio {
            stdin: Stdio::null(),
            stdout: Stdio::null(),
            stderr: Stdio::null(),
        }
    }

    /// Sets the three streams on `cmd`.
    pub fn apply(self, cmd: &mut Command) {
        cmd.stdin(self.stdin)
            .stdout(self.stdout)
            .stderr(self.stderr);
    }
}
