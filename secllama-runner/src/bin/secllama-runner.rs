//! The runner executable: started by `secllama_runner::Runner::spawn` inside the sandbox. It
//! is not meant to be run by hand; see the crate documentation.

fn main() -> std::process::ExitCode {
    secllama_runner::runner_main()
}
