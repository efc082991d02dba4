//! `secllama key`: the keyset of a service in the OS keychain.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use secllama_crypto::{KeyId, KeyInfo};
use secllama_keystore::{Backend, InitOutcome, Keystore, KeystoreConfig, KeystoreStatus};
use serde::Serialize;

use super::CliResult;
use super::exit::{Failure, Status, of_crypto};

/// Which keyset: shared by `secllama key` and `secllama encrypt/decrypt --service`.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Service name: each application's keyset lives under its own name.
    #[arg(long, global = true, default_value = secllama_keystore::DEFAULT_SERVICE)]
    pub(crate) service: String,
    /// Keychain backend: secret-service, keyutils, keychain or credential-manager
    /// [default: $SECLLAMA_KEYSTORE, else the operating system's keychain].
    #[arg(long, global = true)]
    pub(crate) backend: Option<Backend>,
}

impl StoreArgs {
    /// Opens the service's keystore; `create` allows `load` to create the keyset on first use.
    /// One command seals at most one message, so it reserves one seal at a time.
    pub(crate) fn open(&self, create: bool) -> Result<Keystore, Box<dyn std::error::Error>> {
        let mut config = KeystoreConfig::new(&self.service)?
            .create_if_missing(create)
            .seal_block(1);
        if let Some(b) = self.backend {
            config = config.backend(b);
        }
        Ok(Keystore::open(config)?)
    }
}

/// Seals `plaintext` with the primary key of `service` (created on first use), for
/// `secllama encrypt --service`.
pub(crate) fn seal_with_service(
    store: &StoreArgs,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let keyset = store.open(true)?.load()?;
    Ok(keyset
        .seal(plaintext, aad)
        .map_err(|e| Failure::new(of_crypto(&e), format!("cannot encrypt: {e}")))?)
}

