//! Running the probe inside a sandbox and reading its answers.

use std::path::PathBuf;
use std::process::{Command, Output};

use secllama_sandbox::{SandboxPolicy, SandboxReport};

pub(crate) const EPERM: &str = "1";
pub(crate) const EACCES: &str = "13";
pub(crate) const ENOENT: &str = "2";
pub(crate) const EROFS: &str = "30";

pub(crate) fn probe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_secllama-sandbox-probe"))
}

/// A fresh directory in `$TMPDIR`, readable by everybody: a root caller's sandboxed program
/// runs as uid 65534, so what it is granted must be readable by that user.
pub(crate) fn tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// A fresh directory the sandboxed program can write to: owned by uid 65534 when the tests
/// run as root (a root caller's program runs as 65534), else by the current user.
pub(crate) fn writable_tempdir() -> tempfile::TempDir {
    let d = tempdir();
    if is_root() {
        std::os::unix::fs::chown(d.path(), Some(65534), Some(65534)).unwrap();
    }
    d
}

/// A fresh directory under the target dir (not /tmp, which may be mounted nosuid).
pub(crate) fn suid_capable_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `setpriv` exists and uid 65534 can execute the probe (it cannot when the checkout
/// sits under a private directory such as `/root`). Prints why not, so a skip is visible.
pub(crate) fn nobody_can_run_probe() -> bool {
    let ok = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "test",
            "-x",
        ])
        .arg(probe_path())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: setpriv is missing or uid 65534 cannot execute {}",
            probe_path().display()
        );
    }
    ok
}

/// The probe's answers, one per operation.
#[derive(Debug)]
pub(crate) struct Answers {
    pub(crate) output: Output,
    pub(crate) report: Option<SandboxReport>,
}

impl Answers {
    pub(crate) fn from_output(output: Output, report: Option<SandboxReport>) -> Self {
        Answers { output, report }
    }

    /// The raw (`ok`/`err`, detail) answer for `op`.
    pub(crate) fn answer(&self, op: &str) -> (String, String) {
        let stdout = String::from_utf8_lossy(&self.output.stdout);
        for line in stdout.lines() {
            let mut parts = line.splitn(3, '\t');
            if parts.next() == Some(op) {
                let kind = parts.next().unwrap_or("").to_owned();
                let detail = parts.next().unwrap_or("").to_owned();
                return (kind, detail);
            }
        }
        panic!(
            "probe printed no answer for {op}; status {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            self.output.status,
            String::from_utf8_lossy(&self.output.stderr)
        );
    }

    /// Asserts that `op` failed with exactly `errno` (a number, or `eai:N`).
    pub(crate) fn assert_err(&self, op: &str, errno: &str) {
        let (kind, detail) = self.answer(op);
        assert_eq!(
            (kind.as_str(), detail.as_str()),
            ("err", errno),
            "{op} should have failed with {errno}"
        );
    }

    /// Asserts that `op` succeeded and returns its detail.
    pub(crate) fn assert_ok(&self, op: &str) -> String {
        let (kind, detail) = self.answer(op);
        assert_eq!(kind, "ok", "{op} should have succeeded, got errno {detail}");
        detail
    }

    /// The `status` answer as key=value pairs.
    pub(crate) fn status_field(&self, key: &str) -> String {
        let status = self.assert_ok("status");
        status
            .split(';')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("{key} missing in {status}"))
    }
}

/// Runs the probe under `policy` with `ops`; `configure` may adjust the command first (fds,
/// environment).
pub(crate) fn run_with(
    policy: &SandboxPolicy,
    ops: &[String],
    configure: impl FnOnce(&mut Command),
) -> Answers {
    let mut cmd = Command::new(probe_path());
    cmd.args(ops);
    configure(&mut cmd);
    let report = policy
        .apply_to(&mut cmd)
        .expect("the sandbox can be set up here");
    let output = cmd.output().expect("the sandboxed probe starts");
    assert!(
        output.status.success(),
        "probe failed: {output:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Answers::from_output(output, Some(report))
}

pub(crate) fn run(policy: &SandboxPolicy, ops: &[&str]) -> Answers {
    let ops: Vec<String> = ops.iter().map(|s| (*s).to_owned()).collect();
    run_with(policy, &ops, |_| {})
}

pub(crate) fn op(name: &str, arg: impl std::fmt::Display) -> String {
    format!("{name}={arg}")
}
