//! The client side of `promptops serve`: which servers a project knows (`remotes:` in
//! promptops.yaml, [`settings`]), the tokens to reach them ([`credentials`]: `PROMPTOPS_TOKEN`,
//! then the OS keyring, never a file), and an HTTP client ([`client`]) that implements the
//! service traits ([`crate::service`]) against the server's `/api/v1`, so that a command given
//! `--remote NAME` prints what it would print locally. Push and pull send and fetch whole
//! histories; the rules of what may be written live in [`crate::registry::sync`]. The server
//! itself is [`crate::server`]'s; this module only speaks to it.

pub mod admin;
pub mod client;
pub mod credentials;
mod error;
pub mod gateway;
pub mod queue;
pub mod registry;
pub mod runs;
pub mod settings;

pub use admin::RemoteAdmin;
pub use client::Client;
pub use error::RemoteError;
pub use gateway::RemoteGateway;
pub use queue::{RemoteQueue, RunObserver};
pub use registry::RemoteRegistry;
pub use runs::{RemoteExperiments, RemoteRuns};
