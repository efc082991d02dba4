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
//! - the driver manifests that `VK_DRIVER_FILES`, `VK_ICD_FILENAMES` or `VK_ADD_DRIVER_FILES`
//!   name outside the baseline, and the driver library such a manifest names outside it;
//! - the device-selection variables of ggml, the Vulkan loader, Mesa and CUDA, when set.
//!
//! Mesa's lavapipe (a Vulkan device on the CPU) needs none of the files, only
//! `GGML_VK_VISIBLE_DEVICES` (ggml skips CPU-type Vulkan devices unless told to use them).

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use secllama_sandbox::{BASELINE_READ_ONLY, SandboxPolicy};

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

/// The Vulkan loader's variables that name driver manifests (files or directories,
/// `:`-separated), newest name first.
const DRIVER_FILE_VARS: &[&str] = &["VK_DRIVER_FILES", "VK_ICD_FILENAMES", "VK_ADD_DRIVER_FILES"];

/// A driver manifest larger than this is not read (they are a few hundred bytes).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

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
    grants_from(Path::new("/"), &|name| std::env::var_os(name))
}

/// [`gpu_grants`] for a file system rooted at `root` and an environment `var` (unit tests
/// build a fake root).
pub(crate) fn grants_from(root: &Path, var: &dyn Fn(&str) -> Option<OsString>) -> Vec<GpuGrant> {
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

    for name in DRIVER_FILE_VARS {
        let Some(value) = var(name) else { continue };
        // The loader's list separator: `:` on Unix, `;` on Windows.
        for listed in std::env::split_paths(&value) {
            let listed = listed.as_path();
            if !listed.is_absolute() || !at_path(root, listed).exists() {
                continue;
            }
            let mut wanted = vec![listed.to_path_buf()];
            if at_path(root, listed).is_file() {
                wanted.extend(manifest_library(root, listed));
            }
            for path in wanted {
                let granted = out
                    .iter()
                    .any(|g| matches!(g, GpuGrant::ReadOnly(p) if path.starts_with(p)));
                if !in_baseline(&path) && !granted {
                    out.push(GpuGrant::ReadOnly(path));
                }
            }
        }
    }

    for name in GPU_ENV {
        if var(name).is_some() {
            out.push(GpuGrant::Env((*name).to_owned()));
        }
    }
    out
}

/// `path` (absolute) under the fake or real `root`.
fn at_path(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Whether every policy already grants `path` (it lies under a baseline directory).
fn in_baseline(path: &Path) -> bool {
    BASELINE_READ_ONLY.iter().any(|b| path.starts_with(b))
}

/// The driver library a Vulkan driver manifest (`ICD.library_path`) names by path, resolved
/// against the manifest's directory as the loader does; `None` for a bare file name (found
/// through the library search path, inside the baseline) or an unreadable manifest.
fn manifest_library(root: &Path, manifest: &Path) -> Option<PathBuf> {
    let mut text = Vec::new();
    std::fs::File::open(at_path(root, manifest))
        .ok()?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut text)
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let library = Path::new(json.get("ICD")?.get("library_path")?.as_str()?);
    if library.components().count() < 2 {
        return None;
    }
    let library = lexically_normal(&manifest.parent()?.join(library));
    at_path(root, &library).exists().then_some(library)
}

/// `path` with `.` components dropped and each `..` taking off the component before it, so a
/// grant names the file as `/proc/PID/maps` and the sandbox's bind mounts do
/// (`/opt/vk/./lib.so` is `/opt/vk/lib.so`). Lexical: a `..` after a symbolic link goes back
/// along the link's name, not its target, so such a manifest's driver is granted at the wrong
/// place and the load fails with `GpuUnavailable` rather than reaching another file.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
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

