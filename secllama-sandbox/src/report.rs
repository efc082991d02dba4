//! What a sandbox actually enforces, layer by layer.

use std::fmt;

/// One mechanism of the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Layer {
    /// Linux: a new user namespace (capabilities inside it mean nothing outside).
    UserNamespace,
    /// Linux: a new network namespace with only a loopback interface, left down.
    NetworkNamespace,
    /// Linux: a new mount namespace whose root is a read-only tmpfs holding only the granted
    /// paths (bind mounts), a minimal `/dev` and the child's own `/proc`; the host's root is
    /// detached (`pivot_root`).
    MountNamespace,
    /// Linux: new PID, IPC, UTS and cgroup namespaces (the program is PID 1 of its own).
    PidIpcUtsCgroupNamespaces,
    /// Linux: root callers run as uid/gid 65534 outside the sandbox.
    Identity,
    /// Linux: `setsid` (no controlling terminal) and only the passed descriptors kept.
    SessionAndDescriptors,
    /// Resource limits (address space, CPU, files, processes, core dumps off).
    ResourceLimits,
    /// Linux: `PR_SET_NO_NEW_PRIVS`, not dumpable, parent-death signal.
    NoNewPrivileges,
    /// Linux: every capability set emptied (bounding, ambient, effective, permitted,
    /// inheritable) and verified.
    Capabilities,
    /// Linux: Landlock file system rules.
    LandlockFilesystem,
    /// Linux: Landlock TCP bind/connect denied (ABI 4).
    LandlockNetwork,
    /// Linux: Landlock scoping of abstract unix sockets and signals (ABI 6).
    LandlockScopes,
    /// Linux: the seccomp system call filter.
    Seccomp,
    /// Linux: the allow-list a runner installs on itself on top of [`Layer::Seccomp`]
    /// (everything not listed answers `EPERM`).
    SeccompAllowList,
    /// The environment reduced to the allow-list.
    Environment,
    /// macOS: the Seatbelt profile.
    Seatbelt,
    /// Windows: the AppContainer (no capabilities: no network; files only as granted).
    AppContainer,
    /// Windows: the job object.
    JobObject,
}

impl Layer {
    /// A short human name, as used in reports and errors.
    pub fn name(self) -> &'static str {
        match self {
            Layer::UserNamespace => "user namespace",
            Layer::NetworkNamespace => "network namespace",
            Layer::MountNamespace => "mount namespace",
            Layer::PidIpcUtsCgroupNamespaces => "pid/ipc/uts/cgroup ns",
            Layer::Identity => "identity",
            Layer::SessionAndDescriptors => "session, descriptors",
            Layer::ResourceLimits => "resource limits",
            Layer::NoNewPrivileges => "no new privileges",
            Layer::Capabilities => "capabilities",
            Layer::LandlockFilesystem => "landlock file system",
            Layer::LandlockNetwork => "landlock network",
            Layer::LandlockScopes => "landlock scopes",
            Layer::Seccomp => "seccomp",
            Layer::SeccompAllowList => "seccomp allow-list",
            Layer::Environment => "environment",
            Layer::Seatbelt => "seatbelt",
            Layer::AppContainer => "appcontainer",
            Layer::JobObject => "job object",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a layer is in force.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum LayerState {
    /// Fully enforced.
    Enforced,
    /// Enforced in part; the reason says what is missing.
    Degraded(String),
    /// Not enforced; the reason says why.
    Unavailable(String),
}

impl LayerState {
    /// True for [`LayerState::Enforced`].
    pub fn is_enforced(&self) -> bool {
        matches!(self, LayerState::Enforced)
    }
}

impl fmt::Display for LayerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerState::Enforced => f.write_str("enforced"),
            LayerState::Degraded(r) => write!(f, "degraded: {r}"),
            LayerState::Unavailable(r) => write!(f, "unavailable: {r}"),
        }
    }
}

/// The state of one layer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerReport {
    /// Which layer.
    pub layer: Layer,
    /// Its state.
    pub state: LayerState,
}

/// The state of every layer of one sandbox, in the order they are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SandboxReport {
    /// One entry per layer.
    pub layers: Vec<LayerReport>,
}

impl SandboxReport {
    /// The state of `layer`, if the report has it.
    pub fn state(&self, layer: Layer) -> Option<&LayerState> {
        self.layers
            .iter()
            .find(|l| l.layer == layer)
            .map(|l| &l.state)
    }

    /// True when every layer in the report is enforced.
    pub fn is_fully_enforced(&self) -> bool {
        self.layers.iter().all(|l| l.state.is_enforced())
    }

    pub(crate) fn push(&mut self, layer: Layer, state: LayerState) {
        self.layers.push(LayerReport { layer, state });
    }

    /// Emits one audit event per layer (target `secllama::audit`): `info` when enforced,
    /// `warn` otherwise.
    pub fn emit_audit_events(&self) {
        for l in &self.layers {
            match &l.state {
                LayerState::Enforced => tracing::info!(
                    target: "secllama::audit",
                    event = "sandbox-layer",
                    layer = l.layer.name(),
                    state = "enforced",
                ),
                other => tracing::warn!(
                    target: "secllama::audit",
                    event = "sandbox-layer",
                    layer = l.layer.name(),
                    state = %other,
                    "sandbox layer not fully enforced"
                ),
            }
        }
    }
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.layers {
            writeln!(f, "{:<22} {}", l.layer.name(), l.state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_prints_one_aligned_line_per_layer_and_serializes_states() {
        let mut r = SandboxReport::default();
        r.push(Layer::Seccomp, LayerState::Enforced);
        r.push(
            Layer::LandlockScopes,
            LayerState::Unavailable("landlock ABI 5 < 6".into()),
        );
        assert_eq!(
            r.to_string(),
            "seccomp                enforced\n\
             landlock scopes        unavailable: landlock ABI 5 < 6\n"
        );
        assert!(!r.is_fully_enforced());
        assert_eq!(r.state(Layer::Seccomp), Some(&LayerState::Enforced));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"layers":[{"layer":"seccomp","state":{"state":"enforced"}},{"layer":"landlock-scopes","state":{"state":"unavailable","reason":"landlock ABI 5 < 6"}}]}"#
        );
    }
}
