//! Exit statuses and a closed standard output, through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

fn secllama() -> Command {
    Command::new(env!("CARGO_BIN_EXE_secllama"))
}

/// Runs `cmd` with a standard output whose reader is already gone, as after `| head -1` once
/// head has exited.
fn with_closed_stdout(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(Stdio::from(writer)).stderr(Stdio::piped());
    cmd.output().unwrap()
}

#[test]
fn a_closed_stdout_ends_sandbox_check_quietly_with_status_141() {
    let out = with_closed_stdout(secllama().args(["sandbox", "check"]));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn a_closed_stdout_ends_encrypt_quietly_with_status_141() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw").unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, "plain").unwrap();
    let out = with_closed_stdout(
        secllama()
            .args(["encrypt", "--iterations", "100000", "--password-file"])
            .arg(&pw)
            .arg("-i")
            .arg(&input),
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn help_lists_every_exit_status() {
    let out = secllama().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    let table = help
        .split_once("Exit status:\n")
        .expect("an exit status table")
        .1;
    let codes: Vec<&str> = table
        .lines()
        .map_while(|l| l.split_whitespace().next())
        .take_while(|c| c.parse::<u8>().is_ok())
        .collect();
    assert_eq!(
        codes,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "141"]
    );
}

#[test]
fn a_usage_error_exits_2_and_a_missing_input_file_3() {
    let out = secllama().args(["encrypt", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw").unwrap();
    let out = secllama()
        .args(["encrypt", "--password-file"])
        .arg(&pw)
        .arg("-i")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("secllama: cannot read "),
        "{out:?}"
    );
}
