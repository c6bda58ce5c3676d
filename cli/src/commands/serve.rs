//! `promptops serve` and `promptops migrate`: resolve the server's settings once (flags, then
//! `PROMPTOPS_*` variables, then defaults), set up JSON or text logs, open the store by URL,
//! bootstrap the first admin, and serve until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use promptops::env;
use promptops::prompt::{RenderSandbox, SandboxLimits, WorkerCommand};
use promptops::runs::WorkerSettings;
use promptops::secret::SecretString;
use promptops::server::auth::{JwtKeys, JwtSettings};
use promptops::server::client::parse_networks;
use promptops::server::limits::RateLimit;
use promptops::server::listen::ConnectionLimits;
use promptops::server::state::DEFAULT_PROTECTED_LABELS;
use promptops::server::{self, AppState, Listeners, ServerConfig};
use promptops::store;
use promptops::vault::MasterKey;

use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;

/// Flags of `promptops serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = env::ADDR, default_value = "0.0.0.0:8080")]
    pub addr: SocketAddr,
    /// The database: `sqlite://PATH` (one replica) or `postgres://…` (many).
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database: String,
    /// Create the first admin (tenant `system`, user `admin`) and print a new token for it, once.
    #[arg(long)]
    pub init_admin: bool,
    /// HS256 secret for access tokens, at least 32 bytes (default: a random one, so tokens die with
    /// the process). Prefer the environment variable or --jwt-secret-file: other users of the
    /// machine can read a command line.
    #[arg(long, env = env::JWT_SECRET, hide_env_values = true, conflicts_with = "jwt_secret_file")]
    pub jwt_secret: Option<String>,
    /// A file holding the HS256 secret (a mounted Kubernetes Secret, say); one trailing newline is ignored.
    #[arg(long, env = env::JWT_SECRET_FILE)]
    pub jwt_secret_file: Option<PathBuf>,
    /// PEM RSA private key file: sign access tokens with RS256 (needs --jwt-public-key).
    #[arg(long, env = env::JWT_PRIVATE_KEY, requires = "jwt_public_key")]
    pub jwt_private_key: Option<PathBuf>,
    /// PEM RSA public key file matching --jwt-private-key.
    #[arg(long, env = env::JWT_PUBLIC_KEY, requires = "jwt_private_key")]
    pub jwt_public_key: Option<PathBuf>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 900)]
    pub jwt_lifetime: u64,
    /// Log filter: error, warn, info, debug, trace (or a tracing directive).
    #[arg(long, env = env::LOG, default_value = "info")]
    pub log: String,
    /// Log format.
    #[arg(long, env = env::LOG_FORMAT, default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
    /// Origins allowed by CORS, comma-separated (default: none, CORS closed).
    #[arg(long, env = env::CORS_ORIGINS, default_value = "", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Requests per second per token (bursts of twice as many); 0 turns the limit off.
    #[arg(long, env = env::RATE_LIMIT, default_value_t = 100.0)]
    pub rate_limit: f64,
    /// Labels only admins and owners may move (repeatable).
    #[arg(long = "protected-label", default_values_t = DEFAULT_PROTECTED_LABELS.iter().map(|s| (*s).to_owned()))]
    pub protected_labels: Vec<String>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,
    /// Longest a request may take, in seconds.
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    /// Longest a client may take to send a request's headers, in seconds; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = env::HEADER_TIMEOUT, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = env::MAX_CONNECTIONS, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Failed authentications (bad tokens, JWTs, Langfuse secrets, metrics tokens) allowed per
    /// client address and minute, in bursts of as many; then 429. 0 turns the throttle off.
    #[arg(long, env = env::AUTH_FAILURE_LIMIT, default_value_t = 30)]
    pub auth_failure_limit: u32,
    /// Proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names the client.
    #[arg(long, env = env::TRUSTED_PROXIES, default_value = "")]
    pub trusted_proxies: String,
    /// Serve `/metrics` on this separate address too (a port only Prometheus should reach).
    #[arg(long, env = env::METRICS_ADDR)]
    pub metrics_addr: Option<SocketAddr>,
    /// The bearer token `/metrics` needs; with it, `/metrics` is served on the API port as well.
    #[arg(long, env = env::METRICS_TOKEN, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// File holding the master key that seals provider keys (else PROMPTOPS_MASTER_KEY).
    #[arg(long, env = env::MASTER_KEY_FILE)]
    pub master_key_file: Option<PathBuf>,
    /// An internal host (`host` or `host:port`) provider connections may use anyway (repeatable).
    #[arg(long = "allow-provider-host", env = env::ALLOW_PROVIDER_HOSTS, value_delimiter = ',')]
    pub allow_provider_hosts: Vec<String>,
    /// Let gateway requests name a model as `kind:model` (`openai:gpt-4o`), on the key and
    /// endpoint of the project's connection of that kind.
    #[arg(long = "allow-kind-models", env = env::ALLOW_KIND_MODELS)]
    pub allow_kind_models: bool,
    /// Processes that render managed prompts (renders at once; more wait their turn).
    #[arg(long, env = env::RENDER_WORKERS, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub render_workers: u64,
    /// Longest one render of a managed prompt may take, in milliseconds; its worker is then killed.
    #[arg(long, env = env::RENDER_TIMEOUT_MS, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..))]
    pub render_timeout_ms: u64,
    /// The most memory a render worker may hold, in MiB; a render that needs more is stopped.
    #[arg(long, env = env::RENDER_MEMORY_MIB, default_value_t = 512, value_parser = clap::value_parser!(u64).range(64..))]
    pub render_memory_mib: u64,
    /// Units of server-side runs this replica works on at once (default: 16 per CPU); 0 runs none.
    #[arg(long, env = env::WORKERS, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub workers: Option<u64>,
    /// Most units of one tenant running at once, across every replica (fairness between tenants).
    #[arg(long, env = env::TENANT_UNIT_CAP, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub tenant_unit_cap: u64,
    /// Seconds a worker's lease on a unit lasts; it is renewed every third of that, and a unit
    /// whose replica died is run again by another once its lease has expired.
    #[arg(long, env = env::UNIT_LEASE_SECS, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub unit_lease_secs: u64,
    /// Seconds a shutdown (SIGTERM) waits for requests and run units in flight; units still running
    /// then go back to the queue for other replicas (default: --request-timeout).
    #[arg(long, env = env::DRAIN_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_timeout: Option<u64>,
}

