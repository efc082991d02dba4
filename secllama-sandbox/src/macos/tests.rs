//! Unit tests of the macOS backend's pure parts, run on every OS.

use std::ffi::OsStr;

use super::*;

#[test]
fn strict_check_turns_a_missing_network_layer_into_the_strict_mode_error() {
    let missing = seatbelt_check_at(Path::new("/nonexistent/sandbox-exec"), Path::new("/t"));
    let err = crate::probe::strict_check(missing.clone(), Layer::Seatbelt, Strictness::Strict)
        .unwrap_err();
    assert!(matches!(
        err,
        SandboxError::NetworkIsolationUnavailable { layer: Layer::Seatbelt, ref reason }
            if reason.contains("is missing")
    ));
    let ok = crate::probe::strict_check(missing.clone(), Layer::Seatbelt, Strictness::BestEffort)
        .unwrap();
    assert_eq!(ok, missing);
    #[cfg(unix)]
    {
        let fake = FakeSandboxExec::passing();
        let present = seatbelt_check_at(fake.path(), Path::new("/bin/true"));
        assert_eq!(present.state(Layer::Seatbelt), Some(&LayerState::Enforced));
        assert_eq!(
            crate::probe::strict_check(present.clone(), Layer::Seatbelt, Strictness::Strict)
                .unwrap(),
            present
        );
    }
    #[cfg(not(any(target_os = "macos", windows)))]
    assert!(crate::platform_sandbox_check(Strictness::Strict).is_none());
}

#[test]
fn wrapped_command_runs_sandbox_exec_with_profile_params_and_only_allowed_env() {
    let policy = SandboxPolicy::new()
        .read_only("/models/gemma.gguf")
        .allow_env("RUST_LOG");
    let mut cmd = Command::new("/opt/runner");
    cmd.args(["--fd", "3"])
        .env("RUST_LOG", "debug")
        .env("SECRET", "x");
    cmd.current_dir("/");
    let profile = SeatbeltProfile::build(
        &policy,
        Path::new("/opt/runner"),
        &SeatbeltIpc::InheritedFd,
        false,
    )
    .unwrap();
    let lookup = |n: &str| (n == "PATH").then(|| OsString::from("/usr/bin:/bin"));
    let out = wrap_command(
        &cmd,
        Path::new(SANDBOX_EXEC),
        Path::new("/opt/runner"),
        &profile,
        policy.env_allow_list(),
        lookup,
    );
    assert_eq!(out.get_program(), SANDBOX_EXEC);
    let args: Vec<&OsStr> = out.get_args().collect();
    assert_eq!(args[0], "-p");
    assert_eq!(args[1], profile.text());
    let tail: Vec<&OsStr> = args[args.len() - 4..].to_vec();
    assert_eq!(tail, ["--", "/opt/runner", "--fd", "3"]);
    assert!(args.contains(&OsStr::new("RO_0=/models/gemma.gguf")));
    let envs: Vec<(String, Option<String>)> = out
        .get_envs()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.map(|v| v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    assert_eq!(
        envs,
        [
            ("PATH".to_owned(), Some("/usr/bin:/bin".to_owned())),
            ("RUST_LOG".to_owned(), Some("debug".to_owned()))
        ]
    );
    assert_eq!(out.get_current_dir(), Some(Path::new("/")));
}

#[test]
fn strict_mode_refuses_without_sandbox_exec_and_best_effort_reports_it() {
    let mut cmd = Command::new("/opt/runner");
    let err = wrap_with_seatbelt(
        &SandboxPolicy::new(),
        &mut cmd,
        &SeatbeltOptions::default(),
        None,
        None,
        ChildStdio::null(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        SandboxError::NetworkIsolationUnavailable {
            layer: Layer::Seatbelt,
            ..
        }
    ));
    let policy = SandboxPolicy::new().strictness(Strictness::BestEffort);
    let report = wrap_with_seatbelt(
        &policy,
        &mut cmd,
        &SeatbeltOptions::default(),
        None,
        None,
        ChildStdio::null(),
    )
    .unwrap();
    assert!(
        matches!(report.state(Layer::Seatbelt), Some(LayerState::Unavailable(r)) if r.contains("sandbox-exec"))
    );
    assert_eq!(cmd.get_program(), "/opt/runner");
}

#[test]
fn enforced_wrap_replaces_the_program_with_absolute_sandbox_exec() {
    let mut cmd = Command::new("/opt/runner");
    cmd.arg("x");
    let report = wrap_with_seatbelt(
        &SandboxPolicy::new(),
        &mut cmd,
        &SeatbeltOptions::default(),
        Some(Path::new(SANDBOX_EXEC)),
        Some(Path::new("/nonexistent-cache")),
        ChildStdio::null(),
    )
    .unwrap();
    assert_eq!(report.state(Layer::Seatbelt), Some(&LayerState::Enforced));
    assert_eq!(cmd.get_program(), "/usr/bin/sandbox-exec");
    assert_eq!(cmd.get_args().last(), Some(OsStr::new("x")));
    // Without GPU the Metal shader cache is not granted, even when its root is known.
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(
        !args.iter().any(|a| a.contains("com.apple.metal")),
        "{args:?}"
    );
}

#[test]
fn gpu_grants_the_metal_shader_cache_read_write_and_nothing_else_of_the_cache_dir() {
    let mut cmd = Command::new("/opt/runner");
    let options = SeatbeltOptions {
        gpu: true,
        ..SeatbeltOptions::default()
    };
    wrap_with_seatbelt(
        &SandboxPolicy::new(),
        &mut cmd,
        &options,
        Some(Path::new(SANDBOX_EXEC)),
        Some(Path::new("/nonexistent-cache/C")),
        ChildStdio::null(),
    )
    .unwrap();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(
        args.contains(&"RW_0=/nonexistent-cache/C/com.apple.metal".to_owned()),
        "{args:?}"
    );
    assert_eq!(args.iter().filter(|a| a.starts_with("RW_")).count(), 1);
    let profile = &args[1];
    assert_eq!(lint_profile(profile, &params_of(&args)), Ok(()));
    assert!(profile.contains("(allow file-read* file-write*\n  (subpath (param \"RW_0\"))"));
}

/// The `-D NAME=VALUE` pairs of a wrapped command's arguments.
fn params_of(args: &[String]) -> Vec<(String, String)> {
    args.windows(2)
        .filter(|w| w[0] == "-D")
        .filter_map(|w| w[1].split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(unix)]
#[test]
fn rlimits_and_no_core_dumps_reach_the_spawned_program() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "ulimit -c; ulimit -n; ulimit -t"]);
    let state = install_rlimits(
        &mut cmd,
        crate::ResourceLimits {
            cpu_seconds: Some(77),
            open_files: Some(33),
            ..Default::default()
        },
    );
    assert_eq!(state, LayerState::Enforced);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "0\n33\n77\n");
}

