//! The runner's AppContainer profile (`cfg(windows)`): created per runner, its SID in the
//! file ACEs [`super::appcontainer`] plans, all of it removed on drop.

use std::ffi::OsStr;
use std::os::windows::ffi::OsStrExt;

use windows_sys::Win32::Foundation::{ERROR_ALREADY_EXISTS, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    EXPLICIT_ACCESS_W, GRANT_ACCESS, GetNamedSecurityInfoW, REVOKE_ACCESS, SE_FILE_OBJECT,
    SetEntriesInAclW, SetNamedSecurityInfoW, TRUSTEE_IS_SID, TRUSTEE_IS_WELL_KNOWN_GROUP,
    TRUSTEE_W,
};
use windows_sys::Win32::Security::Isolation::{
    CreateAppContainerProfile, DeleteAppContainerProfile, DeriveAppContainerSidFromAppContainerName,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, FreeSid, NO_INHERITANCE, PSECURITY_DESCRIPTOR, PSID,
    SUB_CONTAINERS_AND_OBJECTS_INHERIT,
};

use super::appcontainer::FileGrant;
use crate::SandboxError;

/// `HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)`.
const HRESULT_ALREADY_EXISTS: i32 = (0x8007_0000_u32 | ERROR_ALREADY_EXISTS) as i32;

pub(super) fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

pub(super) fn os_error(step: &'static str) -> SandboxError {
    SandboxError::Os {
        step,
        error: std::io::Error::last_os_error(),
    }
}

fn win32_error(step: &'static str, code: u32) -> SandboxError {
    SandboxError::Os {
        step,
        error: std::io::Error::from_raw_os_error(code as i32),
    }
}

/// An AppContainer profile and its SID; deleted (with its file grants revoked) on drop.
pub(super) struct Container {
    name: Vec<u16>,
    pub(super) sid: PSID,
    grants: Vec<FileGrant>,
}

impl Container {
    pub(super) fn create(name: &str) -> Result<Container, String> {
        let wname = wide(OsStr::new(name));
        let display = wide(OsStr::new("SecLlama runner"));
        let mut sid: PSID = std::ptr::null_mut();
        // SAFETY: every string is NUL-terminated and outlives the call; no capabilities (null,
        // 0); `sid` receives a SID we free with FreeSid.
        let hr = unsafe {
            CreateAppContainerProfile(
                wname.as_ptr(),
                display.as_ptr(),
                display.as_ptr(),
                std::ptr::null(),
                0,
                &mut sid,
            )
        };
        if hr == HRESULT_ALREADY_EXISTS {
            // SAFETY: as above.
            let hr = unsafe { DeriveAppContainerSidFromAppContainerName(wname.as_ptr(), &mut sid) };
            if hr != 0 {
                return Err(format!(
                    "DeriveAppContainerSidFromAppContainerName: {hr:#x}"
                ));
            }
        } else if hr != 0 {
            return Err(format!("CreateAppContainerProfile: {hr:#x}"));
        }
        Ok(Container {
            name: wname,
            sid,
            grants: Vec::new(),
        })
    }

    /// Adds (or, with `REVOKE_ACCESS`, removes) the container's ACE on a file or directory.
    fn set_ace(&self, grant: &FileGrant, mode: i32) -> Result<(), SandboxError> {
        let path = wide(grant.path.as_os_str());
        let mut old: *mut ACL = std::ptr::null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; the out-pointers are valid; `sd` owns `old` and is
        // freed with LocalFree below.
        let rc = unsafe {
            GetNamedSecurityInfoW(
                path.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut old,
                std::ptr::null_mut(),
                &mut sd,
            )
        };
        if rc != 0 {
            return Err(win32_error("GetNamedSecurityInfoW", rc));
        }
        let access = EXPLICIT_ACCESS_W {
            grfAccessPermissions: grant.access,
            grfAccessMode: mode,
            grfInheritance: if grant.inherit {
                SUB_CONTAINERS_AND_OBJECTS_INHERIT
            } else {
                NO_INHERITANCE
            },
            Trustee: TRUSTEE_W {
                pMultipleTrustee: std::ptr::null_mut(),
                MultipleTrusteeOperation: 0,
                TrusteeForm: TRUSTEE_IS_SID,
                TrusteeType: TRUSTEE_IS_WELL_KNOWN_GROUP,
                ptstrName: self.sid.cast(),
            },
        };
        let mut new: *mut ACL = std::ptr::null_mut();
        // SAFETY: one valid entry; `old` is the DACL read above (or null); `new` is allocated
        // by the call and freed with LocalFree.
        let rc = unsafe { SetEntriesInAclW(1, &access, old, &mut new) };
        let result = if rc != 0 {
            Err(win32_error("SetEntriesInAclW", rc))
        } else {
            // SAFETY: `path` is NUL-terminated and `new` a valid ACL.
            let rc = unsafe {
                SetNamedSecurityInfoW(
                    path.as_ptr(),
                    SE_FILE_OBJECT,
                    DACL_SECURITY_INFORMATION,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    new,
                    std::ptr::null(),
                )
            };
            if rc != 0 {
                Err(win32_error("SetNamedSecurityInfoW", rc))
            } else {
                Ok(())
            }
        };
        // SAFETY: both were allocated by the calls above (LocalFree accepts null).
        unsafe {
            LocalFree(new.cast());
            LocalFree(sd);
        }
        result
    }

    pub(super) fn grant(&mut self, grant: FileGrant) -> Result<(), SandboxError> {
        self.set_ace(&grant, GRANT_ACCESS)?;
        self.grants.push(grant);
        Ok(())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        for g in std::mem::take(&mut self.grants) {
            if let Err(e) = self.set_ace(&g, REVOKE_ACCESS) {
                tracing::warn!(
                    target: "secllama::audit",
                    event = "appcontainer-grant-revoke-failed",
                    path = %g.path.display(),
                    error = %e,
                    "could not remove the runner's ACE"
                );
            }
        }
        // SAFETY: the name is NUL-terminated; the SID came from the profile calls and is freed
        // exactly once.
        unsafe {
            DeleteAppContainerProfile(self.name.as_ptr());
            FreeSid(self.sid);
        }
    }
}

// SAFETY: the SID pointer in the container is owned and only used on drop.
unsafe impl Send for Container {}
// SAFETY: as above; no method reads the SID through `&self` concurrently with a write.
unsafe impl Sync for Container {}
