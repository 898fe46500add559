//! A session's counters, shared between its media thread (which writes
//! them every tick) and its call (which reads them when the call ends):
//! relaxed atomics, so neither side waits for the other.

use super::receiver::Receiver;
use crate::domain::media::MediaStats;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct SharedStats {
    codec: std::sync::OnceLock<&'static str>,
    packets_sent: AtomicU64,
    bytes_sent: AtomicU64,
    packets_received: AtomicU64,
    bytes_received: AtomicU64,
    lost: AtomicI64,
    /// In RTP timestamp units (1/8 ms).
    jitter: AtomicU64,
    wrong_source: AtomicU64,
    wrong_payload_type: AtomicU64,
    late: AtomicU64,
    send_errors: AtomicU64,
    dtmf: AtomicU64,
    rtcp_sent: AtomicU64,
    rtcp_received: AtomicU64,
}

impl SharedStats {
    pub fn new(codec: &'static str) -> SharedStats {
        let s = SharedStats::default();
        let _ = s.codec.set(codec);
        s
    }

    pub fn sent(&self, bytes: usize) {
        self.packets_sent.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
    }
    pub fn received(&self, bytes: usize) {
        self.packets_received.fetch_add(1, Relaxed);
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
    }
    pub fn wrong_source(&self) {
        self.wrong_source.fetch_add(1, Relaxed);
    }
    pub fn wrong_payload_type(&self) {
        self.wrong_payload_type.fetch_add(1, Relaxed);
    }
    pub fn late(&self) {
        self.late.fetch_add(1, Relaxed);
    }
    pub fn send_error(&self) {
        self.send_errors.fetch_add(1, Relaxed);
    }
    pub fn dtmf(&self) {
        self.dtmf.fetch_add(1, Relaxed);
    }
    pub fn rtcp_sent(&self) {
        self.rtcp_sent.fetch_add(1, Relaxed);
    }
    pub fn rtcp_received(&self) {
        self.rtcp_received.fetch_add(1, Relaxed);
    }

    /// Packets and payload octets sent so far.
    pub fn sent_counts(&self) -> (u64, u64) {
        (
            self.packets_sent.load(Relaxed),
            self.bytes_sent.load(Relaxed),
        )
    }

    pub fn publish_receiver(&self, r: &Receiver) {
        self.lost.store(r.lost(), Relaxed);
        self.jitter.store(u64::from(r.jitter()), Relaxed);
    }

    pub fn snapshot(&self) -> MediaStats {
        MediaStats {
            codec: self.codec.get().copied().unwrap_or("").to_string(),
            packets_sent: self.packets_sent.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            packets_received: self.packets_received.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            packets_lost: self.lost.load(Relaxed),
            jitter_ms: self.jitter.load(Relaxed) as f64 / 8.0,
            dropped_wrong_source: self.wrong_source.load(Relaxed),
            dropped_wrong_payload_type: self.wrong_payload_type.load(Relaxed),
            dtmf_received: self.dtmf.load(Relaxed),
            rtcp_sent: self.rtcp_sent.load(Relaxed),
            rtcp_received: self.rtcp_received.load(Relaxed),
        }
    }
}
