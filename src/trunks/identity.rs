//! How an INVITE names the callee and the caller on a given trunk: the
//! Request-URI's number format, the caller ID in From or in
//! P-Asserted-Identity (RFC 3325 9.1) with `Privacy: id` (RFC 3323 4.2),
//! and the trunk's extra headers (checked by the config: no CR/LF, no core
//! header).

use crate::config::{CallerIdHeader, NumberFormat, Privacy, TrunkConfig};
use crate::domain::Endpoint;

/// A trunk's caller-ID and header settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub number_format: NumberFormat,
    pub caller_id_header: CallerIdHeader,
    pub privacy: Privacy,
    pub extra_headers: Vec<(String, String)>,
}

impl Identity {
    pub fn from_config(t: &TrunkConfig) -> Identity {
        Identity {
            number_format: t.number_format,
            caller_id_header: t.caller_id_header,
            privacy: t.privacy,
            extra_headers: t
                .extra_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The Request-URI for `endpoint` through the host `host_port`: phone
    /// numbers in the trunk's format, `sip:` URIs as given.
    pub fn request_uri(&self, endpoint: &Endpoint, host_port: &str) -> String {
        match endpoint {
            Endpoint::Phone(n) => format!("sip:{}@{host_port}", self.number_format.user(n)),
            Endpoint::Uri(u) => u.clone(),
        }
    }

    /// Whether From must hide the caller (RFC 3323 4.1.1.3).
    pub fn anonymous_from(&self) -> bool {
        self.privacy == Privacy::Id
    }

    /// Headers for the INVITE beyond the core ones: P-Asserted-Identity
    /// (the caller ID in the trunk host's domain) and Privacy when
    /// configured, then the extra headers.
    pub fn invite_headers(&self, caller_id: &str, host_port: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.caller_id_header == CallerIdHeader::PAssertedIdentity {
            let host = host_of(host_port);
            out.push((
                "P-Asserted-Identity".to_string(),
                format!("<sip:{caller_id}@{host}>"),
            ));
            if self.privacy == Privacy::Id {
                out.push(("Privacy".to_string(), "id".to_string()));
            }
        }
        out.extend(self.extra_headers.iter().cloned());
        out
    }
}

/// `host` of `host[:port]` (IPv6 references keep their brackets).
fn host_of(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port
            .split_once(']')
            .map_or(host_port, |(h, _)| &host_port[..=h.len()]);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_format_shapes_the_request_uri() {
        let e = Endpoint::parse("+15551234567").unwrap();
        let mut id = Identity::default();
        assert_eq!(
            id.request_uri(&e, "carrier.example:5060"),
            "sip:+15551234567@carrier.example:5060"
        );
        id.number_format = NumberFormat::E164;
        assert_eq!(
            id.request_uri(&e, "carrier.example"),
            "sip:15551234567@carrier.example"
        );
        let uri = Endpoint::parse("sip:alice@pbx.example").unwrap();
        assert_eq!(id.request_uri(&uri, "h"), "sip:alice@pbx.example");
    }

    #[test]
    fn p_asserted_identity_and_privacy_go_with_the_extra_headers() {
        let mut id = Identity {
            caller_id_header: CallerIdHeader::PAssertedIdentity,
            extra_headers: vec![("X-Account".into(), "42".into())],
            ..Identity::default()
        };
        assert_eq!(
            id.invite_headers("+15550001111", "sbc.example:5060"),
            vec![
                (
                    "P-Asserted-Identity".to_string(),
                    "<sip:+15550001111@sbc.example>".to_string()
                ),
                ("X-Account".to_string(), "42".to_string()),
            ]
        );
        assert!(!id.anonymous_from());
        id.privacy = Privacy::Id;
        let h = id.invite_headers("+15550001111", "[2001:db8::1]:5060");
        assert_eq!(h[0].1, "<sip:+15550001111@[2001:db8::1]>");
        assert_eq!(h[1], ("Privacy".to_string(), "id".to_string()));
        assert!(id.anonymous_from());
    }

    #[test]
    fn from_alone_adds_only_the_extra_headers() {
        let id = Identity::default();
        assert!(id.invite_headers("+1555", "h").is_empty());
    }
}
