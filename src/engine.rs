//! Wiring: open the store, bind SIP, start the sandbox, the actors and the
//! HTTP server, and pick up what a previous run left unfinished.

use crate::actors::hangup::Hangup;
use crate::actors::scheduler::{Schedule, Stop, UpsertAgent};
use crate::actors::{Scheduler, Services, Trunk};
use crate::api::{self, AppState};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::{
    Agent, AgentId, Attempt, Call, CallEvent, CallId, CallStatus, Cause, DncList, RecentCalls,
};
use crate::events::EventBus;
use crate::scheduler::QueuedCall;
use crate::sip::leg::{Leg, LegIds};
use crate::sip::sandbox::Sandbox;
use crate::sip::transaction::Timers;
use crate::sip::transport::{Protocol, Remote};
use crate::sip::Transport;
use crate::store::sqlite::SqliteStore;
use crate::store::CallQuery;
use crate::store::{Change, Store, StoreError, Unfinished};
use crate::webhooks::{WebhookError, Webhooks};
use actix::{Actor, Addr};
use actix_web::{middleware, web, App, HttpServer};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Webhooks(#[from] WebhookError),
    #[error("API keys: {0}")]
    Keys(#[from] api::access::generated::GeneratedKeyError),
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
}

fn bind_err(what: &'static str, addr: impl ToString) -> impl FnOnce(std::io::Error) -> EngineError {
    move |source| EngineError::Bind {
        what,
        addr: addr.to_string(),
        source,
    }
}

/// Run the engine until the HTTP server stops (Ctrl-C or SIGTERM).
pub async fn run(config: Config, clock: SharedClock) -> Result<(), EngineError> {
    let sqlite = SqliteStore::open_url(&config.store.url)?;
    let access = web::Data::new(api::access::at_start(
        &config.api,
        sqlite.path(),
        clock.clone(),
    )?);
    let media_dirs = crate::media::context::MediaDirs::beside(sqlite.path());
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let transport = Transport::bind(config.sip.listen, config.sip.public_addr)
        .map_err(bind_err("SIP", config.sip.listen))?;
    transport.spawn_receiver();
    tracing::info!(addr = %transport.advertised(), "SIP transport listening (UDP, TCP)");
    if config.sandbox.enabled {
        Sandbox::start(
            config.sandbox.listen,
            Duration::from_secs(config.sandbox.hold_seconds),
        )
        .await
        .map_err(bind_err("the sandbox carrier", config.sandbox.listen))?;
    }
    let trunks: HashMap<String, Trunk> = config
        .trunks
        .iter()
        .filter_map(|t| {
            let target = t.target().ok()?;
            let remote = match target.protocol {
                Protocol::Udp => Remote::udp(target.addr),
                Protocol::Tcp => Remote::tcp(target.addr),
                // Checked when the config was loaded.
                Protocol::Tls => match t.tls_client(&target) {
                    Ok(client) => Remote::tls(target.addr, Arc::new(client)),
                    Err((key, reason)) => {
                        tracing::error!(trunk = %t.name, key, %reason, "TLS trunk unusable");
                        return None;
                    }
                },
            };
            let timers = Timers {
                t1: Duration::from_millis(t.t1_ms),
                t2: Duration::from_millis(t.t2_ms),
                t4: Duration::from_millis(t.t4_ms),
            };
            let credentials = t.username.clone().zip(t.password.clone());
            let identity = crate::trunks::identity::Identity::from_config(t);
            Some((
                t.name.clone(),
                Trunk {
                    name: t.name.clone(),
                    target,
                    remote,
                    max_channels: t.max_channels,
                    cps: t.cps,
                    timers,
                    credentials,
                    identity,
                },
            ))
        })
        .collect();
    let local = transport
        .local_addr()
        .map_err(bind_err("SIP", config.sip.listen))?;
    let hosts = crate::trunks::Registry::from_config(&config.trunks, local);
    transport
        .sources
        .set(hosts.source_policy(config.sip.untrusted_requests));
    let bus = EventBus::new(65_536);
    let mut dnc = DncList::new();
    for (number, scope) in store.dnc_entries().await? {
        dnc.add(&number, scope);
    }
    let dnc = Arc::new(RwLock::new(dnc));
    let services = Services {
        store: store.clone(),
        bus: bus.clone(),
        clock: clock.clone(),
        transport: transport.clone(),
        trunks: Arc::new(trunks),
        hosts: hosts.clone(),
        dnc: dnc.clone(),
        stopping: Arc::default(),
        media: start_media(&config, clock.clone())
            .map_err(bind_err("the media threads", "the RTP port range"))?,
        media_dirs: media_dirs.clone(),
    };
    let scheduler = Scheduler::new(services.clone(), config.scheduler.paused).start();
    let timers = services
        .trunks
        .iter()
        .map(|(name, t)| (name.clone(), t.timers))
        .collect();
    crate::actors::keepalive::Keepalive::new(
        services.clone(),
        &timers,
        config.sip.untrusted_requests,
    )
    .start();

    for agent in config.agents() {
        store.put_agent(&agent).await?;
    }
    let agents: HashMap<AgentId, Agent> = store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    for agent in agents.values() {
        if !services.trunks.contains_key(&agent.trunk) {
            tracing::warn!(
                agent = %agent.id,
                trunk = %agent.trunk,
                "agent uses a trunk that is not configured: it takes no new calls and its queued calls wait until the trunk is configured again"
            );
        }
        scheduler.do_send(UpsertAgent(agent.clone()));
    }
    recover(&services, &scheduler, &agents).await?;

    let recent = recent_calls(
        store.as_ref(),
        config.scheduler.duplicate_window_seconds,
        clock.now(),
    )
    .await?;
    let agents = Arc::new(RwLock::new(agents));
    let webhooks = Webhooks::start(
        config.webhooks.clone(),
        store.clone(),
        &bus,
        clock.clone(),
        agents.clone(),
    )?;
    let state = AppState {
        store,
        scheduler: scheduler.clone(),
        clock,
        bus,
        webhooks: webhooks.clone(),
        agents,
        dnc,
        dnc_writes: Arc::default(),
        recent: Arc::new(Mutex::new(recent)),
        sip_stats: transport.stats.clone(),
        media_dirs,
        media: services.media.clone(),
        hosts: services.hosts.clone(),
        sources: transport.sources.clone(),
        trunk_names: Arc::new(
            config
                .trunks
                .iter()
                .map(|t| t.name.clone())
                .collect::<HashSet<_>>(),
        ),
    };
    api::idempotency::spawn_purge(state.store.clone(), state.clock.clone());
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(api::problem_errors())
            .wrap(middleware::from_fn(api::access::observe))
            .app_data(access.clone())
            .app_data(web::Data::new(state.clone()))
            .app_data(web::PayloadConfig::new(api::MAX_BODY_BYTES))
            .configure(api::configure)
    });
    if config.api.workers > 0 {
        server = server.workers(config.api.workers);
    }
    let server = server
        .disable_signals()
        .shutdown_timeout(5)
        .bind(config.api.listen)
        .map_err(bind_err("the API", config.api.listen))?
        .run();
    tracing::info!(addr = %config.api.listen, "REST API listening");
    let http = server.handle();
    let mut served = actix_rt::spawn(server);
    tokio::select! {
        _ = stop_signal() => {}
        // The server ended by itself (its workers failed): stop too.
        ended = &mut served => {
            stop_calls(&scheduler, &transport).await;
            return ended.unwrap_or(Ok(())).map_err(bind_err("the API", config.api.listen));
        }
    }
    // Calls first, so nothing is dialed while HTTP requests drain.
    stop_calls(&scheduler, &transport).await;
    http.stop(true).await;
    webhooks.stop();
    match served.await {
        Ok(result) => result.map_err(bind_err("the API", config.api.listen)),
        Err(_) => Ok(()),
    }
}

