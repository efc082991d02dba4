//! Pure Seatbelt (SBPL) profile builder: policy in, profile text + `-D` parameters + argv out.
//!
//! The profile text depends only on the *shape* of the policy (how many paths of each kind,
//! whether GPU rules or an IPC socket are wanted), never on path contents: every path goes to
//! `sandbox-exec` as a separate `-D NAME=VALUE` argument and the profile refers to it with
//! `(param "NAME")`. A path with quotes, parentheses, semicolons or newlines therefore cannot
//! change what the profile says.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{SandboxError, SandboxPolicy};

/// The only `sandbox-exec` ever run: an absolute path, never looked up in `PATH`.
pub const SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";

/// How the sandboxed runner talks to its host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeatbeltIpc {
    /// Over a file descriptor inherited at spawn (a socketpair end): the profile grants no
    /// network or socket access at all. Seatbelt checks operations when a resource is
    /// opened, so an already connected, inherited socket keeps working.
    InheritedFd,
    /// Over a unix socket at this path: the profile grants `network-outbound` to exactly that
    /// socket (by parameter) and nothing else.
    UnixSocket(PathBuf),
}

/// Read-only paths every macOS profile grants unless the policy says
/// [`without_baseline`](crate::SandboxPolicy::without_baseline): the system libraries and the
/// dyld shared cache a dynamically linked program needs to start.
pub const MACOS_BASELINE_READ_ONLY: &[&str] = &[
    "/usr/lib",
    "/System/Library/Frameworks",
    "/System/Library/PrivateFrameworks",
    "/System/Library/dyld",
    "/System/Cryptexes/OS",
    "/System/Volumes/Preboot/Cryptexes/OS",
    "/private/var/db/dyld",
    "/private/var/db/timezone",
    "/usr/share/zoneinfo",
    "/private/etc/localtime",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
];

/// Read-write paths every macOS profile grants unless the baseline is off: `/dev/null`.
pub const MACOS_BASELINE_READ_WRITE: &[&str] = &["/dev/null"];

/// Read-only paths added when GPU (Metal) is on: the GPU driver bundles (kernel extension
/// bundles carry the user-space Metal drivers; third-party GPU bundles live in
/// `/Library/GPUBundles`).
pub const METAL_READ_ONLY: &[&str] = &["/System/Library/Extensions", "/Library/GPUBundles"];

/// `sysctl` names (exact) a runner may read: CPU count/topology, memory size, page and cache
/// sizes, OS version. No host name, no boot time, no process table.
pub const SYSCTL_NAMES: &[&str] = &[
    "hw.activecpu",
    "hw.availcpu",
    "hw.byteorder",
    "hw.cachelinesize",
    "hw.cpufamily",
    "hw.cpusubtype",
    "hw.cputype",
    "hw.l1dcachesize",
    "hw.l2cachesize",
    "hw.logicalcpu",
    "hw.logicalcpu_max",
    "hw.memsize",
    "hw.ncpu",
    "hw.nperflevels",
    "hw.pagesize",
    "hw.physicalcpu",
    "hw.physicalcpu_max",
    "hw.tbfrequency",
    "kern.osproductversion",
    "kern.osrelease",
    "kern.ostype",
    "kern.osversion",
    "kern.version",
    "sysctl.proc_cputype",
];

/// `sysctl` name prefixes a runner may read: CPU feature flags (SIMD detection) and the
/// performance-level (P/E core) topology.
pub const SYSCTL_PREFIXES: &[&str] = &["hw.optional.", "hw.perflevel"];

/// IOKit user clients Metal opens: the Apple-silicon GPU (`AGXDeviceUserClient`), the
/// accelerator of Intel/AMD GPUs (`IOAccelerationUserClient`) and IOSurface (shared buffers).
pub const METAL_IOKIT_CLIENTS: &[&str] = &[
    "AGXDeviceUserClient",
    "IOAccelerationUserClient",
    "IOSurfaceRootUserClient",
];

/// IOKit connections Metal opens: the GPU's accelerator service.
pub const METAL_IOKIT_CONNECTIONS: &[&str] = &["IOAccelerator"];

