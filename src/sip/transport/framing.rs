//! Stream framing for SIP over TCP and TLS (RFC 3261 18.3): a byte stream
//! is cut into messages by the blank line that ends the headers and the
//! Content-Length that says how long the body is. Sans-IO: bytes go in
//! with [`Framer::push`], frames come out of [`Framer::next_frame`].
//!
//! Limits on the header block and the body bound the buffer, so a peer
//! sending garbage (or one endless header) costs a closed connection, not
//! memory. Keep-alives (RFC 5626 4.4.1) are recognised between messages:
//! a double CRLF "ping" is reported so the connection can answer with a
//! CRLF "pong"; a single CRLF (a pong, or the CRLF RFC 3261 7.5 says to
//! ignore before a start line) is skipped.

/// Longest header block accepted (start line and headers, with the blank
/// line that ends them).
pub const MAX_HEADER: usize = 32 * 1024;
/// Largest body accepted: what fits in one UDP datagram, like the UDP path.
pub const MAX_BODY: usize = 64 * 1024;

/// What the stream carried next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole SIP message: header block and body.
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive ping: answer with a CRLF pong.
    Ping,
}

/// Why the stream cannot be framed. The connection must be closed: after
/// an error the framer does not know where the next message starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("header block longer than {limit} bytes")]
    HeaderTooLong { limit: usize },
    #[error("Content-Length {length} above the {limit}-byte limit")]
    BodyTooLong { length: usize, limit: usize },
    /// RFC 3261 18.3: "In the case of stream-oriented transports such as
    /// TCP, the Content-Length header field indicates the size of the
    /// body. All SIP implementations MUST use this header field".
    #[error("message without Content-Length on a stream")]
    MissingContentLength,
    #[error("unreadable Content-Length {value:?}")]
    BadContentLength { value: String },
}

/// Cuts one direction of a stream into frames.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// How far `buf` was already searched for the end of the headers, so a
    /// message arriving a byte at a time is not searched again from the
    /// start on every byte.
    scanned: usize,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Bytes read from the stream. Call [`Framer::next_frame`] until it
    /// returns `Ok(None)` after each push: that keeps the buffer within
    /// [`MAX_HEADER`] + [`MAX_BODY`] plus one read.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held that are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.keepalive() {
                Keepalive::Ping => return Ok(Some(Frame::Ping)),
                Keepalive::Skipped => continue,
                Keepalive::NeedMore => return Ok(None),
                Keepalive::None => break,
            }
        }
        let Some(header_end) = self.header_end()? else {
            return Ok(None);
        };
        let length = content_length(&self.buf[..header_end])?;
        if length > MAX_BODY {
            return Err(FrameError::BodyTooLong {
                length,
                limit: MAX_BODY,
            });
        }
        let total = header_end + length;
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let message = std::mem::replace(&mut self.buf, rest);
        self.scanned = 0;
        Ok(Some(Frame::Message(message)))
    }

    /// Handle CRLFs at the start of the buffer (between messages).
    fn keepalive(&mut self) -> Keepalive {
        const PING: &[u8] = b"\r\n\r\n";
        if self.buf.starts_with(PING) {
            self.buf.drain(..PING.len());
            return Keepalive::Ping;
        }
        if !self.buf.starts_with(b"\r") {
            return Keepalive::None;
        }
        // Only a prefix of a ping so far: wait for the rest.
        if PING.starts_with(&self.buf) {
            return Keepalive::NeedMore;
        }
        if self.buf.starts_with(b"\r\n") {
            self.buf.drain(..2);
            return Keepalive::Skipped;
        }
        // A lone CR before a start line: not SIP; let the parser say so.
        Keepalive::None
    }

    /// The offset just past the blank line ending the headers, if it has
    /// arrived.
    fn header_end(&mut self) -> Result<Option<usize>, FrameError> {
        let limit = self.buf.len().min(MAX_HEADER);
        // Resume 3 bytes back: the terminator may straddle two pushes.
        let from = self.scanned.saturating_sub(3);
        if let Some(i) = find(&self.buf[from..limit], b"\r\n\r\n") {
            return Ok(Some(from + i + 4));
        }
        if self.buf.len() >= MAX_HEADER {
            return Err(FrameError::HeaderTooLong { limit: MAX_HEADER });
        }
        self.scanned = limit;
        Ok(None)
    }
}

