//! Strict and best-effort modes, proven by switching a layer off with the test-only override.

use std::process::Command;
use std::sync::{Arc, Mutex};

use secllama_sandbox::{
    Layer, LayerState, SandboxError, SandboxPolicy, SandboxSettings, Strictness,
};

use super::helpers::{EPERM, probe_path, run};

/// A minimal subscriber that records every event as `LEVEL target field=value ...`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut line));
        let mut log = self.0.lock().unwrap();
        log.push_str(&line);
        log.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Runs `f` with a subscriber that records events as text.
fn audit_log<T>(f: impl FnOnce() -> T) -> (T, String) {
    let recorder = Recorder::default();
    let out = tracing::subscriber::with_default(recorder.clone(), f);
    let text = recorder.0.lock().unwrap().clone();
    (out, text)
}

#[test]
fn strict_mode_refuses_when_the_network_namespace_is_missing_and_names_the_layer() {
    let policy = SandboxPolicy::new().simulate_unavailable(Layer::NetworkNamespace);
    let mut cmd = Command::new(probe_path());
    let (result, log) = audit_log(|| policy.apply_to(&mut cmd));
    match result {
        Err(SandboxError::NetworkIsolationUnavailable { layer, reason }) => {
            assert_eq!(layer, Layer::NetworkNamespace);
            assert_eq!(
                reason,
                "simulated: network namespace switched off by the test-only override"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        log.contains("secllama::audit") && log.contains("sandbox-refused"),
        "{log}"
    );
}

#[test]
fn strict_mode_refuses_when_seccomp_is_missing_with_a_message_saying_what_to_do() {
    let policy = SandboxPolicy::new().simulate_unavailable(Layer::Seccomp);
    let err = policy
        .apply_to(&mut Command::new(probe_path()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "strict network isolation refused: the seccomp layer cannot be enforced (simulated: \
         seccomp switched off by the test-only override); fix the kernel configuration or set \
         SECLLAMA_STRICT_NETWORK_ISOLATION=false to run with less isolation"
    );
}

#[test]
fn strict_mode_refuses_when_landlock_is_missing_because_files_would_be_open() {
    let policy = SandboxPolicy::new().simulate_unavailable(Layer::LandlockFilesystem);
    match policy.apply_to(&mut Command::new(probe_path())) {
        Err(SandboxError::FilesystemIsolationUnavailable { layer, reason }) => {
            assert_eq!(layer, Layer::LandlockFilesystem);
            assert_eq!(
                reason,
                "simulated: landlock file system switched off by the test-only override"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn strict_mode_refuses_without_the_mount_and_pid_namespaces_and_best_effort_warns() {
    let policy = SandboxPolicy::new().simulate_unavailable(Layer::MountNamespace);
    let err = policy
        .apply_to(&mut Command::new(probe_path()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "strict sandbox refused: the mount namespace layer cannot be enforced: simulated: \
         mount namespace switched off by the test-only override; or set \
         SECLLAMA_STRICT_NETWORK_ISOLATION=false to run with less isolation"
    );
    let policy = policy.strictness(Strictness::BestEffort);
    let (a, log) = audit_log(|| run(&policy, &["read=/etc/hostname", "socket=inet"]));
    let report = a.report.as_ref().unwrap();
    for layer in [Layer::MountNamespace, Layer::PidIpcUtsCgroupNamespaces] {
        assert!(
            matches!(report.state(layer), Some(LayerState::Unavailable(_))),
            "{report}"
        );
    }
    assert!(log.contains("sandbox-confinement-missing"), "{log}");
    // Without a mount namespace the host's files are back in sight, and Landlock (the
    // second layer) is what refuses them; the network stays closed.
    a.assert_err("read=/etc/hostname", "13");
    a.assert_err("socket=inet", EPERM);
}

/// Root without a user namespace (what a chroot gets: the kernel refuses CLONE_NEWUSER there)
/// still has a network namespace, but not the v2 confinement. Strict mode used to report OK
/// and then fail the spawn with a bare EPERM; now it refuses and names the cause, and
/// best-effort runs the program with the network still closed.
#[test]
fn as_root_without_a_user_namespace_strict_refuses_naming_it_and_best_effort_runs() {
    if !super::helpers::is_root() {
        eprintln!("skipped: only root gets a network namespace without a user namespace");
        return;
    }
    let policy = SandboxPolicy::new().simulate_unavailable(Layer::UserNamespace);
    let err = policy
        .apply_to(&mut Command::new(probe_path()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "strict sandbox refused: the mount namespace layer cannot be enforced: needs a user \
         namespace: simulated: user namespace switched off by the test-only override; or set \
         SECLLAMA_STRICT_NETWORK_ISOLATION=false to run with less isolation"
    );
    let policy = policy.strictness(Strictness::BestEffort);
    let a = run(&policy, &["socket=inet", "read=/etc/hostname"]);
    let report = a.report.as_ref().unwrap();
    assert_eq!(
        report.state(Layer::NetworkNamespace),
        Some(&LayerState::Enforced),
        "{report}"
    );
    assert!(
        matches!(report.state(Layer::MountNamespace), Some(LayerState::Unavailable(r)) if r.starts_with("needs a user namespace")),
        "{report}"
    );
    a.assert_err("socket=inet", EPERM);
    a.assert_err("read=/etc/hostname", "13");
}

#[test]
fn best_effort_runs_without_the_missing_layer_warns_and_keeps_the_others() {
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .simulate_unavailable(Layer::NetworkNamespace);
    let (a, log) = audit_log(|| run(&policy, &["socket=inet", "status"]));
    let report = a.report.as_ref().unwrap();
    assert!(matches!(
        report.state(Layer::NetworkNamespace),
        Some(LayerState::Unavailable(_))
    ));
    assert_eq!(report.state(Layer::Seccomp), Some(&LayerState::Enforced));
    assert!(
        log.contains("WARN") && log.contains("sandbox-network-isolation-degraded"),
        "{log}"
    );
    // The remaining layers still hold.
    a.assert_err("socket=inet", EPERM);
    assert_eq!(a.status_field("Seccomp"), "2");
}

#[test]
fn settings_from_the_environment_choose_the_strictness_and_warn_when_disabled() {
    let (settings, log) = audit_log(|| {
        SandboxSettings::from_lookup(|n| {
            (n == "SECLLAMA_ENABLE_SANDBOX").then(|| "false".to_owned())
        })
    });
    let settings = settings.unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.strictness(), Strictness::Strict);
    assert!(
        log.contains("WARN") && log.contains("WITHOUT any sandbox"),
        "{log}"
    );
}
