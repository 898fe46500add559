//! SDP offer and answer bodies (RFC 4566, offer/answer per RFC 3264).
//!
//! The offer lists PCMU (0), PCMA (8) and telephone-event. Media is carried
//! by a later layer; the port offered here is the one it will use.

use std::net::IpAddr;

/// An audio offer from `addr:port`. `session_id` must be unique per call.
pub fn offer(addr: IpAddr, port: u16, session_id: u64) -> String {
    let ip = match addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    format!(
        "v=0\r\no=outdial {session_id} {session_id} IN {ip} {addr}\r\ns=outdial\r\n\
         c=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// An answer choosing PCMU, as the sandbox carrier sends it.
pub fn answer(addr: IpAddr, port: u16, session_id: u64) -> String {
    format!(
        "v=0\r\no=sandbox {session_id} {session_id} IN IP4 {addr}\r\ns=sandbox\r\n\
         c=IN IP4 {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_lists_g711_and_events() {
        let o = offer("127.0.0.1".parse().unwrap(), 40000, 7);
        assert!(o.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
        assert!(o.contains("a=rtpmap:8 PCMA/8000"));
        assert!(o.contains("c=IN IP4 127.0.0.1"));
        assert!(o.ends_with("\r\n"));
    }
}
