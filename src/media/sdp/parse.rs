//! Reading an SDP body (RFC 4566 section 5): the session-level and
//! media-level lines offer/answer needs; other lines are skipped as the
//! RFC allows for unknown attributes.

use super::SdpError;
use std::net::IpAddr;

/// Stream direction attributes (RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction the other side takes for this one.
    pub fn mirror(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// The same with sending taken away (a hold).
    pub fn without_send(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::RecvOnly => Direction::RecvOnly,
            Direction::SendOnly | Direction::Inactive => Direction::Inactive,
        }
    }

    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Direction> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    pub kind: String,
    pub port: u16,
    pub formats: Vec<u8>,
    /// `a=rtpmap` entries: payload type, lower-case encoding name.
    pub rtpmap: Vec<(u8, String)>,
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
    /// `a=rtcp:port [IN IP4 addr]` (RFC 3605).
    pub rtcp: Option<(u16, Option<IpAddr>)>,
}

impl MediaSection {
    /// The encoding of payload type `pt`: its rtpmap, or the static
    /// assignment of RFC 3551 table 4 for 0, 8 and 13.
    pub fn encoding(&self, pt: u8) -> Option<String> {
        if let Some((_, name)) = self.rtpmap.iter().find(|(p, _)| *p == pt) {
            return Some(name.clone());
        }
        match pt {
            0 => Some("pcmu".into()),
            8 => Some("pcma".into()),
            13 => Some("cn".into()),
            _ => None,
        }
    }
}

/// A parsed description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description {
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<MediaSection>,
}

/// Parse `body`. Lines are `<type>=<value>` (CRLF or LF); `v=0` comes
/// first; `c=` and `m=` must be well formed.
pub fn parse(body: &str) -> Result<Description, SdpError> {
    let mut desc = Description::default();
    let mut seen_version = false;
    for (i, raw) in body.lines().enumerate() {
        let line = i + 1;
        let bad = |reason| SdpError::Malformed { line, reason };
        let raw = raw.trim_end_matches('\r');
        if raw.is_empty() {
            continue;
        }
        let (kind, value) = raw.split_once('=').ok_or(bad("not <type>=<value>"))?;
        if kind.len() != 1 {
            return Err(bad("not <type>=<value>"));
        }
        if !seen_version {
            if raw != "v=0" {
                return Err(bad("must start with v=0"));
            }
            seen_version = true;
            continue;
        }
        match kind {
            "c" => {
                let addr = connection(value).ok_or(bad("bad c= line"))?;
                match desc.media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => desc.connection = Some(addr),
                }
            }
            "m" => desc.media.push(media(value).ok_or(bad("bad m= line"))?),
            "a" => attribute(&mut desc, value).map_err(bad)?,
            _ => {}
        }
    }
    if !seen_version {
        return Err(SdpError::Malformed {
            line: 1,
            reason: "empty body",
        });
    }
    Ok(desc)
}

/// `IN IP4 192.0.2.1` (a multicast TTL suffix is cut off).
fn connection(value: &str) -> Option<IpAddr> {
    let mut it = value.split_ascii_whitespace();
    if it.next()? != "IN" {
        return None;
    }
    let kind = it.next()?;
    let addr: IpAddr = it.next()?.split('/').next()?.parse().ok()?;
    match (kind, addr) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(addr),
        _ => None,
    }
}

/// `audio 49170 RTP/AVP 0 8 101` (a port count `/2` is allowed).
fn media(value: &str) -> Option<MediaSection> {
    let mut it = value.split_ascii_whitespace();
    let kind = it.next()?.to_string();
    let port = it.next()?.split('/').next()?.parse().ok()?;
    let proto = it.next()?;
    let formats = if proto.starts_with("RTP/") {
        it.map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
            .collect::<Option<Vec<_>>>()?
    } else {
        Vec::new()
    };
    if proto.starts_with("RTP/") && formats.is_empty() {
        return None;
    }
    Some(MediaSection {
        kind,
        port,
        formats,
        rtpmap: Vec::new(),
        connection: None,
        direction: None,
        ptime: None,
        rtcp: None,
    })
}

fn attribute(desc: &mut Description, value: &str) -> Result<(), &'static str> {
    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
    if let Some(d) = Direction::parse(name) {
        match desc.media.last_mut() {
            Some(m) => m.direction = Some(d),
            None => desc.direction = Some(d),
        }
        return Ok(());
    }
    let Some(m) = desc.media.last_mut() else {
        return Ok(());
    };
    match name {
        "rtpmap" => {
            let (pt, enc) = arg.split_once(' ').ok_or("bad a=rtpmap")?;
            let pt = pt.parse::<u8>().map_err(|_| "bad a=rtpmap payload type")?;
            let name = enc.trim().split('/').next().unwrap_or("");
            m.rtpmap.push((pt, name.to_ascii_lowercase()));
        }
        "ptime" => m.ptime = Some(arg.trim().parse().map_err(|_| "bad a=ptime")?),
        "rtcp" => {
            let mut it = arg.split_ascii_whitespace();
            let port = it.next().and_then(|p| p.parse().ok()).ok_or("bad a=rtcp")?;
            let rest = it.collect::<Vec<_>>().join(" ");
            let addr = if rest.is_empty() {
                None
            } else {
                Some(connection(&rest).ok_or("bad a=rtcp address")?)
            };
            m.rtcp = Some((port, addr));
        }
        _ => {}
    }
    Ok(())
}
