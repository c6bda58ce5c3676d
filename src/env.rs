//! Every environment variable promptops reads, as documented constants, so that a name is spelt
//! once and the README's table can be checked against this list.

/// The project directory (same as `--project`).
pub const PROJECT: &str = "PROMPTOPS_PROJECT";
/// The author recorded on commits and label moves (else git's user, else the OS user).
pub const AUTHOR: &str = "PROMPTOPS_AUTHOR";
/// The output format of listings and reports (same as `--format`).
pub const FORMAT: &str = "PROMPTOPS_FORMAT";
/// Disables colour when set to anything (the `NO_COLOR` convention).
pub const NO_COLOR: &str = "NO_COLOR";
/// A bearer token for a remote server; overrides the keyring.
pub const TOKEN: &str = "PROMPTOPS_TOKEN";
/// The database URL of `promptops serve` (`sqlite://PATH` or `postgres://…`).
pub const DATABASE_URL: &str = "PROMPTOPS_DATABASE_URL";
/// The listen address of `promptops serve`.
pub const ADDR: &str = "PROMPTOPS_ADDR";
/// The log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive).
pub const LOG: &str = "PROMPTOPS_LOG";
/// `promptops serve`: the HS256 secret that signs access tokens (JWTs), at least 32 bytes.
pub const JWT_SECRET: &str = "PROMPTOPS_JWT_SECRET";
/// `promptops serve`: a file holding the HS256 secret (instead of [`JWT_SECRET`]).
pub const JWT_SECRET_FILE: &str = "PROMPTOPS_JWT_SECRET_FILE";
/// `promptops serve`: a PEM RSA private key file; with [`JWT_PUBLIC_KEY`], JWTs are RS256.
pub const JWT_PRIVATE_KEY: &str = "PROMPTOPS_JWT_PRIVATE_KEY";
/// `promptops serve`: the PEM RSA public key file matching [`JWT_PRIVATE_KEY`].
pub const JWT_PUBLIC_KEY: &str = "PROMPTOPS_JWT_PUBLIC_KEY";
/// `promptops serve`: the log format, `json` (default) or `text`.
pub const LOG_FORMAT: &str = "PROMPTOPS_LOG_FORMAT";
/// `promptops serve`: a token registered for the first admin at start-up.
pub const ADMIN_TOKEN: &str = "PROMPTOPS_ADMIN_TOKEN";
/// `promptops serve`: comma-separated origins allowed by CORS; empty keeps CORS closed.
pub const CORS_ORIGINS: &str = "PROMPTOPS_CORS_ORIGINS";
/// `promptops serve`: requests per second allowed per token (0: unlimited).
pub const RATE_LIMIT: &str = "PROMPTOPS_RATE_LIMIT";
/// `promptops serve`: a separate address serving only `/metrics` (for a port only Prometheus reaches).
pub const METRICS_ADDR: &str = "PROMPTOPS_METRICS_ADDR";
/// `promptops serve`: the bearer token `/metrics` needs; with it, `/metrics` is also served on the API port.
pub const METRICS_TOKEN: &str = "PROMPTOPS_METRICS_TOKEN";
/// `promptops serve`: seconds a client may take to send a request's headers (also the idle
/// keep-alive limit).
pub const HEADER_TIMEOUT: &str = "PROMPTOPS_HEADER_TIMEOUT";
/// `promptops serve`: connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: &str = "PROMPTOPS_MAX_CONNECTIONS";
/// `promptops serve`: failed authentications allowed per client address and minute (0: unlimited).
pub const AUTH_FAILURE_LIMIT: &str = "PROMPTOPS_AUTH_FAILURE_LIMIT";
/// `promptops serve`: comma-separated proxies (addresses or networks) whose `X-Forwarded-For`
/// names the client.
pub const TRUSTED_PROXIES: &str = "PROMPTOPS_TRUSTED_PROXIES";
/// `promptops serve`, `rotate-master-key`: the master key that seals provider keys (64 hex characters or base64 of 32 bytes).
pub const MASTER_KEY: &str = "PROMPTOPS_MASTER_KEY";
/// `promptops serve`, `rotate-master-key`: a file holding the master key (a Kubernetes Secret mounted as a file).
pub const MASTER_KEY_FILE: &str = "PROMPTOPS_MASTER_KEY_FILE";
/// `promptops rotate-master-key`: the new master key (or `--new-key-file`).
pub const NEW_MASTER_KEY: &str = "PROMPTOPS_NEW_MASTER_KEY";
/// `promptops serve`: internal hosts provider connections may use anyway (comma-separated `host` or `host:port`).
pub const ALLOW_PROVIDER_HOSTS: &str = "PROMPTOPS_ALLOW_PROVIDER_HOSTS";
/// `promptops serve`: `true` lets gateway requests name models as `kind:model`.
pub const ALLOW_KIND_MODELS: &str = "PROMPTOPS_ALLOW_KIND_MODELS";
/// `promptops serve`: processes that render managed prompts (renders at once).
pub const RENDER_WORKERS: &str = "PROMPTOPS_RENDER_WORKERS";
/// `promptops serve`: longest one render of a managed prompt may take, in milliseconds.
pub const RENDER_TIMEOUT_MS: &str = "PROMPTOPS_RENDER_TIMEOUT_MS";
/// `promptops serve`: the most memory a render worker may hold, in MiB.
pub const RENDER_MEMORY_MIB: &str = "PROMPTOPS_RENDER_MEMORY_MIB";
/// `promptops serve`: units of server-side runs this replica works on at once (0: none).
pub const WORKERS: &str = "PROMPTOPS_WORKERS";
/// `promptops serve`: most units of one tenant running at once across replicas.
pub const TENANT_UNIT_CAP: &str = "PROMPTOPS_TENANT_UNIT_CAP";
/// `promptops serve`: seconds a worker's lease on a unit lasts without renewal.
pub const UNIT_LEASE_SECS: &str = "PROMPTOPS_UNIT_LEASE_SECS";
/// `promptops serve`: seconds a shutdown waits for requests and run units in flight.
pub const DRAIN_TIMEOUT: &str = "PROMPTOPS_DRAIN_TIMEOUT";
/// Set to `1` (CI does) to make a missing Python virtual environment a failure instead of a skip.
pub const TEST_PYTHON: &str = "PROMPTOPS_TEST_PYTHON";
/// Which keyring holds API keys: `os` (the default) or `none` (CI, containers, tests).
pub const KEYRING: &str = "PROMPTOPS_KEYRING";
/// Server mode: the commands workflow `exec` tools may run (comma-separated program names);
/// none when unset. The local CLI runs any command the workflow names.
pub const ALLOW_EXEC: &str = "PROMPTOPS_ALLOW_EXEC";
/// Set to `1` to let the LangGraph export parity test create its Python virtual environment.
pub const TEST_LANGGRAPH: &str = "PROMPTOPS_TEST_LANGGRAPH";
/// The PostgreSQL URL used by the test suite; the PostgreSQL half of the tests is skipped without it.
pub const TEST_POSTGRES_URL: &str = "PROMPTOPS_TEST_POSTGRES_URL";

