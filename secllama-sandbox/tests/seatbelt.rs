//! Seatbelt profile generation, checked on any OS: golden profiles for representative policies,
//! and proof that path contents can never change the profile's structure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states expectations loudly

use std::ffi::OsString;
use std::path::Path;

use proptest::prelude::*;
use secllama_sandbox::internal::{SeatbeltProfile, lint_profile};
use secllama_sandbox::{SandboxError, SandboxPolicy, SeatbeltIpc};

const RUNNER: &str = "/Applications/SecLlama.app/Contents/MacOS/secllama-runner";

/// Compares with `tests/golden/<name>`; `SECLLAMA_UPDATE_GOLDEN=1` rewrites the file instead.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SECLLAMA_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with SECLLAMA_UPDATE_GOLDEN=1)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "profile differs from {}", path.display());
}

/// Builds the profile and holds it to the linter's rules (`internal::lint_profile`): every
/// profile a test looks at is also one the linter accepts.
fn build(policy: &SandboxPolicy, ipc: &SeatbeltIpc, gpu: bool) -> SeatbeltProfile {
    let p = SeatbeltProfile::build(policy, Path::new(RUNNER), ipc, gpu).unwrap();
    assert_eq!(lint_profile(p.text(), p.params()), Ok(()), "{}", p.text());
    p
}

