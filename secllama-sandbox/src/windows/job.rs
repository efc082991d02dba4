//! Job object limits for a Windows runner, as data. Pure code: compiled and tested on every OS;
//! the Win32 calls that apply it are in the `cfg(windows)` glue.

// The flag constants are read by the cfg(windows) glue and by the tests.
#![cfg_attr(not(windows), allow(dead_code))]

use crate::ResourceLimits;

/// `JOB_OBJECT_LIMIT_PROCESS_TIME` (Win32 value; checked against `windows-sys` on Windows).
pub(crate) const LIMIT_PROCESS_TIME: u32 = 0x0000_0002;
/// `JOB_OBJECT_LIMIT_ACTIVE_PROCESS`.
pub(crate) const LIMIT_ACTIVE_PROCESS: u32 = 0x0000_0008;
/// `JOB_OBJECT_LIMIT_PROCESS_MEMORY`.
pub(crate) const LIMIT_PROCESS_MEMORY: u32 = 0x0000_0100;
/// `JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION`.
pub(crate) const LIMIT_DIE_ON_UNHANDLED_EXCEPTION: u32 = 0x0000_0400;
/// `JOB_OBJECT_LIMIT_BREAKAWAY_OK` (never set; the tests check).
#[cfg(test)]
pub(crate) const LIMIT_BREAKAWAY_OK: u32 = 0x0000_0800;
/// `JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK` (never set; the tests check).
#[cfg(test)]
pub(crate) const LIMIT_SILENT_BREAKAWAY_OK: u32 = 0x0000_1000;
/// `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`.
pub(crate) const LIMIT_KILL_ON_JOB_CLOSE: u32 = 0x0000_2000;

/// Every `JOB_OBJECT_UILIMIT_*` flag: handles of other processes' windows, clipboard read and
/// write, system parameters, display settings, global atoms, desktops, exiting Windows, the input method.
pub const UILIMIT_ALL: u32 = 0x0000_01ff;

/// What the runner's job object enforces.
///
/// Always: the runner dies when the host's job handle closes — also when the host crashes —,
/// it is the job's only process (`ActiveProcessLimit = 1`: it cannot start another), no
/// process can leave the job (no breakaway flags), an unhandled exception kills instead of
/// opening an error dialog, and every UI restriction is set ([`UILIMIT_ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobLimits {
    /// Committed memory per process in bytes (`ProcessMemoryLimit`), from
    /// [`ResourceLimits::address_space`].
    pub process_memory: Option<usize>,
    /// User-mode CPU time per process in 100 ns units (`PerProcessUserTimeLimit`), from
    /// [`ResourceLimits::cpu_seconds`].
    pub process_time_100ns: Option<i64>,
    /// Most processes in the job at once (`ActiveProcessLimit`): always 1, whatever
    /// [`ResourceLimits::processes`] says (a runner never needs a second process).
    pub active_processes: u32,
    /// `JOBOBJECT_BASIC_UI_RESTRICTIONS::UIRestrictionsClass`: always [`UILIMIT_ALL`].
    pub ui_restrictions: u32,
}

impl JobLimits {
    /// Maps the policy's limits; values too large for the Win32 fields saturate (a limit
    /// beyond what the field holds is no limit in practice). `open_files` has no job object
    /// equivalent (see [`JobLimits::unenforced`]).
    pub fn from_limits(l: &ResourceLimits) -> JobLimits {
        JobLimits {
            process_memory: l
                .address_space
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
            process_time_100ns: l
                .cpu_seconds
                .map(|s| i64::try_from(s.saturating_mul(10_000_000)).unwrap_or(i64::MAX)),
            active_processes: 1,
            ui_restrictions: UILIMIT_ALL,
        }
    }

    /// What of `l` the job cannot enforce, for the report (`None`: everything).
    pub fn unenforced(l: &ResourceLimits) -> Option<String> {
        l.open_files.map(|n| {
            format!("open-files limit {n} not enforced (a job object has no handle limit)")
        })
    }

    /// The `LimitFlags` for `JOBOBJECT_BASIC_LIMIT_INFORMATION`.
    pub fn limit_flags(&self) -> u32 {
        let mut f =
            LIMIT_KILL_ON_JOB_CLOSE | LIMIT_DIE_ON_UNHANDLED_EXCEPTION | LIMIT_ACTIVE_PROCESS;
        if self.process_memory.is_some() {
            f |= LIMIT_PROCESS_MEMORY;
        }
        if self.process_time_100ns.is_some() {
            f |= LIMIT_PROCESS_TIME;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_still_kill_on_close_allow_one_process_restrict_the_ui_and_never_breakaway() {
        let j = JobLimits::from_limits(&ResourceLimits::default());
        assert_eq!(
            j.limit_flags(),
            LIMIT_KILL_ON_JOB_CLOSE | LIMIT_DIE_ON_UNHANDLED_EXCEPTION | LIMIT_ACTIVE_PROCESS
        );
        assert_eq!(j.active_processes, 1);
        assert_eq!(j.ui_restrictions, 0x1ff);
        assert_eq!(JobLimits::unenforced(&ResourceLimits::default()), None);
        assert_eq!(
            j.limit_flags() & (LIMIT_BREAKAWAY_OK | LIMIT_SILENT_BREAKAWAY_OK),
            0
        );
    }

    #[test]
    fn policy_limits_map_to_job_fields_and_flags() {
        let j = JobLimits::from_limits(&ResourceLimits {
            address_space: Some(8 << 30),
            cpu_seconds: Some(600),
            open_files: Some(64),
            processes: Some(4),
        });
        assert_eq!(j.process_memory, Some(8 << 30));
        assert_eq!(j.process_time_100ns, Some(6_000_000_000));
        // More processes than one are never allowed.
        assert_eq!(j.active_processes, 1);
        assert_eq!(j.limit_flags(), 0x2000 | 0x400 | 0x100 | 0x2 | 0x8,);
        assert_eq!(
            JobLimits::unenforced(&ResourceLimits {
                open_files: Some(64),
                ..ResourceLimits::default()
            })
            .as_deref(),
            Some("open-files limit 64 not enforced (a job object has no handle limit)")
        );
    }

    #[test]
    fn huge_limits_saturate_instead_of_wrapping() {
        let j = JobLimits::from_limits(&ResourceLimits {
            cpu_seconds: Some(u64::MAX),
            processes: Some(u64::MAX),
            ..ResourceLimits::default()
        });
        assert_eq!(j.process_time_100ns, Some(i64::MAX));
        assert_eq!(j.active_processes, 1);
    }
}
