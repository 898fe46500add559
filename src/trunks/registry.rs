//! Every trunk's hosts, their resolved addresses and their health, shared
//! by the call actors (which host to send an INVITE to), the keepalive
//! actor (probe results, DNS refresh) and the API (trunk health).
//!
//! Failover order is the configured order: an attempt goes to the first
//! usable host it has not tried yet. When every host is down the attempt
//! sends nothing and fails as `network_error` (the retry policy decides
//! when to try again); hosts no probe has judged yet count as usable.

use super::health::{HostHealth, HostStatus, Probe};
use super::sources::{Cidr, SourcePolicy};
use crate::config::{parse_sip_uri, resolve, TrunkConfig, UntrustedRequests};
use crate::sip::transport::{Protocol, Remote, TlsClient};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One host of a trunk.
#[derive(Debug, Clone)]
pub struct HostState {
    /// As configured: `sip:sbc1.carrier.example:5060`.
    pub uri: String,
    /// `host:port` as written, for Request-URIs.
    pub host_port: String,
    /// Every address the name resolved to; requests go to the first.
    pub addrs: Vec<SocketAddr>,
    /// Why the name did not resolve, when it did not.
    pub resolve_error: Option<String>,
    pub health: HostHealth,
    /// The host's transport: its URI's `;transport=` or `sips:`, else the
    /// trunk's.
    pub protocol: Protocol,
    /// The URI is `sips:`.
    pub secure: bool,
    /// For TLS: the client checking this host's certificate.
    pub tls: Option<Arc<TlsClient>>,
}

impl HostState {
    /// Where requests to this host go: its first address, over its
    /// transport.
    pub fn remote(&self) -> Option<Remote> {
        Some(Remote {
            addr: *self.addrs.first()?,
            protocol: self.protocol,
            tls: self.tls.clone(),
        })
    }

    fn pick(&self) -> Option<HostPick> {
        Some(HostPick {
            host_port: self.host_port.clone(),
            addr: *self.addrs.first()?,
            remote: self.remote()?,
            secure: self.secure,
        })
    }
}

#[derive(Debug, Clone)]
pub struct TrunkHosts {
    pub hosts: Vec<HostState>,
    /// OPTIONS every so often; None: keepalive off.
    pub keepalive: Option<Duration>,
    pub trusted_sources: Vec<Cidr>,
    /// INVITEs sent to a next host after one failed, since start.
    pub failovers: u64,
    /// As configured, for the API.
    pub profile: Option<String>,
    pub max_channels: u32,
    pub cps: Option<f64>,
}

/// Where to send an INVITE.
#[derive(Debug, Clone)]
pub struct HostPick {
    pub host_port: String,
    pub addr: SocketAddr,
    /// The address again, with the host's transport.
    pub remote: Remote,
    /// The host's URI is `sips:` (Request-URI and Contact too).
    pub secure: bool,
}

impl PartialEq for HostPick {
    fn eq(&self, other: &HostPick) -> bool {
        self.host_port == other.host_port
            && self.addr == other.addr
            && self.remote.protocol == other.remote.protocol
            && self.secure == other.secure
    }
}

impl Eq for HostPick {}

/// Shared, cheap to clone. A std RwLock: never held across an await.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    trunks: Arc<RwLock<BTreeMap<String, TrunkHosts>>>,
    /// The SIP socket is IPv6: requests go to a host's IPv6 addresses
    /// first (and to its IPv4 ones first otherwise).
    v6: bool,
}

/// `addrs` with those of the socket's family first, in resolver order: a
/// name with A and AAAA records must be reached over the family the
/// socket can send to.
pub fn order_addrs(mut addrs: Vec<SocketAddr>, v6: bool) -> Vec<SocketAddr> {
    addrs.sort_by_key(|a| a.is_ipv6() != v6);
    addrs
}

