//! Opening and verifying the model file inside the sandbox: GGUF magic, pinned SHA-256 with
//! progress, and the identity check that closes the gap between hashing and loading.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::session::{Fatal, send_error};
use crate::api::{LoadProgress, LoadStage};
use crate::wire::{LoadRequest, RunnerMessage, SharedWriter, WireErrorKind};

/// The GGUF magic at the start of every model file.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// Reports a fatal load error and ends the session.
pub(super) fn fail(
    writer: &SharedWriter,
    kind: WireErrorKind,
    message: impl Into<String>,
) -> Fatal {
    send_error(writer, None, kind, message, None);
    Fatal::Other
}

/// The opened, checked model file. Loading goes through `/proc/self/fd/N` so llama.cpp reads
/// exactly the inode that was hashed, whatever happens to the path meanwhile.
pub(super) struct ModelFile {
    file: File,
    path: PathBuf,
    identity: (u64, u64, u64, i64, i64, i64, i64),
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

impl ModelFile {
    pub(super) fn load_path(&self) -> PathBuf {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.path.clone()
        }
    }

    /// True when the file is unchanged since it was opened and hashed.
    pub(super) fn unchanged(&self) -> bool {
        let by_fd = self.file.metadata().map(|m| identity(&m));
        let by_path = std::fs::metadata(&self.path).map(|m| identity(&m));
        matches!((by_fd, by_path), (Ok(a), Ok(b)) if a == self.identity && b == self.identity)
    }
}

/// Opens the model for reading without blocking: a FIFO or device swapped in for the model after
/// the host's check must not hang the runner in `open` (the `is_file` check that follows then
/// refuses it). Regular files ignore `O_NONBLOCK`.
fn open_nonblocking(path: &std::path::Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    options.open(path)
}

pub(super) fn open_and_verify(
    writer: &SharedWriter,
    load: &LoadRequest,
) -> Result<(ModelFile, u64), Fatal> {
    let path = PathBuf::from(&load.model_path);
    let mut file = open_nonblocking(&path).map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelNotFound,
            format!("the runner cannot open the model file: {e}"),
        )
    })?;
    let meta = file.metadata().map_err(|e| {
        fail(
            writer,
            WireErrorKind::ModelNotFound,
            format!("cannot stat the model file: {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(fail(
            writer,
            WireErrorKind::InvalidModel,
            "the model path is not a regular file",
        ));
    }
    let size = meta.len();
    let mut magic = [0u8; 4];
    if size < 24 || file.read_exact(&mut magic).is_err() || &magic != GGUF_MAGIC {
        return Err(fail(
            writer,
            WireErrorKind::InvalidModel,
            "the file does not start with the GGUF magic (not a GGUF model)",
        ));
    }
    if let Some(expected) = &load.sha256 {
        let mut file = File::open(format!("/proc/self/fd/{}", raw_fd(&file)))
            .or_else(|_| file.try_clone())
            .map_err(|e| {
                fail(
                    writer,
                    WireErrorKind::ModelNotFound,
                    format!("cannot reread the model: {e}"),
                )
            })?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut done: u64 = 0;
        let mut last_step = u64::MAX;
        loop {
            let n = file.read(&mut buf).map_err(|e| {
                fail(
                    writer,
                    WireErrorKind::ModelLoad,
                    format!("reading the model failed: {e}"),
                )
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            done += n as u64;
            let step = done * 20 / size.max(1);
            if step != last_step {
                last_step = step;
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let fraction = (done as f64 / size.max(1) as f64).min(1.0) as f32;
                writer
                    .send(&RunnerMessage::Progress(LoadProgress {
                        stage: LoadStage::Verifying,
                        fraction,
                    }))
                    .map_err(|_| Fatal::Other)?;
            }
        }
        let actual = hex(&hasher.finalize());
        if &actual != expected {
            tracing::warn!(target: "secllama::audit", event = "model-checksum-rejected", "model sha-256 mismatch");
            send_error(writer, None, WireErrorKind::ChecksumMismatch, actual, None);
            return Err(Fatal::Other);
        }
    }
    let identity = identity(&meta);
    Ok((
        ModelFile {
            file,
            path,
            identity,
        },
        size,
    ))
}

fn raw_fd(file: &File) -> i32 {
    use std::os::fd::AsRawFd;
    file.as_raw_fd()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_in_place_of_the_model_opens_without_blocking_and_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("model.gguf");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let opened = open_nonblocking(&path).map(|f| f.metadata().map(|m| m.is_file()));
            let _ = tx.send(opened.map_err(|e| e.kind()));
        });
        // A blocking open of a FIFO with no writer never returns; this one must.
        let opened = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("opening a FIFO as the model blocked");
        assert!(matches!(opened, Ok(Ok(false))), "{opened:?}");
        let regular = dir.path().join("regular");
        std::fs::write(&regular, b"GGUF").unwrap();
        let mut bytes = Vec::new();
        open_nonblocking(&regular)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, b"GGUF");
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
