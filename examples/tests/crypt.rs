//! `secllama encrypt` / `secllama decrypt`, run as the real binary.
// Helpers outside #[test] functions set up fixtures: a failure there must stop the test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use secllama_crypto::{CryptoError, password};
use tempfile::TempDir;

const FAST: &str = "100000";

fn secllama() -> Command {
    Command::cargo_bin("secllama").unwrap()
}

struct Dir {
    dir: TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: TempDir::new().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, data).unwrap();
        p
    }
    /// Every file name in the directory (to prove no temporary file was left behind).
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn encrypt(pw: &Path, input: &Path, output: &Path, aad: &str) {
    secllama()
        .args([
            "encrypt",
            "--iterations",
            FAST,
            "--aad",
            aad,
            "--password-file",
        ])
        .arg(pw)
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(output)
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

/// Runs `decrypt` expecting failure; returns stderr. The exit status is 4 (authentication
/// failed) when the message says so, else 3 (malformed input).
fn decrypt_fails(pw: &Path, input: &Path, output: &Path, aad: &str) -> String {
    let out = secllama()
        .args(["decrypt", "--aad", aad, "--password-file"])
        .arg(pw)
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    let want = if err.contains("authentication failed") {
        4
    } else {
        3
    };
    assert_eq!(out.status.code(), Some(want), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("secllama: "), "{err:?}");
    err
}

#[test]
fn a_file_encrypted_with_a_password_decrypts_to_the_same_bytes() {
    let d = Dir::new();
    let pw = d.write("pw", b"hunter2\n");
    let plain: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let input = d.write("plain.bin", &plain);
    encrypt(&pw, &input, &d.path("sealed"), "notes.txt");
    let sealed = fs::read(d.path("sealed")).unwrap();
    assert_eq!(sealed.len(), plain.len() + password::PASSWORD_OVERHEAD);
    assert_eq!(sealed[0], 0x02);
    secllama()
        .args(["decrypt", "--aad", "notes.txt", "--password-file"])
        .arg(&pw)
        .arg("-i")
        .arg(d.path("sealed"))
        .arg("-o")
        .arg(d.path("back.bin"))
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(fs::read(d.path("back.bin")).unwrap(), plain);
    assert_eq!(d.names(), ["back.bin", "plain.bin", "pw", "sealed"]);
}

#[cfg(unix)]
#[test]
fn output_files_are_created_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let input = d.write("plain", b"secret");
    encrypt(&pw, &input, &d.path("sealed"), "");
    let mode = fs::metadata(d.path("sealed")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn stdin_and_stdout_are_the_defaults_and_the_default_count_is_600000() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let sealed = secllama()
        .args(["encrypt", "--password-file"])
        .arg(&pw)
        .write_stdin("from stdin")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let (header, _) = secllama_crypto::internal::parse_password_envelope(&sealed).unwrap();
    assert_eq!(header.iterations, 600_000);
    secllama()
        .args(["decrypt", "--password-file"])
        .arg(&pw)
        .write_stdin(sealed)
        .assert()
        .success()
        .stdout("from stdin");
}

#[test]
fn the_cli_and_the_library_read_each_other() {
    let d = Dir::new();
    let pw = d.write("pw", b"correct horse\n");
    let lib_sealed =
        password::seal_with_iterations(b"correct horse", 100_000, b"from the library", b"ctx")
            .unwrap();
    let input = d.write("lib.sealed", &lib_sealed);
    secllama()
        .args(["decrypt", "--aad", "ctx", "--password-file"])
        .arg(&pw)
        .arg("-i")
        .arg(&input)
        .assert()
        .success()
        .stdout("from the library");
    let plain = d.write("plain", b"from the cli");
    encrypt(&pw, &plain, &d.path("cli.sealed"), "ctx");
    let opened = password::open(
        b"correct horse",
        &fs::read(d.path("cli.sealed")).unwrap(),
        b"ctx",
    )
    .unwrap();
    assert_eq!(opened.as_slice(), b"from the cli");
}

#[test]
fn a_wrong_password_fails_and_writes_nothing() {
    let d = Dir::new();
    let pw = d.write("pw", b"right");
    let wrong = d.write("wrong", b"wrong");
    let input = d.write("plain", b"secret");
    encrypt(&pw, &input, &d.path("sealed"), "");
    let err = decrypt_fails(&wrong, &d.path("sealed"), &d.path("out"), "");
    assert_eq!(
        err.trim_end(),
        format!(
            "secllama: cannot decrypt {}: {}",
            d.path("sealed").display(),
            CryptoError::AuthenticationFailed
        )
    );
    assert!(!d.path("out").exists());
    assert_eq!(d.names(), ["plain", "pw", "sealed", "wrong"]);
}

#[test]
fn a_wrong_aad_fails_and_leaves_an_existing_output_file_untouched() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let input = d.write("plain", b"secret");
    encrypt(&pw, &input, &d.path("sealed"), "purpose: backup");
    let out = d.write("out", b"previous contents");
    let err = decrypt_fails(&pw, &d.path("sealed"), &out, "purpose: other");
    assert!(err.contains("authentication failed"), "{err}");
    assert_eq!(fs::read(&out).unwrap(), b"previous contents");
    assert_eq!(d.names(), ["out", "plain", "pw", "sealed"]);
}