/// Arguments of the hidden `promptops render-worker`.
#[derive(Debug, Args)]
pub struct RenderWorkerArgs {
    /// The data-size limit, in bytes (the sandbox appends it).
    pub memory: u64,
}

/// Flags of `promptops rotate-master-key`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The database: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database: String,
    /// File holding the current master key (else PROMPTOPS_MASTER_KEY).
    #[arg(long, env = env::MASTER_KEY_FILE)]
    pub master_key_file: Option<PathBuf>,
    /// File holding the new master key (else PROMPTOPS_NEW_MASTER_KEY).
    #[arg(long)]
    pub new_key_file: Option<PathBuf>,
}

/// Flags of `promptops migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The database: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database: String,
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ServeArgs {
        addr,
        database,
        init_admin,
        jwt_secret,
        jwt_secret_file,
        jwt_private_key,
        jwt_public_key,
        jwt_lifetime,
        log,
        log_format,
        cors_origins,
        rate_limit,
        protected_labels,
        body_limit,
        request_timeout,
        header_timeout,
        max_connections,
        auth_failure_limit,
        trusted_proxies,
        metrics_addr,
        metrics_token,
        master_key_file,
        allow_provider_hosts,
        allow_kind_models,
        render_workers,
        render_timeout_ms,
        render_memory_mib,
        workers,
        tenant_unit_cap,
        unit_lease_secs,
        drain_timeout,
    } = args;
    init_logs(&log, &log_format)?;
    let secret = jwt_secret_from(jwt_secret, jwt_secret_file)?;
    let keys = jwt_keys(secret, jwt_private_key, jwt_public_key)?;
    let shutdown = shutdown_signal();
    // Listen before opening the store: an address in use then leaves no database file behind.
    let listeners =
        listeners(addr, metrics_addr, metrics_token.as_deref().is_some_and(|t| !t.trim().is_empty())).await?;
    let store = store::open_with(&database, store::OpenOptions { serve: true, ..Default::default() }).await.diag()?;
    let admin_token = std::env::var(env::ADMIN_TOKEN).ok().filter(|t| !t.trim().is_empty()).map(SecretString::new);
    if let Some(token) = server::bootstrap_admin(store.as_ref(), admin_token.as_ref(), init_admin).await.diag()? {
        ctx.printer.out(&token);
        ctx.printer.status("this admin token is shown once: keep it");
    }
    let master_key = master_key(master_key_file.as_deref(), env::MASTER_KEY)?;
    if master_key.is_none() {
        tracing::warn!(
            "no master key ({} or {}): provider keys cannot be stored",
            env::MASTER_KEY,
            env::MASTER_KEY_FILE
        );
    }
    let config = ServerConfig {
        protected_labels,
        jwt: JwtSettings {
            keys,
            issuer: "promptops".to_owned(),
            audience: "promptops-api".to_owned(),
            lifetime: Duration::from_secs(jwt_lifetime),
        },
        rate_limit: (rate_limit > 0.0).then_some(RateLimit { per_second: rate_limit, burst: rate_limit * 2.0 }),
        body_limit,
        request_timeout: Duration::from_secs(request_timeout),
        cors_origins: cors_origins.into_iter().filter(|o| !o.trim().is_empty()).collect(),
        cache_poll: Duration::from_millis(500),
        connections: ConnectionLimits {
            header_timeout: Duration::from_secs(header_timeout),
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        },
        auth_failures: (auth_failure_limit > 0).then(|| RateLimit {
            per_second: f64::from(auth_failure_limit) / 60.0,
            burst: f64::from(auth_failure_limit),
        }),
        trusted_proxies: parse_networks(&trusted_proxies).map_err(|err| {
            usage(
                format!("invalid {}: {err}", env::TRUSTED_PROXIES),
                &["list addresses or networks: 10.0.0.0/8,192.168.1.7"],
            )
        })?,
        metrics_token: metrics_token.filter(|t| !t.trim().is_empty()).map(SecretString::new),
        master_key: master_key.map(Arc::new),
        allowed_provider_hosts: allow_provider_hosts.into_iter().filter(|h| !h.trim().is_empty()).collect(),
        kind_models: allow_kind_models,
        render_sandbox: Some(Arc::new(render_sandbox(SandboxLimits {
            workers: usize::try_from(render_workers).unwrap_or(1),
            timeout: Duration::from_millis(render_timeout_ms),
            memory: render_memory_mib << 20,
        })?)),
        workers: worker_settings(workers, tenant_unit_cap, Duration::from_secs(unit_lease_secs), &database),
    };
    let state = AppState::new(Arc::clone(&store), config);
    let drain = Duration::from_secs(drain_timeout.unwrap_or(request_timeout));
    server::serve(listeners, state, shutdown, drain).await?;
    tracing::info!("stopped");
    Ok(ExitStatus::Success)
}

