//! The Win32 calls (`cfg(windows)`) that start a runner as the plain data of this module's
//! siblings describe it: an AppContainer with no capabilities and ACEs for its files only
//! ([`super::appcontainer`]), a job object with its limits and UI restrictions ([`super::job`]),
//! and `CreateProcessW` with exactly the listed handles, the job and the container attached at
//! creation ([`super::process_plan`]).
//!
//! Not run yet: compiled and linted for `x86_64-pc-windows-gnu` only.

use std::ffi::{OsStr, OsString};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::os::windows::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use windows_sys::Win32::Foundation::{
    HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Security::SECURITY_CAPABILITIES;
use windows_sys::Win32::System::JobObjects::{
    CreateJobObjectW, JOBOBJECT_BASIC_UI_RESTRICTIONS, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectBasicUIRestrictions, JobObjectExtendedLimitInformation, SetInformationJobObject,
};
use windows_sys::Win32::System::Threading::{
    CreateProcessW, DeleteProcThreadAttributeList, GetExitCodeProcess, INFINITE,
    InitializeProcThreadAttributeList, PROCESS_INFORMATION, STARTF_USESTDHANDLES, STARTUPINFOEXW,
    STARTUPINFOW, TerminateProcess, UpdateProcThreadAttribute, WaitForSingleObject,
};

use super::appcontainer::{container_name, file_grants, new_runner_id};
use super::container::{Container, os_error, wide};
use super::job::JobLimits;
use super::process_plan::{
    CHILD_PROCESS_RESTRICTED, CreationAttribute, command_line, creation_attributes, creation_flags,
    environment_block,
};
use super::{appcontainer_outcome, job_state};
use crate::{Layer, LayerState, SandboxError, SandboxPolicy, SandboxReport};

// Our plain-data constants are the Win32 values.
const _: () = assert!(
    super::process_plan::ATTR_HANDLE_LIST
        == windows_sys::Win32::System::Threading::PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize
);
const _: () = assert!(
    super::process_plan::ATTR_JOB_LIST
        == windows_sys::Win32::System::Threading::PROC_THREAD_ATTRIBUTE_JOB_LIST as usize
);
const _: () = assert!(
    super::process_plan::ATTR_SECURITY_CAPABILITIES
        == windows_sys::Win32::System::Threading::PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES
            as usize
);
const _: () = assert!(
    super::process_plan::ATTR_CHILD_PROCESS_POLICY
        == windows_sys::Win32::System::Threading::PROC_THREAD_ATTRIBUTE_CHILD_PROCESS_POLICY
            as usize
);
const _: () = assert!(
    super::job::UILIMIT_ALL == windows_sys::Win32::System::SystemServices::JOB_OBJECT_UILIMIT_ALL
);
const _: () = assert!(
    super::process_plan::CREATE_NO_WINDOW
        == windows_sys::Win32::System::Threading::CREATE_NO_WINDOW
);

const _: () = assert!(
    CHILD_PROCESS_RESTRICTED
        == windows_sys::Win32::System::WindowsProgramming::PROCESS_CREATION_CHILD_PROCESS_RESTRICTED
);

/// A job object with the runner's limits; closing it kills the runner.
fn create_job(limits: &JobLimits) -> Result<OwnedHandle, SandboxError> {
    // SAFETY: null security attributes and name are allowed; the result is checked.
    let h = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if h.is_null() {
        return Err(os_error("CreateJobObjectW"));
    }
    // SAFETY: a fresh handle owned by nobody else.
    let job = unsafe { OwnedHandle::from_raw_handle(h) };
    // SAFETY: the struct holds only integers; all-zero is a valid value.
    let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
    info.BasicLimitInformation.LimitFlags = limits.limit_flags();
    info.BasicLimitInformation.ActiveProcessLimit = limits.active_processes;
    if let Some(m) = limits.process_memory {
        info.ProcessMemoryLimit = m;
    }
    if let Some(t) = limits.process_time_100ns {
        info.BasicLimitInformation.PerProcessUserTimeLimit = t;
    }
    let ui = JOBOBJECT_BASIC_UI_RESTRICTIONS {
        UIRestrictionsClass: limits.ui_restrictions,
    };
    for (class, ptr, size) in [
        (
            JobObjectExtendedLimitInformation,
            std::ptr::from_ref(&info).cast(),
            std::mem::size_of_val(&info),
        ),
        (
            JobObjectBasicUIRestrictions,
            std::ptr::from_ref(&ui).cast(),
            std::mem::size_of_val(&ui),
        ),
    ] {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        // SAFETY: `ptr` points to a live value of the type `class` names, `size` bytes.
        if unsafe { SetInformationJobObject(job.as_raw_handle(), class, ptr, size) } == 0 {
            return Err(os_error("SetInformationJobObject"));
        }
    }
    Ok(job)
}

/// What a sandboxed Windows process is started with.
#[derive(Debug)]
pub struct WindowsLaunch<'a> {
    /// The program (absolute path).
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Handles it inherits besides stdio (and nothing else): they keep their values.
    pub inherit: Vec<RawHandle>,
    /// Its stderr (stdin and stdout are the `NUL` device); `None`: `NUL` too.
    pub stderr: Option<RawHandle>,
}

