//! What the sandbox grants a runner that offloads layers to a GPU, beyond the baseline.
//!
//! The baseline already holds `/usr` and the libraries, so Vulkan ICD manifests in
//! `/usr/share/vulkan/icd.d` and the user-space drivers (`libvulkan_*.so`, `libcuda.so`) are
//! reachable without a grant. What a GPU adds is listed here, found on this machine when the
//! runner starts, and only what exists (or, for variables, what is set):
//!
//! - render nodes `/dev/dri/renderD*` (never the `card*` nodes, which drive displays) and, for
//!   them, the sysfs directories user-space drivers read to identify the device;
//! - NVIDIA's device nodes (`/dev/nvidiactl`, `/dev/nvidia<N>`, `/dev/nvidia-uvm`,
//!   `/dev/nvidia-uvm-tools`) and `/proc/driver/nvidia`;
//! - ICD manifests an administrator installed in `/etc/vulkan/icd.d`;
//! - the device-selection variables of ggml, the Vulkan loader, Mesa and CUDA, when set.
//!
//! Mesa's lavapipe (a Vulkan device on the CPU) needs none of the files, only
//! `GGML_VK_VISIBLE_DEVICES` (ggml skips CPU-type Vulkan devices unless told to use them).

use std::path::{Path, PathBuf};

use secllama_sandbox::SandboxPolicy;

/// The selection variables passed to a GPU runner when they are set: ggml's Vulkan device list,
/// the Vulkan loader's driver and device selection, Mesa's device selection, CUDA's.
pub const GPU_ENV: &[&str] = &[
    "GGML_VK_VISIBLE_DEVICES",
    "VK_DRIVER_FILES",
    "VK_ICD_FILENAMES",
    "VK_ADD_DRIVER_FILES",
    "VK_LOADER_DRIVERS_SELECT",
    "VK_LOADER_DRIVERS_DISABLE",
    "VK_LOADER_DEVICE_SELECT",
    "MESA_VK_DEVICE_SELECT",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
];

/// One thing the sandbox grants a runner asked for GPU layers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum GpuGrant {
    /// A device node, read-write with its device `ioctl`s.
    Device(PathBuf),
    /// A file or directory tree, read-only.
    ReadOnly(PathBuf),
    /// An environment variable, passed through.
    Env(String),
}

impl std::fmt::Display for GpuGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuGrant::Device(p) => write!(f, "device     {}", p.display()),
            GpuGrant::ReadOnly(p) => write!(f, "read-only  {}", p.display()),
            GpuGrant::Env(n) => write!(f, "env        {n}"),
        }
    }
}

/// The GPU grants on this machine: device nodes and files that exist, variables that are set
/// in this process's environment. See the module documentation for what and why.
pub fn gpu_grants() -> Vec<GpuGrant> {
    grants_from(Path::new("/"), &|name| std::env::var_os(name).is_some())
}

/// [`gpu_grants`] for a file system rooted at `root` and an environment `is_set` (unit tests
/// build a fake root).
pub(crate) fn grants_from(root: &Path, is_set: &dyn Fn(&str) -> bool) -> Vec<GpuGrant> {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let shown = |p: &Path| Path::new("/").join(p.strip_prefix(root).unwrap_or(p));
    let mut out = Vec::new();

    let render_nodes = sorted_entries(&at("/dev/dri"), |n| n.starts_with("renderD"));
    for node in &render_nodes {
        out.push(GpuGrant::Device(shown(node)));
    }
    if !render_nodes.is_empty() {
        // libdrm and the Mesa drivers identify a render node through sysfs.
        for dir in ["/sys/dev/char", "/sys/class/drm", "/sys/devices"] {
            if at(dir).exists() {
                out.push(GpuGrant::ReadOnly(PathBuf::from(dir)));
            }
        }
    }

    let nvidia = sorted_entries(&at("/dev"), |n| {
        n == "nvidiactl"
            || n == "nvidia-uvm"
            || n == "nvidia-uvm-tools"
            || n.strip_prefix("nvidia")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    });
    for node in &nvidia {
        out.push(GpuGrant::Device(shown(node)));
    }
    if !nvidia.is_empty() && at("/proc/driver/nvidia").exists() {
        out.push(GpuGrant::ReadOnly(PathBuf::from("/proc/driver/nvidia")));
    }

    let etc_icd = at("/etc/vulkan/icd.d");
    if !sorted_entries(&etc_icd, |n| n.ends_with(".json")).is_empty() {
        out.push(GpuGrant::ReadOnly(PathBuf::from("/etc/vulkan/icd.d")));
    }

    for name in GPU_ENV {
        if is_set(name) {
            out.push(GpuGrant::Env((*name).to_owned()));
        }
    }
    out
}

