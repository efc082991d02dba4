//! `secllama`: the SecLlama command line.
//!
//! Each subcommand lives in its own module under `cli/`; `main` only parses the command line,
//! runs the subcommand and turns an error into one line on stderr and the exit status of its kind
//! (`cli/exit.rs`; a closed standard output ends the program quietly).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Every subcommand may hold keys (the keystore's, a runner's session key; `serve` for its
    // whole life): not dumpable, hard core limit 0, before anything else happens.
    if let Err(err) = secllama_sandbox::harden_current_process() {
        return cli::exit::report(&err);
    }
    let cli = cli::Cli::parse();
    match cli.exec() {
        Ok(code) => code,
        Err(err) => cli::exit::report(&*err),
    }
}
