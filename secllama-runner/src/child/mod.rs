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
use std::process::ExitCode;
use std::sync::Arc;

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
    let opened = crate::ipc::split_syscalls(&args).and_then(|(ends, syscalls)| {
        crate::ipc::open_child_ends(&ends).map(|(channel, key)| (channel, key, syscalls))
    });
    let (channel, key_pipe, syscalls) = match opened {
        Ok(opened) => opened,
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
    let mode = match read_key(key_pipe) {
        Ok(mode) => mode,
        Err(code) => return ExitCode::from(code),
    };
    session::serve(channel, mode)
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