/// IOKit registry properties Metal reads to find and load its driver plug-in; no other property
/// of any registry entry (serial numbers, the hardware inventory) is readable.
pub const METAL_IOKIT_PROPERTIES: &[&str] = &[
    "AGXParameterBufferMaxSize",
    "AGXParameterBufferMaxSizeEverMemless",
    "AGXParameterBufferMaxSizeNeverMemless",
    "CFBundleIdentifier",
    "CFBundleIdentifierKernel",
    "GPUConfigurationVariable",
    "GPUDebugNullClientMask",
    "GPURawCounterBundleName",
    "GPURawCounterPluginClassName",
    "IOClass",
    "IOGLBundleName",
    "IOGLESBundleName",
    "IOGLESDefaultUseMetal",
    "IOGLESMetalBundleName",
    "IOGVACodec",
    "IOMatchCategory",
    "IOPCITunnelled",
    "MetalCoalesce",
    "MetalPluginClassName",
    "MetalPluginName",
    "MetalStatisticsName",
    "MetalStatisticsScriptName",
];

/// Mach services Metal looks up (the shader compiler).
pub const METAL_MACH_SERVICES: &[&str] = &["com.apple.MTLCompilerService"];

/// The directory under the per-user cache directory (`confstr(_CS_DARWIN_USER_CACHE_DIR)`)
/// where Metal keeps compiled shaders; the launch glue grants it read-write when GPU is on.
pub const METAL_SHADER_CACHE: &str = "com.apple.metal";

/// A generated profile and the parameters it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatbeltProfile {
    text: String,
    params: Vec<(String, String)>,
}

/// Names and checks one path parameter.
fn path_param(
    params: &mut Vec<(String, String)>,
    name: String,
    path: &Path,
) -> Result<String, SandboxError> {
    let value = path
        .to_str()
        .ok_or_else(|| SandboxError::UnrepresentablePath {
            path: path.to_path_buf(),
            reason: "a Seatbelt profile parameter must be valid UTF-8",
        })?;
    if !path.is_absolute() {
        return Err(SandboxError::UnrepresentablePath {
            path: path.to_path_buf(),
            reason: "Seatbelt rules need absolute paths",
        });
    }
    if value.contains('\0') {
        return Err(SandboxError::UnrepresentablePath {
            path: path.to_path_buf(),
            reason: "a path with a NUL byte cannot be passed to sandbox-exec",
        });
    }
    params.push((name.clone(), value.to_owned()));
    Ok(name)
}

