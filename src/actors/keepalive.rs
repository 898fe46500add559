//! The Keepalive actor: sends OPTIONS to every host of every trunk with
//! keepalive on (`options_interval_seconds`), each as a non-INVITE client
//! transaction (RFC 3261 11.1, 17.1.2), and feeds the results to the hosts'
//! health (`trunks::health`) in the shared registry. It also re-resolves
//! host names every [`DNS_REFRESH`] and hands the new addresses to the
//! transport's source gate.

use super::Services;
use crate::config::UntrustedRequests;
use crate::sip::leg::new_branch;
use crate::sip::message::{build_request, Method, Outbound, Start};
use crate::sip::transaction::{Action, NonInviteClient, Timers};
use crate::sip::transport::{Owner, Protocol, Remote, SipIn, TransportError};
use crate::trunks::{HostStatus, Probe};
use actix::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often host names are resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(300);

/// One host to probe.
struct Target {
    trunk: String,
    index: usize,
    interval: Duration,
    timers: Timers,
    next_due: Instant,
}

/// An OPTIONS in flight, by Call-ID.
struct InFlight {
    target: usize,
    addr: SocketAddr,
    remote: Remote,
    tx: NonInviteClient,
    request: Vec<u8>,
    sent_at: Instant,
}

pub struct Keepalive {
    services: Services,
    mode: UntrustedRequests,
    targets: Vec<Target>,
    probes: HashMap<String, InFlight>,
    timer: Option<SpawnHandle>,
}

impl Keepalive {
    /// `timers`: each trunk's T1/T2/T4, by name.
    pub fn new(
        services: Services,
        timers: &HashMap<String, Timers>,
        mode: UntrustedRequests,
    ) -> Keepalive {
        let now = services.clock.instant();
        let mut targets = Vec::new();
        for (trunk, t) in services.hosts.snapshot() {
            let Some(interval) = t.keepalive else {
                continue;
            };
            for index in 0..t.hosts.len() {
                targets.push(Target {
                    trunk: trunk.clone(),
                    index,
                    interval,
                    timers: timers.get(&trunk).copied().unwrap_or_default(),
                    next_due: now,
                });
            }
        }
        Keepalive {
            services,
            mode,
            targets,
            probes: HashMap::new(),
            timer: None,
        }
    }

    fn options(&self, host_port: &str, protocol: Protocol, call_id: &str) -> Option<Vec<u8>> {
        let local = self.services.transport.advertised();
        let o = Outbound {
            method: Method::Options,
            uri: format!("sip:{host_port}"),
            via: format!(
                "SIP/2.0/{} {local};branch={};rport",
                protocol.via_name(),
                new_branch()
            ),
            from: format!("<sip:outdial@{local}>;tag={:016x}", rand::random::<u64>()),
            to: format!("<sip:{host_port}>"),
            call_id: call_id.to_string(),
            cseq: 1,
            contact: None,
            route: Vec::new(),
            extra: vec![("Accept".into(), "application/sdp".into())],
            body: None,
        };
        build_request(&o).ok()
    }

    /// Start a probe of every host that is due and not being probed.
    fn probe_due(&mut self, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let snapshot = self.services.hosts.snapshot();
        for i in 0..self.targets.len() {
            let t = &mut self.targets[i];
            if t.next_due > now {
                continue;
            }
            t.next_due = now + t.interval;
            let (trunk, index, timers) = (t.trunk.clone(), t.index, t.timers);
            if self.probes.values().any(|p| p.target == i) {
                continue;
            }
            let Some(host) = snapshot.get(&trunk).and_then(|h| h.hosts.get(index)) else {
                continue;
            };
            let Some(remote) = host.remote() else {
                continue;
            };
            let addr = remote.addr;
            let call_id = format!("{}@{}", uuid::Uuid::new_v4().simple(), "outdial.keepalive");
            let Some(request) = self.options(&host.host_port, remote.protocol, &call_id) else {
                continue;
            };
            let (tx, actions) = NonInviteClient::new(timers, remote.protocol.is_reliable(), now);
            self.services
                .transport
                .register(&call_id, Owner::of(ctx.address()));
            self.probes.insert(
                call_id.clone(),
                InFlight {
                    target: i,
                    addr,
                    remote,
                    tx,
                    request,
                    sent_at: now,
                },
            );
            self.act(&call_id, actions);
        }
    }

