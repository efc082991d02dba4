//! `secllama encrypt` / `decrypt` without `--password-file`: the password is asked on the
//! terminal with echo off (twice for encrypt), and without a terminal the command fails with
//! a one-line hint and status 9.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::pty::Pty;

const T: Duration = Duration::from_secs(60);
const PW: &str = "correct horse battery";

fn secllama(args: &[&str], dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secllama"));
    cmd.args(args).current_dir(dir.path());
    cmd
}

/// Encrypts `plain` to `sealed` in `dir`, typing `first` and `second` at the prompts.
fn encrypt_typing(dir: &tempfile::TempDir, first: &str, second: &str) -> (Option<i32>, String) {
    let mut pty = Pty::spawn(secllama(
        &[
            "encrypt",
            "--iterations",
            "100000",
            "-i",
            "plain",
            "-o",
            "sealed",
        ],
        dir,
    ));
    pty.expect("Password: ", T);
    pty.send(&format!("{first}\n"));
    pty.expect("Repeat password: ", T);
    pty.send(&format!("{second}\n"));
    let (status, out) = pty.finish(T);
    (status.code(), String::from_utf8(out).unwrap())
}

#[test]
fn encrypt_asks_twice_without_echo_and_decrypt_opens_with_the_same_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), b"the plaintext").unwrap();
    let (code, out) = encrypt_typing(&dir, PW, PW);
    assert_eq!(code, Some(0), "{out:?}");
    // Only the prompts and the newlines the terminal echoes (ECHONL): never the password.
    assert_eq!(out, "Password: \nRepeat password: \n");

    std::fs::write(dir.path().join("pw"), PW).unwrap();
    let opened = secllama(&["decrypt", "--password-file", "pw", "-i", "sealed"], &dir)
        .output()
        .unwrap();
    assert!(opened.status.success(), "{opened:?}");
    assert_eq!(opened.stdout, b"the plaintext");

    // decrypt asks once; the right password opens, on stdout (the same terminal).
    let mut pty = Pty::spawn(secllama(&["decrypt", "-i", "sealed"], &dir));
    pty.expect("Password: ", T);
    pty.send(&format!("{PW}\n"));
    let (status, out) = pty.finish(T);
    assert_eq!(status.code(), Some(0));
    assert_eq!(String::from_utf8(out).unwrap(), "Password: \nthe plaintext");

    // A wrong password: authentication failed (4), nothing printed but the error.
    let mut pty = Pty::spawn(secllama(&["decrypt", "-i", "sealed"], &dir));
    pty.expect("Password: ", T);
    pty.send("not-the-password\n");
    let (status, out) = pty.finish(T);
    assert_eq!(status.code(), Some(4));
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with("Password: \nsecllama: cannot decrypt sealed: authentication failed"),
        "{out:?}"
    );
    assert!(!out.contains("not-the-password"), "{out:?}");
}

#[test]
fn encrypt_refuses_two_different_passwords_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), b"x").unwrap();
    let (code, out) = encrypt_typing(&dir, "one", "two");
    assert_eq!(code, Some(3), "{out:?}");
    assert_eq!(
        out,
        "Password: \nRepeat password: \nsecllama: the two passwords differ; nothing was \
         encrypted\n"
    );
    assert!(!dir.path().join("sealed").exists());
}

#[test]
fn without_a_terminal_encrypt_and_decrypt_fail_with_a_one_line_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), b"x").unwrap();
    for sub in ["encrypt", "decrypt"] {
        let mut cmd = secllama(&[sub, "-i", "plain"], &dir);
        // A new session has no controlling terminal: /dev/tty cannot be opened.
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(9), "{sub}: {out:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "secllama: no terminal to ask for the password on: give --password-file FILE (or \
             --service NAME)\n"
        );
    }
}

#[test]
fn ctrl_c_at_the_prompt_ends_the_program_and_gives_the_echo_back() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), b"x").unwrap();
    let mut pty = Pty::spawn(secllama(&["encrypt", "-i", "plain", "-o", "sealed"], &dir));
    assert!(pty.echoes(), "a fresh terminal echoes");
    pty.expect("Password: ", T);
    assert!(!pty.echoes(), "echo is off while the password is typed");
    pty.send("half a pass\u{3}");
    let (status, out) = pty.finish(T);
    assert_eq!(status.signal(), Some(libc::SIGINT), "{out:?}");
    assert!(pty.echoes(), "echo restored after Ctrl-C");
    assert!(!String::from_utf8_lossy(&out).contains("half a pass"));
    assert!(!dir.path().join("sealed").exists());
}
