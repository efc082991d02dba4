//! The Windows launch plan from arbitrary input: runner ids into AppContainer names, policy
//! paths into the container's file grants, arguments into a `CreateProcessW` command line and
//! variables into an environment block. Accepted names are exactly the documented ones; grants
//! are read-only and never for a path outside the policy; the command line splits back (by the
//! C runtime's rules) into exactly the arguments; the environment block is well terminated.
#![no_main]

use std::ffi::OsStr;
use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_sandbox::internal::{
    CONTAINER_PREFIX, FILE_GENERIC_READ, FILE_GENERIC_READ_EXECUTE, MAX_CONTAINER_NAME_LEN,
    command_line, container_name, environment_block, file_grants, strip_verbatim,
};
use secllama_sandbox::{SandboxError, SandboxPolicy};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    runner_id: &'a str,
    program: &'a str,
    read_only: Vec<&'a str>,
    args: Vec<&'a str>,
    env: Vec<(&'a str, &'a str)>,
}

/// The C runtime's argument splitting (after the program), for arguments without NUL.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            return out;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if !quoted && (c == ' ' || c == '\t') {
                break;
            }
            chars.next();
            match c {
                '\\' => {
                    let mut n = 1;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        n += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            chars.next();
                            arg.push('"');
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                }
                '"' => {
                    if quoted && chars.peek() == Some(&'"') {
                        chars.next();
                        arg.push('"');
                    } else {
                        quoted = !quoted;
                    }
                }
                other => arg.push(other),
            }
        }
        out.push(arg);
    }
}

fuzz_target!(|input: Input<'_>| {
    let id = input.runner_id;
    match container_name(id) {
        Ok(name) => {
            assert_eq!(name, format!("{CONTAINER_PREFIX}{id}"));
            assert!(name.len() <= MAX_CONTAINER_NAME_LEN);
            assert!(!id.is_empty());
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        }
        Err(SandboxError::InvalidRunnerId { id: shown }) => {
            assert!(shown.chars().count() <= 72);
        }
        Err(e) => panic!("unexpected {e:?}"),
    }

    let mut policy = SandboxPolicy::new();
    for p in &input.read_only {
        policy = policy.read_only(*p);
    }
    if let Ok((grants, refused)) = file_grants(&policy, Path::new(input.program)) {
        assert!(refused.is_empty());
        let program = strip_verbatim(Path::new(input.program));
        for (i, g) in grants.iter().enumerate() {
            if i == 0 {
                assert_eq!(g.access, FILE_GENERIC_READ_EXECUTE);
                assert!(g.inherit);
                assert!(program.to_string_lossy().starts_with(&*g.path.to_string_lossy()));
            } else {
                assert_eq!(g.access, FILE_GENERIC_READ);
                assert!(!g.inherit);
                assert!(
                    input
                        .read_only
                        .iter()
                        .any(|p| strip_verbatim(Path::new(p)) == g.path),
                    "{:?} is not a policy path",
                    g.path
                );
                assert_ne!(g.path, program);
            }
            let sddl = g.sddl("S-1-15-2-1");
            assert!(sddl.starts_with("(A;") && sddl.ends_with(";;;S-1-15-2-1)"));
        }
    }

    // Arguments with NUL cannot be on a command line (the launcher never builds such).
    let args: Vec<&str> = input
        .args
        .iter()
        .copied()
        .filter(|a| !a.contains('\0'))
        .collect();
    let os: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let line = command_line(OsStr::new(r"C:\r\runner.exe"), &os);
    let rest = line
        .strip_prefix(r#""C:\r\runner.exe""#)
        .expect("the program comes first, quoted");
    assert_eq!(split(rest), args);

    let vars: Vec<(String, String)> = input
        .env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let block = environment_block(&vars);
    assert!(block.len() >= 2 && block.ends_with(&[0, 0]));
    let entries = block[..block.len() - 1]
        .split(|u| *u == 0)
        .filter(|e| !e.is_empty())
        .count();
    assert!(entries <= vars.len());
});