    /// Carry out a probe's actions; report and forget it when it ends.
    fn act(&mut self, call_id: &str, actions: Vec<Action>) {
        for a in actions {
            let Some(p) = self.probes.get(call_id) else {
                return;
            };
            let now = self.services.clock.instant();
            let probe = match a {
                Action::SendRequest => {
                    self.services
                        .transport
                        .send(call_id, p.request.clone(), &p.remote);
                    continue;
                }
                Action::Deliver { code } if code >= 200 => Probe::Answered {
                    code,
                    rtt: now.saturating_duration_since(p.sent_at),
                },
                Action::Timeout => Probe::TimedOut,
                Action::TransportFailed => Probe::TransportFailed,
                Action::Deliver { .. } | Action::SendAck { .. } | Action::Terminated => continue,
            };
            let target = &self.targets[p.target];
            let changed = self.services.hosts.report(
                &target.trunk,
                target.index,
                probe,
                self.services.clock.now(),
            );
            if let Some(status) = changed {
                let (trunk, addr) = (&target.trunk, p.addr);
                match status {
                    HostStatus::Down => {
                        tracing::warn!(%trunk, %addr, ?probe, "trunk host down")
                    }
                    _ => tracing::info!(%trunk, %addr, "trunk host up"),
                }
            }
            self.services.transport.unregister(call_id);
            self.probes.remove(call_id);
        }
    }

    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let ids: Vec<String> = self.probes.keys().cloned().collect();
        for id in ids {
            let due = self.probes[&id]
                .tx
                .next_deadline()
                .is_some_and(|d| d <= now);
            if due {
                let actions = self
                    .probes
                    .get_mut(&id)
                    .expect("probe")
                    .tx
                    .handle_timeout(now);
                self.act(&id, actions);
            }
        }
        self.probe_due(ctx);
    }

    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let next = self
            .probes
            .values()
            .filter_map(|p| p.tx.next_deadline())
            .chain(self.targets.iter().map(|t| t.next_due))
            .min();
        if let Some(next) = next {
            let wait = next.saturating_duration_since(self.services.clock.instant());
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.on_tick(ctx);
                act.rearm(ctx);
            }));
        }
    }

    /// Resolve every host name again; new addresses take effect for the
    /// next INVITE and probe, and in the source gate.
    fn refresh_dns(&mut self, ctx: &mut Context<Self>) {
        let hosts: Vec<(String, usize, String, u16)> = self
            .services
            .hosts
            .snapshot()
            .into_iter()
            .flat_map(|(trunk, t)| {
                t.hosts
                    .into_iter()
                    .enumerate()
                    .filter(|(_, h)| h.host_port.parse::<SocketAddr>().is_err())
                    .map(move |(i, h)| (trunk.clone(), i, h.host_port, h.protocol.default_port()))
            })
            .collect();
        if hosts.is_empty() {
            return;
        }
        let fut = async move {
            let mut out = Vec::new();
            for (trunk, i, host_port, default_port) in hosts {
                let with_port = crate::config::with_port(&host_port, default_port);
                let result = match tokio::net::lookup_host(&with_port).await {
                    Ok(a) => Ok(a.collect::<Vec<_>>()).and_then(|v: Vec<SocketAddr>| {
                        if v.is_empty() {
                            Err(format!("{with_port} resolves to no address"))
                        } else {
                            Ok(v)
                        }
                    }),
                    Err(e) => Err(format!("cannot resolve {with_port}: {e}")),
                };
                out.push((trunk, i, result));
            }
            out
        };
        ctx.spawn(fut.into_actor(self).map(|results, act, _| {
            for (trunk, i, result) in results {
                if let Err(e) = &result {
                    tracing::warn!(%trunk, error = %e, "trunk host name did not resolve");
                }
                act.services.hosts.set_addrs(&trunk, i, result);
            }
            let policy = act.services.hosts.source_policy(act.mode);
            act.services.transport.sources.set(policy);
        }));
    }
}

impl Actor for Keepalive {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(DNS_REFRESH, |act, ctx| act.refresh_dns(ctx));
        self.probe_due(ctx);
        self.rearm(ctx);
    }
}

impl Handler<SipIn> for Keepalive {
    type Result = ();
    fn handle(&mut self, SipIn { msg, .. }: SipIn, ctx: &mut Context<Self>) {
        let Start::Response { code, .. } = msg.start else {
            return;
        };
        let now = self.services.clock.instant();
        let Some(p) = self.probes.get_mut(&msg.call_id) else {
            return;
        };
        if let Ok(actions) = p.tx.on_response(code, now) {
            self.act(&msg.call_id.clone(), actions);
        }
        self.rearm(ctx);
    }
}

/// The OPTIONS could not be sent (a TCP connection refused, a TLS
/// handshake failed): the probe fails at once.
impl Handler<TransportError> for Keepalive {
    type Result = ();
    fn handle(&mut self, e: TransportError, ctx: &mut Context<Self>) {
        let now = self.services.clock.instant();
        let Some(p) = self.probes.get_mut(&e.call_id) else {
            return;
        };
        tracing::debug!(error = %e.failure, "trunk OPTIONS not sent");
        let actions = p.tx.on_transport_error(now);
        self.act(&e.call_id, actions);
        self.rearm(ctx);
    }
}
