//! The host process around a runner: the runner's stderr reaches the host as a pipe whose lines
//! the host logs (bounded and made printable), never as the host's terminal; and spawning a
//! runner hardens the host (not dumpable, core limit 0). Proven with a stand-in runner (a shell
//! script) that says what its stderr is, writes escape sequences and a very long line, and
//! exits. Linux only (`prctl`, the Linux sandbox).
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secllama_runner::{Runner, RunnerConfig, RunnerError, SandboxMode, Strictness};

/// Records every event's `line` field of target `secllama::runner`.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

struct Field<'a>(&'a mut Option<String>);

impl tracing::field::Visit for Field<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "line" {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl tracing::Subscriber for Lines {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() != "secllama::runner" {
            return;
        }
        let mut line = None;
        event.record(&mut Field(&mut line));
        if let Some(l) = line {
            self.0.lock().unwrap().push(l);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

const SCRIPT: &str = r#"#!/bin/sh
if [ -t 2 ]; then echo "stderr is a terminal" >&2; fi
echo "stderr is a $(stat -L -c %F /proc/self/fd/2)" >&2
printf 'clear\033[2J\007screen\n' >&2
head -c 5000 /dev/zero | tr '\0' x >&2
printf '\ndone\n' >&2
exit 3
"#;

#[test]
fn the_runners_stderr_is_a_pipe_whose_lines_the_host_logs_bounded_and_printable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let runner = dir.path().join("fake-runner");
    std::fs::write(&runner, SCRIPT).unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let model = dir.path().join("model.gguf");
    std::fs::write(&model, b"GGUF").unwrap();
    std::fs::set_permissions(&model, std::fs::Permissions::from_mode(0o644)).unwrap();

    for sandbox in [
        SandboxMode::Enabled(Strictness::Strict),
        SandboxMode::Disabled,
    ] {
        let config = RunnerConfig::new(&model)
            .unwrap()
            .with_runner_path(&runner)
            .with_sandbox(sandbox);
        let lines = Lines::default();
        let result = tracing::subscriber::with_default(lines.clone(), || Runner::spawn(config));
        match result {
            Err(RunnerError::Crashed { status }) if status.code() == Some(3) => {}
            other => panic!("{sandbox:?}: expected the runner to be gone, got {other:?}"),
        }
        // The relay thread logs as it reads: wait (bounded) for the last line.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !lines.0.lock().unwrap().iter().any(|l| l == "done") {
            assert!(Instant::now() < deadline, "{sandbox:?}: {:?}", lines.0);
            std::thread::sleep(Duration::from_millis(20));
        }
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got[0], "stderr is a fifo", "{sandbox:?}: {got:?}");
        assert_eq!(got[1], "clear\u{fffd}[2J\u{fffd}screen", "{sandbox:?}");
        // 1024 bytes: 1021 x and the ellipsis.
        assert_eq!(got[2], format!("{}…", "x".repeat(1021)), "{sandbox:?}");
        assert_eq!(got[3], "done");
        assert_eq!(got.len(), 4, "{sandbox:?}: {got:?}");
    }
}

fn dumpable() -> i32 {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }
}

fn core_limit() -> (u64, u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut rl) }, 0);
    (rl.rlim_cur, rl.rlim_max)
}

#[test]
fn spawning_a_runner_hardens_the_host_unless_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let runner = dir.path().join("fake-runner");
    std::fs::write(&runner, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let model = dir.path().join("model.gguf");
    std::fs::write(&model, b"GGUF").unwrap();
    let config = |harden: bool| {
        RunnerConfig::new(&model)
            .unwrap()
            .with_runner_path(&runner)
            .with_sandbox(SandboxMode::Enabled(Strictness::Strict))
            .with_host_hardening(harden)
    };
    // This test runs in a process of its own (nextest), and switched off comes first, so the
    // process starts out unhardened either way.
    assert_eq!(dumpable(), 1);
    let before = core_limit();
    assert!(matches!(
        Runner::spawn(config(false)),
        Err(RunnerError::Crashed { .. })
    ));
    assert_eq!((dumpable(), core_limit()), (1, before));
    // On (the default): even a runner that dies at once leaves the host hardened, and a
    // sandboxed runner still starts from a non-dumpable host.
    assert!(config(true).harden_host);
    assert!(matches!(
        Runner::spawn(config(true)),
        Err(RunnerError::Crashed { .. })
    ));
    assert_eq!((dumpable(), core_limit()), (0, (0, 0)));
}
