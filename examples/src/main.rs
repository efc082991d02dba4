//! `secllama`: the SecLlama command line.
//!
//! Each subcommand lives in its own module under `cli/`; `main` only parses the command line,
//! runs the subcommand and turns an error into one line on stderr and the exit status of its kind
//! (`cli/exit.rs`; a closed standard output ends the program quietly).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.exec() {
        Ok(code) => code,
        Err(err) => cli::exit::report(&*err),
    }
}