/// Wait for SIGTERM (service managers) or Ctrl-C.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("stopping: hanging up calls, then closing the API");
}

/// Longest wait on shutdown for live calls to hang up cleanly.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// On SIGTERM or Ctrl-C: dial nothing more and hang up every live call
/// (CANCEL or BYE), waiting up to [`STOP_GRACE`] for them to end, so no
/// callee is left ringing or in silence. What does not end in time is
/// ended by the next start's recovery.
async fn stop_calls(scheduler: &Addr<Scheduler>, transport: &Transport) {
    let live = scheduler.send(Stop).await.unwrap_or(0);
    if live == 0 {
        return;
    }
    tracing::info!(live, "hanging up live calls before stopping");
    let deadline = std::time::Instant::now() + STOP_GRACE;
    while transport.active_routes() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Duplicate protection must hold across a restart: load the calls created
/// within the window (ids are UUIDv7, so they sort by creation time).
async fn recent_calls(
    store: &dyn Store,
    window_seconds: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RecentCalls, StoreError> {
    let mut recent = RecentCalls::new(window_seconds);
    if window_seconds == 0 {
        return Ok(recent);
    }
    let since = now - chrono::Duration::seconds(recent.window_seconds());
    let mut query = CallQuery {
        statuses: CallStatus::ALL
            .into_iter()
            .filter(|s| *s != CallStatus::Canceled)
            .collect(),
        after: Some(CallId::new(since)),
        limit: 1000,
        ..CallQuery::default()
    };
    loop {
        let page = store.list_calls(&query).await?;
        for c in &page.calls {
            recent.record(c.agent_id, c.endpoint.as_str(), c.id, c.created_at);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(recent),
        }
    }
}

/// Pick up unfinished calls after a stop or crash (invariants 1 and 3):
/// queued calls are queued again; a Pending call never sent its INVITE (the
/// attempt is stored as InProgress before sending), so it is queued again;
/// an InProgress attempt may have reached the carrier, so it is never sent
/// again: it is ended with CANCEL or BYE from its stored identifiers and
/// recorded as `interrupted`.
async fn recover(
    services: &Services,
    scheduler: &Addr<Scheduler>,
    agents: &HashMap<AgentId, Agent>,
) -> Result<(), StoreError> {
    let now = services.clock.now();
    let mut requeue: HashMap<AgentId, Vec<QueuedCall>> = HashMap::new();
    let (mut queued, mut interrupted) = (0usize, 0usize);
    for Unfinished {
        call,
        attempt,
        counts,
    } in services.store.unfinished_calls().await?
    {
        let attempts = attempt.as_ref().map_or(0, |a| a.number);
        match call.status {
            CallStatus::Created | CallStatus::Queued => {}
            CallStatus::Pending => {
                let ev = event(
                    &call,
                    "call.queued",
                    CallStatus::Queued,
                    "queued again after a restart",
                    now,
                );
                let change = Change {
                    call_id: call.id,
                    next_attempt_at: None,
                    expect: vec![CallStatus::Pending],
                    status: Some(CallStatus::Queued),
                    cause: None,
                    attempt: None,
                    event: Some(ev),
                    at: now,
                };
                if !services.record(change).await? {
                    continue;
                }
            }
            CallStatus::InProgress => {
                if let Some(a) = attempt {
                    end_interrupted(services, agents.get(&call.agent_id), &call, a).await?;
                    interrupted += 1;
                }
                continue;
            }
            _ => continue,
        }
        queued += 1;
        requeue
            .entry(call.agent_id)
            .or_default()
            .push(QueuedCall::from_call(&call, attempts, counts));
    }
    for (agent, calls) in requeue {
        scheduler.do_send(Schedule { agent, calls });
    }
    if queued + interrupted > 0 {
        tracing::info!(queued, interrupted, "recovered unfinished calls");
    }
    Ok(())
}

fn event(
    call: &Call,
    name: &'static str,
    status: CallStatus,
    detail: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> CallEvent {
    CallEvent {
        call_id: call.id,
        agent_id: call.agent_id,
        event: name,
        status,
        at,
        detail: Some(detail.into()),
    }
}

async fn end_interrupted(
    services: &Services,
    agent: Option<&Agent>,
    call: &Call,
    mut attempt: Attempt,
) -> Result<(), StoreError> {
    let now = services.clock.now();
    if let (Some(agent), Some(trunk)) = (agent, services.trunks.get(&attempt.trunk)) {
        let ids = LegIds {
            call_id: attempt.sip_call_id.clone(),
            from_tag: attempt.from_tag.clone(),
            branch: attempt.branch.clone(),
            cseq: attempt.cseq,
        };
        // The host that has the INVITE: a failover may have moved it.
        let addr = attempt.host.as_deref().and_then(|h| h.parse().ok());
        let (target, secure) = match addr {
            Some(addr) => match services.hosts.host_at(&attempt.trunk, addr) {
                Some(h) => (h.remote, h.secure),
                None => (trunk.remote.at(addr), trunk.target.secure),
            },
            None => (trunk.remote.clone(), trunk.target.secure),
        };
        let mut leg = Leg::new(
            ids,
            services.transport.advertised().to_string(),
            agent.caller_id.clone(),
            attempt.request_uri.clone(),
        )
        .over(target.protocol, secure);
        leg.to_tag = attempt.to_tag.clone();
        leg.remote_target = attempt.remote_target.clone();
        leg.route_set = attempt.route_set.clone();
        leg.anonymous_from = trunk.identity.anonymous_from();
        Hangup::new(services.clone(), leg, target, trunk.timers).start();
    }
    attempt.ended_at = Some(now);
    attempt.cause = Some(Cause::Interrupted);
    let ev = event(
        call,
        "call.failed",
        CallStatus::Failed,
        "interrupted: the engine stopped during this attempt",
        now,
    );
    services
        .record(Change {
            call_id: call.id,
            next_attempt_at: None,
            expect: vec![CallStatus::InProgress],
            status: Some(CallStatus::Failed),
            cause: Some(Cause::Interrupted),
            attempt: Some(attempt),
            event: Some(ev),
            at: now,
        })
        .await
        .map(|_| ())
}

/// The media threads and port pool from `[media]`: bound where SIP listens
/// unless told otherwise, advertised as the SIP public address's host.
fn start_media(
    config: &Config,
    clock: crate::clock::SharedClock,
) -> std::io::Result<Arc<crate::media::engine::MediaEngine>> {
    let m = &config.media;
    let bind = m.rtp_address.unwrap_or(config.sip.listen.ip());
    let advertised = m
        .advertised_address
        .or(config.sip.public_addr.map(|a| a.ip()))
        .unwrap_or(bind);
    // Both were checked when the config was loaded.
    let ports = m.ports().map_err(std::io::Error::other)?;
    let threads = m.threads().map_err(std::io::Error::other)?;
    let realtime = m.realtime_priority().map_err(std::io::Error::other)?;
    crate::media::engine::MediaEngine::start(bind, advertised, ports, (threads, realtime), clock)
}
