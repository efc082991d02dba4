//! The runner process: reads the session key from its pipe, opens the channel, verifies and
//! loads the model, then serves requests until told to shut down.
//!
//! By the time `runner_main` runs, the sandbox is already in force (the host applied it to
//! the `Command` before `exec`). Nothing here reads the environment except
//! `SECLLAMA_ENABLE_ENCRYPTION`.

#[cfg(feature = "engine")]
mod cpu;
#[cfg(feature = "engine")]
mod embed;
#[cfg(feature = "engine")]
mod engine;
#[cfg(feature = "engine")]
mod generate;
#[cfg(feature = "engine")]
mod model;
#[cfg(feature = "engine")]
mod placement;
#[cfg(feature = "engine")]
mod sampler;
mod session;
#[cfg(feature = "engine")]
mod slots;
#[cfg(feature = "engine")]
mod template;
pub(crate) mod text;

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::Arc;

use secllama_sandbox::SyscallProfile;
use zeroize::Zeroizing;

use crate::config::encryption_from_env;
use crate::wire::Mode;
use crate::wire::exit;
use crate::wire::key::{MAX_KEY_MESSAGE, parse_key_message};

/// Entry point of the `secllama-runner` executable. Call it from `main` and return its exit
/// code; it expects to have been started by [`Runner::spawn`](crate::Runner::spawn).
pub fn runner_main() -> ExitCode {
    set_parent_death_signal();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Args {
        socket: socket_fd,
        key: key_fd,
        syscalls,
    } = match parse_args(&args) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("secllama-runner: {msg}");
            eprintln!(
                "secllama-runner: this program is started by secllama (Runner::spawn), not by hand"
            );
            return ExitCode::from(exit::USAGE);
        }
    };
    // Before the first byte from outside (the key, the first frame) and before the model is
    // opened: from here on only the system calls the allow-list names work.
    if let Some(profile) = syscalls
        && let Err(e) = secllama_sandbox::restrict_runner_syscalls(profile)
    {
        eprintln!("secllama-runner: {e}");
        return ExitCode::from(exit::FATAL);
    }
    // SAFETY: the host passed these two descriptors to this process for its exclusive use;
    // nothing else in this process owns them.
    let (socket, key_pipe) = unsafe {
        (
            OwnedFd::from_raw_fd(socket_fd),
            OwnedFd::from_raw_fd(key_fd),
        )
    };
    let mode = match read_key(File::from(key_pipe)) {
        Ok(mode) => mode,
        Err(code) => return ExitCode::from(code),
    };
    session::serve(UnixStream::from(socket), mode)
}

fn set_parent_death_signal() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and has no memory effects.
        // Set again here because an exec or credential change may have cleared it.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
        // If the parent died meanwhile (we were reparented before the signal was armed), stop
        // now. (Not `== 1`: in the sandbox's PID namespace the parent *is* PID 1, its init,
        // and the sandbox itself kills the namespace when the host dies.)
        // SAFETY: as above.
        if parent == 0 || unsafe { libc::getppid() } != parent {
            std::process::exit(i32::from(exit::FATAL));
        }
    }
}

/// The runner's command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    socket: RawFd,
    key: RawFd,
    /// `--syscalls cpu|gpu`: the allow-list to install on itself (the host passes it when
    /// the sandbox is on).
    syscalls: Option<SyscallProfile>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut socket = None;
    let mut key = None;
    let mut syscalls = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let slot = match arg.as_str() {
            "--socket-fd" => &mut socket,
            "--key-fd" => &mut key,
            "--syscalls" => {
                syscalls = Some(
                    SyscallProfile::from_name(value)
                        .ok_or_else(|| format!("--syscalls: unknown profile {value:?}"))?,
                );
                continue;
            }
            other => return Err(format!("unexpected argument {other:?}")),
        };
        let fd: RawFd = value
            .parse()
            .map_err(|_| format!("{arg}: not a descriptor number"))?;
        if fd < 3 {
            return Err(format!("{arg}: descriptor {fd} is reserved"));
        }
        *slot = Some(fd);
    }
    match (socket, key) {
        (Some(s), Some(k)) if s != k => Ok(Args {
            socket: s,
            key: k,
            syscalls,
        }),
        _ => Err("--socket-fd and --key-fd (two different descriptors) are required".into()),
    }
}

/// Reads the session key (or the clear-mode marker) and checks it against this process's own
/// encryption setting.
fn read_key(pipe: File) -> Result<Mode, u8> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    if pipe
        .take(u64::try_from(MAX_KEY_MESSAGE + 1).unwrap_or(u64::MAX))
        .read_to_end(&mut buf)
        .is_err()
    {
        eprintln!("secllama-runner: reading the session key failed");
        return Err(exit::BAD_KEY);
    }
    let parsed = parse_key_message(&buf);
    let want_encryption = match encryption_from_env() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("secllama-runner: {e}");
            return Err(exit::ENCRYPTION_MISMATCH);
        }
    };
    match parsed {
        Ok(Some(keyset)) if want_encryption => Ok(Mode::Sealed(Arc::new(keyset))),
        Ok(None) if !want_encryption => {
            eprintln!(
                "secllama-runner: WARNING: SECLLAMA_ENABLE_ENCRYPTION=false: host-runner messages \
                 travel in clear text (debugging only)"
            );
            Ok(Mode::Clear)
        }
        Ok(_) => {
            eprintln!(
                "secllama-runner: the host's SECLLAMA_ENABLE_ENCRYPTION differs from this \
                 process's; refusing to start"
            );
            Err(exit::ENCRYPTION_MISMATCH)
        }
        Err(_) => {
            eprintln!("secllama-runner: the session key message is malformed");
            Err(exit::BAD_KEY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_need_two_distinct_descriptors_above_stderr() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&args(&["--socket-fd", "5", "--key-fd", "6"])),
            Ok(Args {
                socket: 5,
                key: 6,
                syscalls: None
            })
        );
        assert_eq!(
            parse_args(&args(&[
                "--socket-fd",
                "5",
                "--syscalls",
                "gpu",
                "--key-fd",
                "6"
            ])),
            Ok(Args {
                socket: 5,
                key: 6,
                syscalls: Some(SyscallProfile::Gpu)
            })
        );
        assert_eq!(
            parse_args(&args(&[
                "--socket-fd",
                "5",
                "--key-fd",
                "6",
                "--syscalls",
                "x"
            ])),
            Err(r#"--syscalls: unknown profile "x""#.to_owned())
        );
        assert_eq!(
            parse_args(&args(&["--socket-fd", "5", "--key-fd", "6", "--syscalls"])),
            Err("--syscalls needs a value".to_owned())
        );
        assert!(parse_args(&args(&["--socket-fd", "5", "--key-fd", "5"])).is_err());
        assert!(parse_args(&args(&["--socket-fd", "1", "--key-fd", "6"])).is_err());
        assert!(parse_args(&args(&["--socket-fd", "x", "--key-fd", "6"])).is_err());
        assert!(parse_args(&args(&["--model", "/etc/passwd"])).is_err());
        assert!(parse_args(&args(&[])).is_err());
    }
}
