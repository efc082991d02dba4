//! Running a tool in the sandbox: it may read the one file it was given, nothing else.
//!
//! ```sh
//! cargo run -p secllama-examples --example sandboxed_tool
//! ```
//!
//! The tool (`sh` running `wc` and `cat`) gets a read-only grant for one input file. Reading it
//! works; a file outside the grant (the host's `/etc/passwd`) is not even there ("No such file or
//! directory": the sandbox's root is an empty tmpfs holding only the baseline and the grants),
//! writing to the read-only input is refused, and the network is unreachable. The same policy
//! runs the model in SecLlama.

use std::process::Command;

use secllama_sandbox::SandboxPolicy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "one line for the tool\n")?;

    // The baseline (system libraries, /dev/null, ...) plus the input file, read-only.
    let policy = SandboxPolicy::new().read_only(&input);

    let mut allowed = Command::new("/bin/sh");
    allowed
        .arg("-c")
        .arg("wc -c < \"$1\"")
        .arg("sh")
        .arg(&input);
    let report = policy.apply_to(&mut allowed)?; // strict: fails if a layer is missing
    eprint!("{report}");
    let out = allowed.output()?;
    println!(
        "allowed read: exit {}, {} bytes counted",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim()
    );

    let mut forbidden = Command::new("/bin/sh");
    forbidden.arg("-c").arg("cat /etc/passwd");
    policy.apply_to(&mut forbidden)?;
    let out = forbidden.output()?;
    println!(
        "forbidden read: exit {}, stdout {} bytes, stderr: {}",
        out.status.code().unwrap_or(-1),
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr).trim()
    );

    let mut write = Command::new("/bin/sh");
    write
        .arg("-c")
        .arg("echo tampered > \"$1\"")
        .arg("sh")
        .arg(&input);
    policy.apply_to(&mut write)?;
    let out = write.output()?;
    let unchanged = std::fs::read_to_string(&input)? == "one line for the tool\n";
    println!(
        "write to the read-only input: exit {}, file unchanged: {unchanged}",
        out.status.code().unwrap_or(-1),
    );
    Ok(())
}
