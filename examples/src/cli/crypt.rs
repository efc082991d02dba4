//! `secllama encrypt` / `secllama decrypt`: seal a file or a stream with a password.
//!
//! Nothing is written to the output until the whole operation has succeeded: decryption
//! authenticates the complete envelope in memory first, and an output file is written to a
//! temporary file in the same directory, then renamed over the target. A tampered or truncated
//! input, a wrong password or a wrong `--aad` therefore leaves the output file untouched (or
//! absent), never holding partial plaintext.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use secllama_crypto::password;
use zeroize::Zeroizing;

use super::CliResult;
use super::exit::{Failure, Status, of_crypto};

/// Largest input `encrypt` and `decrypt` accept (the whole input is held in memory).
pub(crate) const MAX_INPUT_BYTES: u64 = 1 << 30;
/// Largest password file accepted.
pub(crate) const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// Where the input comes from, where the output goes, and what it is bound to.
#[derive(Debug, Args)]
pub(crate) struct CryptIo {
    /// File holding the password. Its bytes are the password, except that one trailing newline
    /// ("\n" or "\r\n") is removed; other whitespace counts. At most 4096 bytes, not empty.
    /// [default: ask on the terminal with echo off; encrypt asks twice]
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Use the keys of this keychain service instead of a password (see `secllama key`):
    /// encrypt seals with its primary key (created on first use), decrypt opens with whichever
    /// of its keys the input names.
    #[arg(long, value_name = "NAME", conflicts_with = "password_file")]
    service: Option<String>,
    /// Keychain backend for --service [default: $SECLLAMA_KEYSTORE, else the OS keychain].
    #[arg(long, value_name = "NAME", requires = "service")]
    backend: Option<secllama_keystore::Backend>,
    /// Associated data: authenticated but neither encrypted nor stored; `decrypt` must be given
    /// the same text (e.g. the file's purpose or name) or it fails.
    #[arg(long, value_name = "TEXT", default_value = "")]
    aad: String,
    /// Input file [default: standard input]. At most 1 GiB.
    #[arg(short = 'i', long = "input", value_name = "IN")]
    input: Option<PathBuf>,
    /// Output file [default: standard output]. Written (mode 0600) only when the whole
    /// operation succeeded, by renaming a temporary file in the same directory.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: Option<PathBuf>,
}

/// Encrypt with a password: PBKDF2-HMAC-SHA256 and AES-256-GCM (format: secllama-crypto FORMAT.md).
#[derive(Debug, Args)]
#[command(
    after_help = "Example (asks for the password twice):\n  secllama encrypt -i notes.txt -o notes.sealed"
)]
pub(crate) struct EncryptArgs {
    #[command(flatten)]
    io: CryptIo,
    /// PBKDF2 iterations (stored in the output; decryption accepts 100000 to 10000000).
    #[arg(long, value_name = "N", default_value_t = password::DEFAULT_ITERATIONS)]
    iterations: u32,
}

/// Decrypt what `secllama encrypt` wrote; writes nothing unless the input authenticates.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  secllama decrypt -i notes.sealed -o notes.txt")]
pub(crate) struct DecryptArgs {
    #[command(flatten)]
    io: CryptIo,
}

impl CryptIo {
    /// The keychain service chosen with `--service`, if any.
    fn store(&self) -> Option<super::key::StoreArgs> {
        self.service.as_ref().map(|service| super::key::StoreArgs {
            service: service.clone(),
            backend: self.backend,
        })
    }

    /// The password from `--password-file`, else asked on the terminal (twice with `confirm`).
    fn password(&self, confirm: bool) -> Result<Zeroizing<Vec<u8>>, Failure> {
        match &self.password_file {
            Some(path) => read_password_file(path),
            None => super::password::ask(confirm),
        }
    }
}

impl EncryptArgs {
    pub(crate) fn exec(self) -> CliResult {
        if let Some(store) = self.io.store() {
            let plaintext = read_input(self.io.input.as_deref())?;
            let aad = self.io.aad.as_bytes();
            let sealed = super::key::seal_with_service(&store, &plaintext, aad)?;
            write_output(self.io.output.as_deref(), &sealed)?;
            return Ok(ExitCode::SUCCESS);
        }
        let password = self.io.password(true)?;
        let plaintext = read_input(self.io.input.as_deref())?;
        let sealed = password::seal_with_iterations(
            &password,
            self.iterations,
            &plaintext,
            self.io.aad.as_bytes(),
        )
        .map_err(|e| Failure::new(of_crypto(&e), format!("cannot encrypt: {e}")))?;
        write_output(self.io.output.as_deref(), &sealed)?;
        Ok(ExitCode::SUCCESS)
    }
}

