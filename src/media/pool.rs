//! The RTP port pool: even ports of the configured range for RTP, each
//! with the next odd port for RTCP (RFC 3550 11). A call holds its pair
//! from its INVITE until its media stops; dropping the [`Allocation`]
//! gives the pair back, at the end of the line so a port is not reused
//! while stray packets of its last call may still arrive.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

/// No port pair could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("no free RTP port in {first}-{last}")]
    Exhausted { first: u16, last: u16 },
}

pub struct PortPool {
    bind: IpAddr,
    range: (u16, u16),
    free: Mutex<VecDeque<u16>>,
}

/// A bound RTP/RTCP socket pair, non-blocking.
pub struct Allocation {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub port: u16,
    pool: Arc<PortPool>,
}

impl Drop for Allocation {
    fn drop(&mut self) {
        self.pool
            .free
            .lock()
            .expect("pool lock")
            .push_back(self.port);
    }
}

impl PortPool {
    /// Even ports from `first` to `last` (inclusive) on `bind`.
    pub fn new(bind: IpAddr, first: u16, last: u16) -> Arc<PortPool> {
        let start = first + first % 2;
        let free = (start..last).step_by(2).collect();
        Arc::new(PortPool {
            bind,
            range: (first, last),
            free: Mutex::new(free),
        })
    }

    /// Pairs not handed out.
    pub fn available(&self) -> usize {
        self.free.lock().expect("pool lock").len()
    }

    /// Bind the next free pair; a pair another program holds is put back
    /// at the end and the next one tried.
    pub fn allocate(self: &Arc<Self>) -> Result<Allocation, PoolError> {
        let tries = self.available();
        for _ in 0..tries {
            let Some(port) = self.free.lock().expect("pool lock").pop_front() else {
                break;
            };
            match self.bind_pair(port) {
                Ok((rtp, rtcp)) => {
                    return Ok(Allocation {
                        rtp,
                        rtcp,
                        port,
                        pool: self.clone(),
                    })
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port busy; trying the next");
                    self.free.lock().expect("pool lock").push_back(port);
                }
            }
        }
        Err(PoolError::Exhausted {
            first: self.range.0,
            last: self.range.1,
        })
    }

    fn bind_pair(&self, port: u16) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let rtp = UdpSocket::bind(SocketAddr::new(self.bind, port))?;
        let rtcp = UdpSocket::bind(SocketAddr::new(self.bind, port + 1))?;
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        Ok((rtp, rtcp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_and_come_back_at_the_end() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Hold a port of the range as another program would.
        let probe = UdpSocket::bind((ip, 0)).unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        let pool = PortPool::new(ip, base + 1, base + 6);
        assert_eq!(pool.available(), 2, "{} and {}", base + 2, base + 4);
        let a = pool.allocate().unwrap();
        assert_eq!(a.port % 2, 0);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), a.port + 1);
        let b = pool.allocate().unwrap();
        assert_ne!(a.port, b.port);
        assert_eq!(
            pool.allocate().err(),
            Some(PoolError::Exhausted {
                first: base + 1,
                last: base + 6
            })
        );
        let port = a.port;
        drop(a);
        assert_eq!(pool.available(), 1);
        assert_eq!(pool.allocate().unwrap().port, port);
    }
}
