//! RTCP for one session (RFC 3550 section 6): a compound packet of a
//! sender report (or a receiver report when we sent nothing since the last
//! one) with one reception block for the callee's source, and an SDES
//! CNAME, as 6.1 requires of every compound packet. Built with the
//! `rtcp` crate and webrtc-util's `Marshal`.

use super::receiver::Receiver;
use rtcp::packet::Packet;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use std::time::{Duration, Instant};

/// Average report interval (RFC 3550 6.2's minimum of 5 s).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// The last sender report heard from the callee, for LSR and DLSR.
#[derive(Debug, Clone, Copy)]
pub struct LastSr {
    /// The middle 32 bits of its NTP timestamp.
    pub lsr: u32,
    pub at: Instant,
}

/// What a report says about ourselves as a sender.
pub struct Sending {
    pub ssrc: u32,
    /// We sent RTP since the last report: a sender report.
    pub active: bool,
    /// NTP time (RFC 3550 4) of `now` and the RTP timestamp matching it.
    pub ntp: u64,
    pub rtp_ts: u32,
    pub packets: u32,
    pub octets: u32,
}

/// Seconds from 1900 to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// NTP 64-bit time from Unix seconds and nanoseconds.
pub fn ntp(unix_secs: u64, nanos: u32) -> u64 {
    ((unix_secs + NTP_UNIX_OFFSET) << 32) | ((u64::from(nanos) << 32) / 1_000_000_000)
}

/// Build the compound packet.
pub fn report(
    me: &Sending,
    cname: &str,
    source: Option<(u32, &mut Receiver)>,
    last_sr: Option<LastSr>,
    now: Instant,
) -> Result<bytes::Bytes, rtcp::Error> {
    let reports = source
        .map(|(ssrc, r)| {
            let delay = last_sr.map_or(0, |l| {
                let d = now.saturating_duration_since(l.at);
                (d.as_micros() * 65_536 / 1_000_000) as u32
            });
            ReceptionReport {
                ssrc,
                fraction_lost: r.fraction_lost(),
                total_lost: r.lost().clamp(0, 0x7F_FFFF) as u32,
                last_sequence_number: r.extended_max(),
                jitter: r.jitter(),
                last_sender_report: last_sr.map_or(0, |l| l.lsr),
                delay,
            }
        })
        .into_iter()
        .collect::<Vec<_>>();
    let first: Box<dyn Packet + Send + Sync> = if me.active {
        Box::new(SenderReport {
            ssrc: me.ssrc,
            ntp_time: me.ntp,
            rtp_time: me.rtp_ts,
            packet_count: me.packets,
            octet_count: me.octets,
            reports,
            ..Default::default()
        })
    } else {
        Box::new(ReceiverReport {
            ssrc: me.ssrc,
            reports,
            ..Default::default()
        })
    };
    let sdes = SourceDescription {
        chunks: vec![SourceDescriptionChunk {
            source: me.ssrc,
            items: vec![SourceDescriptionItem {
                sdes_type: SdesType::SdesCname,
                text: bytes::Bytes::copy_from_slice(cname.as_bytes()),
            }],
        }],
    };
    rtcp::packet::marshal(&[first, Box::new(sdes)])
}

/// Read a received compound packet: the sender report of `from_ssrc`'s
/// source if there is one (its LSR value), or an error if it is no RTCP.
pub fn read(mut data: &[u8], now: Instant) -> Result<Option<LastSr>, rtcp::Error> {
    let packets = rtcp::packet::unmarshal(&mut data)?;
    Ok(packets.iter().find_map(|p| {
        let sr = p.as_any().downcast_ref::<SenderReport>()?;
        Some(LastSr {
            lsr: (sr.ntp_time >> 16) as u32,
            at: now,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_report_round_trips_with_its_reception_block() {
        let now = Instant::now();
        let mut r = Receiver::default();
        for seq in [1u16, 2, 4] {
            r.on_packet(seq, 0, 0);
        }
        let me = Sending {
            ssrc: 0x1234,
            active: true,
            ntp: ntp(1_700_000_000, 500_000_000),
            rtp_ts: 8000,
            packets: 250,
            octets: 40_000,
        };
        let last = LastSr {
            lsr: 0xABCD_0000,
            at: now,
        };
        let bytes = report(
            &me,
            "outdial@test",
            Some((0x55, &mut r)),
            Some(last),
            now + Duration::from_secs(1),
        )
        .unwrap();
        let packets = rtcp::packet::unmarshal(&mut &bytes[..]).unwrap();
        assert_eq!(packets.len(), 2);
        let sr = packets[0].as_any().downcast_ref::<SenderReport>().unwrap();
        assert_eq!(
            (sr.ssrc, sr.packet_count, sr.octet_count),
            (0x1234, 250, 40_000)
        );
        assert_eq!(sr.ntp_time >> 32, 1_700_000_000 + NTP_UNIX_OFFSET);
        assert_eq!(sr.ntp_time & 0xFFFF_FFFF, 1 << 31);
        let block = &sr.reports[0];
        assert_eq!(
            (block.ssrc, block.total_lost, block.last_sequence_number),
            (0x55, 1, 4)
        );
        assert_eq!(block.fraction_lost, 64);
        assert_eq!(
            (block.last_sender_report, block.delay),
            (0xABCD_0000, 65_536)
        );
        assert!(packets[1]
            .as_any()
            .downcast_ref::<SourceDescription>()
            .is_some());
        // Our own report read back gives its LSR.
        assert_eq!(
            read(&bytes, now).unwrap().unwrap().lsr,
            (me.ntp >> 16) as u32
        );
        assert!(read(b"\x00\x01", now).is_err());
    }

    #[test]
    fn a_silent_sender_sends_a_receiver_report() {
        let me = Sending {
            ssrc: 9,
            active: false,
            ntp: 0,
            rtp_ts: 0,
            packets: 0,
            octets: 0,
        };
        let bytes = report(&me, "x", None, None, Instant::now()).unwrap();
        let packets = rtcp::packet::unmarshal(&mut &bytes[..]).unwrap();
        assert!(packets[0]
            .as_any()
            .downcast_ref::<ReceiverReport>()
            .is_some());
        assert_eq!(read(&bytes, Instant::now()).unwrap().map(|l| l.lsr), None);
    }
}