/// How this replica works on server-side runs: `workers` units at once (16 per CPU by default,
/// since a unit mostly waits for its model), none with 0. On SQLite this is the only replica, so
/// units left running by an earlier process are requeued at start.
fn worker_settings(workers: Option<u64>, tenant_cap: u64, lease: Duration, database: &str) -> Option<WorkerSettings> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let slots = workers.map_or(16 * cpus, |n| usize::try_from(n).unwrap_or(usize::MAX));
    (slots > 0).then(|| WorkerSettings {
        slots,
        tenant_cap: usize::try_from(tenant_cap).unwrap_or(usize::MAX),
        lease,
        renew_every: lease / 3,
        requeue_at_start: matches!(store::StoreUrl::parse(database), Ok(store::StoreUrl::Sqlite(_))),
        ..WorkerSettings::default()
    })
}

/// The sandbox that renders managed prompts in `promptops render-worker` processes (this binary).
fn render_sandbox(limits: SandboxLimits) -> anyhow::Result<RenderSandbox> {
    let program = std::env::current_exe()
        .map_err(|err| usage(format!("cannot find this executable for the render workers: {err}"), &[]))?;
    Ok(RenderSandbox::new(WorkerCommand { program, args: vec!["render-worker".into()] }, limits))
}

/// The API's listening socket and the metrics one, if any.
async fn listeners(addr: SocketAddr, metrics_addr: Option<SocketAddr>, token: bool) -> anyhow::Result<Listeners> {
    let api = listen(addr, "--addr", env::ADDR).await?;
    tracing::info!(addr = %api.local_addr()?, "listening");
    let metrics = match metrics_addr {
        Some(addr) => {
            let listener = listen(addr, "--metrics-addr", env::METRICS_ADDR).await?;
            tracing::info!(addr = %listener.local_addr()?, "serving /metrics");
            Some(listener)
        }
        None => {
            if !token {
                tracing::warn!(
                    "/metrics is not served: set {} (a separate port) or {}",
                    env::METRICS_ADDR,
                    env::METRICS_TOKEN
                );
            }
            None
        }
    };
    Ok(Listeners { api, metrics })
}

