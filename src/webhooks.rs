//! Webhooks: every call event an agent's webhook subscribes to is
//! delivered to it at least once, signed the Standard Webhooks way.
//!
//! How: call events are stored (`call_events`) before they are published.
//! The dispatcher treats that table as a log: it keeps a durable cursor and
//! turns events after it into rows of the outbox (`webhook_deliveries`),
//! moving the cursor in the same transaction. Due deliveries are sent by
//! tasks on the dispatcher's own thread, at most `max_in_flight` at once;
//! a failed one is retried with exponential backoff and jitter for
//! `retry_for_hours`, then dead-lettered until redelivered by hand.
//!
//! Layout: `fanout` (events to deliveries, the payload), `sign` (the
//! signature), `egress` (which addresses may be reached; the vetting
//! resolver), `deliver` (one HTTP attempt), `backoff` (when to retry),
//! `dispatcher` (the loop), `metrics` (for `/metrics`).

pub mod backoff;
pub mod deliver;
mod dispatcher;
pub mod egress;
pub mod fanout;
pub mod metrics;
pub mod sign;

use crate::clock::SharedClock;
use crate::config::WebhooksConfig;
use crate::domain::{Agent, AgentId};
use crate::events::EventBus;
use crate::store::Store;
use dispatcher::Shared;
use metrics::WebhookMetrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// The engine's agents, kept current by the agent routes: the dispatcher
/// reads which webhooks an event goes to, and their secrets, from here.
pub type SharedAgents = Arc<RwLock<HashMap<AgentId, Agent>>>;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot start the webhook thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The handle the engine and the API keep: the policy, a way to wake the
/// dispatcher (after a redelivery), the counters, and stop.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    config: WebhooksConfig,
    wake: Arc<Notify>,
    metrics: Arc<WebhookMetrics>,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Webhooks {
    /// Start the dispatcher on its own thread with its own runtime.
    pub fn start(
        config: WebhooksConfig,
        store: Arc<dyn Store>,
        bus: &EventBus,
        clock: SharedClock,
        agents: SharedAgents,
    ) -> Result<Webhooks, WebhookError> {
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(WebhookMetrics::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            store,
            clock,
            agents,
            rule: backoff::RetryRule::from_config(&config),
            client: deliver::client(&config)?,
            metrics: metrics.clone(),
            wake: wake.clone(),
            slots: Arc::new(Semaphore::new(config.max_in_flight)),
            busy: Mutex::default(),
            config: config.clone(),
        });
        let events = bus.subscribe();
        let stop = stopping.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("outdial-webhooks".into())
            .spawn(move || {
                runtime.block_on(dispatcher::run(shared, events, stop));
                // Attempts still under way stay pending in the store and
                // are sent again by the next start.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Webhooks {
            inner: Arc::new(Inner {
                config,
                wake,
                metrics,
                stopping,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    pub fn config(&self) -> &WebhooksConfig {
        &self.inner.config
    }

    /// Ask the dispatcher to look at the outbox now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn metrics(&self) -> &WebhookMetrics {
        &self.inner.metrics
    }

    /// Stop the dispatcher and wait for its thread (about a second at most).
    pub fn stop(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
        self.inner.wake.notify_one();
        let thread = self.inner.thread.lock().expect("thread lock").take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("the webhook thread panicked");
            }
        }
    }
}