/// The entries of `dir` whose file name passes `keep`, sorted; none when `dir` is unreadable.
fn sorted_entries(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_str().is_some_and(&keep))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Adds `grants` to `policy`.
pub(crate) fn apply(mut policy: SandboxPolicy, grants: &[GpuGrant]) -> SandboxPolicy {
    for grant in grants {
        policy = match grant {
            GpuGrant::Device(p) => policy.device(p),
            GpuGrant::ReadOnly(p) => policy.read_only(p),
            GpuGrant::Env(n) => policy.allow_env(n),
        };
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, p: &str) {
        let p = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn nothing_on_a_machine_without_gpu_files_or_variables() {
        let root = tempfile::tempdir().unwrap();
        touch(root.path(), "/dev/null");
        touch(root.path(), "/etc/vulkan/icd.d/README");
        assert_eq!(grants_from(root.path(), &|_| false), []);
    }

    #[test]
    fn render_nodes_bring_their_sysfs_and_card_nodes_stay_out() {
        let root = tempfile::tempdir().unwrap();
        for p in [
            "/dev/dri/card0",
            "/dev/dri/renderD129",
            "/dev/dri/renderD128",
        ] {
            touch(root.path(), p);
        }
        std::fs::create_dir_all(root.path().join("sys/devices")).unwrap();
        std::fs::create_dir_all(root.path().join("sys/class/drm")).unwrap();
        assert_eq!(
            grants_from(root.path(), &|_| false),
            [
                GpuGrant::Device("/dev/dri/renderD128".into()),
                GpuGrant::Device("/dev/dri/renderD129".into()),
                GpuGrant::ReadOnly("/sys/class/drm".into()),
                GpuGrant::ReadOnly("/sys/devices".into()),
            ]
        );
    }

    #[test]
    fn nvidia_nodes_and_proc_files_but_not_modeset_or_caps() {
        let root = tempfile::tempdir().unwrap();
        for p in [
            "/dev/nvidia0",
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia-modeset",
            "/dev/nvidia-caps/nvidia-cap1",
            "/dev/nvidiax",
            "/proc/driver/nvidia/params",
        ] {
            touch(root.path(), p);
        }
        assert_eq!(
            grants_from(root.path(), &|_| false),
            [
                GpuGrant::Device("/dev/nvidia-uvm".into()),
                GpuGrant::Device("/dev/nvidia0".into()),
                GpuGrant::Device("/dev/nvidiactl".into()),
                GpuGrant::ReadOnly("/proc/driver/nvidia".into()),
            ]
        );
    }

    #[test]
    fn etc_icd_manifests_and_set_variables_only() {
        let root = tempfile::tempdir().unwrap();
        touch(root.path(), "/etc/vulkan/icd.d/vendor.json");
        let set = |n: &str| n == "GGML_VK_VISIBLE_DEVICES" || n == "CUDA_VISIBLE_DEVICES";
        assert_eq!(
            grants_from(root.path(), &set),
            [
                GpuGrant::ReadOnly("/etc/vulkan/icd.d".into()),
                GpuGrant::Env("GGML_VK_VISIBLE_DEVICES".into()),
                GpuGrant::Env("CUDA_VISIBLE_DEVICES".into()),
            ]
        );
    }

    #[test]
    fn grants_land_in_the_policy_as_device_read_only_and_env() {
        let grants = [
            GpuGrant::Device("/dev/dri/renderD128".into()),
            GpuGrant::ReadOnly("/sys/devices".into()),
            GpuGrant::Env("GGML_VK_VISIBLE_DEVICES".into()),
        ];
        let p = apply(SandboxPolicy::new(), &grants);
        assert_eq!(p.devices(), [PathBuf::from("/dev/dri/renderD128")]);
        assert_eq!(p.read_only_paths(), [PathBuf::from("/sys/devices")]);
        assert!(
            p.env_allow_list()
                .contains(&"GGML_VK_VISIBLE_DEVICES".to_owned())
        );
        assert_eq!(
            grants.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "device     /dev/dri/renderD128",
                "read-only  /sys/devices",
                "env        GGML_VK_VISIBLE_DEVICES",
            ]
        );
    }
}
