//! Version and build features.

use std::ffi::c_char;

use crate::handle::try_out;
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// `secllama_features` bit: the sandboxed llama.cpp runner (`secllama_runner_*`).
pub const SECLLAMA_FEATURE_RUNNER: u32 = 1;
/// `secllama_features` bit: the Secret Service keychain backend (Linux).
pub const SECLLAMA_FEATURE_SECRET_SERVICE: u32 = 1 << 1;
/// `secllama_features` bit: the kernel keyring backend `keyutils` (Linux).
pub const SECLLAMA_FEATURE_KEYUTILS: u32 = 1 << 2;
/// `secllama_features` bit: the macOS Keychain backend.
pub const SECLLAMA_FEATURE_KEYCHAIN: u32 = 1 << 3;
/// `secllama_features` bit: the Windows Credential Manager backend.
pub const SECLLAMA_FEATURE_CREDENTIAL_MANAGER: u32 = 1 << 4;
/// `secllama_features` bit: the Linux sandbox (namespaces, Landlock, seccomp, rlimits).
pub const SECLLAMA_FEATURE_SANDBOX_LINUX: u32 = 1 << 5;
/// `secllama_features` bit: the macOS sandbox (Seatbelt).
pub const SECLLAMA_FEATURE_SANDBOX_MACOS: u32 = 1 << 6;
/// `secllama_features` bit: the Windows sandbox (AppContainer, job object).
pub const SECLLAMA_FEATURE_SANDBOX_WINDOWS: u32 = 1 << 7;
/// `secllama_features` bit: GPU offload with CUDA.
pub const SECLLAMA_FEATURE_CUDA: u32 = 1 << 8;
/// `secllama_features` bit: GPU offload with Vulkan.
pub const SECLLAMA_FEATURE_VULKAN: u32 = 1 << 9;
/// `secllama_features` bit: GPU offload with Metal.
pub const SECLLAMA_FEATURE_METAL: u32 = 1 << 10;

/// The features of this build, as `SECLLAMA_FEATURE_*` bits.
pub(crate) fn features() -> u32 {
    let linux = cfg!(target_os = "linux");
    let macos = cfg!(target_os = "macos");
    let windows = cfg!(windows);
    [
        (true, SECLLAMA_FEATURE_RUNNER),
        (linux, SECLLAMA_FEATURE_SECRET_SERVICE),
        (linux, SECLLAMA_FEATURE_KEYUTILS),
        (macos, SECLLAMA_FEATURE_KEYCHAIN),
        (windows, SECLLAMA_FEATURE_CREDENTIAL_MANAGER),
        (linux, SECLLAMA_FEATURE_SANDBOX_LINUX),
        (macos, SECLLAMA_FEATURE_SANDBOX_MACOS),
        (windows, SECLLAMA_FEATURE_SANDBOX_WINDOWS),
        (cfg!(feature = "cuda"), SECLLAMA_FEATURE_CUDA),
        (cfg!(feature = "vulkan"), SECLLAMA_FEATURE_VULKAN),
        (cfg!(feature = "metal"), SECLLAMA_FEATURE_METAL),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// The library version, e.g. `"0.1.0"`.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// Writes the library's version (e.g. `"0.1.0"`) to `*out_version`: a static NUL-terminated
/// string owned by the library, never freed.
///
/// # Safety
/// `out_version` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_version(out_version: *mut *const c_char) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_version);
        out.write(VERSION.as_ptr().cast());
        Ok(())
    })
}

/// Writes the features of this build to `*out_flags` as `SECLLAMA_FEATURE_*` bits.
///
/// # Safety
/// `out_flags` is NULL or valid for writing a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_features(out_flags: *mut u32) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_flags);
        out.write(features());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_linux_build_has_the_runner_and_the_linux_backends_and_sandbox() {
        let f = features();
        assert_ne!(f & SECLLAMA_FEATURE_RUNNER, 0);
        if cfg!(target_os = "linux") {
            let linux = SECLLAMA_FEATURE_SECRET_SERVICE
                | SECLLAMA_FEATURE_KEYUTILS
                | SECLLAMA_FEATURE_SANDBOX_LINUX;
            assert_eq!(f & linux, linux);
            assert_eq!(f & SECLLAMA_FEATURE_KEYCHAIN, 0);
        }
    }

    #[test]
    fn the_version_is_the_crate_version_nul_terminated() {
        assert_eq!(VERSION.strip_suffix('\0'), Some(env!("CARGO_PKG_VERSION")));
    }
}
