//! The `[media]` section: where RTP is bound and advertised, the port
//! range, and how many media threads run.
//!
//! ```toml
//! [media]
//! rtp_address = "127.0.0.1"        # bind address (default: sip.listen's)
//! advertised_address = "192.0.2.5" # written in SDP (default: rtp_address)
//! rtp_ports = "10000-20000"        # even ports carry RTP, odd ones RTCP
//! threads = 2                       # media threads (default: one per core)
//! realtime_priority = 10            # SCHED_FIFO for the media threads (Linux)
//! ```

use super::{invalid, ConfigError};
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    #[serde(default)]
    pub rtp_address: Option<IpAddr>,
    #[serde(default)]
    pub advertised_address: Option<IpAddr>,
    #[serde(default)]
    pub rtp_ports: Option<String>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Run the media threads under SCHED_FIFO at this priority (1-99), so
    /// other work on a busy host does not delay their 20 ms ticks. Needs
    /// CAP_SYS_NICE (or root); without it the engine logs a warning and
    /// the threads keep the normal policy. None (the default): normal.
    #[serde(default)]
    pub realtime_priority: Option<u8>,
}

const DEFAULT_PORTS: (u16, u16) = (10_000, 20_000);

impl MediaConfig {
    /// The port range, checked: at least one RTP/RTCP pair, ports 1024+.
    pub fn ports(&self) -> Result<(u16, u16), ConfigError> {
        let Some(text) = &self.rtp_ports else {
            return Ok(DEFAULT_PORTS);
        };
        let bad = || {
            invalid("media.rtp_ports", format!("must be FIRST-LAST with 1024 <= FIRST < LAST <= 65535 and room for one even/odd pair; got {text:?}"))
        };
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (a, b): (u16, u16) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a < 1024 || b <= a || (a + a % 2) + 1 > b {
            return Err(bad());
        }
        Ok((a, b))
    }

    pub fn realtime_priority(&self) -> Result<Option<u8>, ConfigError> {
        match self.realtime_priority {
            Some(p) if !(1..=99).contains(&p) => Err(invalid(
                "media.realtime_priority",
                "must be from 1 to 99 (SCHED_FIFO priorities)",
            )),
            p => Ok(p),
        }
    }

    pub fn threads(&self) -> Result<usize, ConfigError> {
        match self.threads {
            Some(n) if !(1..=64).contains(&n) => {
                Err(invalid("media.threads", "must be from 1 to 64"))
            }
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_priority_is_a_fifo_priority() {
        let with = |p| {
            MediaConfig {
                realtime_priority: p,
                ..Default::default()
            }
            .realtime_priority()
        };
        assert_eq!(with(None).unwrap(), None);
        assert_eq!(with(Some(1)).unwrap(), Some(1));
        assert_eq!(with(Some(99)).unwrap(), Some(99));
        for bad in [0, 100] {
            let e = with(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("media.realtime_priority"), "{bad}: {e}");
        }
    }

    #[test]
    fn port_ranges_are_checked() {
        let with = |s: &str| {
            MediaConfig {
                rtp_ports: Some(s.into()),
                ..Default::default()
            }
            .ports()
        };
        assert_eq!(with("10000-20000").unwrap(), (10_000, 20_000));
        assert_eq!(with("4001-4003").unwrap(), (4001, 4003));
        for bad in [
            "",
            "10000",
            "20000-10000",
            "80-90",
            "4001-4002",
            "a-b",
            "1-70000",
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("media.rtp_ports"), "{bad}: {e}");
        }
        assert_eq!(MediaConfig::default().ports().unwrap(), DEFAULT_PORTS);
        let t = MediaConfig {
            threads: Some(0),
            ..Default::default()
        };
        assert!(t
            .threads()
            .unwrap_err()
            .to_string()
            .contains("media.threads"));
    }
}
