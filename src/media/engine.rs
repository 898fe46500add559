//! The media threads: a small fixed number of threads (one per core by
//! default), each a current-thread tokio runtime driving all its sessions
//! from one 20 ms [`Ticker`] on absolute deadlines, never a timer per
//! call. Calls reach their session through a [`SessionHandle`] (commands
//! over a channel, counters through shared atomics).

use super::behaviour::{Behaviour, Stop};
use super::metrics::{bucket, MediaMetrics};
use super::pool::{Allocation, PoolError, PortPool};
use super::rtp::session::{Notify, Session, TickCtx};
use super::rtp::stats::SharedStats;
use super::sdp::Negotiated;
use super::ticker::{Ticker, PERIOD};
use crate::clock::SharedClock;
use crate::domain::media::MediaStats;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{channel, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

enum Command {
    Start(Box<Session>),
    Dtmf(u64, char),
    Update(u64, Negotiated),
    Stop(u64, Stop),
}

/// The engine's media side: the port pool and the threads.
pub struct MediaEngine {
    pool: Arc<PortPool>,
    advertised: IpAddr,
    workers: Vec<Sender<Command>>,
    next_worker: AtomicUsize,
    next_id: AtomicU64,
    clock: SharedClock,
    pub metrics: Arc<MediaMetrics>,
}

/// The call's hold on its running session.
pub struct SessionHandle {
    id: u64,
    worker: Sender<Command>,
    stats: Arc<SharedStats>,
}

impl SessionHandle {
    /// A key the callee pressed, received by SIP INFO.
    pub fn dtmf(&self, digit: char) {
        let _ = self.worker.send(Command::Dtmf(self.id, digit));
    }
    /// Follow a new answer (re-INVITE or UPDATE).
    pub fn update(&self, neg: Negotiated) {
        let _ = self.worker.send(Command::Update(self.id, neg));
    }
    /// End the session; its port pair goes back to the pool.
    pub fn stop(&self, why: Stop) {
        let _ = self.worker.send(Command::Stop(self.id, why));
    }
    pub fn stats(&self) -> MediaStats {
        self.stats.snapshot()
    }
}

impl Drop for SessionHandle {
    /// A call that goes away without stopping its session still frees it.
    fn drop(&mut self) {
        self.stop(Stop::Ended("call gone".into()));
    }
}

impl MediaEngine {
    /// Start `threads` media threads (under SCHED_FIFO at `realtime`'s
    /// priority when given) over the ports `first..=last` of `bind`; SDP
    /// advertises `advertised`.
    pub fn start(
        bind: IpAddr,
        advertised: IpAddr,
        ports: (u16, u16),
        (threads, realtime): (usize, Option<u8>),
        clock: SharedClock,
    ) -> std::io::Result<Arc<MediaEngine>> {
        let metrics = Arc::new(MediaMetrics::default());
        let mut workers = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = channel();
            let (clock, metrics) = (clock.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(format!("outdial-media-{i}"))
                .spawn(move || {
                    if let Some(priority) = realtime {
                        set_realtime(priority);
                    }
                    worker(rx, clock, metrics)
                })?;
            workers.push(tx);
        }
        Ok(Arc::new(MediaEngine {
            pool: PortPool::new(bind, ports.0, ports.1),
            advertised,
            workers,
            next_worker: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            clock,
            metrics,
        }))
    }

    /// The address our SDP offers.
    pub fn advertised(&self) -> IpAddr {
        self.advertised
    }

    /// A port pair for a call's offer.
    pub fn allocate(&self) -> Result<Allocation, PoolError> {
        self.pool.allocate()
    }

    pub fn ports_free(&self) -> usize {
        self.pool.available()
    }

    /// Run a session for an answered call on the next thread in turn.
    pub fn run(
        &self,
        alloc: Allocation,
        neg: Negotiated,
        behaviour: Box<dyn Behaviour>,
        notify: Notify,
    ) -> SessionHandle {
        let id = self.next_id.fetch_add(1, Relaxed);
        let stats = Arc::new(SharedStats::new(neg.codec.name()));
        let now = self.clock.instant();
        let mut session = Session::new(id, alloc, neg, behaviour, notify, stats.clone(), now);
        session.answered(now);
        let worker =
            self.workers[self.next_worker.fetch_add(1, Relaxed) % self.workers.len()].clone();
        let _ = worker.send(Command::Start(Box::new(session)));
        SessionHandle { id, worker, stats }
    }
}

/// How early the runtime's timer wakes a media thread before a tick.
const COARSE: Duration = Duration::from_millis(1);

/// Put the calling thread under SCHED_FIFO at `priority`, or say why not.
fn set_realtime(priority: u8) {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: pid 0 names the calling thread; `param` outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(error = %e, priority, "media thread keeps the normal scheduling policy");
    }
}