/// All variables above, for documentation checks.
pub const ALL: &[&str] = &[
    PROJECT,
    AUTHOR,
    FORMAT,
    NO_COLOR,
    TOKEN,
    DATABASE_URL,
    ADDR,
    LOG,
    JWT_SECRET,
    JWT_SECRET_FILE,
    JWT_PRIVATE_KEY,
    JWT_PUBLIC_KEY,
    LOG_FORMAT,
    ADMIN_TOKEN,
    CORS_ORIGINS,
    RATE_LIMIT,
    METRICS_ADDR,
    METRICS_TOKEN,
    HEADER_TIMEOUT,
    MAX_CONNECTIONS,
    AUTH_FAILURE_LIMIT,
    TRUSTED_PROXIES,
    KEYRING,
    MASTER_KEY,
    MASTER_KEY_FILE,
    NEW_MASTER_KEY,
    ALLOW_PROVIDER_HOSTS,
    ALLOW_KIND_MODELS,
    RENDER_WORKERS,
    RENDER_TIMEOUT_MS,
    RENDER_MEMORY_MIB,
    WORKERS,
    TENANT_UNIT_CAP,
    UNIT_LEASE_SECS,
    DRAIN_TIMEOUT,
    TEST_PYTHON,
    ALLOW_EXEC,
    TEST_LANGGRAPH,
    TEST_POSTGRES_URL,
];