enum Keepalive {
    Ping,
    Skipped,
    NeedMore,
    None,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The Content-Length of a header block (long or compact `l` form, RFC
/// 3261 7.3.3). Two different values are refused: which one the parser
/// would believe is anyone's guess, and guessing wrong desynchronises the
/// stream.
fn content_length(headers: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    // Skip the start line; headers end at the blank line.
    for line in headers.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        let bad = || FrameError::BadContentLength {
            value: String::from_utf8_lossy(value).into_owned(),
        };
        if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let n: usize = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(bad)?;
        if found.is_some_and(|f| f != n) {
            return Err(bad());
        }
        found = Some(n);
    }
    found.ok_or(FrameError::MissingContentLength)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYE: &str = "BYE sip:a@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
Call-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";

    fn with_body(body: &str) -> String {
        format!(
            "INVITE sip:a@h SIP/2.0\r\nCall-ID: c\r\nl: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn frames(f: &mut Framer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame().unwrap() {
            out.push(frame);
        }
        out
    }

    #[test]
    fn cuts_back_to_back_messages_by_content_length() {
        let inv = with_body("v=0\r\no=- 1 1 IN IP4 h\r\n");
        let mut f = Framer::new();
        f.push(format!("{inv}{BYE}").as_bytes());
        assert_eq!(
            frames(&mut f),
            vec![
                Frame::Message(inv.into_bytes()),
                Frame::Message(BYE.as_bytes().to_vec())
            ]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_message_arriving_byte_by_byte_comes_out_once_whole() {
        let inv = with_body("v=0\r\n");
        let mut f = Framer::new();
        let mut got = Vec::new();
        for b in inv.as_bytes() {
            f.push(&[*b]);
            got.extend(frames(&mut f));
        }
        assert_eq!(got, vec![Frame::Message(inv.into_bytes())]);
    }

    #[test]
    fn double_crlf_is_a_ping_and_single_crlf_is_skipped() {
        let mut f = Framer::new();
        f.push(b"\r\n\r\n");
        assert_eq!(frames(&mut f), vec![Frame::Ping]);
        // A pong, then a message.
        f.push(format!("\r\n{BYE}").as_bytes());
        assert_eq!(
            frames(&mut f),
            vec![Frame::Message(BYE.as_bytes().to_vec())]
        );
        // A ping split over two reads is still one ping.
        f.push(b"\r\n\r");
        assert_eq!(frames(&mut f), vec![]);
        f.push(b"\n");
        assert_eq!(frames(&mut f), vec![Frame::Ping]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn a_stream_message_needs_a_content_length() {
        let mut f = Framer::new();
        f.push(b"OPTIONS sip:a@h SIP/2.0\r\nCall-ID: c\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FrameError::MissingContentLength));
    }

    #[test]
    fn unreadable_or_conflicting_lengths_are_refused() {
        for bad in ["x", "-1", "1 2", "99999999999", ""] {
            let mut f = Framer::new();
            f.push(format!("BYE sip:a@h SIP/2.0\r\nContent-Length: {bad}\r\n\r\n").as_bytes());
            assert!(
                matches!(f.next_frame(), Err(FrameError::BadContentLength { .. })),
                "{bad:?}"
            );
        }
        let mut f = Framer::new();
        f.push(b"BYE sip:a@h SIP/2.0\r\nContent-Length: 0\r\nl: 4\r\n\r\nabcd");
        assert!(matches!(
            f.next_frame(),
            Err(FrameError::BadContentLength { .. })
        ));
    }

    #[test]
    fn endless_headers_and_huge_bodies_are_refused_without_buffering_them() {
        let mut f = Framer::new();
        let junk = vec![b'a'; 4096];
        let mut err = None;
        for _ in 0..100 {
            f.push(&junk);
            match f.next_frame() {
                Ok(None) => {}
                other => {
                    err = Some(other);
                    break;
                }
            }
        }
        assert_eq!(
            err,
            Some(Err(FrameError::HeaderTooLong { limit: MAX_HEADER }))
        );
        assert!(f.buffered() < MAX_HEADER + junk.len());

        let mut f = Framer::new();
        f.push(
            format!(
                "INVITE sip:a@h SIP/2.0\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY + 1
            )
            .as_bytes(),
        );
        assert_eq!(
            f.next_frame(),
            Err(FrameError::BodyTooLong {
                length: MAX_BODY + 1,
                limit: MAX_BODY
            })
        );
    }

    #[test]
    fn the_header_terminator_split_across_reads_is_found() {
        let mut f = Framer::new();
        let (a, b) = BYE.split_at(BYE.len() - 2);
        f.push(a.as_bytes());
        assert_eq!(frames(&mut f), vec![]);
        f.push(b.as_bytes());
        assert_eq!(
            frames(&mut f),
            vec![Frame::Message(BYE.as_bytes().to_vec())]
        );
    }
}