impl Registry {
    /// The configured trunks, with every host name resolved now; `local`
    /// is the SIP socket's address (its family decides which addresses of
    /// a name come first).
    pub fn from_config(trunks: &[TrunkConfig], local: SocketAddr) -> Registry {
        let v6 = local.is_ipv6();
        let mut map = BTreeMap::new();
        for t in trunks {
            let hosts = t
                .host_uris()
                .into_iter()
                .map(|uri| {
                    let host_port = parse_sip_uri(uri).unwrap_or_default();
                    // Checked when the config was loaded.
                    let protocol = t.host_protocol(uri).unwrap_or(Protocol::Udp);
                    let tls = match protocol {
                        Protocol::Tls => t
                            .host_target(uri)
                            .ok()
                            .and_then(|target| t.tls_client(&target).ok())
                            .map(Arc::new),
                        _ => None,
                    };
                    let (addrs, resolve_error) = match resolve(&host_port, protocol.default_port())
                    {
                        Ok(a) => (order_addrs(a, v6), None),
                        Err(e) => (Vec::new(), Some(e)),
                    };
                    HostState {
                        uri: uri.to_string(),
                        host_port,
                        addrs,
                        resolve_error,
                        health: HostHealth::new(t.options_down_after, t.options_up_after),
                        protocol,
                        secure: uri.starts_with("sips:"),
                        tls,
                    }
                })
                .collect();
            let trusted_sources = t
                .trusted_sources
                .iter()
                .filter_map(|s| Cidr::parse(s).ok())
                .collect();
            let keepalive = (t.options_interval_seconds > 0)
                .then(|| Duration::from_secs(t.options_interval_seconds));
            map.insert(
                t.name.clone(),
                TrunkHosts {
                    hosts,
                    keepalive,
                    trusted_sources,
                    failovers: 0,
                    profile: t.profile.clone(),
                    max_channels: t.max_channels,
                    cps: t.cps,
                },
            );
        }
        Registry {
            trunks: Arc::new(RwLock::new(map)),
            v6,
        }
    }

    /// The first usable host of `trunk` whose address is not in `tried`.
    /// `Err(true)`: every host is down; `Err(false)`: none left to try (or
    /// no such trunk).
    pub fn pick(&self, trunk: &str, tried: &[SocketAddr]) -> Result<HostPick, bool> {
        let trunks = self.trunks.read().expect("registry lock");
        let Some(t) = trunks.get(trunk) else {
            return Err(false);
        };
        let reachable = || t.hosts.iter().filter(|h| !h.addrs.is_empty());
        let found = reachable().find(|h| h.health.usable() && !tried.contains(&h.addrs[0]));
        match found {
            Some(h) => h.pick().ok_or(false),
            None => Err(reachable().all(|h| !h.health.usable())),
        }
    }

    /// The first host of `trunk`, whatever its health (Request-URIs of
    /// attempts that send nothing).
    pub fn first(&self, trunk: &str) -> Option<HostPick> {
        let trunks = self.trunks.read().expect("registry lock");
        trunks.get(trunk)?.hosts.first()?.pick()
    }

    /// The host of `trunk` that has the address `addr`, as a pick (its
    /// transport and scheme): where a stored attempt's INVITE went.
    pub fn host_at(&self, trunk: &str, addr: SocketAddr) -> Option<HostPick> {
        let trunks = self.trunks.read().expect("registry lock");
        let h = trunks
            .get(trunk)?
            .hosts
            .iter()
            .find(|h| h.addrs.contains(&addr))?;
        let mut pick = h.pick()?;
        pick.addr = addr;
        pick.remote.addr = addr;
        Some(pick)
    }

    /// Record a probe of host `index`; returns the new status if it changed.
    pub fn report(
        &self,
        trunk: &str,
        index: usize,
        probe: Probe,
        now: DateTime<Utc>,
    ) -> Option<HostStatus> {
        let mut trunks = self.trunks.write().expect("registry lock");
        let h = trunks.get_mut(trunk)?.hosts.get_mut(index)?;
        h.health.on_probe(probe, now)
    }

    /// Replace a host's addresses after a DNS refresh (kept when the name
    /// no longer resolves: the last answer is better than none).
    pub fn set_addrs(&self, trunk: &str, index: usize, result: Result<Vec<SocketAddr>, String>) {
        let mut trunks = self.trunks.write().expect("registry lock");
        if let Some(h) = trunks.get_mut(trunk).and_then(|t| t.hosts.get_mut(index)) {
            match result {
                Ok(addrs) => {
                    h.addrs = order_addrs(addrs, self.v6);
                    h.resolve_error = None;
                }
                Err(e) => h.resolve_error = Some(e),
            }
        }
    }