impl DecryptArgs {
    pub(crate) fn exec(self) -> CliResult {
        if let Some(store) = self.io.store() {
            let sealed = read_input(self.io.input.as_deref())?;
            let aad = self.io.aad.as_bytes();
            let plaintext = super::key::open_with_service(&store, &sealed, aad)?;
            write_output(self.io.output.as_deref(), &plaintext)?;
            return Ok(ExitCode::SUCCESS);
        }
        let password = self.io.password(false)?;
        let sealed = read_input(self.io.input.as_deref())?;
        let plaintext =
            password::open(&password, &sealed, self.io.aad.as_bytes()).map_err(|e| {
                let input = describe(self.io.input.as_deref());
                Failure::new(of_crypto(&e), format!("cannot decrypt {input}: {e}"))
            })?;
        write_output(self.io.output.as_deref(), &plaintext)?;
        Ok(ExitCode::SUCCESS)
    }
}

fn describe(input: Option<&Path>) -> String {
    match input {
        Some(p) => p.display().to_string(),
        None => "standard input".to_owned(),
    }
}

/// Reads a password file: at most [`MAX_PASSWORD_FILE_BYTES`], one trailing `\n` or `\r\n`
/// removed, refused if empty.
pub(crate) fn read_password_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let shown = path.display();
    let unreadable =
        |e: io::Error| Failure::input(format!("cannot read password file {shown}: {e}"));
    let file = File::open(path).map_err(unreadable)?;
    let mut pw = read_limited(file, MAX_PASSWORD_FILE_BYTES)
        .map_err(unreadable)?
        .ok_or_else(|| {
            Failure::input(format!(
                "password file {shown} is larger than {MAX_PASSWORD_FILE_BYTES} bytes"
            ))
        })?;
    if pw.last() == Some(&b'\n') {
        pw.pop();
        if pw.last() == Some(&b'\r') {
            pw.pop();
        }
    }
    if pw.is_empty() {
        return Err(Failure::input(format!(
            "password file {shown} is empty; put the password in it"
        )));
    }
    Ok(pw)
}

fn read_input(input: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let what = describe(input);
    let unreadable = |e: io::Error| Failure::input(format!("cannot read {what}: {e}"));
    let data = match input {
        Some(p) => read_limited(File::open(p).map_err(unreadable)?, MAX_INPUT_BYTES),
        None => read_limited(io::stdin().lock(), MAX_INPUT_BYTES),
    }
    .map_err(unreadable)?;
    data.ok_or_else(|| {
        Failure::input(format!(
            "{what} is larger than the limit of {MAX_INPUT_BYTES} bytes"
        ))
    })
}

/// Reads everything up to `limit` bytes into a buffer that is wiped on drop and whose growth
/// wipes the old buffer (no stray plaintext copies in freed memory). `None` if over the limit.
fn read_limited(mut r: impl Read, limit: u64) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(8192));
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        let n = match r.read(&mut chunk[..]) {
            Ok(0) => return Ok(Some(buf)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if (buf.len() + n) as u64 > limit {
            return Ok(None);
        }
        if buf.len() + n > buf.capacity() {
            let mut bigger =
                Zeroizing::new(Vec::with_capacity((buf.capacity() * 2).max(buf.len() + n)));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Writes `data` to stdout, or atomically to `path` (temporary file in the same directory,
/// mode 0600, flushed and synced, then renamed). On any failure the target is untouched.
fn write_output(path: Option<&Path>, data: &[u8]) -> Result<(), Failure> {
    let Some(path) = path else {
        let mut out = io::stdout().lock();
        return out.write_all(data).and_then(|()| out.flush()).map_err(|e| {
            let status = if e.kind() == io::ErrorKind::BrokenPipe {
                Status::BrokenPipe
            } else {
                Status::Input
            };
            Failure::new(status, format!("cannot write to standard output: {e}"))
        });
    };
    let shown = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".secllama-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Failure::input(temp_file_error(path, dir, &e)))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Failure::input(format!("cannot write {shown}: {e}")))?;
    tmp.persist(path)
        .map_err(|e| Failure::input(format!("cannot write {shown}: {}", e.error)))?;
    Ok(())
}

/// Why the temporary file beside the output could not be made, in the directory's terms
/// (tempfile's own message names the random file that was never created).
fn temp_file_error(path: &Path, dir: &Path, e: &io::Error) -> String {
    let shown = path.display();
    match std::fs::metadata(dir) {
        Err(d) => format!("cannot write {shown}: directory {}: {d}", dir.display()),
        Ok(m) if !m.is_dir() => {
            format!("cannot write {shown}: {} is not a directory", dir.display())
        }
        Ok(_) => format!(
            "cannot create a temporary file in {}: {}",
            dir.display(),
            io::Error::from(e.kind())
        ),
    }
}
