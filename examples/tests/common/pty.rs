//! Runs `secllama` on a pseudo-terminal, as a user at a terminal would: stdin, stdout and
//! stderr are the terminal, which is also the controlling terminal (`/dev/tty`). Output
//! post-processing is off, so the bytes read are exactly the bytes written.

#![allow(dead_code, unsafe_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A child on a terminal, with everything it printed so far.
pub(crate) struct Pty {
    child: Child,
    master: File,
    output: Receiver<Vec<u8>>,
    pub(crate) seen: Vec<u8>,
}

impl Pty {
    /// Spawns `cmd` with the slave side of a new pty as its terminal.
    pub(crate) fn spawn(mut cmd: Command) -> Pty {
        let mut master_fd = -1;
        let mut slave_fd = -1;
        // SAFETY: openpty writes two descriptors into the pointers we own; the name,
        // termios and winsize arguments may be NULL.
        let rc = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty just returned these descriptors; we own them.
        let (master, slave) = unsafe {
            (
                OwnedFd::from_raw_fd(master_fd),
                OwnedFd::from_raw_fd(slave_fd),
            )
        };
        // SAFETY: tcgetattr/tcsetattr on a descriptor we own, with a termios we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(slave.as_raw_fd(), &mut t), 0);
            t.c_oflag &= !libc::OPOST;
            assert_eq!(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t), 0);
        }
        let slave_raw = slave.as_raw_fd();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe; the descriptor is open
        // in the child (it is its stdin).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                let _ = slave_raw;
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(slave);
        drop(cmd);
        let master = File::from(master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every slave descriptor is closed: the end of output.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            master,
            output: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until the output so far contains `needle` (panics after `timeout`).
    pub(crate) fn expect(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !String::from_utf8_lossy(&self.seen).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(_) => panic!(
                    "no {needle:?} within {timeout:?}; output so far: {:?}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Types `text` on the terminal.
    pub(crate) fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits for the end of output and the exit status (panics after `timeout`).
    pub(crate) fn finish(&mut self, timeout: Duration) -> (ExitStatus, Vec<u8>) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "still running after {timeout:?}; output: {:?}",
                        String::from_utf8_lossy(&self.seen)
                    );
                }
            }
        }
        let status = self.child.wait().unwrap();
        (status, std::mem::take(&mut self.seen))
    }

    /// Whether the terminal echoes what is typed now (its settings outlive the child).
    pub(crate) fn echoes(&self) -> bool {
        // SAFETY: termios is plain data; tcgetattr on the master (a descriptor we hold open)
        // reads the terminal's settings into it.
        let t = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(self.master.as_raw_fd(), &mut t), 0);
            t
        };
        t.c_lflag & libc::ECHO != 0
    }
}