/// `stat()` of the directories above every granted path (dyld and path resolution may look
/// at them), and of nothing else: each ancestor is one more `ANC_n` parameter, so the profile
/// text depends on how deep the paths are, never on what they say.
fn ancestor_metadata(t: &mut String, params: &mut Vec<(String, String)>) {
    let ancestors: Vec<String> = params
        .iter()
        .flat_map(|(_, value)| {
            Path::new(value)
                .ancestors()
                .skip(1)
                .filter(|a| a.parent().is_some())
                .filter_map(|a| a.to_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    t.push_str("\n;; stat() of / and of the directories above each granted path; no contents\n");
    t.push_str("(allow file-read-metadata\n  (literal \"/\")\n");
    for (i, a) in ancestors.into_iter().enumerate() {
        let name = format!("ANC_{i}");
        let _ = writeln!(t, "  (literal (param \"{name}\"))");
        params.push((name, a));
    }
    t.push_str(")\n");
}

fn quoted_list(out: &mut String, filter: &str, items: &[&str]) {
    // Only compile-time constants of this module go through here, never a policy value.
    for item in items {
        let _ = writeln!(out, "  ({filter} \"{item}\")");
    }
}

impl SeatbeltProfile {
    /// Builds the profile for running `program` under `policy`.
    ///
    /// `gpu` adds the Metal rules (IOKit user clients, the Metal compiler service, the GPU
    /// driver bundles); without it none of them is present.
    ///
    /// Paths are used as given (the launch glue canonicalizes existing paths first, because
    /// Seatbelt matches resolved paths: `/tmp` is `/private/tmp`).
    ///
    /// # Errors
    /// [`SandboxError::UnrepresentablePath`] for a path that is not valid UTF-8, is relative, or
    /// contains a NUL byte: such a path is refused rather than approximated.
    pub fn build(
        policy: &SandboxPolicy,
        program: &Path,
        ipc: &SeatbeltIpc,
        gpu: bool,
    ) -> Result<SeatbeltProfile, SandboxError> {
        let mut params = Vec::new();
        let mut t = String::new();
        t.push_str(
            ";; SecLlama runner profile (generated). Every path is a -D parameter.\n\
             (version 1)\n\
             (deny default)\n\n",
        );

        let program = path_param(&mut params, "PROGRAM".into(), program)?;
        let _ = writeln!(
            t,
            ";; the runner itself: exec it (sandbox-exec does), load it, fork, signal itself\n\
             (allow process-exec (literal (param \"{program}\")))\n\
             (allow file-read* file-map-executable (literal (param \"{program}\")))\n\
             (allow process-fork)\n\
             (allow signal (target self))\n\
             (allow process-info* (target self))\n"
        );

        let mut ro: Vec<&str> = Vec::new();
        let mut rw: Vec<&str> = Vec::new();
        if policy.uses_baseline() {
            ro.extend(MACOS_BASELINE_READ_ONLY);
            rw.extend(MACOS_BASELINE_READ_WRITE);
        }
        if gpu {
            ro.extend(METAL_READ_ONLY);
        }
        if !ro.is_empty() {
            t.push_str(";; system libraries, dyld cache, time zone, random devices\n");
            t.push_str("(allow file-read* file-map-executable\n");
            quoted_list(&mut t, "subpath", &ro);
            t.push_str(")\n");
        }
        if !rw.is_empty() {
            t.push_str("(allow file-read* file-write-data\n");
            quoted_list(&mut t, "literal", &rw);
            t.push_str(")\n");
        }
        t.push('\n');

        if !policy.read_only_paths().is_empty() {
            t.push_str(";; policy: read-only (read + map executable)\n");
            t.push_str("(allow file-read* file-map-executable\n");
            for (i, p) in policy.read_only_paths().iter().enumerate() {
                let name = path_param(&mut params, format!("RO_{i}"), p)?;
                let _ = writeln!(t, "  (subpath (param \"{name}\"))");
            }
            t.push_str(")\n");
        }
        if !policy.read_write_paths().is_empty() {
            t.push_str(";; policy: read-write\n");
            t.push_str("(allow file-read* file-write*\n");
            for (i, p) in policy.read_write_paths().iter().enumerate() {
                let name = path_param(&mut params, format!("RW_{i}"), p)?;
                let _ = writeln!(t, "  (subpath (param \"{name}\"))");
            }
            t.push_str(")\n");
        }
        if !policy.devices().is_empty() {
            t.push_str(";; policy: device nodes\n");
            t.push_str("(allow file-read* file-write-data file-ioctl\n");
            for (i, p) in policy.devices().iter().enumerate() {
                let name = path_param(&mut params, format!("DEV_{i}"), p)?;
                let _ = writeln!(t, "  (literal (param \"{name}\"))");
            }
            t.push_str(")\n");
        }
        t.push('\n');

        match ipc {
            SeatbeltIpc::InheritedFd => {
                t.push_str(";; network: none (IPC is an inherited descriptor)\n\n");
            }
            SeatbeltIpc::UnixSocket(path) => {
                let name = path_param(&mut params, "IPC_SOCKET".into(), path)?;
                let _ = writeln!(
                    t,
                    ";; network: only the host's IPC unix socket\n\
                     (allow network-outbound (literal (param \"{name}\")))\n"
                );
            }
        }

        t.push_str(";; sysctl: CPU topology and features, memory and page size, OS version\n");
        t.push_str("(allow sysctl-read\n");
        quoted_list(&mut t, "sysctl-name", SYSCTL_NAMES);
        quoted_list(&mut t, "sysctl-name-prefix", SYSCTL_PREFIXES);
        t.push_str(")\n");

        if gpu {
            t.push_str(
                "\n;; GPU (Metal): the accelerator and its user clients, the registry properties Metal\n\
                 ;; reads to find its driver, the shader compiler service\n",
            );
            t.push_str("(allow iokit-open\n");
            quoted_list(&mut t, "iokit-connection", METAL_IOKIT_CONNECTIONS);
            quoted_list(&mut t, "iokit-user-client-class", METAL_IOKIT_CLIENTS);
            t.push_str(")\n(allow iokit-get-properties\n");
            quoted_list(&mut t, "iokit-property", METAL_IOKIT_PROPERTIES);
            t.push_str(")\n(allow mach-lookup\n");
            // The compiler service is an XPC service of the Metal framework; depending on the
            // macOS version it is looked up as a global name or as an XPC service name.
            quoted_list(&mut t, "global-name", METAL_MACH_SERVICES);
            quoted_list(&mut t, "xpc-service-name", METAL_MACH_SERVICES);
            t.push_str(")\n");
        }

        ancestor_metadata(&mut t, &mut params);
        Ok(SeatbeltProfile { text: t, params })
    }

    /// The SBPL text (contains no path from the policy).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The `-D` parameters, `(NAME, VALUE)`, in the order they are passed.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The complete argv to run `program args...` under this profile:
    /// `/usr/bin/sandbox-exec -p PROFILE -D NAME=VALUE ... -- PROGRAM ARGS...`.
    ///
    /// `program` should be the same path the profile was built for (its `PROGRAM` parameter).
    pub fn argv<I, S>(&self, program: &Path, args: I) -> Vec<OsString>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut v: Vec<OsString> = vec![SANDBOX_EXEC.into(), "-p".into(), self.text.clone().into()];
        for (name, value) in &self.params {
            v.push("-D".into());
            v.push(format!("{name}={value}").into());
        }
        v.push("--".into());
        v.push(program.as_os_str().to_owned());
        v.extend(args.into_iter().map(Into::into));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_path_is_a_parameter_and_is_the_only_exec_allowed() {
        let p = SeatbeltProfile::build(
            &SandboxPolicy::new(),
            Path::new("/opt/secllama/runner"),
            &SeatbeltIpc::InheritedFd,
            false,
        )
        .unwrap();
        let params: Vec<(&str, &str)> = p
            .params()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("PROGRAM", "/opt/secllama/runner"),
                ("ANC_0", "/opt/secllama"),
                ("ANC_1", "/opt"),
            ]
        );
        assert_eq!(p.text().matches("process-exec").count(), 1);
        assert!(!p.text().contains("/opt"));
        assert!(!p.text().contains("network-outbound"));
        assert_eq!(crate::macos::lint_profile(p.text(), p.params()), Ok(()));
    }

    #[test]
    fn metadata_is_granted_only_for_root_and_the_ancestors_of_granted_paths() {
        let p = SeatbeltProfile::build(
            &SandboxPolicy::new()
                .without_baseline()
                .read_only("/m/a.gguf"),
            Path::new("/r"),
            &SeatbeltIpc::InheritedFd,
            false,
        )
        .unwrap();
        let metadata = p
            .text()
            .split("(allow file-read-metadata")
            .nth(1)
            .and_then(|rest| rest.split("\n)").next())
            .unwrap();
        assert_eq!(
            metadata,
            "\n  (literal \"/\")\n  (literal (param \"ANC_0\"))"
        );
        assert_eq!(p.params()[2], ("ANC_0".to_owned(), "/m".to_owned()));
        assert_eq!(p.text().matches("file-read-metadata").count(), 1);
    }

    #[test]
    fn gpu_rules_filter_every_iokit_and_mach_operation() {
        let p = SeatbeltProfile::build(
            &SandboxPolicy::new(),
            Path::new("/r"),
            &SeatbeltIpc::InheritedFd,
            true,
        )
        .unwrap();
        assert_eq!(crate::macos::lint_profile(p.text(), p.params()), Ok(()));
        assert!(p.text().contains("(iokit-connection \"IOAccelerator\")"));
        assert!(p.text().contains("(iokit-property \"MetalPluginName\")"));
        assert!(p.text().contains("(subpath \"/Library/GPUBundles\")"));
        assert!(!p.text().contains("(allow iokit-get-properties)"));
    }

    #[test]
    fn relative_paths_are_refused() {
        let err = SeatbeltProfile::build(
            &SandboxPolicy::new().read_only("models"),
            Path::new("/r"),
            &SeatbeltIpc::InheritedFd,
            false,
        )
        .unwrap_err();
        assert!(
            matches!(err, SandboxError::UnrepresentablePath { ref path, .. } if path == Path::new("models"))
        );
    }
}
