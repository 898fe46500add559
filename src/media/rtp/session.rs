//! One call's RTP session, driven by its media thread's 20 ms tick: read
//! what arrived, hand the behaviour the callee's audio (mu-law), send what
//! it says in the negotiated law, send RFC 4733 digits, and report over
//! RTCP every ~5 s.
//!
//! Symmetric RTP (RFC 4961): the first valid packet from the callee's
//! address latches the source; from then on, packets from elsewhere are
//! dropped and counted, and our packets go where theirs come from.

use super::dtmf::{DtmfReceiver, DtmfSender};
use super::receiver::Receiver;
use super::reorder::{Pushed, Reorder};
use super::rtcp;
use super::stats::SharedStats;
use crate::media::behaviour::{Behaviour, Request, Stop, FRAME};
use crate::media::g711;
use crate::media::pool::Allocation;
use crate::media::sdp::{Codec, Negotiated};
use rtp::header::Header;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webrtc_util::marshal::{Marshal, MarshalSize, Unmarshal};

/// What the session tells its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A behaviour's request the call acts on (hang up, opt out).
    Request(Request),
}

/// Where notes go (the call actor's mailbox, in practice).
pub type Notify = Box<dyn FnMut(Note) + Send>;

/// Largest payload kept per packet: 40 ms of G.711.
const MAX_PAYLOAD: usize = 320;
/// Packets read per socket per tick at most, so a flood on one call
/// cannot starve the others on the thread.
const READS_PER_TICK: usize = 16;
/// Read the RTCP socket every 10th tick (200 ms).
const RTCP_READ_EVERY: u32 = 10;
/// Decoded audio kept ahead of the behaviour: 3 frames.
const FIFO: usize = 3 * FRAME;

#[derive(Clone, Copy)]
struct Frame {
    len: u16,
    data: [u8; MAX_PAYLOAD],
}

/// Everything a session needs from its thread on each tick.
pub struct TickCtx<'a> {
    pub now: Instant,
    /// Wall time as Unix seconds and nanoseconds, for RTCP's NTP field.
    pub unix: (u64, u32),
    pub buf: &'a mut [u8; 1500],
    /// Send-interval errors, for the thread's histogram.
    pub interval_error: &'a mut dyn FnMut(Duration),
    /// Packets sent and accepted this tick, summed over the thread's
    /// sessions.
    pub sent: u64,
    pub received: u64,
}

pub struct Session {
    pub id: u64,
    alloc: Allocation,
    neg: Negotiated,
    behaviour: Box<dyn Behaviour>,
    notify: Notify,
    pub stats: Arc<SharedStats>,
    cname: String,
    // Sending.
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker_next: bool,
    last_send: Option<Instant>,
    sent_since_report: bool,
    dtmf_tx: DtmfSender,
    // Receiving.
    latched: Option<SocketAddr>,
    rtcp_latched: Option<SocketAddr>,
    source: Option<u32>,
    receiver: Receiver,
    reorder: Reorder<Frame>,
    fifo: [u8; FIFO],
    fifo_len: usize,
    dtmf_rx: DtmfReceiver,
    last_sr: Option<rtcp::LastSr>,
    start: Instant,
    next_rtcp: Instant,
    /// Ticks run; RTCP, which comes every few seconds, is read on every
    /// [`RTCP_READ_EVERY`]th tick only, sparing a system call per tick.
    ticks: u32,
    stopped: bool,
}