#[test]
fn every_tampered_byte_fails_and_writes_nothing() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let input = d.write("plain", b"abc");
    encrypt(&pw, &input, &d.path("sealed"), "");
    let sealed = fs::read(d.path("sealed")).unwrap();
    // One flip per region: version, iteration count, salt, nonce, ciphertext, tag.
    for (i, want) in [
        (0, "unsupported format version 0x03"),
        (4, "authentication failed"),
        (10, "authentication failed"),
        (25, "authentication failed"),
        (34, "authentication failed"),
        (sealed.len() - 1, "authentication failed"),
    ] {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        let bad_path = d.write("bad", &bad);
        let err = decrypt_fails(&pw, &bad_path, &d.path("out"), "");
        assert!(err.contains(want), "byte {i}: {err}");
        assert!(!d.path("out").exists(), "byte {i}");
    }
    assert_eq!(d.names(), ["bad", "plain", "pw", "sealed"]);
}

#[test]
fn truncated_input_fails_with_a_clear_message_and_writes_nothing() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let input = d.write("plain", b"some plaintext");
    encrypt(&pw, &input, &d.path("sealed"), "");
    let sealed = fs::read(d.path("sealed")).unwrap();
    for (len, want) in [
        (0, "malformed input: empty envelope"),
        (
            1,
            "malformed input: envelope shorter than its 49-byte overhead",
        ),
        (
            48,
            "malformed input: envelope shorter than its 49-byte overhead",
        ),
        (49, "authentication failed"),
        (sealed.len() - 1, "authentication failed"),
    ] {
        let cut = d.write("cut", &sealed[..len]);
        let err = decrypt_fails(&pw, &cut, &d.path("out"), "");
        assert!(err.contains(want), "length {len}: {err}");
        assert!(!d.path("out").exists());
    }
}

#[test]
fn a_failed_decryption_to_stdout_prints_no_plaintext() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let sealed = password::seal_with_iterations(b"pw", 100_000, b"PLAINTEXT", b"").unwrap();
    let mut bad = sealed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    secllama()
        .args(["decrypt", "--password-file"])
        .arg(&pw)
        .write_stdin(bad)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicates::str::contains(
            "cannot decrypt standard input: authentication failed",
        ));
}

