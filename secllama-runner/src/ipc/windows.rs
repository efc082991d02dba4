//! Windows: three anonymous pipes — host→runner, runner→host, and the key pipe.
//!
//! `CreatePipe` with no security attributes makes handles that are *not* inheritable, so no
//! process the host (or another of its threads) starts inherits one. The runner gets exactly
//! its three ends from the sandbox's launcher, which names them in
//! `PROC_THREAD_ATTRIBUTE_HANDLE_LIST`; the handle values are on its command line as
//! `--in-handle A --out-handle B --key-handle C` (inherited handles keep their values).
//!
//! Not run yet: this code is compiled and linted for `x86_64-pc-windows-gnu` only.

use std::fs::File;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::sync::{Arc, Mutex, PoisonError};

use windows_sys::Win32::Foundation::{GetHandleInformation, HANDLE};
use windows_sys::Win32::System::IO::CancelIoEx;
use windows_sys::Win32::System::Pipes::CreatePipe;

use super::parse_child_args;

/// The runner's command-line names for its three handles.
const ARG_NAMES: [&str; 3] = ["--in-handle", "--out-handle", "--key-handle"];

/// The frame channel: a read pipe and a write pipe. Clones share both; `shutdown(Write)`
/// drops this side's write end (the peer reads end-of-stream once no clone writes), and
/// `shutdown(Read)` cancels a read in progress (best effort: the read also ends when the
/// runner exits, and the host kills it after [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE)).
#[derive(Debug)]
pub(crate) struct Channel {
    read: Arc<File>,
    write: Arc<Mutex<Option<Arc<File>>>>,
}

impl Channel {
    fn new(read: File, write: File) -> Channel {
        Channel {
            read: Arc::new(read),
            write: Arc::new(Mutex::new(Some(Arc::new(write)))),
        }
    }

    /// Another handle on the same channel.
    pub(crate) fn try_clone(&self) -> std::io::Result<Channel> {
        Ok(Channel {
            read: self.read.clone(),
            write: self.write.clone(),
        })
    }

    /// See the type's documentation.
    pub(crate) fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let taken = self
                .write
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(w) = taken {
                cancel_io(w.as_raw_handle());
            }
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            cancel_io(self.read.as_raw_handle());
        }
        Ok(())
    }

    fn writer(&self) -> std::io::Result<Arc<File>> {
        self.write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| std::io::ErrorKind::BrokenPipe.into())
    }
}

/// Cancels I/O in progress on `handle` from any thread of this process.
fn cancel_io(handle: RawHandle) {
    // SAFETY: the handle is open (owned by a live `File`); a null OVERLAPPED cancels every
    // request on it. A failure (nothing to cancel) is fine.
    unsafe { CancelIoEx(handle as HANDLE, std::ptr::null()) };
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.read).read(buf)
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Not under the lock: a blocked write must not block `shutdown`.
        (&*self.writer()?).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The host's ends: the channel and the write end of the key pipe.
pub(crate) struct HostEnds {
    pub(crate) channel: Channel,
    pub(crate) key: File,
}

/// The runner's ends, held by the host until the runner has started.
pub(crate) struct ChildEnds {
    input: OwnedHandle,
    output: OwnedHandle,
    key: OwnedHandle,
}

/// A pipe with non-inheritable ends: (read, write).
pub(crate) fn pipe() -> std::io::Result<(OwnedHandle, OwnedHandle)> {
    let mut read: HANDLE = std::ptr::null_mut();
    let mut write: HANDLE = std::ptr::null_mut();
    // SAFETY: both out-pointers are valid; null security attributes = not inheritable; 0 is
    // the default buffer size.
    if unsafe { CreatePipe(&mut read, &mut write, std::ptr::null(), 0) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: CreatePipe succeeded, so both handles are open and owned by nobody else.
    Ok(unsafe {
        (
            OwnedHandle::from_raw_handle(read as RawHandle),
            OwnedHandle::from_raw_handle(write as RawHandle),
        )
    })
}

impl ChildEnds {
    /// Makes the three pipes.
    pub(crate) fn new() -> std::io::Result<(HostEnds, ChildEnds)> {
        let (to_runner_read, to_runner_write) = pipe()?;
        let (from_runner_read, from_runner_write) = pipe()?;
        let (key_read, key_write) = pipe()?;
        Ok((
            HostEnds {
                channel: Channel::new(File::from(from_runner_read), File::from(to_runner_write)),
                key: File::from(key_write),
            },
            ChildEnds {
                input: to_runner_read,
                output: from_runner_write,
                key: key_read,
            },
        ))
    }

    /// The handles the launcher passes (and nothing else): input, output, key.
    pub(crate) fn handles(&self) -> [RawHandle; 3] {
        [
            self.input.as_raw_handle(),
            self.output.as_raw_handle(),
            self.key.as_raw_handle(),
        ]
    }

    /// The runner's arguments naming the three handles.
    pub(crate) fn args(&self) -> Vec<String> {
        ARG_NAMES
            .iter()
            .zip(self.handles())
            .flat_map(|(name, h)| [(*name).to_owned(), (h as usize).to_string()])
            .collect()
    }
}

/// The runner side: opens the channel and the key pipe its command line names.
///
/// # Errors
/// The arguments are not exactly the three handle arguments with different values, or a
/// named handle is not open in this process.
pub(crate) fn open_child_ends(args: &[String]) -> Result<(Channel, File), String> {
    let parsed = parse_child_args(args, &ARG_NAMES, 1)?;
    let mut handles = Vec::with_capacity(3);
    for (name, v) in ARG_NAMES.iter().zip(&parsed.values) {
        let raw = usize::try_from(*v).map_err(|_| format!("{name}: {v} is out of range"))?;
        let handle = raw as RawHandle;
        let mut flags = 0u32;
        // SAFETY: GetHandleInformation only reads the handle table; an invalid value fails.
        if unsafe { GetHandleInformation(handle as HANDLE, &mut flags) } == 0 {
            return Err(format!("{name}: handle {v} is not open in this process"));
        }
        handles.push(handle);
    }
    // SAFETY: the host passed these three handles to this process for its exclusive use;
    // they are open (checked above) and differ (checked by the parser).
    let [input, output, key] = [handles[0], handles[1], handles[2]]
        .map(|h| unsafe { File::from(OwnedHandle::from_raw_handle(h)) });
    Ok((Channel::new(input, output), key))
}
