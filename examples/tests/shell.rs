//! `secllama completions SHELL` and `secllama man`, generated from the clap definitions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn secllama(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_secllama"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What bash completes for the words typed so far (the last one may be partial).
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = format!(
        "source <('{bin}' completions bash)\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         _secllama secllama '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bin = env!("CARGO_BIN_EXE_secllama"),
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        line = words.join(" "),
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_completes_subcommands_and_their_options() {
    assert_eq!(bash_completes(&["secllama", "enc"]), ["encrypt"]);
    let key = bash_completes(&["secllama", "key", ""]);
    for want in [
        "init",
        "status",
        "rotate",
        "delete",
        "--service",
        "--backend",
    ] {
        assert!(key.iter().any(|w| w == want), "{want} missing from {key:?}");
    }
    assert_eq!(
        bash_completes(&["secllama", "run", "--ra"]),
        ["--raw"],
        "run's options"
    );
    assert_eq!(bash_completes(&["secllama", "completions", "fi"]), ["fish"]);
}

#[test]
fn completion_scripts_for_every_shell_are_generated_and_bash_parses_its_own() {
    let bash = secllama(&["completions", "bash"]);
    assert!(bash.contains("complete -F _secllama"), "{bash}");
    let syntax = Command::new("bash")
        .args(["-n", "-c", &bash])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    for (shell, marker) in [
        ("zsh", "#compdef secllama"),
        ("fish", "complete -c secllama"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = secllama(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("encrypt"), "{shell}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_secllama"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_renders_with_every_command_and_the_exit_statuses() {
    let page = secllama(&["man"]);
    assert!(page.contains(".TH secllama 1"), "{page}");
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(page.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        });
    match rendered {
        Ok(out) => {
            assert!(out.status.success(), "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
            let text = String::from_utf8_lossy(&out.stdout);
            for want in ["encrypt", "decrypt", "sandbox", "completions", "141"] {
                assert!(text.contains(want), "{want} missing from the page:\n{text}");
            }
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI: groff is needed to render the man page: {e}")
        }
        Err(e) => eprintln!("SKIPPED rendering: groff: {e}"),
    }

    let dir = tempfile::tempdir().unwrap();
    secllama(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    for name in [
        "secllama.1",
        "secllama-encrypt.1",
        "secllama-key-status.1",
        "secllama-run.1",
    ] {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.contains(".TH "), "{name}");
    }
}