/// Opens an envelope with whichever key of `service` it names, for
/// `secllama decrypt --service`.
pub(crate) fn open_with_service(
    store: &StoreArgs,
    envelope: &[u8],
    aad: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, Box<dyn std::error::Error>> {
    let keyset = store.open(false)?.load()?;
    Ok(keyset.open(envelope, aad).map_err(|e| {
        let message = format!(
            "cannot decrypt with the keys of service {}: {e}",
            store.service
        );
        Failure::new(of_crypto(&e), message)
    })?)
}

/// Manage the keys that seal your data, kept in the OS keychain.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  secllama key status --service myapp")]
pub(crate) struct KeyCommand {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    action: KeyAction,
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Create the service's keyset (one key, primary).
    #[command(after_help = "Example:\n  secllama key init --service myapp")]
    Init {
        /// Succeed without changes if the service already has keys.
        #[arg(long)]
        reuse: bool,
    },
    /// Show ids, statuses, the primary key and creation times (never key bytes).
    #[command(after_help = "Example:\n  secllama key status --service myapp --json")]
    Status {
        /// Print JSON: {"backend","service","primary","keys":[{"id","status","created"}],
        /// "needs_repair":[..]}.
        #[arg(long)]
        json: bool,
    },
    /// Add a new key and make it primary; older keys still open what they sealed.
    #[command(after_help = "Example:\n  secllama key rotate --service myapp")]
    Rotate,
    /// Re-enable a disabled key.
    #[command(after_help = "Example:\n  secllama key enable 1234567890 --service myapp")]
    Enable {
        /// The key's id (see `status`).
        id: KeyId,
    },
    /// Disable a key: it stays stored but opens nothing until enabled again.
    #[command(after_help = "Example:\n  secllama key disable 1234567890 --service myapp")]
    Disable {
        /// The key's id (see `status`).
        id: KeyId,
    },
    /// Destroy a key: data sealed under it can never be opened again. A key that was primary
    /// less than the grace period (24 h) ago is refused unless forced: a running program may
    /// still be sealing under it.
    #[command(after_help = "Example:\n  secllama key destroy 1234567890 --service myapp")]
    Destroy {
        /// Destroy even a key that was primary within the grace period.
        #[arg(long)]
        force: bool,
        /// The key's id (see `status`).
        id: KeyId,
    },
    /// Rebuild the index from the key entries, adopt keys it misses, finish interrupted
    /// destroys, merge duplicates, migrate old entries; print what was done and what needs you.
    #[command(after_help = "Example:\n  secllama key repair --service myapp")]
    Repair,
    /// Forget a destroyed key's tombstone, making room for new keys (the index lists 40 at
    /// most); its envelopes then report "unknown key" instead of "destroyed".
    #[command(after_help = "Example:\n  secllama key purge 1234567890 --service myapp")]
    Purge {
        /// The destroyed key's id (see `status`).
        id: KeyId,
    },
    /// Delete every key of the service from the keychain.
    #[command(after_help = "Example:\n  secllama key delete --service myapp")]
    Delete {
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
}

impl KeyCommand {
    pub(crate) fn exec(self) -> CliResult {
        let ks = self.store.open(false)?;
        let mut out = std::io::stdout().lock();
        match self.action {
            KeyAction::Init { reuse } => {
                let outcome = if reuse {
                    ks.init_or_reuse()?
                } else {
                    ks.init()?;
                    InitOutcome::Created
                };
                let status = ks.status()?;
                let verb = match outcome {
                    InitOutcome::Reused => "already initialized",
                    _ => "initialized",
                };
                writeln!(
                    out,
                    "service {} {verb} in the {} keychain: primary key {}",
                    status.service, status.backend, status.primary
                )?;
                warn_if_volatile(ks.backend());
            }
            KeyAction::Status { json } => {
                let status = ks.status()?;
                warn_if_damaged(&status);
                if json {
                    serde_json::to_writer(&mut out, &StatusJson::from(&status))?;
                    writeln!(out)?;
                } else {
                    print_status(&mut out, &status)?;
                }
            }
            KeyAction::Rotate => {
                let id = ks.rotate()?;
                writeln!(out, "rotated: key {id} is the new primary")?;
            }
            KeyAction::Enable { id } => {
                ks.enable(id)?;
                writeln!(out, "key {id} enabled")?;
            }
            KeyAction::Disable { id } => {
                ks.disable(id)?;
                writeln!(out, "key {id} disabled")?;
            }
            KeyAction::Repair => {
                let report = ks.repair()?;
                if report.done.is_empty() && report.unresolved.is_empty() {
                    writeln!(out, "service {} needs no repair", ks.service())?;
                }
                for line in &report.done {
                    writeln!(out, "repaired: {line}")?;
                }
                for line in &report.unresolved {
                    eprintln!("not repaired: {line}");
                }
                if !report.unresolved.is_empty() {
                    // Something needs a person: the keychain status, after the report.
                    return Ok(super::exit::Status::Keychain.into());
                }
            }
            KeyAction::Destroy { force, id } => {
                if force {
                    ks.destroy_forced(id)?;
                } else {
                    ks.destroy(id)?;
                }
                writeln!(
                    out,
                    "key {id} destroyed: data sealed under it can no longer be opened"
                )?;
            }
            KeyAction::Purge { id } => {
                ks.purge(id)?;
                writeln!(out, "key {id} purged from the index")?;
            }
            KeyAction::Delete { yes } => {
                let keys = match ks.status() {
                    Ok(s) => s.keys.len().to_string(),
                    Err(secllama_keystore::KeystoreError::NotInitialized { .. }) => {
                        // Nothing to confirm; let delete() say so.
                        "no".to_owned()
                    }
                    Err(_) => "all".to_owned(),
                };
                eprintln!(
                    "warning: deleting {keys} keys of service {} from the {} keychain; data \
                     sealed under them becomes unreadable forever",
                    ks.service(),
                    ks.backend()
                );
                if !yes && !confirm(ks.service())? {
                    return Err("not deleted".into());
                }
                let n = ks.delete()?;
                writeln!(
                    out,
                    "deleted {n} keychain entries of service {}",
                    ks.service()
                )?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Asks on the terminal; refuses outright when stdin is not one.
fn confirm(service: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::new(
            Status::NoTerminal,
            "refusing to delete keys without --yes when not on a terminal",
        )
        .into());
    }
    eprint!("type the service name ({service}) to delete its keys: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().take(256).read_line(&mut line)?;
    Ok(line.trim() == service)
}

/// Says on stderr what `repair` would fix, so scripts reading stdout are not disturbed.
fn warn_if_damaged(status: &KeystoreStatus) {
    if status.needs_repair.is_empty() {
        return;
    }
    eprintln!(
        "warning: service {} needs repair (run `secllama key repair --service {}`):",
        status.service, status.service
    );
    for line in &status.needs_repair {
        eprintln!("  - {line}");
    }
}

fn warn_if_volatile(backend: Backend) {
    if !backend.survives_reboot() {
        eprintln!(
            "warning: the {backend} keychain lives in kernel memory: these keys, and everything \
             sealed under them, are lost when the machine reboots"
        );
    }
}

#[derive(Serialize)]
struct StatusJson<'a> {
    backend: &'static str,
    service: &'a str,
    primary: KeyId,
    keys: Vec<KeyJson>,
    needs_repair: &'a [String],
}

#[derive(Serialize)]
struct KeyJson {
    id: KeyId,
    status: String,
    created: u64,
}

impl<'a> From<&'a KeystoreStatus> for StatusJson<'a> {
    fn from(s: &'a KeystoreStatus) -> Self {
        StatusJson {
            backend: s.backend.name(),
            service: &s.service,
            primary: s.primary,
            keys: s
                .keys
                .iter()
                .map(|k: &KeyInfo| KeyJson {
                    id: k.id,
                    status: k.status.to_string(),
                    created: k.created,
                })
                .collect(),
            needs_repair: &s.needs_repair,
        }
    }
}

fn print_status(out: &mut impl std::io::Write, s: &KeystoreStatus) -> std::io::Result<()> {
    writeln!(out, "service  {}", s.service)?;
    writeln!(
        out,
        "backend  {}{}",
        s.backend,
        if s.backend.survives_reboot() {
            ""
        } else {
            " (lost on reboot)"
        }
    )?;
    writeln!(out, "primary  {}", s.primary)?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>10}  {:<9}  {:<20}  ",
        "ID", "STATUS", "CREATED (UTC)"
    )?;
    for k in &s.keys {
        writeln!(
            out,
            "{:>10}  {:<9}  {:<20}  {}",
            k.id,
            k.status.to_string(),
            utc(k.created),
            if k.primary { "primary" } else { "" }
        )?;
    }
    Ok(())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), by the days-to-civil algorithm.
fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn unix_seconds_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_763_770_000), "2025-11-22 00:06:40");
    }
}