#[test]
fn one_trailing_newline_is_stripped_from_the_password_file() {
    let d = Dir::new();
    let input = d.write("plain", b"x");
    encrypt(&d.write("pw_lf", b"pw\n"), &input, &d.path("sealed"), "");
    for (name, content, ok) in [
        ("bare", &b"pw"[..], true),
        ("crlf", b"pw\r\n", true),
        ("two_lf", b"pw\n\n", false),
        ("space", b"pw \n", false),
    ] {
        let p = d.write(name, content);
        let mut cmd = secllama();
        cmd.args(["decrypt", "--password-file"])
            .arg(&p)
            .arg("-i")
            .arg(d.path("sealed"));
        if ok {
            cmd.assert().success().stdout("x");
        } else {
            cmd.assert()
                .failure()
                .stdout("")
                .stderr(predicates::str::contains("authentication failed"));
        }
    }
}

#[test]
fn an_empty_password_file_is_refused() {
    let d = Dir::new();
    let input = d.write("plain", b"x");
    for (name, content) in [("empty", &b""[..]), ("newline", b"\n"), ("crlf", b"\r\n")] {
        let pw = d.write(name, content);
        secllama()
            .args(["encrypt", "--password-file"])
            .arg(&pw)
            .arg("-i")
            .arg(&input)
            .arg("-o")
            .arg(d.path("out"))
            .assert()
            .failure()
            .code(3)
            .stdout("")
            .stderr(format!(
                "secllama: password file {} is empty; put the password in it\n",
                pw.display()
            ));
        assert!(!d.path("out").exists());
    }
}

#[test]
fn an_oversized_or_missing_password_file_is_refused() {
    let d = Dir::new();
    let input = d.write("plain", b"x");
    let big = d.write("big", &[b'a'; 4097]);
    secllama()
        .args(["encrypt", "--password-file"])
        .arg(&big)
        .arg("-i")
        .arg(&input)
        .assert()
        .failure()
        .stdout("")
        .stderr(format!(
            "secllama: password file {} is larger than 4096 bytes\n",
            big.display()
        ));
    let exact = d.write("exact", &[b'a'; 4096]);
    secllama()
        .args(["encrypt", "--iterations", FAST, "--password-file"])
        .arg(&exact)
        .arg("-i")
        .arg(&input)
        .assert()
        .success();
    secllama()
        .args(["encrypt", "--password-file"])
        .arg(d.path("absent"))
        .arg("-i")
        .arg(&input)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicates::str::starts_with(format!(
            "secllama: cannot read password file {}: ",
            d.path("absent").display()
        )));
}

#[test]
fn an_iteration_count_outside_the_range_is_refused() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    secllama()
        .args(["encrypt", "--iterations", "1000", "--password-file"])
        .arg(&pw)
        .write_stdin("x")
        .assert()
        .failure()
        .stdout("")
        .stderr(
            "secllama: cannot encrypt: pbkdf2 iteration count 1000 is outside the accepted \
             range 100000..=10000000\n",
        );
}

#[test]
fn a_keyset_envelope_given_to_password_decrypt_is_named_as_such() {
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let env = secllama_crypto::Keyset::generate().seal(b"x", b"").unwrap();
    let input = d.write("keyset.sealed", &env);
    let err = decrypt_fails(&pw, &input, &d.path("out"), "");
    assert!(
        err.contains("a keyset-sealed envelope; open it with its keyset"),
        "{err}"
    );
}

#[test]
fn help_describes_both_subcommands() {
    for sub in ["encrypt", "decrypt"] {
        secllama()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(predicates::str::contains("--password-file <FILE>"))
            .stdout(predicates::str::contains("--aad <TEXT>"))
            .stdout(predicates::str::contains("-i, --input <IN>"))
            .stdout(predicates::str::contains("-o, --output <OUT>"));
    }
}

