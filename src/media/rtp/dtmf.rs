//! DTMF as RTP events (RFC 4733 section 2.3): the 4-byte event payload,
//! read once per key press and written for digits the behaviour sends.

use std::collections::VecDeque;

/// Event code of a DTMF key (RFC 4733 section 3.2).
pub fn event_code(digit: char) -> Option<u8> {
    Some(match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        'a'..='d' => digit as u8 - b'a' + 12,
        _ => return None,
    })
}

fn digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        _ => return None,
    })
}

/// Reports each key press once. All packets of one event share its RTP
/// timestamp (RFC 4733 2.5.1.2), and the end packet is sent three times
/// (2.5.1.4): a press is new when its timestamp is.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last: Option<u32>,
}

impl DtmfReceiver {
    /// An event packet with RTP timestamp `ts`: the key, if this is a new
    /// press of a DTMF key (other events, such as flash, are ignored).
    pub fn on_packet(&mut self, ts: u32, payload: &[u8]) -> Option<char> {
        if payload.len() < 4 || self.last == Some(ts) {
            return None;
        }
        let key = digit(payload[0])?;
        self.last = Some(ts);
        Some(key)
    }
}

/// Packets per tone (100 ms) and per pause after it (60 ms).
const TONE_TICKS: u16 = 5;
const END_REPEATS: u16 = 3;
const PAUSE_TICKS: u16 = 3;
/// Volume field: -10 dBm0.
const VOLUME: u8 = 10;

/// One event packet to send this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: [u8; 4],
    /// The event's start timestamp, shared by all its packets.
    pub ts: u32,
    /// First packet of the event (RFC 4733 2.5.1.3).
    pub marker: bool,
}

/// Digits to send, one 20 ms step at a time.
#[derive(Debug, Default)]
pub struct DtmfSender {
    queue: VecDeque<u8>,
    /// Event code, start timestamp, ticks into it.
    current: Option<(u8, u32, u16)>,
}

impl DtmfSender {
    /// Queue `digits`; characters that are no DTMF key are skipped.
    pub fn queue(&mut self, digits: &str) {
        self.queue.extend(digits.chars().filter_map(event_code));
    }

    pub fn busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// The step for the tick whose audio timestamp is `ts`: an event packet,
    /// or `None` (send audio) between tones and when idle.
    pub fn step(&mut self, ts: u32) -> Option<EventPacket> {
        if self.current.is_none() {
            let code = self.queue.pop_front()?;
            self.current = Some((code, ts, 0));
        }
        let (code, start, n) = self.current.as_mut().expect("set above");
        *n += 1;
        let (code, start, n) = (*code, *start, *n);
        if n > TONE_TICKS + END_REPEATS {
            if n >= TONE_TICKS + END_REPEATS + PAUSE_TICKS {
                self.current = None;
            }
            return None;
        }
        let end = n > TONE_TICKS;
        let duration = 160 * n.min(TONE_TICKS);
        let d = duration.to_be_bytes();
        Some(EventPacket {
            payload: [code, (u8::from(end) << 7) | VOLUME, d[0], d[1]],
            ts: start,
            marker: n == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_press_is_reported_once_including_its_end_repeats() {
        let mut r = DtmfReceiver::default();
        let p = |code: u8, end: bool, dur: u16| {
            let d = dur.to_be_bytes();
            [code, u8::from(end) << 7 | 10, d[0], d[1]]
        };
        assert_eq!(r.on_packet(1000, &p(5, false, 160)), Some('5'));
        assert_eq!(r.on_packet(1000, &p(5, false, 320)), None);
        for _ in 0..3 {
            assert_eq!(r.on_packet(1000, &p(5, true, 800)), None);
        }
        // The same key again is a new press (new timestamp).
        assert_eq!(r.on_packet(3000, &p(5, true, 800)), Some('5'));
        assert_eq!(r.on_packet(5000, &p(11, false, 160)), Some('#'));
        assert_eq!(r.on_packet(6000, &p(14, false, 160)), Some('C'));
        assert_eq!(
            r.on_packet(7000, &p(16, false, 160)),
            None,
            "flash is no key"
        );
        assert_eq!(r.on_packet(8000, &[1, 2]), None, "short payload");
    }

    #[test]
    fn digits_are_sent_as_tone_end_repeats_and_pause() {
        let mut s = DtmfSender::default();
        s.queue("1x#");
        let mut ts = 16000u32;
        let mut packets = Vec::new();
        while s.busy() {
            packets.push(s.step(ts));
            ts += 160;
        }
        let steps = usize::from(TONE_TICKS + END_REPEATS + PAUSE_TICKS);
        assert_eq!(packets.len(), 2 * steps);
        let first = packets[0].unwrap();
        assert!(first.marker);
        assert_eq!(first.payload, [1, 10, 0, 160]);
        assert_eq!(first.ts, 16000);
        let end = packets[5].unwrap();
        assert_eq!(end.payload, [1, 0x80 | 10, 3, 32], "end bit, 800 samples");
        assert_eq!(end.ts, 16000);
        assert!(!end.marker);
        assert_eq!(packets[7], Some(end), "end packet sent three times");
        assert!(packets[8..steps].iter().all(Option::is_none));
        let hash = packets[steps].unwrap();
        assert_eq!((hash.payload[0], hash.marker), (11, true));
        assert_eq!(hash.ts, 16000 + 160 * steps as u32);
        assert_eq!(event_code('d'), Some(15));
    }
}
