//! Thin actix shells around the pure cores.
//!
//! - [`scheduler::Scheduler`]: owns the node's dial capacity (DWRR over
//!   agents, trunk channels) and grants slots.
//! - [`agent::AgentActor`]: one per agent; owns its queue and starts a
//!   [`call::CallActor`] for each granted slot.
//! - [`call::CallActor`]: one per attempt; runs the SIP transactions and
//!   records the outcome.
//! - [`hangup::Hangup`]: ends an attempt left in flight by a previous run.
//! - [`keepalive::Keepalive`]: OPTIONS to every trunk host, feeding the
//!   hosts' health.

pub mod agent;
pub mod call;
pub mod hangup;
pub mod keepalive;
pub mod scheduler;

use crate::clock::SharedClock;
use crate::config::{Secret, TrunkTarget};
use crate::domain::DncList;
use crate::events::EventBus;
use crate::sip::transaction::Timers;
use crate::sip::transport::Remote;
use crate::sip::Transport;
use crate::store::{Change, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

pub use agent::AgentActor;
pub use call::CallActor;
pub use scheduler::Scheduler;

/// A configured trunk as the actors use it.
#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    pub target: TrunkTarget,
    /// Where its requests go: address, transport, and the TLS client.
    pub remote: Remote,
    pub max_channels: u32,
    /// Cap on new calls per second (config `cps`); None: no cap.
    pub cps: Option<f64>,
    pub timers: Timers,
    /// Digest username and password, when the carrier challenges.
    pub credentials: Option<(String, Secret)>,
    /// Number format, caller-ID headers and extra headers of its INVITEs.
    pub identity: crate::trunks::identity::Identity,
}

impl Trunk {
    /// TCP and TLS: no retransmissions, Timers D and K zero.
    pub fn reliable(&self) -> bool {
        self.remote.protocol.is_reliable()
    }
}

/// What every actor needs, shared.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub bus: EventBus,
    pub clock: SharedClock,
    pub transport: Transport,
    pub trunks: Arc<HashMap<String, Trunk>>,
    /// Every trunk's hosts and their health: where INVITEs go, in
    /// failover order.
    pub hosts: crate::trunks::Registry,
    /// The do-not-call lists, checked again when a call is popped to dial.
    /// A std RwLock: never held across an await.
    pub dnc: Arc<RwLock<DncList>>,
    /// Set when the engine begins to stop: no INVITE leaves after it.
    pub stopping: Arc<AtomicBool>,
    /// RTP ports and the media threads.
    pub media: Arc<crate::media::engine::MediaEngine>,
    /// Script prompts and recordings (beside the database).
    pub media_dirs: crate::media::context::MediaDirs,
}

impl Services {
    /// Apply a change and, when it took effect, publish its event. The
    /// change is queued in the store when this is called, not when the
    /// future is first polled, so it keeps its place in order.
    pub fn record(
        &self,
        change: Change,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> {
        let event = change.event.clone();
        let applied = self.store.queue(change);
        let bus = self.bus.clone();
        async move {
            let applied = applied.await?;
            if let (true, Some(ev)) = (applied, event) {
                bus.publish(ev);
            }
            Ok(applied)
        }
    }

    /// Record without waiting for the result. The change is queued before
    /// this returns, so changes recorded one after another are applied in
    /// that order. A store error is retried with backoff until the change
    /// is applied or refused by its compare-and-set: an outcome is never
    /// dropped because the store hiccuped.
    pub fn record_later(&self, change: Change) {
        self.record_then(change, |_| {});
    }

    /// Like [`Services::record_later`], then `then(applied)` once the
    /// change is applied (true) or refused by its compare-and-set (false).
    pub fn record_then(&self, change: Change, then: impl FnOnce(bool) + 'static) {
        let first = self.record(change.clone());
        let this = self.clone();
        actix::spawn(async move {
            let mut result = first.await;
            let mut backoff = std::time::Duration::from_millis(100);
            let applied = loop {
                match result {
                    Ok(applied) => break applied,
                    Err(e) => {
                        tracing::error!(call = %change.call_id, error = %e, retry_in = ?backoff, "failed to record call change");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                        result = this.record(change.clone()).await;
                    }
                }
            };
            then(applied);
        });
    }
}
