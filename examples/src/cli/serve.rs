//! `secllama serve`: the Ollama- and OpenAI-compatible API server; `secllama serve token`;
//! `secllama model add|list|rm`: the server's model registry.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use secllama_server::{
    ApiToken, App, Auth, OwnerOnlyUnixListener, RateLimit, Registry, ServerConfig, TlsFiles,
    models_dir_from_env,
};

use super::CliResult;

/// `secllama serve [OPTIONS]` or `secllama serve token [--rotate]`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Example:\n  secllama serve --listen 127.0.0.1:11434 --unix /run/user/1000/secllama.sock"
)]
pub(crate) struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    #[command(flatten)]
    options: ServeOptions,
}

#[derive(Debug, Subcommand)]
enum ServeCommand {
    /// Print the API token clients send as `Authorization: Bearer <token>`
    #[command(after_help = "Example:\n  secllama serve token --rotate")]
    Token {
        /// Replace the keychain's token with a new random one (restart the server to use it)
        #[arg(long)]
        rotate: bool,
    },
}

#[derive(Debug, Args)]
struct ServeOptions {
    /// TCP address [env: SECLLAMA_HOST] [default: 127.0.0.1:11434]; off loopback needs TLS
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// TLS certificate chain (PEM) for the TCP listener; needed to listen off loopback
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Also listen on this Unix socket (mode 0600, own user only, no token needed)
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// Accept requests without a token (loopback only; any local user can then use it)
    #[arg(long)]
    insecure_no_auth: bool,
    /// Append the audit log (JSON lines) to FILE instead of stderr
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Browser origins allowed by CORS, comma-separated [env: SECLLAMA_ORIGINS] [default: none]
    #[arg(long, value_name = "LIST")]
    origins: Option<String>,
    /// Most models loaded at once [env: SECLLAMA_MAX_LOADED_MODELS] [default: 2]
    #[arg(long, value_name = "N")]
    max_loaded_models: Option<usize>,
    /// How long a model stays loaded after a request, in seconds [default: 300]
    #[arg(long, value_name = "SECS")]
    keep_alive: Option<u64>,
    /// Requests that may wait per model before new ones get 503 [default: 16]
    #[arg(long, value_name = "N")]
    queue_limit: Option<usize>,
    /// Sustained requests per second per token [default: 10]
    #[arg(long, value_name = "N")]
    rate_limit: Option<f64>,
    /// Requests allowed in a burst [default: 20]
    #[arg(long, value_name = "N")]
    burst: Option<u32>,
    /// Largest request body in bytes [default: 8 MiB]
    #[arg(long, value_name = "BYTES")]
    body_limit: Option<usize>,
    /// Context window of runners in tokens [default: 4096]
    #[arg(long, value_name = "N")]
    context_length: Option<u32>,
    /// Threads per runner [default: available cores, at most 8]
    #[arg(long, value_name = "N")]
    threads: Option<u32>,
    /// Layers each runner offloads to the GPU (the runner must have a GPU backend and find a
    /// device)
    #[arg(long, value_name = "N", default_value_t = 0)]
    gpu_layers: u32,
    /// With --gpu-layers: load on the CPU instead of failing when no GPU can be used
    #[arg(long)]
    cpu_fallback: bool,
    /// Requests one model serves at once, batched (more wait in the queue)
    /// [env: SECLLAMA_NUM_PARALLEL] [default: 4]
    #[arg(long, value_name = "N")]
    parallel: Option<u32>,
}

/// Parses `host`, `host:port`, `[v6]:port` or `http://host:port` (Ollama's `OLLAMA_HOST`
/// forms); the port defaults to 11434.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let s = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let host = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 11434));
    }
    if s == "localhost" || s.starts_with("localhost:") {
        let port = s.strip_prefix("localhost:").map_or(Ok(11434), str::parse);
        return port
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| format!("{s:?} has an invalid port"));
    }
    Err(format!(
        "{s:?} is not an IP address with an optional port (like 127.0.0.1:11434)"
    ))
}

fn env_var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(Some(v)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    env_var(name)?
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| format!("{name}={v:?} is not a valid number"))
        })
        .transpose()
}