fn params_text(p: &SeatbeltProfile) -> String {
    p.params()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

#[test]
fn cpu_runner_with_inherited_ipc_matches_the_golden_profile() {
    let policy =
        SandboxPolicy::new().read_only("/Users/me/Library/Caches/secllama/models/gemma.gguf");
    let p = build(&policy, &SeatbeltIpc::InheritedFd, false);
    golden("seatbelt_cpu_inherited_fd.sb", p.text());
    golden("seatbelt_cpu_inherited_fd.params", &params_text(&p));
}

#[test]
fn gpu_runner_with_socket_ipc_and_scratch_dir_matches_the_golden_profile() {
    let policy = SandboxPolicy::new()
        .read_only("/Users/me/models/a.gguf")
        .read_only("/Users/me/models/b.gguf")
        .read_write("/private/var/folders/xy/T/secllama-1")
        .device("/dev/metal-test-node");
    let p = build(
        &policy,
        &SeatbeltIpc::UnixSocket("/private/var/folders/xy/T/secllama.sock".into()),
        true,
    );
    golden("seatbelt_gpu_socket.sb", p.text());
    golden("seatbelt_gpu_socket.params", &params_text(&p));
}

#[test]
fn a_policy_without_baseline_grants_only_the_runner_and_sysctls() {
    let p = build(
        &SandboxPolicy::new().without_baseline(),
        &SeatbeltIpc::InheritedFd,
        false,
    );
    golden("seatbelt_no_baseline.sb", p.text());
    assert!(!p.text().contains("/usr/lib"));
    assert!(p.text().contains("(deny default)"));
}

#[test]
fn metal_rules_are_present_only_when_gpu_is_on() {
    let policy = SandboxPolicy::new().read_only("/m");
    let cpu = build(&policy, &SeatbeltIpc::InheritedFd, false);
    let gpu = build(&policy, &SeatbeltIpc::InheritedFd, true);
    for needle in [
        "AGXDeviceUserClient",
        "IOSurfaceRootUserClient",
        "com.apple.MTLCompilerService",
        "iokit-open",
        "mach-lookup",
        "/System/Library/Extensions",
        "/Library/GPUBundles",
        "IOAccelerator",
        "iokit-get-properties",
    ] {
        assert!(!cpu.text().contains(needle), "CPU profile has {needle}");
        assert!(gpu.text().contains(needle), "GPU profile lacks {needle}");
    }
}

#[test]
fn inherited_fd_ipc_grants_no_network_and_socket_ipc_grants_exactly_one_parameter() {
    let none = build(&SandboxPolicy::new(), &SeatbeltIpc::InheritedFd, false);
    assert!(!none.text().contains("(allow network"));
    let sock = build(
        &SandboxPolicy::new(),
        &SeatbeltIpc::UnixSocket("/tmp/s.sock".into()),
        false,
    );
    assert_eq!(sock.text().matches("(allow network").count(), 1);
    assert!(
        sock.text()
            .contains("(allow network-outbound (literal (param \"IPC_SOCKET\")))")
    );
    assert!(
        sock.params()
            .contains(&("IPC_SOCKET".into(), "/tmp/s.sock".into()))
    );
}

#[test]
fn argv_is_absolute_sandbox_exec_profile_params_then_program_and_args() {
    let policy = SandboxPolicy::new().read_only("/m/x.gguf").read_write("/w");
    let p = build(&policy, &SeatbeltIpc::InheritedFd, false);
    let argv = p.argv(Path::new(RUNNER), ["--ipc-fd", "3"]);
    let expected: Vec<OsString> = [
        "/usr/bin/sandbox-exec",
        "-p",
        p.text(),
        "-D",
        &format!("PROGRAM={RUNNER}"),
        "-D",
        "RO_0=/m/x.gguf",
        "-D",
        "RW_0=/w",
        "-D",
        "ANC_0=/Applications/SecLlama.app/Contents/MacOS",
        "-D",
        "ANC_1=/Applications/SecLlama.app/Contents",
        "-D",
        "ANC_2=/Applications/SecLlama.app",
        "-D",
        "ANC_3=/Applications",
        "-D",
        "ANC_4=/m",
        "--",
        RUNNER,
        "--ipc-fd",
        "3",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    assert_eq!(argv, expected);
}

#[cfg(unix)]
#[test]
fn non_utf8_paths_are_refused_with_a_clear_error() {
    use std::os::unix::ffi::OsStringExt;
    let bad = std::path::PathBuf::from(OsString::from_vec(b"/models/\xff\xfe.gguf".to_vec()));
    let err = SeatbeltProfile::build(
        &SandboxPolicy::new().read_only(bad.clone()),
        Path::new(RUNNER),
        &SeatbeltIpc::InheritedFd,
        false,
    )
    .unwrap_err();
    match &err {
        SandboxError::UnrepresentablePath { path, reason } => {
            assert_eq!(path, &bad);
            assert!(reason.contains("UTF-8"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with("sandbox path \"/models/"),
        "{err}"
    );
}

#[test]
fn relative_and_nul_paths_are_refused() {
    for bad in ["models/x.gguf", "/a\0b"] {
        let err = SeatbeltProfile::build(
            &SandboxPolicy::new().read_write(bad),
            Path::new(RUNNER),
            &SeatbeltIpc::InheritedFd,
            false,
        )
        .unwrap_err();
        assert!(
            matches!(err, SandboxError::UnrepresentablePath { .. }),
            "{bad:?}: {err:?}"
        );
    }
}

/// Path components made of the characters that would break a spliced SBPL string or list.
fn hostile_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(";".to_owned()),
            Just("\n".to_owned()),
            Just(" ".to_owned()),
            Just("\\".to_owned()),
            Just("#|".to_owned()),
            Just("(allow default)".to_owned()),
            Just("\")) (allow network*) ((\"".to_owned()),
            "[a-zA-Z0-9é中]{1,4}",
        ],
        1..8,
    )
    .prop_map(|parts| format!("/{}", parts.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn path_contents_never_change_the_profile_text(
        ro in proptest::collection::vec(hostile_path(), 0..4),
        rw in proptest::collection::vec(hostile_path(), 0..3),
        sock in hostile_path(),
        gpu in any::<bool>(),
    ) {
        let mut hostile = SandboxPolicy::new();
        let mut plain = SandboxPolicy::new();
        for (i, p) in ro.iter().enumerate() {
            hostile = hostile.read_only(p);
            plain = plain.read_only(format!("/ro{i}"));
        }
        for (i, p) in rw.iter().enumerate() {
            hostile = hostile.read_write(p);
            plain = plain.read_write(format!("/rw{i}"));
        }
        let h = SeatbeltProfile::build(&hostile, Path::new(&sock), &SeatbeltIpc::UnixSocket(sock.clone().into()), gpu).unwrap();
        let p = SeatbeltProfile::build(&plain, Path::new("/runner"), &SeatbeltIpc::UnixSocket("/s".into()), gpu).unwrap();
        // Same shape, same text: the hostile characters never reach the profile.
        prop_assert_eq!(h.text(), p.text());
        prop_assert_eq!(lint_profile(h.text(), h.params()), Ok(()));
        // Every path travels verbatim as a parameter value, in order.
        let values: Vec<&str> = h.params().iter().map(|(_, v)| v.as_str()).collect();
        let mut expected: Vec<&str> = vec![sock.as_str()];
        expected.extend(ro.iter().map(String::as_str));
        expected.extend(rw.iter().map(String::as_str));
        expected.push(sock.as_str());
        prop_assert_eq!(values, expected);
        // In argv the profile is one item and each parameter one `NAME=VALUE` item after `-D`.
        let argv = h.argv(Path::new(&sock), Vec::<OsString>::new());
        prop_assert_eq!(argv[2].to_str().unwrap(), p.text());
        for (i, (k, v)) in h.params().iter().enumerate() {
            prop_assert_eq!(&argv[3 + 2 * i], "-D");
            prop_assert_eq!(argv[4 + 2 * i].to_str().unwrap(), format!("{k}={v}"));
        }
    }
}

/// On a Mac (never in Linux CI): the real `/usr/bin/sandbox-exec` compiles a generated profile
/// and runs `/usr/bin/true` under it.
#[cfg(target_os = "macos")]
#[test]
fn real_sandbox_exec_runs_a_generated_profile() {
    use secllama_sandbox::internal::seatbelt_check;
    use secllama_sandbox::{Layer, LayerState};
    let report = seatbelt_check();
    println!("{report:?}");
    assert_eq!(report.state(Layer::Seatbelt), Some(&LayerState::Enforced));
}