#[cfg(unix)]
#[test]
fn a_process_limit_is_reported_as_not_applied() {
    let mut cmd = Command::new("/bin/true");
    let state = install_rlimits(
        &mut cmd,
        crate::ResourceLimits {
            processes: Some(4),
            ..Default::default()
        },
    );
    assert!(matches!(state, LayerState::Degraded(r) if r.contains("RLIMIT_NPROC")));
}

#[test]
fn an_address_space_limit_is_reported_as_not_enforced_by_macos() {
    let state = rlimit_state(crate::ResourceLimits {
        address_space: Some(1 << 30),
        cpu_seconds: Some(10),
        ..Default::default()
    });
    assert_eq!(
        state,
        LayerState::Degraded(
            "address-space limit set but not enforced by macOS (RLIMIT_AS)".into()
        )
    );
    let both = rlimit_state(crate::ResourceLimits {
        address_space: Some(1 << 30),
        processes: Some(2),
        ..Default::default()
    });
    assert!(
        matches!(both, LayerState::Degraded(r) if r.contains("RLIMIT_AS") && r.contains("RLIMIT_NPROC"))
    );
    assert_eq!(
        rlimit_state(crate::ResourceLimits {
            cpu_seconds: Some(1),
            open_files: Some(8),
            ..Default::default()
        }),
        LayerState::Enforced
    );
}

#[test]
fn check_reports_seatbelt_unavailable_when_sandbox_exec_is_missing() {
    let r = seatbelt_check_at(Path::new("/nonexistent/sandbox-exec"), Path::new("/t"));
    assert!(
        matches!(r.state(Layer::Seatbelt), Some(LayerState::Unavailable(m)) if m.contains("/nonexistent/sandbox-exec is missing"))
    );
}

/// A stand-in for `/usr/bin/sandbox-exec`: checks the argv shape the runner launch uses
/// (`-p PROFILE`, `-D NAME=VALUE`..., `--`, program) and then runs the program, or fails as
/// a profile that does not compile would.
#[cfg(unix)]
struct FakeSandboxExec {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

#[cfg(unix)]
impl FakeSandboxExec {
    fn with_script(body: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox-exec");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeSandboxExec { _dir: dir, path }
    }

    fn passing() -> Self {
        Self::with_script(
            "[ \"$1\" = -p ] || exit 2\n[ -n \"$2\" ] || exit 3\nshift 2\n\
             while [ \"$1\" = -D ]; do case \"$2\" in *=/*) ;; *) exit 4;; esac; shift 2; done\n\
             [ \"$1\" = -- ] || exit 5\nshift\nexec \"$@\"",
        )
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
#[test]
fn check_runs_a_generated_profile_through_sandbox_exec_as_a_self_test() {
    let ok = FakeSandboxExec::passing();
    let r = seatbelt_check_at(ok.path(), Path::new("/bin/true"));
    assert_eq!(r.state(Layer::Seatbelt), Some(&LayerState::Enforced));
    // The program itself failing under the profile fails the self-test.
    let r = seatbelt_check_at(ok.path(), Path::new("/bin/false"));
    assert!(
        matches!(r.state(Layer::Seatbelt), Some(LayerState::Unavailable(m)) if m.contains("/bin/false exited with exit status: 1")),
        "{r:?}"
    );
    let broken =
        FakeSandboxExec::with_script("echo 'sandbox-exec: unbound variable: ANC_0' >&2\nexit 65");
    let r = seatbelt_check_at(broken.path(), Path::new("/bin/true"));
    assert!(
        matches!(r.state(Layer::Seatbelt), Some(LayerState::Unavailable(m))
            if m.ends_with("exited with exit status: 65: sandbox-exec: unbound variable: ANC_0")),
        "{r:?}"
    );
}
