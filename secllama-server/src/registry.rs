//! The model registry: names mapped to GGUF files pinned by SHA-256.
//!
//! One JSON file, `registry.json`, in the models directory (`SECLLAMA_MODELS`, default
//! `${XDG_DATA_HOME:-~/.local/share}/secllama/models`). Entries record the path and the
//! SHA-256 at the time of `secllama model add`; the runner checks the hash at every load, so a
//! file changed afterwards is refused. The default model (when fetched) is always listed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ServerError;

/// The environment variable naming the models directory.
pub const MODELS_ENV: &str = "SECLLAMA_MODELS";
const REGISTRY_FILE: &str = "registry.json";
const MAX_REGISTRY_BYTES: u64 = 1024 * 1024;
const MAX_NAME_LEN: usize = 128;
const MAX_MODELS: usize = 1024;
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// One model the server can load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The name clients use (`name:tag`; `:latest` when no tag was given).
    pub name: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Its pinned SHA-256 (64 lower-case hex digits).
    pub sha256: String,
    /// Its size in bytes when added.
    pub size: u64,
    /// When it was added (Unix seconds).
    pub added: u64,
}

/// The models directory and its registry file.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
}

/// The models directory from `SECLLAMA_MODELS`, else `${XDG_DATA_HOME:-~/.local/share}/secllama/models`.
///
/// # Errors
/// None of `SECLLAMA_MODELS`, `XDG_DATA_HOME`, `HOME` is set.
pub fn models_dir_from_env() -> Result<PathBuf, ServerError> {
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var(MODELS_ENV) {
        return Ok(dir);
    }
    let data = var("XDG_DATA_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local").join("share")))
        .ok_or_else(|| {
            ServerError::Config(format!(
                "set {MODELS_ENV}, XDG_DATA_HOME or HOME to locate the models directory"
            ))
        })?;
    Ok(data.join("secllama").join("models"))
}

/// Normalizes a client's model name: `name` becomes `name:latest`; the characters allowed
/// are letters, digits and `._-:/`, at most 128.
///
/// ```
/// assert_eq!(secllama_server::normalize_name("coder")?, "coder:latest");
/// assert_eq!(secllama_server::normalize_name("coder:1.5b")?, "coder:1.5b");
/// # Ok::<(), secllama_server::ServerError>(())
/// ```
///
/// # Errors
/// An empty, too long, or oddly spelled name.
pub fn normalize_name(name: &str) -> Result<String, ServerError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:/".contains(&b))
        || name.starts_with(['.', '-', ':', '/'])
    {
        return Err(ServerError::Registry(format!(
            "model names are 1 to {MAX_NAME_LEN} letters, digits and ._-:/ (not starting with \
             a symbol)"
        )));
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        Ok(name.to_owned())
    } else {
        Ok(format!("{name}:latest"))
    }
}

/// The name the default model is listed under: its file name without `.gguf`, tag `latest`.
pub fn default_model_name() -> String {
    let stem = secllama_runner::DEFAULT_MODEL_FILE
        .strip_suffix(".gguf")
        .unwrap_or(secllama_runner::DEFAULT_MODEL_FILE);
    format!("{}:latest", stem.to_ascii_lowercase())
}

