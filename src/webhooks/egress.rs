//! Safe egress: webhook URLs must not reach the engine's own machine or
//! network (loopback, private, link-local, shared CGNAT space, multicast,
//! reserved ranges, in IPv4 and IPv6, IPv4-mapped included) unless the
//! operator allows it (`[webhooks] allow_private`).
//!
//! A URL is checked when an agent is saved, and again at every delivery
//! against the addresses its name resolves to then. The delivery connects
//! to exactly the addresses checked: [`VettedResolver`] is the HTTP
//! client's resolver, so there is no second lookup an attacker's DNS could
//! answer differently (DNS rebinding). IP-literal URLs are checked before
//! the request, since they are never resolved.

use crate::domain::webhook::check_url;
use crate::domain::FieldError;
use crate::domain::Webhook;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// How long saving an agent waits for a webhook host's addresses.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an address may not be reached, or `None` for a public address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) => "private",
        (172, 16..=31, _) => "private",
        (192, 168, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT, 100.64.0.0/10)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "reserved (IETF protocol assignments)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved (documentation)",
        (198, 18..=19, _) => "reserved (benchmarking)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved (240.0.0.0/4 and broadcast)",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Addresses that carry an IPv4 address are judged by it: mapped
    // (::ffff:a.b.c.d), the old compatible form (::a.b.c.d), NAT64's
    // well-known prefix (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48).
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return forbidden_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return forbidden_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "unique local (private)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local (private)",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0 => "Teredo tunnel",
        0x2001 if s[1] == 0xdb8 => "reserved (documentation)",
        0x0100 if s[1..4] == [0, 0, 0] => "reserved (discard-only)",
        _ => return None,
    })
}

/// The refusal of an address, as reasons and errors say it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {addr}, a {class} address; webhooks may not reach such addresses unless [webhooks] allow_private = true")]
pub struct Refused {
    pub host: String,
    pub addr: IpAddr,
    pub class: &'static str,
}

/// Refuse the whole host if any of its addresses is forbidden: a name
/// that mixes public and internal addresses is not to be trusted.
pub fn vet(host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
    match addrs.iter().find_map(|a| forbidden(*a).map(|c| (*a, c))) {
        Some((addr, class)) => Err(Refused {
            host: host.to_string(),
            addr,
            class,
        }),
        None => Ok(()),
    }
}

/// What a URL's host is, for checking.
enum Target {
    Ip(IpAddr),
    Name(String, u16),
}

fn target(text: &str) -> Result<Target, String> {
    let url = check_url(text)?;
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(Target::Ip(ip.into())),
        Some(url::Host::Ipv6(ip)) => Ok(Target::Ip(ip.into())),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                return Err(format!("{d} is a loopback name; webhooks may not reach it unless [webhooks] allow_private = true"));
            }
            Ok(Target::Name(d, port))
        }
        None => Err("has no host".into()),
    }
}

/// The IP address of an IP-literal URL, checked; `None` for a name (the
/// resolver checks those). For the delivery path.
pub fn check_literal(text: &str) -> Result<(), String> {
    match target(text)? {
        Target::Ip(ip) => vet(&ip.to_string(), &[ip]).map_err(|e| e.to_string()),
        Target::Name(..) => Ok(()),
    }
}

/// Check a URL when an agent is saved. A name that does not resolve now is
/// accepted (DNS may be down; every delivery checks again); one that
/// resolves to a forbidden address is refused.
pub async fn check_url_async(text: &str) -> Result<(), String> {
    match target(text)? {
        Target::Ip(ip) => vet(&ip.to_string(), &[ip]).map_err(|e| e.to_string()),
        Target::Name(host, port) => {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(addrs)) => {
                    let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                    vet(&host, &ips).map_err(|e| e.to_string())
                }
                _ => Ok(()),
            }
        }
    }
}

/// [`check_url_async`] for code that may block (reading the config file).
pub fn check_url_blocking(text: &str) -> Result<(), String> {
    match target(text)? {
        Target::Ip(ip) => vet(&ip.to_string(), &[ip]).map_err(|e| e.to_string()),
        Target::Name(host, port) => match (host.as_str(), port).to_socket_addrs() {
            Ok(addrs) => {
                let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                vet(&host, &ips).map_err(|e| e.to_string())
            }
            Err(_) => Ok(()),
        },
    }
}

/// Check every webhook of an agent being saved; errors name
/// `{field}[i].url`.
pub async fn check_webhooks(hooks: &[Webhook], field: &str) -> Vec<FieldError> {
    let checks = hooks.iter().map(|h| check_url_async(&h.url));
    futures::future::join_all(checks)
        .await
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.err()
                .map(|e| FieldError::new(format!("{field}[{i}].url"), e))
        })
        .collect()
}

/// The delivery client's resolver: resolves with the system resolver and
/// hands the connector only addresses that passed [`vet`] (all of them,
/// when private addresses are allowed).
#[derive(Debug, Clone, Copy)]
pub struct VettedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for VettedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
                vet(&host, &ips)?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        let table: &[(&str, Option<&str>)] = &[
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("172.15.0.1", None),
            ("172.32.0.1", None),
            ("192.169.0.1", None),
            ("0.0.0.0", Some("unspecified (0.0.0.0/8)")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.1.2", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            (
                "100.64.0.1",
                Some("shared address space (CGNAT, 100.64.0.0/10)"),
            ),
            (
                "100.127.255.254",
                Some("shared address space (CGNAT, 100.64.0.0/10)"),
            ),
            ("169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            (
                "255.255.255.255",
                Some("reserved (240.0.0.0/4 and broadcast)"),
            ),
            ("198.18.0.1", Some("reserved (benchmarking)")),
            ("192.0.2.5", Some("reserved (documentation)")),
            ("2606:4700:4700::1111", None),
            ("2001:4860:4860::8888", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::a9fe:a9fe", Some("link-local")),
            ("64:ff9b::808:808", None),
            ("2002:c0a8:0101::1", Some("private")),
            ("fc00::1", Some("unique local (private)")),
            ("fd12:3456::1", Some("unique local (private)")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("site-local (private)")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("reserved (documentation)")),
            ("2001:0:4136:e378::1", Some("Teredo tunnel")),
        ];
        for (text, want) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(forbidden(ip), *want, "{text}");
        }
    }

    #[test]
    fn literal_urls_are_judged_without_dns() {
        assert!(check_literal("http://127.0.0.1:8080/x").is_err());
        assert!(check_literal("http://[::ffff:7f00:1]/x").is_err());
        // The URL standard reads these as 127.0.0.1 too.
        assert!(check_literal("http://0x7f.1/x").is_err());
        assert!(check_literal("http://2130706433/x").is_err());
        assert!(check_literal("https://93.184.215.14/x").is_ok());
        assert!(check_literal("https://hooks.example.com/x").is_ok());
        let e = check_url_blocking("http://LOCALHOST./x").unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        let e = check_url_blocking("http://api.localhost/x").unwrap_err();
        assert!(e.contains("loopback"), "{e}");
    }

    #[test]
    fn one_forbidden_address_refuses_the_host() {
        let ips: Vec<IpAddr> = vec![
            "93.184.215.14".parse().unwrap(),
            "10.0.0.7".parse().unwrap(),
        ];
        let e = vet("mixed.example", &ips).unwrap_err();
        assert_eq!(e.addr, ips[1]);
        assert!(e.to_string().contains("allow_private"), "{e}");
        assert!(vet("ok.example", &ips[..1]).is_ok());
    }
}
