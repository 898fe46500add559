//! The only module that reads real time. Everything else takes `now` as an
//! argument or asks an injected [`Clock`].

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Wall-clock time for records and rules, monotonic time for timers.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    fn instant(&self) -> Instant;
}

/// The system clock, used in production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Microsecond precision: what the store keeps, so an answer given
    /// before a write and a read after it show the same instant.
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to, for tests and simulation.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<(DateTime<Utc>, Instant)>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            inner: Arc::new(Mutex::new((start, Instant::now()))),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut g = self.inner.lock().expect("clock lock");
        g.0 += chrono::Duration::from_std(by).expect("duration in range");
        g.1 += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.lock().expect("clock lock").0
    }
    fn instant(&self) -> Instant {
        self.inner.lock().expect("clock lock").1
    }
}

pub type SharedClock = Arc<dyn Clock>;