fn worker(rx: std::sync::mpsc::Receiver<Command>, clock: SharedClock, metrics: Arc<MediaMetrics>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return tracing::error!(error = %e, "media thread cannot start its runtime"),
    };
    rt.block_on(async move {
        let mut sessions: Vec<Session> = Vec::new();
        let mut ticker = Ticker::new(clock.instant(), PERIOD);
        let mut buf = [0u8; 1500];
        loop {
            // Tokio's timer has 1 ms granularity: sleep on it to within a
            // millisecond (so tasks of this runtime run meanwhile), then
            // the rest on the thread, which wakes within tens of us.
            let deadline = ticker.deadline();
            tokio::time::sleep_until((deadline - COARSE).into()).await;
            let left = deadline.saturating_duration_since(clock.instant());
            if !left.is_zero() {
                std::thread::sleep(left);
            }
            let now = clock.instant();
            let Some(late) = ticker.poll(now) else {
                continue;
            };
            metrics.lateness[bucket(late)].fetch_add(1, Relaxed);
            metrics.ticks.fetch_add(1, Relaxed);
            metrics.skipped_ticks.store(ticker.skipped, Relaxed);
            loop {
                match rx.try_recv() {
                    Ok(cmd) => apply(&mut sessions, cmd, now, &metrics),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            let wall = clock.now();
            let unix = (
                wall.timestamp().max(0) as u64,
                wall.timestamp_subsec_nanos(),
            );
            let mut record = |d: Duration| {
                metrics.interval_error[bucket(d)].fetch_add(1, Relaxed);
            };
            let (mut sent, mut received) = (0, 0);
            for s in sessions.iter_mut() {
                let mut cx = TickCtx {
                    // Each session's own send instant, so the interval
                    // error includes the time spent on those before it.
                    now: clock.instant(),
                    unix,
                    buf: &mut buf,
                    interval_error: &mut record,
                    sent: 0,
                    received: 0,
                };
                s.tick(&mut cx);
                sent += cx.sent;
                received += cx.received;
            }
            metrics.packets_sent.fetch_add(sent, Relaxed);
            metrics.packets_received.fetch_add(received, Relaxed);
        }
    });
}

fn apply(sessions: &mut Vec<Session>, cmd: Command, now: std::time::Instant, m: &MediaMetrics) {
    let find = |sessions: &mut Vec<Session>, id: u64| sessions.iter().position(|s| s.id == id);
    match cmd {
        Command::Start(s) => {
            m.sessions.fetch_add(1, Relaxed);
            sessions.push(*s);
        }
        Command::Dtmf(id, digit) => {
            if let Some(i) = find(sessions, id) {
                sessions[i].dtmf(now, digit);
            }
        }
        Command::Update(id, neg) => {
            if let Some(i) = find(sessions, id) {
                sessions[i].update(neg);
            }
        }
        Command::Stop(id, why) => {
            if let Some(i) = find(sessions, id) {
                let mut s = sessions.swap_remove(i);
                s.stop(now, why);
                m.sessions.fetch_sub(1, Relaxed);
            }
        }
    }
}
