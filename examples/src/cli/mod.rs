//! The command-line grammar: one root parser and one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod chat;
mod crypt;
pub(crate) mod exit;
mod key;
mod run;

mod sandbox;

/// Errors a subcommand reports: printed as one line on stderr, with the exit status of their
/// kind (see [`exit::Status`]).
pub(crate) type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// SecLlama: run local LLMs sandboxed, with every message sealed by AES-256-GCM.
#[derive(Debug, Parser)]
#[command(name = "secllama", version, about, long_about = None, after_help = exit::Status::help_table())]
pub(crate) struct Cli {
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
}

impl Cli {
    pub(crate) fn exec(self) -> CliResult {
        match self.command {
            Command::Encrypt(args) => args.exec(),
            Command::Decrypt(args) => args.exec(),
            Command::Key(cmd) => cmd.exec(),
            Command::Sandbox(args) => args.exec(),
            Command::Run(args) => args.exec(),
            Command::Chat(args) => args.exec(),
        }
    }
}
