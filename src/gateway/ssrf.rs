//! The SSRF guard: tenants name base URLs, and the server must not become their way into the
//! network it runs in. A base URL whose host is, or resolves to, a loopback, private, link-local,
//! shared, unique-local, multicast or unspecified address (cloud metadata endpoints included) is
//! refused unless the operator allows the host (`serve --allow-provider-host`). The check runs
//! when a connection is saved, and again at every connection the server opens, through a DNS
//! resolver that drops refused addresses, so a name that later resolves inward (DNS rebinding)
//! still cannot be reached; redirects are never followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Hosts the operator allows even though they are internal (`host` or `host:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    allowed: Vec<String>,
}

/// Why a base URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{url}` is refused: {reason}")]
pub struct Refusal {
    /// The URL.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// What kind of internal address `ip` is, if it is one.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_private() {
                Some("a private address")
            } else if v4.is_link_local() {
                Some("a link-local address (cloud metadata lives here)")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a shared (carrier-grade NAT) address")
            } else if v4.is_unspecified() || a == 0 {
                Some("an unspecified address")
            } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                Some("a multicast or reserved address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("an unspecified address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a unique-local address (cloud metadata lives here too)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else {
                None
            }
        }
    }
}

impl HostPolicy {
    /// Allows `hosts` (`host` or `host:port`, as written in base URLs; case-insensitive).
    pub fn allowing(hosts: impl IntoIterator<Item = String>) -> Self {
        Self { allowed: hosts.into_iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect() }
    }

    /// Whether the operator allowed `host` (on `port`).
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.allowed.iter().any(|a| {
            let a = a.trim_start_matches('[').replace(']', "");
            a == host || port.is_some_and(|p| a == format!("{host}:{p}"))
        })
    }

    /// Checks a base URL: its host is allowed, or every address it resolves to is public.
    pub async fn check(&self, url: &str) -> Result<(), Refusal> {
        let refuse = |reason: String| Refusal { url: url.to_owned(), reason };
        let parsed = reqwest::Url::parse(url).map_err(|err| refuse(format!("not a URL ({err})")))?;
        let host = parsed.host_str().ok_or_else(|| refuse("it has no host".to_owned()))?.to_owned();
        let port = parsed.port_or_known_default();
        if self.allows(&host, port) {
            return Ok(());
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bare, port.unwrap_or(443)))
                .await
                .map_err(|err| refuse(format!("its host does not resolve ({err})")))?
                .map(|a| a.ip())
                .collect(),
        };
        for ip in addresses {
            if let Some(kind) = internal(ip) {
                return Err(refuse(format!(
                    "`{host}` is {kind} ({ip}); an operator may allow it with `--allow-provider-host {host}`"
                )));
            }
        }
        Ok(())
    }
}

/// The server's DNS resolver: the system's answers without internal addresses (unless allowed).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<HostPolicy>,
}

impl GuardedResolver {
    /// A resolver applying `policy`.
    pub fn new(policy: Arc<HostPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.allows(&host, None);
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| allowed || internal(a.ip()).is_none()).collect();
            if kept.is_empty() {
                return Err(format!("`{host}` resolves only to internal addresses, which providers may not use").into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_addresses_are_refused_unless_allowed() {
        let policy = HostPolicy::default();
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://10.1.2.3/v1",
            "http://192.168.0.1/v1",
            "http://172.16.0.9/v1",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/v1",
            "http://0.0.0.0/v1",
            "http://[::1]/v1",
            "http://[fd00:ec2::254]/v1",
            "http://[fe80::1]/v1",
            "http://[::ffff:127.0.0.1]/v1",
            "http://localhost:11434/v1",
        ] {
            assert!(policy.check(url).await.is_err(), "{url} was accepted");
        }
        assert!(policy.check("https://8.8.8.8/v1").await.is_ok());
        let allowed = HostPolicy::allowing(["127.0.0.1".to_owned(), "localhost:11434".to_owned()]);
        assert!(allowed.check("http://127.0.0.1:9999/v1").await.is_ok());
        assert!(allowed.check("http://localhost:11434/v1").await.is_ok());
        assert!(allowed.check("http://localhost:8080/v1").await.is_err());
    }
}