/// A process started by [`launch`]: the process, its job (closing it kills the process) and
/// its AppContainer (deleted, with its file grants, on drop). The methods mirror
/// `std::process::Child`.
pub struct SandboxedProcess {
    process: OwnedHandle,
    pid: u32,
    status: Option<ExitStatus>,
    // Dropped in this order: the job (kills the process), then the container.
    _job: OwnedHandle,
    _container: Option<Container>,
}

impl std::fmt::Debug for SandboxedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxedProcess")
            .field("pid", &self.pid)
            .field("contained", &self._container.is_some())
            .finish_non_exhaustive()
    }
}

impl SandboxedProcess {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    fn wait_for(&mut self, millis: u32) -> std::io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        // SAFETY: the process handle is valid while self lives.
        match unsafe { WaitForSingleObject(self.process.as_raw_handle(), millis) } {
            WAIT_OBJECT_0 => {
                let mut code = 0u32;
                // SAFETY: as above; `code` is a valid out-pointer.
                if unsafe { GetExitCodeProcess(self.process.as_raw_handle(), &mut code) } == 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let status = ExitStatus::from_raw(code);
                self.status = Some(status);
                Ok(Some(status))
            }
            WAIT_TIMEOUT => Ok(None),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    /// The exit status if the process has exited.
    ///
    /// # Errors
    /// The wait failed.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.wait_for(0)
    }

