//! `secllama sandbox cleanup`, run as the real binary. SecLlama no longer creates firewall
//! rules anywhere, so the command has nothing to remove and says so.

#![allow(clippy::unwrap_used)] // a test helper: an unbuildable binary should fail loudly

use assert_cmd::Command;

#[test]
fn cleanup_succeeds_and_says_there_is_nothing_to_remove() {
    let out = Command::cargo_bin("secllama")
        .unwrap()
        .args(["sandbox", "cleanup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "nothing to clean up: SecLlama leaves no firewall rules behind (a Windows runner's \
         AppContainer and its file grants are removed when it ends)\n"
    );
}

#[test]
fn cleanup_takes_no_arguments() {
    let out = Command::cargo_bin("secllama")
        .unwrap()
        .args(["sandbox", "cleanup", "extra"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("unexpected argument 'extra'")
    );
}