impl Session {
    pub fn new(
        id: u64,
        alloc: Allocation,
        neg: Negotiated,
        behaviour: Box<dyn Behaviour>,
        notify: Notify,
        stats: Arc<SharedStats>,
        now: Instant,
    ) -> Session {
        let ssrc = rand::random();
        Session {
            id,
            cname: format!(
                "outdial-{ssrc:08x}@{}",
                alloc
                    .rtp
                    .local_addr()
                    .map(|a| a.ip())
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]))
            ),
            alloc,
            neg,
            behaviour,
            notify,
            stats,
            ssrc,
            seq: rand::random(),
            ts: rand::random(),
            marker_next: true,
            last_send: None,
            sent_since_report: false,
            dtmf_tx: DtmfSender::default(),
            latched: None,
            rtcp_latched: None,
            source: None,
            receiver: Receiver::default(),
            reorder: Reorder::default(),
            fifo: [g711::ULAW_SILENCE; FIFO],
            fifo_len: 0,
            dtmf_rx: DtmfReceiver::default(),
            last_sr: None,
            start: now,
            // RFC 3550 6.2: the first report after half an interval.
            next_rtcp: now + rtcp::INTERVAL / 2,
            ticks: 0,
            stopped: false,
        }
    }

    /// The callee answered: tell the behaviour.
    pub fn answered(&mut self, now: Instant) {
        self.behaviour.answered(now);
    }

    /// A key pressed on the callee's side, however it arrived (RFC 4733
    /// here, SIP INFO through the call).
    pub fn dtmf(&mut self, now: Instant, digit: char) {
        self.stats.dtmf();
        self.behaviour.dtmf(now, digit);
        self.drain_requests();
    }

    /// A new answer (re-INVITE or UPDATE): follow it.
    pub fn update(&mut self, neg: Negotiated) {
        if neg.remote.map(|r| r.ip()) != self.neg.remote.map(|r| r.ip()) {
            self.latched = None;
            self.rtcp_latched = None;
        }
        self.neg = neg;
    }

    pub fn stop(&mut self, now: Instant, why: Stop) {
        if !self.stopped {
            self.stopped = true;
            self.behaviour.stop(now, why);
        }
    }

    /// One 20 ms step.
    pub fn tick(&mut self, cx: &mut TickCtx<'_>) {
        self.read_rtp(cx);
        if self.ticks.is_multiple_of(RTCP_READ_EVERY) {
            self.read_rtcp(cx);
        }
        self.ticks = self.ticks.wrapping_add(1);
        while let Some(frame) = self.reorder.pop() {
            self.push_audio(&frame.data[..usize::from(frame.len)]);
        }
        let mut heard = [0u8; FRAME];
        let got = self.fifo_len >= FRAME;
        if got {
            heard.copy_from_slice(&self.fifo[..FRAME]);
            self.fifo.copy_within(FRAME..self.fifo_len, 0);
            self.fifo_len -= FRAME;
        }
        let mut say = [g711::ULAW_SILENCE; FRAME];
        let speak = self.behaviour.tick(cx.now, got.then_some(&heard), &mut say);
        self.drain_requests();
        self.send(cx, speak, &mut say);
        self.ts = self.ts.wrapping_add(FRAME as u32);
        if cx.now >= self.next_rtcp {
            self.send_rtcp(cx);
        }
        self.stats.publish_receiver(&self.receiver);
    }

    fn drain_requests(&mut self) {
        while let Some(req) = self.behaviour.take_request() {
            match req {
                Request::SendDtmf(digits) if self.neg.event_pt.is_some() => {
                    self.dtmf_tx.queue(&digits)
                }
                Request::SendDtmf(digits) => {
                    tracing::warn!(
                        session = self.id,
                        digits,
                        "callee accepted no telephone-event; digits not sent"
                    )
                }
                other => (self.notify)(Note::Request(other)),
            }
        }
    }

    fn push_audio(&mut self, payload: &[u8]) {
        let room = FIFO - self.fifo_len;
        if payload.len() > room {
            // Too far ahead: drop the oldest audio to keep latency bounded.
            let cut = (payload.len() - room).min(self.fifo_len);
            self.fifo.copy_within(cut..self.fifo_len, 0);
            self.fifo_len -= cut;
        }
        let n = payload.len().min(FIFO - self.fifo_len);
        let dst = &mut self.fifo[self.fifo_len..self.fifo_len + n];
        dst.copy_from_slice(&payload[..n]);
        if self.neg.codec == Codec::Pcma {
            g711::alaw_to_ulaw_in_place(dst);
        }
        self.fifo_len += n;
    }

    fn send(&mut self, cx: &mut TickCtx<'_>, speak: bool, say: &mut [u8; FRAME]) {
        let Some(dest) = self.latched.or(self.neg.remote) else {
            return;
        };
        if !self.neg.we_send() {
            return;
        }
        let (pt, marker, ts, len) = match (self.dtmf_tx.step(self.ts), self.neg.event_pt) {
            (Some(ev), Some(pt)) => {
                say[..4].copy_from_slice(&ev.payload);
                (pt, ev.marker, ev.ts, 4)
            }
            _ if speak => {
                if self.neg.codec == Codec::Pcma {
                    g711::ulaw_to_alaw_in_place(say);
                }
                (self.neg.audio_pt, self.marker_next, self.ts, FRAME)
            }
            _ => {
                // Nothing said: a gap; the next talkspurt gets the marker.
                self.marker_next = true;
                return;
            }
        };
        let header = Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: self.seq,
            timestamp: ts,
            ssrc: self.ssrc,
            ..Default::default()
        };
        let Ok(h) = header.marshal_to(&mut cx.buf[..]) else {
            return;
        };
        cx.buf[h..h + len].copy_from_slice(&say[..len]);
        match self.alloc.rtp.send_to(&cx.buf[..h + len], dest) {
            Ok(_) => {
                self.seq = self.seq.wrapping_add(1);
                if pt == self.neg.audio_pt {
                    self.marker_next = false;
                }
                self.sent_since_report = true;
                self.stats.sent(len);
                cx.sent += 1;
                let now = cx.now;
                if let Some(last) = self.last_send.replace(now) {
                    let gap = now.saturating_duration_since(last);
                    if gap < Duration::from_millis(30) {
                        (cx.interval_error)(gap.abs_diff(super::super::ticker::PERIOD));
                    }
                }
            }
            Err(e) => {
                self.stats.send_error();
                tracing::debug!(session = self.id, error = %e, "RTP send failed");
            }
        }
    }

    fn read_rtp(&mut self, cx: &mut TickCtx<'_>) {
        for _ in 0..READS_PER_TICK {
            match self.alloc.rtp.recv_from(&mut cx.buf[..]) {
                Ok((n, from)) => {
                    if self.on_rtp(&cx.buf[..n], from, cx.now) {
                        cx.received += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(session = self.id, error = %e, "RTP receive failed");
                    break;
                }
            }
        }
    }

    /// One datagram from the RTP socket; true when it was accepted.
    fn on_rtp(&mut self, data: &[u8], from: SocketAddr, now: Instant) -> bool {
        let mut reader = data;
        let Ok(header) = Header::unmarshal(&mut reader) else {
            self.stats.wrong_payload_type();
            return false;
        };
        let mut payload = &data[header.marshal_size().min(data.len())..];
        if header.padding {
            let pad = usize::from(*payload.last().unwrap_or(&0));
            payload = &payload[..payload.len().saturating_sub(pad)];
        }
        let pt = header.payload_type;
        let known =
            pt == self.neg.audio_pt || Some(pt) == self.neg.event_pt || Some(pt) == self.neg.cn_pt;
        if header.version != 2 || !known {
            self.stats.wrong_payload_type();
            return false;
        }
        match self.latched {
            Some(l) if l != from => {
                self.stats.wrong_source();
                return false;
            }
            Some(_) => {}
            None => {
                if self.neg.remote.is_some_and(|r| r.ip() != from.ip()) {
                    self.stats.wrong_source();
                    return false;
                }
                self.latched = Some(from);
            }
        }
        if self.source != Some(header.ssrc) {
            // A new source (RFC 3550 8.2): start its statistics afresh.
            self.source = Some(header.ssrc);
            self.receiver = Receiver::default();
            self.reorder.reset();
        }
        let arrival = (now.saturating_duration_since(self.start).as_micros() * 8 / 1000) as u32;
        self.receiver
            .on_packet(header.sequence_number, header.timestamp, arrival);
        self.stats.received(payload.len());
        if pt == self.neg.audio_pt {
            let mut frame = Frame {
                len: 0,
                data: [0; MAX_PAYLOAD],
            };
            let n = payload.len().min(MAX_PAYLOAD);
            frame.data[..n].copy_from_slice(&payload[..n]);
            frame.len = n as u16;
            if self.reorder.push(header.sequence_number, frame) != Pushed::Held {
                self.stats.late();
            }
        } else if Some(pt) == self.neg.event_pt {
            if let Some(digit) = self.dtmf_rx.on_packet(header.timestamp, payload) {
                self.dtmf(now, digit);
            }
        }
        true
    }

    fn read_rtcp(&mut self, cx: &mut TickCtx<'_>) {
        for _ in 0..READS_PER_TICK {
            match self.alloc.rtcp.recv_from(&mut cx.buf[..]) {
                Ok((n, from)) => {
                    let ok_source = match self.rtcp_latched {
                        Some(l) => l == from,
                        None => self.neg.remote.is_none_or(|r| r.ip() == from.ip()),
                    };
                    if !ok_source {
                        continue;
                    }
                    if let Ok(sr) = rtcp::read(&cx.buf[..n], cx.now) {
                        self.rtcp_latched = Some(from);
                        self.stats.rtcp_received();
                        if sr.is_some() {
                            self.last_sr = sr;
                        }
                    }
                }
                Err(_) => break,
            }
        }
    }

    fn send_rtcp(&mut self, cx: &mut TickCtx<'_>) {
        // RFC 3550 6.2: randomised over [0.5, 1.5] of the interval.
        let spread = rtcp::INTERVAL.mul_f64(0.5 + rand::random::<f64>());
        self.next_rtcp = cx.now + spread;
        let Some(dest) = self.rtcp_latched.or(self.neg.remote_rtcp) else {
            return;
        };
        let (sent, octets) = self.stats.sent_counts();
        let me = rtcp::Sending {
            ssrc: self.ssrc,
            active: std::mem::take(&mut self.sent_since_report),
            ntp: rtcp::ntp(cx.unix.0, cx.unix.1),
            rtp_ts: self.ts,
            packets: sent as u32,
            octets: octets as u32,
        };
        let source = self.source.map(|s| (s, &mut self.receiver));
        match rtcp::report(&me, &self.cname, source, self.last_sr, cx.now) {
            Ok(bytes) => {
                if self.alloc.rtcp.send_to(&bytes, dest).is_ok() {
                    self.stats.rtcp_sent();
                }
            }
            Err(e) => tracing::debug!(session = self.id, error = %e, "cannot build RTCP"),
        }
    }
}

#[cfg(test)]
mod tests;