impl Registry {
    /// The registry in `dir` (created when a model is first added).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Registry { dir: dir.into() }
    }

    /// The models directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self) -> PathBuf {
        self.dir.join(REGISTRY_FILE)
    }

    fn read_added(&self) -> Result<Vec<ModelEntry>, ServerError> {
        let file = match std::fs::File::open(self.file()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ServerError::io(
                    format!("reading {}", self.file().display()),
                    e,
                ));
            }
        };
        let mut bytes = Vec::new();
        file.take(MAX_REGISTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ServerError::io(format!("reading {}", self.file().display()), e))?;
        if bytes.len() as u64 > MAX_REGISTRY_BYTES {
            return Err(ServerError::Registry(format!(
                "{} is over {MAX_REGISTRY_BYTES} bytes",
                self.file().display()
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ServerError::Registry(format!("{} is not valid: {e}", self.file().display()))
        })
    }

    fn write_added(&self, entries: &[ModelEntry]) -> Result<(), ServerError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ServerError::io(format!("creating {}", self.dir.display()), e))?;
        let json =
            serde_json::to_vec_pretty(entries).map_err(|e| ServerError::Registry(e.to_string()))?;
        let tmp = self
            .dir
            .join(format!(".{REGISTRY_FILE}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, self.file()))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                ServerError::io(format!("writing {}", self.file().display()), e)
            })
    }

    /// Every model: the default model (when its file exists) first, then the added ones.
    ///
    /// # Errors
    /// The registry file cannot be read or is malformed.
    pub fn list(&self) -> Result<Vec<ModelEntry>, ServerError> {
        let mut all = Vec::new();
        if let Some(path) = secllama_runner::default_model_path().filter(|p| p.is_file()) {
            all.push(ModelEntry {
                name: default_model_name(),
                added: modified_secs(&path),
                path,
                sha256: secllama_runner::DEFAULT_MODEL_SHA256.to_owned(),
                size: secllama_runner::DEFAULT_MODEL_SIZE,
            });
        }
        let default = default_model_name();
        all.extend(self.read_added()?.into_iter().filter(|e| e.name != default));
        Ok(all)
    }

    /// The model called `name` (normalized first).
    ///
    /// # Errors
    /// As [`list`](Self::list); `Ok(None)` when there is no such model.
    pub fn find(&self, name: &str) -> Result<Option<ModelEntry>, ServerError> {
        let Ok(name) = normalize_name(name) else {
            return Ok(None);
        };
        Ok(self.list()?.into_iter().find(|e| e.name == name))
    }

    /// Records `path` under `name` (default: the file name without `.gguf`), with its SHA-256.
    /// The file must start with the GGUF magic. Replaces an entry of the same name.
    ///
    /// # Errors
    /// The file is missing or not GGUF, the name is invalid or the default model's, or the
    /// registry cannot be written.
    pub fn add(&self, path: &Path, name: Option<&str>) -> Result<ModelEntry, ServerError> {
        let path = std::fs::canonicalize(path)
            .map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_ascii_lowercase();
        let name = normalize_name(name.unwrap_or(&stem))?;
        if name == default_model_name() {
            return Err(ServerError::Registry(format!(
                "{name} is the default model's name; choose another with --name"
            )));
        }
        let (sha256, size) = hash_gguf(&path)?;
        let entry = ModelEntry {
            name,
            path,
            sha256,
            size,
            added: now_secs(),
        };
        let mut entries = self.read_added()?;
        entries.retain(|e| e.name != entry.name);
        if entries.len() >= MAX_MODELS {
            return Err(ServerError::Registry(format!(
                "the registry holds at most {MAX_MODELS} models"
            )));
        }
        entries.push(entry.clone());
        self.write_added(&entries)?;
        Ok(entry)
    }

    /// Removes `name` from the registry (the file stays). `Ok(false)` when it was not there.
    ///
    /// # Errors
    /// The default model cannot be removed, or the registry cannot be written.
    pub fn remove(&self, name: &str) -> Result<bool, ServerError> {
        let name = normalize_name(name)?;
        if name == default_model_name() {
            return Err(ServerError::Registry(
                "the default model cannot be removed from the registry".into(),
            ));
        }
        let mut entries = self.read_added()?;
        let before = entries.len();
        entries.retain(|e| e.name != name);
        if entries.len() == before {
            return Ok(false);
        }
        self.write_added(&entries)?;
        Ok(true)
    }

    /// Records `source`'s file under the name `destination` too. `Ok(false)` when `source`
    /// does not exist.
    ///
    /// # Errors
    /// An invalid destination name, or the registry cannot be written.
    pub fn copy(&self, source: &str, destination: &str) -> Result<bool, ServerError> {
        let Some(mut entry) = self.find(source)? else {
            return Ok(false);
        };
        entry.name = normalize_name(destination)?;
        if entry.name == default_model_name() {
            return Err(ServerError::Registry(format!(
                "{} is the default model's name",
                entry.name
            )));
        }
        entry.added = now_secs();
        let mut entries = self.read_added()?;
        entries.retain(|e| e.name != entry.name);
        entries.push(entry);
        self.write_added(&entries)?;
        Ok(true)
    }
}