    /// Waits for the process to exit.
    ///
    /// # Errors
    /// The wait failed.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.wait_for(INFINITE)?
            .ok_or_else(|| std::io::Error::other("wait returned early"))
    }

    /// Terminates the process (exit code 1).
    ///
    /// # Errors
    /// `TerminateProcess` failed (an exited process is not an error).
    pub fn kill(&mut self) -> std::io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        // SAFETY: the process handle is valid while self lives.
        if unsafe { TerminateProcess(self.process.as_raw_handle(), 1) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Makes `handles` inheritable for the duration of the guard (the handle list names them;
/// a concurrent `CreateProcess` of another thread with `bInheritHandles` and no list could
/// inherit them in that window: std's `Command` is such a caller, so spawn nothing else while
/// a runner starts).
struct Inheritable<'a>(&'a [RawHandle]);

impl<'a> Inheritable<'a> {
    fn set(handles: &'a [RawHandle]) -> Result<Inheritable<'a>, SandboxError> {
        for (i, h) in handles.iter().enumerate() {
            // SAFETY: the caller's handles are open for the duration of the launch.
            if unsafe { SetHandleInformation(*h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) } == 0 {
                let error = os_error("SetHandleInformation");
                // Undo the ones already set.
                drop(Inheritable(&handles[..i]));
                return Err(error);
            }
        }
        Ok(Inheritable(handles))
    }
}

impl Drop for Inheritable<'_> {
    fn drop(&mut self) {
        for h in self.0 {
            // SAFETY: as in `set`.
            unsafe { SetHandleInformation(*h, HANDLE_FLAG_INHERIT, 0) };
        }
    }
}

/// An initialized `PROC_THREAD_ATTRIBUTE_LIST` (deleted on drop).
struct AttributeList(Vec<usize>);

impl AttributeList {
    fn new(count: usize) -> Result<AttributeList, SandboxError> {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        let mut size = 0usize;
        // SAFETY: the documented size query (null list); it fails with the size needed.
        unsafe { InitializeProcThreadAttributeList(std::ptr::null_mut(), count, 0, &mut size) };
        let mut buf = vec![0usize; size.div_ceil(std::mem::size_of::<usize>()).max(1)];
        // SAFETY: `buf` holds at least `size` bytes, aligned for pointers.
        if unsafe {
            InitializeProcThreadAttributeList(buf.as_mut_ptr().cast(), count, 0, &mut size)
        } == 0
        {
            return Err(os_error("InitializeProcThreadAttributeList"));
        }
        Ok(AttributeList(buf))
    }

    /// # Safety
    /// `value` must point to `size` readable bytes that outlive the list's use.
    unsafe fn set(
        &mut self,
        attribute: usize,
        value: *const core::ffi::c_void,
        size: usize,
    ) -> Result<(), SandboxError> {
        // SAFETY: the list is initialized; the caller guarantees `value`.
        let ok = unsafe {
            UpdateProcThreadAttribute(
                self.0.as_mut_ptr().cast(),
                0,
                attribute,
                value,
                size,
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(os_error("UpdateProcThreadAttribute"));
        }
        Ok(())
    }
}

impl Drop for AttributeList {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`, deleted once.
        unsafe { DeleteProcThreadAttributeList(self.0.as_mut_ptr().cast()) };
    }
}

/// Starts `what` sandboxed by `policy` (`None`: the sandbox is disabled; the process still
/// gets only the listed handles, its own job and no child processes): an AppContainer with no
/// capabilities and read grants on the policy's read-only paths, the job with the policy's
/// limits, the environment reduced to the allow-list (plus `SystemRoot`, which system DLLs
/// need).
///
/// # Errors
/// Strict policy and no AppContainer: [`SandboxError::NetworkIsolationUnavailable`]; a path
/// that cannot be granted; any Win32 step ([`SandboxError::Os`]).
pub fn launch(
    policy: Option<&SandboxPolicy>,
    what: WindowsLaunch<'_>,
) -> Result<(SandboxedProcess, Option<SandboxReport>), SandboxError> {
    let program = super::appcontainer::strip_verbatim(what.program);
    let mut report = SandboxReport::default();
    let mut container = None;
    // `vars()` panics on a name or value that is not Unicode (an unpaired surrogate in a
    // Windows environment): such a variable is left out instead.
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let limits = match policy {
        Some(policy) => {
            let name = container_name(&new_runner_id())?;
            let created = Container::create(&name);
            let state = appcontainer_outcome(
                policy.strictness_level(),
                created.as_ref().map(drop).map_err(Clone::clone),
            )?;
            report.push(Layer::AppContainer, state);
            if let Ok(mut c) = created {
                let (grants, refused) = file_grants(policy, &program)?;
                for g in grants {
                    c.grant(g)?;
                }
                container = Some(c);
                if !refused.is_empty() {
                    // Stricter than asked, never looser: the runner fails on these paths.
                    tracing::warn!(
                        target: "secllama::audit",
                        event = "appcontainer-paths-not-granted",
                        paths = ?refused,
                        "Windows runners get no read-write paths or devices"
                    );
                }
            }
            env.retain(|(k, _)| {
                k.eq_ignore_ascii_case("SystemRoot")
                    || policy
                        .env_allow_list()
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(k))
            });
            report.push(Layer::JobObject, LayerState::Enforced);
            report.push(Layer::ResourceLimits, job_state(&policy.resource_limits()));
            report.push(Layer::Environment, LayerState::Enforced);
            JobLimits::from_limits(&policy.resource_limits())
        }
        None => JobLimits::from_limits(&crate::ResourceLimits::default()),
    };
    let job = create_job(&limits)?;

    let nul_in = std::fs::File::open("NUL").map_err(|error| SandboxError::Os {
        step: "open NUL",
        error,
    })?;
    let nul_out = std::fs::OpenOptions::new()
        .write(true)
        .open("NUL")
        .map_err(|error| SandboxError::Os {
            step: "open NUL",
            error,
        })?;
    let stderr = what.stderr.unwrap_or(nul_out.as_raw_handle());
    let mut handles: Vec<RawHandle> = vec![nul_in.as_raw_handle(), nul_out.as_raw_handle()];
    for h in std::iter::once(stderr).chain(what.inherit.iter().copied()) {
        if !handles.contains(&h) {
            handles.push(h);
        }
    }

    let plan = creation_attributes(container.is_some(), handles.len());
    let mut attrs = AttributeList::new(plan.len())?;
    let caps = SECURITY_CAPABILITIES {
        AppContainerSid: container.as_ref().map_or(std::ptr::null_mut(), |c| c.sid),
        Capabilities: std::ptr::null_mut(),
        CapabilityCount: 0,
        Reserved: 0,
    };
    let job_list: [HANDLE; 1] = [job.as_raw_handle()];
    let child_policy: u32 = CHILD_PROCESS_RESTRICTED;
    for a in &plan {
        let (ptr, size): (*const core::ffi::c_void, usize) = match a {
            CreationAttribute::SecurityCapabilities => (
                std::ptr::from_ref(&caps).cast(),
                std::mem::size_of_val(&caps),
            ),
            CreationAttribute::HandleList(n) => (
                handles.as_ptr().cast(),
                n * std::mem::size_of::<RawHandle>(),
            ),
            CreationAttribute::JobList => {
                (job_list.as_ptr().cast(), std::mem::size_of_val(&job_list))
            }
            CreationAttribute::ChildProcessRestricted => (
                std::ptr::from_ref(&child_policy).cast(),
                std::mem::size_of_val(&child_policy),
            ),
        };
        // SAFETY: every value lives until after CreateProcessW below.
        unsafe { attrs.set(a.attribute(), ptr, size)? };
    }

    let args: Vec<&OsStr> = what.args.iter().map(OsString::as_os_str).collect();
    let mut cmdline: Vec<u16> = wide(OsStr::new(&command_line(program.as_os_str(), &args)));
    let app = wide(program.as_os_str());
    let env_block = environment_block(&env);
    let mut si: STARTUPINFOEXW = STARTUPINFOEXW {
        StartupInfo: STARTUPINFOW {
            cb: u32::try_from(std::mem::size_of::<STARTUPINFOEXW>()).unwrap_or(u32::MAX),
            dwFlags: STARTF_USESTDHANDLES,
            hStdInput: nul_in.as_raw_handle(),
            hStdOutput: nul_out.as_raw_handle(),
            hStdError: stderr,
            // SAFETY: all-zero is the documented default of the remaining fields.
            ..unsafe { std::mem::zeroed() }
        },
        lpAttributeList: attrs.0.as_mut_ptr().cast(),
    };
    // SAFETY: all-zero is a valid PROCESS_INFORMATION to be filled.
    let mut pi: PROCESS_INFORMATION = unsafe { std::mem::zeroed() };
    let inheritable = Inheritable::set(&handles)?;
    // SAFETY: every pointer is valid and NUL-terminated where required; `cmdline` is mutable
    // as CreateProcessW requires; the attribute list and everything it points to live until
    // the call returns; handles are inherited only as listed.
    let ok = unsafe {
        CreateProcessW(
            app.as_ptr(),
            cmdline.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            1,
            creation_flags(),
            env_block.as_ptr().cast(),
            std::ptr::null(),
            std::ptr::from_mut(&mut si).cast::<STARTUPINFOW>(),
            &mut pi,
        )
    };
    let created = if ok == 0 {
        Err(os_error("CreateProcessW"))
    } else {
        Ok(())
    };
    drop(inheritable);
    drop(attrs);
    created?;
    // SAFETY: CreateProcessW succeeded: both handles are fresh and ours.
    let (process, thread) = unsafe {
        (
            OwnedHandle::from_raw_handle(pi.hProcess),
            OwnedHandle::from_raw_handle(pi.hThread),
        )
    };
    drop(thread);
    if policy.is_some() {
        report.emit_audit_events();
    }
    Ok((
        SandboxedProcess {
            process,
            pid: pi.dwProcessId,
            status: None,
            _job: job,
            _container: container,
        },
        policy.map(|_| report),
    ))
}

/// `sandbox check` on Windows: can an AppContainer profile be created (and deleted) here.
pub(crate) fn appcontainer_probe() -> Result<(), String> {
    let name =
        container_name(&format!("check-{}", std::process::id())).map_err(|e| e.to_string())?;
    Container::create(&name).map(drop)
}
