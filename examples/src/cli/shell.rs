//! `secllama completions SHELL` and `secllama man`: generated from the command-line
//! definitions themselves, so they never drift from what `secllama` accepts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::exit::Failure;
use super::{Cli, CliResult};

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  secllama completions bash > ~/.local/share/bash-completion/completions/secllama"
)]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish
    shell: Shell,
}

impl CompletionsArgs {
    pub(crate) fn exec(self) -> CliResult {
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "secllama", &mut script);
        write_stdout(&script)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Print the manual page (roff), or write one page per command into a directory.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  secllama man | man -l -")]
pub(crate) struct ManArgs {
    /// Write secllama.1, secllama-run.1, ... into DIR instead of printing secllama.1
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

impl ManArgs {
    pub(crate) fn exec(self) -> CliResult {
        let cmd = Cli::command();
        if let Some(dir) = self.out_dir {
            clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                Failure::input(format!(
                    "cannot write manual pages to {}: {e}",
                    dir.display()
                ))
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        write_stdout(&page)?;
        Ok(ExitCode::SUCCESS)
    }
}

fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