fn hash_gguf(path: &Path) -> Result<(String, u64), ServerError> {
    let ctx = |e| ServerError::io(format!("reading {}", path.display()), e);
    let mut file = std::fs::File::open(path).map_err(ctx)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(ctx)?;
        if n == 0 {
            break;
        }
        if size == 0 && (n < 4 || &buf[..4] != GGUF_MAGIC) {
            return Err(ServerError::Registry(format!(
                "{} is not a GGUF model file (no GGUF magic)",
                path.display()
            )));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    if size == 0 {
        return Err(ServerError::Registry(format!(
            "{} is empty",
            path.display()
        )));
    }
    let digest = hasher.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), size))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn modified_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gguf(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        let mut bytes = GGUF_MAGIC.to_vec();
        bytes.extend_from_slice(body);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn add_list_copy_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path().join("models"));
        let file = gguf(dir.path(), "Tiny.gguf", b"weights");
        let e = reg.add(&file, None).unwrap();
        assert_eq!(e.name, "tiny:latest");
        assert_eq!(e.size, 11);
        let expected: String = Sha256::digest(b"GGUFweights")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(e.sha256, expected);
        assert_eq!(reg.find("tiny").unwrap().unwrap(), e);
        assert!(reg.copy("tiny", "other:1").unwrap());
        assert_eq!(reg.find("other:1").unwrap().unwrap().sha256, expected);
        assert!(!reg.copy("missing", "x").unwrap());
        assert!(reg.remove("tiny:latest").unwrap());
        assert!(!reg.remove("tiny:latest").unwrap());
        assert_eq!(reg.find("tiny").unwrap(), None);
        assert!(reg.find("other:1").unwrap().is_some());
    }

    #[test]
    fn non_gguf_files_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        let p = dir.path().join("notes.txt");
        std::fs::write(&p, b"hello").unwrap();
        assert!(
            matches!(reg.add(&p, None), Err(ServerError::Registry(m)) if m.contains("no GGUF magic"))
        );
        let g = gguf(dir.path(), "m.gguf", b"");
        assert!(
            matches!(reg.add(&g, Some("bad name")), Err(ServerError::Registry(m)) if m.contains("letters, digits"))
        );
        assert!(matches!(
            reg.add(&dir.path().join("none.gguf"), None),
            Err(ServerError::Io { .. })
        ));
        assert!(
            matches!(reg.add(&g, Some(&default_model_name())), Err(ServerError::Registry(m)) if m.contains("default model"))
        );
    }

    #[test]
    fn a_corrupt_or_huge_registry_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        std::fs::write(dir.path().join(REGISTRY_FILE), b"{not json").unwrap();
        assert!(
            matches!(reg.read_added(), Err(ServerError::Registry(m)) if m.contains("not valid"))
        );
        std::fs::write(
            dir.path().join(REGISTRY_FILE),
            vec![b' '; usize::try_from(MAX_REGISTRY_BYTES).unwrap() + 1],
        )
        .unwrap();
        assert!(matches!(reg.read_added(), Err(ServerError::Registry(m)) if m.contains("over")));
    }

    #[test]
    fn names_get_the_latest_tag() {
        assert_eq!(normalize_name("a/b").unwrap(), "a/b:latest");
        assert_eq!(normalize_name("host:1/b").unwrap(), "host:1/b:latest");
        assert!(normalize_name("").is_err());
        assert!(normalize_name(":x").is_err());
        assert!(normalize_name(&"a".repeat(129)).is_err());
    }
}
