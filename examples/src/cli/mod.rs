//! The command-line grammar: one root parser and one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod chat;
mod crypt;
pub(crate) mod exit;
mod key;
mod password;
mod run;
mod serve;

mod sandbox;
mod shell;
mod ui;

/// Errors a subcommand reports: printed as one line on stderr, with the exit status of their
/// kind (see [`exit::Status`]).
pub(crate) type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// SecLlama: run local LLMs sandboxed, with every message sealed by AES-256-GCM.
#[derive(Debug, Parser)]
#[command(name = "secllama", version, about, long_about = None, after_help = root_after_help())]
pub(crate) struct Cli {
    /// No progress, status report or metrics on stderr (warnings and errors still appear)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Status report and metrics on stderr even when it is not a terminal
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encrypt a file or stream with a password (AES-256-GCM, PBKDF2-HMAC-SHA256).
    Encrypt(crypt::EncryptArgs),
    /// Decrypt what `secllama encrypt` wrote; nothing is written unless it authenticates.
    Decrypt(crypt::DecryptArgs),
    /// Manage the keys that seal your data, kept in the OS keychain.
    Key(key::KeyCommand),
    /// Inspect the OS sandbox or run a program inside it.
    Sandbox(sandbox::SandboxArgs),
    /// Run one completion in the sandboxed runner and stream it to stdout.
    Run(run::RunArgs),
    /// Chat with the model in the sandboxed runner (one line per message).
    Chat(chat::ChatArgs),
    /// Serve the Ollama- and OpenAI-compatible API (sandboxed runners, bearer token).
    Serve(serve::ServeArgs),
    /// Manage the models `secllama serve` offers.
    Model(serve::ModelCommand),
    /// Show the models a running `secllama serve` has loaded.
    #[command(after_help = "Example:\n  secllama ps --host 127.0.0.1:11434")]
    Ps(serve::ClientArgs),
    /// List the models a running `secllama serve` offers.
    #[command(after_help = "Example:\n  secllama list")]
    List(serve::ClientArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(shell::CompletionsArgs),
    /// Print the manual page.
    Man(shell::ManArgs),
}

/// The exit status table, then an example (every `--help` ends with one).
fn root_after_help() -> String {
    format!(
        "{}\nExample:\n  secllama run --prompt 'Why run a language model in a sandbox?'",
        exit::Status::help_table()
    )
}

impl Cli {
    pub(crate) fn exec(self) -> CliResult {
        ui::Ui {
            quiet: self.quiet,
            verbose: self.verbose,
        }
        .install();
        match self.command {
            Command::Encrypt(args) => args.exec(),
            Command::Decrypt(args) => args.exec(),
            Command::Key(cmd) => cmd.exec(),
            Command::Sandbox(args) => args.exec(),
            Command::Run(args) => args.exec(),
            Command::Chat(args) => args.exec(),
            Command::Serve(args) => args.exec(),
            Command::Model(cmd) => cmd.exec(),
            Command::Ps(args) => args.ps(),
            Command::List(args) => args.list(),
            Command::Completions(args) => args.exec(),
            Command::Man(args) => args.exec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every `--help`, of every subcommand at every depth, ends with an example command line.
    fn ends_with_an_example(cmd: &mut clap::Command, path: &str) {
        let help = cmd.render_help().to_string();
        let lines: Vec<&str> = help.trim_end().lines().collect();
        let n = lines.len();
        assert!(
            n >= 2
                && lines[n - 2].starts_with("Example")
                && lines[n - 1].starts_with("  secllama "),
            "`{path} --help` must end with an example: add \
             #[command(after_help = \"Example:\\n  secllama ...\")]; it ends with:\n{help}"
        );
        for sub in cmd.get_subcommands_mut() {
            if sub.get_name() != "help" {
                let path = format!("{path} {}", sub.get_name());
                ends_with_an_example(sub, &path);
            }
        }
    }

    #[test]
    fn every_help_ends_with_an_example() {
        let mut cmd = super::Cli::command();
        cmd.build();
        ends_with_an_example(&mut cmd, "secllama");
    }
}
