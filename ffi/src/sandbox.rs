//! What the OS sandbox can enforce here (`secllama-sandbox`).

use crate::buf::secllama_buf;
use crate::error::fail;
use crate::handle::try_out;
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// Reports what this operating system and kernel can enforce, as JSON:
/// `{"os":"linux","kernel":"6.18.0","root":false,"landlock_abi":7,"seccomp_filter":true,
/// "user_namespaces":true,"network_namespaces":true,"namespace_error":null}`.
///
/// On success `*out_json` holds UTF-8 JSON (not NUL-terminated), owned by the caller: release
/// it with `secllama_buf_free`.
///
/// # Safety
/// `out_json` is NULL or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_sandbox_probe_json(
    out_json: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_json);
        out.write(secllama_buf::EMPTY);
        let caps = secllama_sandbox::probe();
        let json = serde_json::to_vec(&caps).map_err(|e| fail(secllama_status::SandboxOther, e))?;
        out.write(secllama_buf::from_vec(json));
        Ok(())
    })
}
