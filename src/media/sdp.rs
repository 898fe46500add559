//! SDP offer/answer for one audio stream (RFC 4566 syntax, RFC 3264
//! negotiation).
//!
//! We offer PCMU (0), PCMA (8) and telephone-event (RFC 4733) from our RTP
//! address and port. The answer decides the codec and the payload types:
//! the telephone-event type is read from its `a=rtpmap`, never assumed to
//! be 101. `parse.rs` reads a description; this file negotiates.

mod parse;

pub use parse::{parse, Description, Direction, MediaSection};

use std::net::{IpAddr, SocketAddr};

/// The payload type we offer telephone-event under (any dynamic type
/// works; the answer's own type is the one used).
const OFFER_EVENT_PT: u8 = 101;

/// Why a description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP at line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
    #[error("SDP has no audio stream")]
    NoAudio,
    #[error("the audio stream was rejected (port 0)")]
    Rejected,
    #[error("no common codec (offered PCMU and PCMA, got {got})")]
    NoCommonCodec { got: String },
    #[error("SDP has no connection address for the audio stream")]
    NoAddress,
}

/// The G.711 law carried on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// What both sides agreed on for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The audio payload type as the far end numbers it.
    pub audio_pt: u8,
    /// telephone-event's payload type, when both sides have it.
    pub event_pt: Option<u8>,
    /// Comfort noise (RFC 3389), when the far end listed it.
    pub cn_pt: Option<u8>,
    /// Where to send RTP; `None` while the far end holds the call
    /// (`c=0.0.0.0`, RFC 3264 8.4) or did not give an address.
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP: `a=rtcp` (RFC 3605) or the RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// The direction from our side: may we send, do we expect to receive.
    pub direction: Direction,
    /// Packet time the far end asked for, in ms (we always send 20).
    pub ptime: Option<u32>,
}

impl Negotiated {
    /// We may send audio.
    pub fn we_send(&self) -> bool {
        self.remote.is_some() && matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }
}

/// An audio offer from `addr:port`. `session_id` must be unique per call.
pub fn offer(addr: IpAddr, port: u16, session_id: u64) -> String {
    let ip = ip_kind(addr);
    format!(
        "v=0\r\no=outdial {session_id} {session_id} IN {ip} {addr}\r\ns=outdial\r\n\
         c=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 {OFFER_EVENT_PT}\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:{OFFER_EVENT_PT} telephone-event/8000\r\na=fmtp:{OFFER_EVENT_PT} 0-16\r\n\
         a=ptime:20\r\na=sendrecv\r\n"
    )
}