#[test]
fn input_password_and_output_paths_of_every_kind_get_an_exact_error_or_work() {
    use std::ffi::OsStr;
    let d = Dir::new();
    let pw = d.write("pw", b"pw");
    let plain = d.write("plain", b"x");
    let dir = d.path("a-directory");
    fs::create_dir(&dir).unwrap();
    let dangling = d.path("dangling");
    std::os::unix::fs::symlink(d.path("nowhere"), &dangling).unwrap();
    let missing = d.path("missing");
    let os = |p: &Path| p.as_os_str().to_owned();
    let s = |t: &str| OsStr::new(t).to_owned();
    let enoent = "No such file or directory (os error 2)";
    let eisdir = "Is a directory (os error 21)";
    let encrypt_to = |out: &Path| {
        let mut args = vec![
            s("encrypt"),
            s("--iterations"),
            s(FAST),
            s("--password-file"),
        ];
        args.extend([os(&pw), s("-i"), os(&plain), s("-o"), os(out)]);
        args
    };
    let cases: Vec<(&str, Vec<std::ffi::OsString>, String)> = vec![
        (
            "missing input",
            vec![
                s("encrypt"),
                s("--password-file"),
                os(&pw),
                s("-i"),
                os(&missing),
            ],
            format!("secllama: cannot read {}: {enoent}\n", missing.display()),
        ),
        (
            "input is a directory",
            vec![
                s("encrypt"),
                s("--password-file"),
                os(&pw),
                s("-i"),
                os(&dir),
            ],
            format!("secllama: cannot read {}: {eisdir}\n", dir.display()),
        ),
        (
            "input is a dangling symlink",
            vec![
                s("encrypt"),
                s("--password-file"),
                os(&pw),
                s("-i"),
                os(&dangling),
            ],
            format!("secllama: cannot read {}: {enoent}\n", dangling.display()),
        ),
        (
            "password file is a directory",
            vec![
                s("encrypt"),
                s("--password-file"),
                os(&dir),
                s("-i"),
                os(&plain),
            ],
            format!(
                "secllama: cannot read password file {}: {eisdir}\n",
                dir.display()
            ),
        ),
        (
            "password file is a device that never ends",
            vec![
                s("encrypt"),
                s("--password-file"),
                s("/dev/zero"),
                s("-i"),
                os(&plain),
            ],
            "secllama: password file /dev/zero is larger than 4096 bytes\n".into(),
        ),
        (
            "password file is an empty device",
            vec![
                s("encrypt"),
                s("--password-file"),
                s("/dev/null"),
                s("-i"),
                os(&plain),
            ],
            "secllama: password file /dev/null is empty; put the password in it\n".into(),
        ),
        (
            "decrypting an empty device",
            vec![
                s("decrypt"),
                s("--password-file"),
                os(&pw),
                s("-i"),
                s("/dev/null"),
            ],
            "secllama: cannot decrypt /dev/null: malformed input: empty envelope; it was corrupted \
             or is not SecLlama data\n"
                .into(),
        ),
        (
            "output is a directory",
            encrypt_to(&dir),
            format!("secllama: cannot write {}: {eisdir}\n", dir.display()),
        ),
        (
            "output in a missing directory",
            encrypt_to(&missing.join("out")),
            format!(
                "secllama: cannot write {}: directory {}: {enoent}\n",
                missing.join("out").display(),
                missing.display()
            ),
        ),
    ];
    let before = d.names();
    for (what, args, stderr) in &cases {
        let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = secllama()
            .args(&args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(3), stderr.as_str()),
            "{what}"
        );
        assert!(out.stdout.is_empty(), "{what}");
    }
    // Nothing was created or left behind (no temporary files, nothing inside the directory).
    assert_eq!(d.names(), before);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);

    // A FIFO with a writer is an ordinary input (like `-i <(command)`), read to its end.
    let fifo = d.path("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::write(fifo, b"through a pipe").unwrap())
    };
    let sealed = d.path("sealed");
    encrypt(&pw, &fifo, &sealed, "");
    writer.join().unwrap();
    let opened = password::open(b"pw", &fs::read(&sealed).unwrap(), b"").unwrap();
    assert_eq!(opened.as_slice(), b"through a pipe");
}
