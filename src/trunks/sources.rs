//! Which source addresses may send the engine requests. The engine only
//! calls out, so a request can only be legitimate from a trunk: a host's
//! resolved address, or a range in the trunk's `trusted_sources`. Others
//! (scans, floods, stray INVITEs) are dropped or refused with 403, as
//! `[sip] untrusted_requests` says, and counted. Responses are not
//! filtered: they match our own transactions by branch and Call-ID.

use crate::config::UntrustedRequests;
use crate::sip::message::Method;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// An address range, `198.51.100.0/24` or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { net, prefix })
    }

    pub fn host(ip: IpAddr) -> Cidr {
        Cidr {
            net: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<(u128, u32)> {
            match ip {
                IpAddr::V4(v) => Some((u128::from(u32::from(v)) << 96, 32)),
                IpAddr::V6(v) => Some((u128::from(v), 128)),
            }
        };
        let (Some((net, width)), Some((addr, w2))) = (bits(self.net), bits(ip)) else {
            return false;
        };
        if width != w2 {
            return false;
        }
        let prefix = u32::from(self.prefix);
        if prefix == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - prefix);
        (net & mask) == (addr & mask)
    }
}

/// What to do with one incoming request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// Answer 403 Forbidden.
    Refuse,
}

/// The trusted ranges and what to do with the rest.
#[derive(Debug, Clone, Default)]
pub struct SourcePolicy {
    /// Off until the engine has its trunks' addresses: everything passes.
    pub enabled: bool,
    pub mode: UntrustedRequests,
    pub trusted: Vec<Cidr>,
}

impl SourcePolicy {
    /// The decision for a request with `method` from `ip` (pure). An ACK
    /// never gets a response (RFC 3261 17.2.1), so it is only dropped.
    pub fn decide(&self, ip: IpAddr, method: &Method) -> Verdict {
        let ip = match ip {
            IpAddr::V6(v) => v.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if !self.enabled || self.trusted.iter().any(|c| c.contains(ip)) {
            return Verdict::Accept;
        }
        match (self.mode, method) {
            (UntrustedRequests::Refuse, m) if *m != Method::Ack => Verdict::Refuse,
            _ => Verdict::Drop,
        }
    }
}

/// The policy the transport consults, with the counts for `/metrics`.
#[derive(Debug, Default)]
pub struct SourceGate {
    /// A std RwLock: read per request, written at start and DNS refresh.
    policy: RwLock<SourcePolicy>,
    pub dropped: AtomicU64,
    pub refused: AtomicU64,
}

impl SourceGate {
    pub fn set(&self, policy: SourcePolicy) {
        *self.policy.write().expect("source policy lock") = policy;
    }

    /// Decide and count.
    pub fn check(&self, ip: IpAddr, method: &Method) -> Verdict {
        let v = self
            .policy
            .read()
            .expect("source policy lock")
            .decide(ip, method);
        match v {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::Refuse => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let c = Cidr::parse("198.51.100.0/24").unwrap();
        assert!(c.contains(ip("198.51.100.7")));
        assert!(!c.contains(ip("198.51.101.7")));
        assert!(!c.contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8::5")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        for bad in ["10.0.0.0/33", "x", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn untrusted_requests_are_dropped_or_refused_as_configured() {
        let mut p = SourcePolicy {
            enabled: true,
            mode: UntrustedRequests::Drop,
            trusted: vec![Cidr::host(ip("127.0.0.1"))],
        };
        assert_eq!(p.decide(ip("127.0.0.1"), &Method::Invite), Verdict::Accept);
        assert_eq!(
            p.decide(ip("::ffff:127.0.0.1"), &Method::Bye),
            Verdict::Accept
        );
        assert_eq!(p.decide(ip("127.0.0.2"), &Method::Invite), Verdict::Drop);
        p.mode = UntrustedRequests::Refuse;
        assert_eq!(p.decide(ip("127.0.0.2"), &Method::Options), Verdict::Refuse);
        assert_eq!(p.decide(ip("127.0.0.2"), &Method::Ack), Verdict::Drop);
        p.enabled = false;
        assert_eq!(p.decide(ip("127.0.0.2"), &Method::Invite), Verdict::Accept);
    }

    #[test]
    fn the_gate_counts() {
        let g = SourceGate::default();
        g.set(SourcePolicy {
            enabled: true,
            mode: UntrustedRequests::Refuse,
            trusted: vec![],
        });
        g.check(ip("10.0.0.1"), &Method::Invite);
        g.check(ip("10.0.0.1"), &Method::Ack);
        assert_eq!(g.refused.load(Ordering::Relaxed), 1);
        assert_eq!(g.dropped.load(Ordering::Relaxed), 1);
    }
}
