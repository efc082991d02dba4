//! Asking for a password on the terminal with echo off, like `age -p` or `gpg -c`.
//!
//! The prompt and the answer go through `/dev/tty`, so standard input and output stay free for
//! the data (`cat notes | secllama encrypt > notes.sealed` still asks). The password is read
//! byte by byte into a buffer allocated once at its full size and wiped on drop; it never
//! passes through argv, the environment or a `String`. Echo is restored before returning, on
//! every path, and also when SIGINT, SIGTERM, SIGHUP or SIGQUIT arrive during the prompt (the
//! handler restores the terminal, then lets the signal end the process as it would have).

use zeroize::Zeroizing;

use super::crypt::MAX_PASSWORD_FILE_BYTES;
use super::exit::{Failure, Status};

/// The one-line hint when there is no terminal to ask on.
pub(crate) const NO_TERMINAL: &str =
    "no terminal to ask for the password on: give --password-file FILE (or --service NAME)";

/// Asks for a password; with `confirm`, asks twice and refuses a mismatch.
pub(crate) fn ask(confirm: bool) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let tty = imp::Tty::open().map_err(|_| Failure::new(Status::NoTerminal, NO_TERMINAL))?;
    let password = tty.read_hidden("Password: ")?;
    if password.is_empty() {
        return Err(Failure::input("the password is empty; type a password"));
    }
    if confirm {
        let again = tty.read_hidden("Repeat password: ")?;
        if again != password {
            return Err(Failure::input(
                "the two passwords differ; nothing was encrypted",
            ));
        }
    }
    Ok(password)
}

#[cfg(unix)]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io::{self, Read, Write};
    use std::os::fd::{AsRawFd, RawFd};
    use std::sync::OnceLock;

    use zeroize::Zeroizing;

    use super::MAX_PASSWORD_FILE_BYTES;
    use crate::cli::exit::Failure;

    /// The controlling terminal.
    pub(super) struct Tty {
        file: File,
    }

    /// Signals that would end the process while echo is off.
    const FATAL_SIGNALS: [libc::c_int; 4] =
        [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    /// The terminal and its settings from before the prompt, for the signal handler (set once;
    /// both prompts of one run see the same terminal and settings).
    static RESTORE: OnceLock<(RawFd, libc::termios)> = OnceLock::new();

    /// Restores the terminal, then re-raises the signal with its default action.
    extern "C" fn restore_and_reraise(sig: libc::c_int) {
        if let Some((fd, saved)) = RESTORE.get() {
            // SAFETY: tcsetattr, signal and raise are async-signal-safe; `saved` is a termios
            // read from `fd`, which stays open while the handler is installed.
            unsafe {
                libc::tcsetattr(*fd, libc::TCSANOW, saved);
            }
        }
        // SAFETY: as above.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    /// Puts the terminal's settings and the signal dispositions back when dropped.
    struct EchoOff<'a> {
        file: &'a File,
        saved: libc::termios,
        handlers: [libc::sighandler_t; 4],
    }

    impl Drop for EchoOff<'_> {
        fn drop(&mut self) {
            // SAFETY: tcsetattr on a descriptor we hold open, with a termios read from it;
            // signal() puts back the dispositions `echo_off` replaced.
            unsafe {
                libc::tcsetattr(self.file.as_raw_fd(), libc::TCSAFLUSH, &self.saved);
                for (sig, old) in FATAL_SIGNALS.iter().zip(self.handlers) {
                    libc::signal(*sig, old);
                }
            }
        }
    }

    impl Tty {
        pub(super) fn open() -> io::Result<Tty> {
            let file = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
            Ok(Tty { file })
        }

        fn echo_off(&self) -> io::Result<EchoOff<'_>> {
            let fd = self.file.as_raw_fd();
            // SAFETY: termios is plain data; tcgetattr fills it from a descriptor we hold.
            let mut saved: libc::termios = unsafe { std::mem::zeroed() };
            // SAFETY: as above; `saved` is a valid termios to write into.
            if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut quiet = saved;
            quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
            quiet.c_lflag |= libc::ECHONL | libc::ICANON;
            let _ = RESTORE.set((fd, saved));
            let handler = restore_and_reraise as extern "C" fn(libc::c_int) as libc::sighandler_t;
            let mut handlers = [libc::SIG_DFL; 4];
            for (sig, old) in FATAL_SIGNALS.iter().zip(handlers.iter_mut()) {
                // SAFETY: installs an async-signal-safe handler; the old one is put back on drop.
                *old = unsafe { libc::signal(*sig, handler) };
            }
            let guard = EchoOff {
                file: &self.file,
                saved,
                handlers,
            };
            // SAFETY: tcsetattr on our descriptor with a termios derived from its own. FLUSH
            // drops anything typed before the prompt (it may have been echoed).
            if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(guard)
        }

        /// Prints `prompt`, reads one line with echo off, and returns it without its line end.
        pub(super) fn read_hidden(&self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
            let failed = |e: io::Error| Failure::input(format!("reading the password failed: {e}"));
            let limit = usize::try_from(MAX_PASSWORD_FILE_BYTES).unwrap_or(4096);
            // Allocated once at full size: pushing never reallocates, so no copy is left behind.
            let mut line = Zeroizing::new(Vec::with_capacity(limit + 1));
            let guard = self.echo_off().map_err(failed)?;
            let mut file = &self.file;
            file.write_all(prompt.as_bytes())
                .and_then(|()| file.flush())
                .map_err(failed)?;
            // The last byte read is wiped too.
            let mut byte = Zeroizing::new([0u8; 1]);
            let mut too_long = false;
            loop {
                match file.read(&mut byte[..]) {
                    Ok(0) => break,
                    Ok(_) if byte[0] == b'\n' => break,
                    Ok(_) if line.len() < limit => line.push(byte[0]),
                    Ok(_) => too_long = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(failed(e)),
                }
            }
            drop(guard);
            if too_long {
                return Err(Failure::input(format!(
                    "the password is longer than {limit} bytes"
                )));
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            Ok(line)
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io;

    use zeroize::Zeroizing;

    use crate::cli::exit::Failure;

    /// No terminal prompt outside Unix yet: the caller reports [`super::NO_TERMINAL`].
    pub(super) struct Tty;

    impl Tty {
        pub(super) fn open() -> io::Result<Tty> {
            Err(io::ErrorKind::Unsupported.into())
        }

        pub(super) fn read_hidden(&self, _: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
            Err(Failure::new(
                crate::cli::exit::Status::NoTerminal,
                super::NO_TERMINAL,
            ))
        }
    }
}
