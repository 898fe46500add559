//! Call endpoints: E.164 numbers (normalised) and `sip:`/`sips:` URIs.

use serde::{Serialize, Serializer};
use std::fmt;

/// Where a call goes. Stored and shown in its canonical text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An E.164 number, always `+` and digits (`+15551234567`).
    Phone(String),
    /// A SIP or SIPS URI, accepted as given.
    Uri(String),
}

/// Why an endpoint was refused; shown to API users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint is empty")]
    Empty,
    #[error("phone numbers must be in E.164 form with a country code, such as +15551234567")]
    MissingCountryCode,
    #[error("not a valid phone number: {0}")]
    InvalidNumber(String),
    #[error("not a valid SIP URI: it needs a host, a non-empty user before @, and no spaces, quotes or angle brackets")]
    InvalidUri,
}

impl Endpoint {
    /// Parse what a user wrote. E.164 written with spaces, dashes, dots or
    /// parentheses (`+1 (555) 123-4567`) is normalised to `+15551234567`
    /// with libphonenumber's metadata; `sip:`/`sips:` URIs are kept as given.
    pub fn parse(input: &str) -> Result<Endpoint, EndpointError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EndpointError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("sip:") || lower.starts_with("sips:") {
            let rest = &s[s.find(':').map_or(0, |i| i + 1)..];
            // Characters that would end the URI inside a header (RFC 3261
            // 25.1 excludes them from SIP URIs unescaped): a `>` could
            // smuggle parameters into To, such as a tag.
            let forbidden = |c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c);
            let (user, host) = match rest.rsplit_once('@') {
                Some((user, host)) => (Some(user), host),
                None => (None, rest),
            };
            let host = host.split([';', '?']).next().unwrap_or("");
            if host.is_empty() || user == Some("") || rest.chars().any(forbidden) {
                return Err(EndpointError::InvalidUri);
            }
            return Ok(Endpoint::Uri(s.to_string()));
        }
        if !s.starts_with('+') {
            return Err(EndpointError::MissingCountryCode);
        }
        if !s[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(EndpointError::InvalidNumber(s.to_string()));
        }
        let number = phonenumber::parse(None, s)
            .map_err(|e| EndpointError::InvalidNumber(format!("{s} ({e})")))?;
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        // The E.164 limit is 15 digits after the plus (ITU-T E.164 section 6).
        let digits = e164.len() - 1;
        if !(7..=15).contains(&digits) {
            return Err(EndpointError::InvalidNumber(s.to_string()));
        }
        Ok(Endpoint::Phone(e164))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Endpoint::Phone(s) | Endpoint::Uri(s) => s,
        }
    }

    /// The E.164 number this endpoint reaches, for do-not-call checks: the
    /// number itself, or the user part of a SIP URI when it is a phone
    /// number (`sip:+15551234567@carrier` reaches `+15551234567`).
    pub fn phone_number(&self) -> Option<String> {
        match self {
            Endpoint::Phone(n) => Some(n.clone()),
            Endpoint::Uri(u) => {
                let rest = &u[u.find(':').map_or(0, |i| i + 1)..];
                let (user, _) = rest.rsplit_once('@')?;
                let user = user.split([';', ':']).next().unwrap_or("");
                match Endpoint::parse(user) {
                    Ok(Endpoint::Phone(n)) => Some(n),
                    _ => None,
                }
            }
        }
    }

    /// The Request-URI for an INVITE through a trunk at `trunk_host`
    /// (`host` or `host:port`): numbers go to the trunk, URIs as given.
    pub fn request_uri(&self, trunk_host: &str) -> String {
        match self {
            Endpoint::Phone(n) => format!("sip:{n}@{trunk_host}"),
            Endpoint::Uri(u) => u.clone(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_written_forms() {
        for input in [
            "+1-555-123-4567",
            "+1 (555) 123-4567",
            "+15551234567",
            " +1.555.123.4567 ",
        ] {
            assert_eq!(
                Endpoint::parse(input),
                Ok(Endpoint::Phone("+15551234567".into())),
                "{input}"
            );
        }
        assert_eq!(
            Endpoint::parse("+44 20 7946 0958"),
            Ok(Endpoint::Phone("+442079460958".into()))
        );
    }

    #[test]
    fn keeps_sip_uris() {
        assert_eq!(
            Endpoint::parse("sip:user@domain.com"),
            Ok(Endpoint::Uri("sip:user@domain.com".into()))
        );
        assert_eq!(
            Endpoint::parse("sips:bob@example.org:5061"),
            Ok(Endpoint::Uri("sips:bob@example.org:5061".into()))
        );
        assert_eq!(Endpoint::parse("sip:"), Err(EndpointError::InvalidUri));
        for bad in [
            "sip:a@b>;tag=evil",
            "sip:a@\"x\"",
            "sip:@b",
            "sip:a@",
            "sip:a@;x=1",
            "sip:a b@c",
        ] {
            assert_eq!(
                Endpoint::parse(bad),
                Err(EndpointError::InvalidUri),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(Endpoint::parse(""), Err(EndpointError::Empty));
        assert_eq!(
            Endpoint::parse("555-123-4567"),
            Err(EndpointError::MissingCountryCode)
        );
        assert!(Endpoint::parse("+1 555 CALL NOW").is_err());
        assert!(Endpoint::parse("+12").is_err());
        assert!(Endpoint::parse("+1234567890123456789").is_err());
        assert!(Endpoint::parse("http://example.com").is_err());
        assert!(Endpoint::parse("tel:+15551234567").is_err());
    }

    #[test]
    fn phone_numbers_inside_sip_uris_are_found() {
        let n = |s: &str| Endpoint::parse(s).unwrap().phone_number();
        assert_eq!(n("+1 555 123 4567").as_deref(), Some("+15551234567"));
        assert_eq!(
            n("sip:+15551234567@carrier.example").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            n("sips:+15551234567;user=phone@h").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(n("sip:alice@example.com"), None);
    }

    #[test]
    fn request_uri_points_at_the_trunk() {
        let e = Endpoint::parse("+15551234567").unwrap();
        assert_eq!(
            e.request_uri("127.0.0.1:5080"),
            "sip:+15551234567@127.0.0.1:5080"
        );
    }
}