// Unix paths and `:`-separated lists (Windows separates them with `;`).
#[cfg(test)]
#[cfg(unix)]
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
        assert_eq!(grants_from(root.path(), &|_| None), []);
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
            grants_from(root.path(), &|_| None),
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
            grants_from(root.path(), &|_| None),
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
        let set = |n: &str| {
            (n == "GGML_VK_VISIBLE_DEVICES" || n == "CUDA_VISIBLE_DEVICES").then(|| "0".into())
        };
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
    fn a_library_path_with_dot_components_is_granted_as_the_loader_maps_it() {
        let root = tempfile::tempdir().unwrap();
        touch(root.path(), "/opt/vk/lib/libvendor.so");
        touch(root.path(), "/opt/vk/libtop.so");
        std::fs::create_dir_all(root.path().join("opt/vk/icd")).unwrap();
        for (name, library) in [("dot", "./../lib/libvendor.so"), ("up", "../libtop.so")] {
            std::fs::write(
                root.path().join(format!("opt/vk/icd/{name}.json")),
                format!(r#"{{"ICD": {{"library_path": "{library}"}}}}"#),
            )
            .unwrap();
        }
        let var = |n: &str| {
            (n == "VK_DRIVER_FILES").then(|| "/opt/vk/icd/dot.json:/opt/vk/icd/up.json".into())
        };
        assert_eq!(
            grants_from(root.path(), &var),
            [
                GpuGrant::ReadOnly("/opt/vk/icd/dot.json".into()),
                GpuGrant::ReadOnly("/opt/vk/lib/libvendor.so".into()),
                GpuGrant::ReadOnly("/opt/vk/icd/up.json".into()),
                GpuGrant::ReadOnly("/opt/vk/libtop.so".into()),
                GpuGrant::Env("VK_DRIVER_FILES".into()),
            ]
        );
    }

    #[test]
    fn driver_manifests_named_by_the_loader_variables_and_their_libraries_outside_the_baseline() {
        let root = tempfile::tempdir().unwrap();
        touch(root.path(), "/opt/vk/lib/libvendor.so");
        std::fs::write(
            root.path().join("opt/vk/vendor.json"),
            br#"{"file_format_version": "1.0.0",
                 "ICD": {"library_path": "lib/libvendor.so", "api_version": "1.3.0"}}"#,
        )
        .unwrap();
        touch(root.path(), "/usr/share/vulkan/icd.d/lvp.json");
        touch(root.path(), "/srv/icd.d/other.json");
        let var = |n: &str| match n {
            // Relative entries and missing files are the loader's business, not a grant.
            "VK_DRIVER_FILES" => Some(
                "/opt/vk/vendor.json:/usr/share/vulkan/icd.d/lvp.json:rel.json:/missing.json"
                    .into(),
            ),
            "VK_ADD_DRIVER_FILES" => Some("/srv/icd.d:/srv/icd.d/other.json".into()),
            _ => None,
        };
        assert_eq!(
            grants_from(root.path(), &var),
            [
                GpuGrant::ReadOnly("/opt/vk/vendor.json".into()),
                GpuGrant::ReadOnly("/opt/vk/lib/libvendor.so".into()),
                GpuGrant::ReadOnly("/srv/icd.d".into()),
                GpuGrant::Env("VK_DRIVER_FILES".into()),
                GpuGrant::Env("VK_ADD_DRIVER_FILES".into()),
            ]
        );
    }

    #[test]
    fn a_manifest_naming_a_bare_library_or_unreadable_json_grants_only_itself() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("opt")).unwrap();
        std::fs::write(
            root.path().join("opt/bare.json"),
            br#"{"ICD": {"library_path": "libvulkan_lvp.so"}}"#,
        )
        .unwrap();
        std::fs::write(root.path().join("opt/bad.json"), b"{not json").unwrap();
        let var =
            |n: &str| (n == "VK_ICD_FILENAMES").then(|| "/opt/bare.json:/opt/bad.json".into());
        assert_eq!(
            grants_from(root.path(), &var),
            [
                GpuGrant::ReadOnly("/opt/bare.json".into()),
                GpuGrant::ReadOnly("/opt/bad.json".into()),
                GpuGrant::Env("VK_ICD_FILENAMES".into()),
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