/// Re-seals every provider key from the current master key to a new one, in one transaction.
pub async fn rotate(args: RotateArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let RotateArgs { database, master_key_file, new_key_file } = args;
    let hint = ["`openssl rand -hex 32` makes a key; keep the old one until every server runs with the new one"];
    let old = master_key(master_key_file.as_deref(), env::MASTER_KEY)?
        .ok_or_else(|| usage(format!("no current master key: set {} or --master-key-file", env::MASTER_KEY), &hint))?;
    let new = master_key(new_key_file.as_deref(), env::NEW_MASTER_KEY)?
        .ok_or_else(|| usage(format!("no new master key: set {} or --new-key-file", env::NEW_MASTER_KEY), &hint))?;
    let store = store::open(&database).await.diag()?;
    let count = promptops::gateway::rotate_master_key(store.as_ref(), &old, &new).await.diag()?;
    ctx.printer.status(&format!(
        "{count} provider keys re-sealed with master key {}; restart the servers with it",
        new.fingerprint()
    ));
    Ok(ExitStatus::Success)
}

/// A listening socket, or an error naming the address with a way out (`flag`, `var`: where the
/// address came from).
async fn listen(addr: SocketAddr, flag: &str, var: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("another process listens there: stop it, or choose a free address with `{flag} HOST:PORT` (or {var})")
            }
            _ => format!("choose an address of this machine with `{flag} HOST:PORT` (or {var})"),
        };
        usage(format!("cannot listen on {addr}: {err}"), &[hint.as_str()])
    })
}

/// Migrates the database and exits.
pub async fn migrate(args: MigrateArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let MigrateArgs { database } = args;
    let store = store::open(&database).await.diag()?;
    let status = store.schema_status().await.diag()?;
    if !status.is_current() {
        return Err(usage("the database schema is not current after migrating", &[]));
    }
    ctx.printer.status(&format!("database schema is current (version {})", status.applied));
    Ok(ExitStatus::Success)
}

/// The HS256 secret from the flag, the variable or the file. A secret given as a flag is
/// visible to every user of the machine (`ps`), so that is warned about.
fn jwt_secret_from(secret: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Option<SecretString>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path)
            .map_err(|err| usage(format!("failed to read the JWT secret file `{}`: {err}", path.display()), &[]))?;
        let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
        return Ok(Some(SecretString::new(text)));
    }
    let from_flag = secret.is_some() && std::env::var_os(env::JWT_SECRET).is_none();
    if from_flag {
        tracing::warn!(
            "--jwt-secret on the command line is visible to other users of this machine: set {} or --jwt-secret-file instead",
            env::JWT_SECRET
        );
    }
    Ok(secret.filter(|s| !s.trim().is_empty()).map(SecretString::new))
}

/// The master key from `file`, else from the variable `var`; `None` when neither is set.
pub fn master_key(file: Option<&std::path::Path>, var: &str) -> anyhow::Result<Option<MasterKey>> {
    let text = match file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|err| usage(format!("failed to read the master key file `{}`: {err}", path.display()), &[]))?,
        ),
        None => std::env::var(var).ok().filter(|v| !v.trim().is_empty()),
    };
    text.map(|t| MasterKey::parse(&SecretString::new(t))).transpose().diag()
}

fn jwt_keys(
    secret: Option<SecretString>,
    private: Option<PathBuf>,
    public: Option<PathBuf>,
) -> anyhow::Result<JwtKeys> {
    if let (Some(private), Some(public)) = (private, public) {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|err| usage(format!("failed to read `{}`: {err}", path.display()), &[]))
        };
        return JwtKeys::rs256(&read(&private)?, &read(&public)?).map_err(|err| {
            let detail = std::error::Error::source(&err).map_or_else(String::new, |cause| format!(": {cause}"));
            usage(format!("{err}{detail}"), &["pass PEM files (`openssl genrsa`)"])
        });
    }
    match secret {
        Some(secret) => JwtKeys::hs256(secret).map_err(|err| {
            usage(err.to_string(), &["make one with `openssl rand -hex 32`", "or use RS256 (--jwt-private-key)"])
        }),
        None => {
            tracing::warn!("{} is not set: access tokens use a random key and die with this process", env::JWT_SECRET);
            Ok(JwtKeys::random())
        }
    }
}

fn init_logs(filter: &str, format: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|err| {
        usage(format!("invalid log filter `{filter}`: {err}"), &["use error, warn, info, debug or trace"])
    })?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if format == "text" { builder.try_init() } else { builder.json().try_init() };
    result.map_err(|err| usage(format!("failed to set up logging: {err}"), &[]))
}

/// Registers for SIGTERM and SIGINT at once (not on first poll), so that a signal sent as soon as
/// the server says it listens stops it gracefully instead of killing it.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (terminate, interrupt) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                // Without handlers the default action (exit) still stops the server.
                _ => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
