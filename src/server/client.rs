//! Who is on the other end of a request: the client's address, taken from the socket or, when
//! the socket's peer is a proxy the operator trusts (an ingress controller, a load balancer),
//! from the `X-Forwarded-For` entries that proxy and the ones behind it appended. Without
//! trusted proxies the header is ignored, so a client cannot choose the address it is
//! throttled and audited under.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header proxies append the address they received a request from to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// A request's client: the socket's peer and, behind trusted proxies, the address they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The address of the TCP peer (the client, or the nearest proxy).
    pub peer: Option<SocketAddr>,
    /// The client's address: the peer's, or the first untrusted hop of `X-Forwarded-For`.
    pub ip: Option<IpAddr>,
}

impl ClientAddr {
    /// The client of a request with these extensions and headers.
    pub fn of(extensions: &axum::http::Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        let ip = peer.map(|peer| forwarded_client(peer.ip(), headers, trusted));
        Self { peer, ip }
    }

    /// How the audit log shows it: the peer, and the forwarded client when it differs.
    pub fn describe(&self) -> String {
        match (self.peer, self.ip) {
            (Some(peer), Some(ip)) if peer.ip() != ip => format!("{ip} via {peer}"),
            (Some(peer), _) => peer.to_string(),
            (None, _) => "unknown".to_owned(),
        }
    }
}

/// Walks `X-Forwarded-For` from the nearest hop outwards while the hops are trusted proxies; the
/// first hop that is not one is the client. A malformed entry stops the walk at the last
/// trusted hop, so garbage cannot pose as a client address.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or
/// `203.0.113.7:443`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// Parses a comma-separated list of addresses and networks (`10.0.0.0/8, 192.168.1.7`).
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is neither an IP address nor a network (10.0.0.0/8)"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: &str, forwarded: &[&str], trusted: &str) -> IpAddr {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(FORWARDED_FOR, value.parse().expect("header value"));
        }
        let trusted = parse_networks(trusted).expect("networks");
        forwarded_client(peer.parse().expect("ip"), &headers, &trusted)
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(client("198.51.100.9", &["203.0.113.7"], ""), "198.51.100.9".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = "10.0.0.0/8";
        let spoofed = ["1.1.1.1, 203.0.113.7, 10.0.0.3"];
        assert_eq!(client("10.0.0.5", &spoofed, trusted), "203.0.113.7".parse::<IpAddr>().expect("ip"));
        assert_eq!(
            client("10.0.0.5", &["1.1.1.1", "203.0.113.7:443"], trusted),
            "203.0.113.7".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(client("10.0.0.5", &[], trusted), "10.0.0.5".parse::<IpAddr>().expect("ip"), "no header: the proxy");
        assert_eq!(client("10.0.0.5", &["junk, 10.0.0.4"], trusted), "10.0.0.4".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn networks_and_single_addresses_parse_and_garbage_is_named() {
        assert_eq!(parse_networks("10.0.0.0/8, 192.168.1.7,").expect("valid").len(), 2);
        assert!(parse_networks("10.0.0.0/8,nope").unwrap_err().contains("`nope`"));
    }
}
