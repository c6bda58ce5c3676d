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
/// Which keyring holds API keys: `os` (the default) or `none` (CI, containers, tests).
pub const KEYRING: &str = "PROMPTOPS_KEYRING";
/// The PostgreSQL URL used by the test suite; the PostgreSQL half of the tests is skipped without it.
pub const TEST_POSTGRES_URL: &str = "PROMPTOPS_TEST_POSTGRES_URL";

/// All variables above, for documentation checks.
pub const ALL: &[&str] =
    &[PROJECT, AUTHOR, FORMAT, NO_COLOR, TOKEN, DATABASE_URL, ADDR, LOG, KEYRING, TEST_POSTGRES_URL];