    pub fn count_failover(&self, trunk: &str) {
        if let Some(t) = self.trunks.write().expect("registry lock").get_mut(trunk) {
            t.failovers += 1;
        }
    }

    /// A copy of everything, for the API, metrics and the keepalive actor.
    pub fn snapshot(&self) -> BTreeMap<String, TrunkHosts> {
        self.trunks.read().expect("registry lock").clone()
    }

    /// Who may send requests: every host address and trusted range.
    pub fn source_policy(&self, mode: UntrustedRequests) -> SourcePolicy {
        let trunks = self.trunks.read().expect("registry lock");
        let mut trusted = Vec::new();
        for t in trunks.values() {
            for h in &t.hosts {
                trusted.extend(h.addrs.iter().map(|a| Cidr::host(a.ip())));
            }
            trusted.extend(t.trusted_sources.iter().copied());
        }
        SourcePolicy {
            enabled: true,
            mode,
            trusted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use chrono::TimeZone;

    fn registry(extra: &str) -> Registry {
        let text = format!(
            "[api]\nlisten = \"127.0.0.1:8080\"\n[store]\nurl = \"sqlite://x.db\"\n\
             [sip]\nlisten = \"127.0.0.1:5060\"\n[[trunks]]\nname = \"t\"\n{extra}\n"
        );
        let local = "127.0.0.1:5060".parse().unwrap();
        Registry::from_config(&Config::parse(&text, &[]).unwrap().trunks, local)
    }

    #[test]
    fn addresses_of_the_sockets_family_come_first() {
        let v6 = addr("[2001:db8::1]:5060");
        let (a, b) = (addr("192.0.2.1:5060"), addr("192.0.2.2:5060"));
        assert_eq!(order_addrs(vec![v6, a, b], false), vec![a, b, v6]);
        assert_eq!(order_addrs(vec![a, v6, b], true), vec![v6, a, b]);
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failover_takes_the_next_usable_host_in_order() {
        let r = registry(
            "hosts = [\"sip:127.0.0.1:5071\", \"sip:127.0.0.1:5072\", \"sip:127.0.0.1:5073\"]\n\
             options_down_after = 1",
        );
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        assert_eq!(r.pick("t", &[]).unwrap().addr, addr("127.0.0.1:5071"));
        let p = r.pick("t", &[addr("127.0.0.1:5071")]).unwrap();
        assert_eq!(p.host_port, "127.0.0.1:5072");
        r.report("t", 1, Probe::TimedOut, now);
        let p = r.pick("t", &[addr("127.0.0.1:5071")]).unwrap();
        assert_eq!(p.addr, addr("127.0.0.1:5073"), "the down host is skipped");
        let tried = [addr("127.0.0.1:5071"), addr("127.0.0.1:5073")];
        assert_eq!(r.pick("t", &tried), Err(false), "nothing left to try");
        r.report("t", 0, Probe::TimedOut, now);
        r.report("t", 2, Probe::TimedOut, now);
        assert_eq!(r.pick("t", &[]), Err(true), "all down");
        assert_eq!(r.first("t").unwrap().addr, addr("127.0.0.1:5071"));
        assert_eq!(r.pick("nope", &[]), Err(false));
    }

    #[test]
    fn the_source_policy_trusts_hosts_and_ranges() {
        let r = registry("uri = \"sip:127.0.0.1:5071\"\ntrusted_sources = [\"10.1.0.0/16\"]");
        let p = r.source_policy(UntrustedRequests::Refuse);
        use crate::sip::message::Method;
        use crate::trunks::sources::Verdict;
        assert_eq!(
            p.decide("127.0.0.1".parse().unwrap(), &Method::Invite),
            Verdict::Accept
        );
        assert_eq!(
            p.decide("10.1.2.3".parse().unwrap(), &Method::Invite),
            Verdict::Accept
        );
        assert_eq!(
            p.decide("127.0.0.9".parse().unwrap(), &Method::Invite),
            Verdict::Refuse
        );
    }
}