impl ServeOptions {
    fn config(&self) -> Result<ServerConfig, Box<dyn std::error::Error>> {
        let auth = if self.insecure_no_auth {
            Auth::None
        } else {
            Auth::Token(secllama_server::resolve_token()?)
        };
        let models_dir = models_dir_from_env()?;
        let mut c = ServerConfig::new(auth, models_dir);
        if let Some(listen) = self.listen.clone().or(env_var("SECLLAMA_HOST")?) {
            c.listen = parse_listen(&listen)?;
        }
        if let Some(list) = self.origins.clone().or(env_var("SECLLAMA_ORIGINS")?) {
            c.allowed_origins = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(n) = self
            .max_loaded_models
            .or(env_parse("SECLLAMA_MAX_LOADED_MODELS")?)
        {
            c.max_loaded_models = n;
        }
        if let Some(s) = self.keep_alive {
            c.keep_alive = Duration::from_secs(s);
        }
        if let Some(n) = self.queue_limit {
            c.queue_limit = n;
        }
        c.rate_limit = RateLimit {
            per_second: self.rate_limit.unwrap_or(c.rate_limit.per_second),
            burst: self.burst.unwrap_or(c.rate_limit.burst),
        };
        if let Some(n) = self.body_limit {
            c.body_limit = n;
        }
        if let Some(n) = self.context_length {
            c.context_length = n;
        }
        c.threads = self.threads;
        c.gpu_layers = self.gpu_layers;
        c.cpu_fallback = self.cpu_fallback;
        if let Some(n) = self.parallel.or(env_parse("SECLLAMA_NUM_PARALLEL")?) {
            c.parallel = n;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls = Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        c.audit_log.clone_from(&self.audit_log);
        c.check_exposure()?;
        Ok(c)
    }

    fn run(&self) -> CliResult {
        let config = self.config()?;
        if let Auth::None = config.auth {
            eprintln!(
                "secllama: WARNING: --insecure-no-auth: ANY local user or program can use this \
                 server and its models without a token"
            );
        }
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("SECLLAMA_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .try_init();
        let listen = config.listen;
        let token_id = match &config.auth {
            Auth::Token(t) => Some(t.id()),
            Auth::None => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            // Certificate and key are loaded before anything listens.
            let app = App::new(config)?;
            let tcp = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let unix = self
                .unix
                .as_deref()
                .map(OwnerOnlyUnixListener::bind)
                .transpose()?;
            // Before the announcement: a SIGTERM right after it must stop, not kill, us.
            let stop = secllama_server::shutdown_signal();
            eprintln!(
                "secllama: serving the Ollama and OpenAI APIs on {}://{}{}",
                if app.uses_tls() { "https" } else { "http" },
                tcp.local_addr()?,
                self.unix
                    .as_ref()
                    .map(|p| format!(" and unix:{}", p.display()))
                    .unwrap_or_default()
            );
            if let Some(id) = token_id {
                eprintln!(
                    "secllama: clients need the bearer token (id {id}); print it with \
                     `secllama serve token`"
                );
            }
            secllama_server::serve(app, Some(tcp), unix, async {
                if let Err(e) = stop.await {
                    eprintln!("secllama: {e}; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            })
            .await?;
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

impl ServeArgs {
    pub(crate) fn exec(self) -> CliResult {
        match self.command {
            None => self.options.run(),
            Some(ServeCommand::Token { rotate }) => {
                let token: ApiToken = if rotate {
                    if std::env::var_os(secllama_server::TOKEN_ENV).is_some() {
                        return Err(format!(
                            "{} is set: the server uses it, not the keychain's token; change \
                             the variable instead",
                            secllama_server::TOKEN_ENV
                        )
                        .into());
                    }
                    secllama_server::rotate_keychain_token()?
                } else {
                    secllama_server::resolve_token()?
                };
                println!("{}", token.expose_secret());
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// `secllama model add|list|rm`: the models `secllama serve` offers.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  secllama model add ./qwen2.5-coder-1.5b.gguf --name qwen2.5-coder:1.5b"
)]
pub(crate) struct ModelCommand {
    #[command(subcommand)]
    command: ModelSub,
}

#[derive(Debug, Subcommand)]
enum ModelSub {
    /// Record a GGUF file under a name, pinned by its SHA-256 (checked at every load)
    #[command(
        after_help = "Example:\n  secllama model add ./qwen2.5-coder-1.5b.gguf --name qwen2.5-coder:1.5b"
    )]
    Add {
        /// The GGUF file
        path: PathBuf,
        /// The name clients use [default: the file name without .gguf]
        #[arg(long)]
        name: Option<String>,
    },
    /// List the models (name, size, SHA-256, path)
    #[command(after_help = "Example:\n  secllama model list")]
    List,
    /// Remove a model from the registry (the file stays)
    #[command(after_help = "Example:\n  secllama model rm qwen2.5-coder:1.5b")]
    Rm {
        /// Its name
        name: String,
    },
}

impl ModelCommand {
    pub(crate) fn exec(self) -> CliResult {
        let registry = Registry::new(models_dir_from_env()?);
        match self.command {
            ModelSub::Add { path, name } => {
                let e = registry.add(&path, name.as_deref())?;
                println!("{}\t{}\t{}", e.name, e.sha256, e.path.display());
            }
            ModelSub::List => {
                for e in registry.list()? {
                    println!("{}\t{}\t{}\t{}", e.name, e.size, e.sha256, e.path.display());
                }
            }
            ModelSub::Rm { name } => {
                if !registry.remove(&name)? {
                    return Err(format!("no model named {name:?}").into());
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Where a running server is, for `secllama ps` and `secllama list`.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The server [env: SECLLAMA_HOST] [default: 127.0.0.1:11434]
    #[arg(long, value_name = "ADDR")]
    host: Option<String>,
    /// The server speaks TLS: trust the certificates in this PEM file (for a self-signed
    /// server, its own --tls-cert) [env: SECLLAMA_TLS_CA]
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,
}

impl ClientArgs {
    /// GETs `path` from the running server with the token and returns its JSON.
    fn get(&self, path: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let addr = match self.host.clone().or(env_var("SECLLAMA_HOST")?) {
            Some(h) => parse_listen(&h)?,
            None => secllama_server::DEFAULT_LISTEN,
        };
        let token = secllama_server::resolve_token()?;
        let ca = match self.tls_ca.clone() {
            Some(ca) => Some(ca),
            None => env_var("SECLLAMA_TLS_CA")?.map(PathBuf::from),
        };
        let unreachable = |e: secllama_server::client::HttpError| {
            format!("is `secllama serve` running on {addr}? {e}")
        };
        let (status, body) = match ca {
            Some(ca) => {
                secllama_server::client::get_tls(addr, path, &ca, Some(token.expose_secret()))
                    .map_err(unreachable)?
            }
            None => {
                let client = secllama_server::client::LocalhostClient::builder()
                    .bearer_token(token.expose_secret())
                    .build()?;
                let r = client
                    .get(&format!("http://{addr}{path}"))
                    .map_err(unreachable)?;
                (r.status(), r.body().to_vec())
            }
        };
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the server at {addr} answered {status}: {e}"))?;
        if status != 200 {
            return Err(format!(
                "the server at {addr} answered {status}: {}",
                v["error"].as_str().unwrap_or("no message")
            )
            .into());
        }
        Ok(v)
    }

    /// `secllama ps`: the models the running server has loaded.
    pub(crate) fn ps(self) -> CliResult {
        let v = self.get("/api/ps")?;
        println!("NAME\tPID\tSANDBOX\tRSS MiB\tRUNNING\tQUEUED\tUNTIL");
        for m in v["models"].as_array().into_iter().flatten() {
            let s = &m["secllama"];
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                m["name"].as_str().unwrap_or_default(),
                s["pid"],
                s["sandbox"].as_str().unwrap_or_default(),
                s["rss_bytes"].as_u64().map_or(0, |b| b / (1024 * 1024)),
                s["running"],
                s["queued"],
                m["expires_at"].as_str().unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `secllama list`: the models the running server offers.
    pub(crate) fn list(self) -> CliResult {
        let v = self.get("/api/tags")?;
        println!("NAME\tSIZE\tQUANT\tDIGEST");
        for m in v["models"].as_array().into_iter().flatten() {
            println!(
                "{}\t{}\t{}\t{}",
                m["name"].as_str().unwrap_or_default(),
                m["size"],
                m["details"]["quantization_level"]
                    .as_str()
                    .unwrap_or_default(),
                m["digest"]
                    .as_str()
                    .unwrap_or_default()
                    .get(..12)
                    .unwrap_or_default()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_listen;

    #[test]
    fn listen_addresses_in_ollama_host_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            parse_listen("127.0.0.1").unwrap().to_string(),
            "127.0.0.1:11434"
        );
        assert_eq!(
            parse_listen("http://[::1]:9/").unwrap().to_string(),
            "[::1]:9"
        );
        assert_eq!(parse_listen("::1").unwrap().to_string(), "[::1]:11434");
        assert_eq!(
            parse_listen("localhost").unwrap().to_string(),
            "127.0.0.1:11434"
        );
        assert!(
            parse_listen("example")
                .unwrap_err()
                .contains("not an IP address")
        );
    }
}