/// An answer choosing PCMU, as the sandbox carrier sends it.
pub fn answer(addr: IpAddr, port: u16, session_id: u64) -> String {
    let ip = ip_kind(addr);
    format!(
        "v=0\r\no=sandbox {session_id} {session_id} IN {ip} {addr}\r\ns=sandbox\r\n\
         c=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

fn ip_kind(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// Read the answer to our [`offer`] (RFC 3264 section 6 from the
/// offerer's side): the first audio stream decides.
pub fn negotiate_answer(body: &str) -> Result<Negotiated, SdpError> {
    let desc = parse(body)?;
    let (m, conn) = audio(&desc)?;
    // RFC 3264 6: the answer's direction is the answerer's; ours mirrors it.
    negotiate(m, conn, desc_direction(&desc, m).mirror())
}

fn audio(desc: &Description) -> Result<(&MediaSection, Option<IpAddr>), SdpError> {
    let m = desc
        .media
        .iter()
        .find(|m| m.kind == "audio")
        .ok_or(SdpError::NoAudio)?;
    if m.port == 0 {
        return Err(SdpError::Rejected);
    }
    Ok((m, m.connection.or(desc.connection)))
}

fn desc_direction(desc: &Description, m: &MediaSection) -> Direction {
    m.direction
        .or(desc.direction)
        .unwrap_or(Direction::SendRecv)
}

/// The codec and payload types from `m`'s format list, in its order of
/// preference; `direction` is ours.
fn negotiate(
    m: &MediaSection,
    conn: Option<IpAddr>,
    direction: Direction,
) -> Result<Negotiated, SdpError> {
    let codec = m
        .formats
        .iter()
        .find_map(|&pt| match m.encoding(pt)?.as_str() {
            "pcmu" => Some((Codec::Pcmu, pt)),
            "pcma" => Some((Codec::Pcma, pt)),
            _ => None,
        });
    let Some((codec, audio_pt)) = codec else {
        let got = m
            .formats
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(SdpError::NoCommonCodec { got });
    };
    let named = |name: &str| {
        m.formats
            .iter()
            .copied()
            .find(|&pt| m.encoding(pt).as_deref() == Some(name))
    };
    let conn = conn.ok_or(SdpError::NoAddress)?;
    // RFC 3264 8.4: c=0.0.0.0 is the old way to put a stream on hold.
    let held = conn.is_unspecified();
    let remote = (!held).then_some(SocketAddr::new(conn, m.port));
    let remote_rtcp = remote.map(|r| match m.rtcp {
        Some((port, addr)) => SocketAddr::new(addr.unwrap_or(conn), port),
        None => SocketAddr::new(r.ip(), r.port().wrapping_add(1)),
    });
    let direction = if held {
        direction.without_send()
    } else {
        direction
    };
    Ok(Negotiated {
        codec,
        audio_pt,
        event_pt: named("telephone-event"),
        cn_pt: named("cn"),
        remote,
        remote_rtcp,
        direction,
        ptime: m.ptime,
    })
}

/// Our side of the session, for answering offers the far end makes in a
/// re-INVITE or UPDATE (RFC 3264 section 8).
#[derive(Debug, Clone)]
pub struct LocalSdp {
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    /// `o=` version: incremented in every new description (RFC 3264 8).
    pub version: u64,
    /// The codec in use, preferred when the new offer still lists it.
    pub codec: Option<Codec>,
    /// Filled by [`answer_to`]: what the new answer agreed, for the RTP
    /// session to follow.
    pub negotiated: Option<Negotiated>,
}

/// Answer an offer from the far end: the same codec as before when still
/// offered, else PCMU or PCMA in the offer's order; telephone-event under
/// the offer's payload type; the direction mirrored (`sendonly` is answered
/// `recvonly`, hold keeps us silent); a rejected stream (port 0) answered
/// with port 0.
pub fn answer_to(offer: &str, ours: &mut LocalSdp) -> Result<String, SdpError> {
    let desc = parse(offer)?;
    let m = desc
        .media
        .iter()
        .find(|m| m.kind == "audio")
        .ok_or(SdpError::NoAudio)?;
    ours.version += 1;
    let (addr, id, v) = (ours.addr, ours.session_id, ours.version);
    let ip = ip_kind(addr);
    let head = format!(
        "v=0\r\no=outdial {id} {v} IN {ip} {addr}\r\ns=outdial\r\nc=IN {ip} {addr}\r\nt=0 0\r\n"
    );
    if m.port == 0 {
        ours.negotiated = None;
        return Ok(format!(
            "{head}m=audio 0 RTP/AVP {}\r\n",
            m.formats.first().copied().unwrap_or(0)
        ));
    }
    let direction = desc_direction(&desc, m).mirror();
    let mut n = negotiate(m, m.connection.or(desc.connection), direction)?;
    if let Some(pt) = ours.codec.and_then(|c| {
        m.formats
            .iter()
            .copied()
            .find(|&pt| m.encoding(pt).as_deref() == Some(&c.name().to_ascii_lowercase()))
    }) {
        n.codec = ours.codec.expect("checked");
        n.audio_pt = pt;
    }
    let mut fmts = vec![n.audio_pt];
    let mut attrs = format!("a=rtpmap:{} {}/8000\r\n", n.audio_pt, n.codec.name());
    if let Some(ev) = n.event_pt {
        fmts.push(ev);
        attrs += &format!("a=rtpmap:{ev} telephone-event/8000\r\na=fmtp:{ev} 0-16\r\n");
    }
    let fmts = fmts.iter().map(u8::to_string).collect::<Vec<_>>().join(" ");
    let dir = n.direction.attribute();
    ours.codec = Some(n.codec);
    let port = ours.port;
    ours.negotiated = Some(n);
    Ok(format!(
        "{head}m=audio {port} RTP/AVP {fmts}\r\n{attrs}a=ptime:20\r\na={dir}\r\n"
    ))
}

#[cfg(test)]
mod tests;
