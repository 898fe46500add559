//! Trunk keys beyond the transport: carrier profiles (`profile = "twilio"`),
//! several hosts, the Request-URI's number format, the caller-ID header,
//! extra headers, OPTIONS keepalive and the sources trusted to send
//! requests. Profiles are TOML files in `config/trunks/`, compiled into the
//! binary so the engine runs from any directory; a trunk's own keys win
//! over its profile's.

use super::{invalid, ConfigError, TrunkConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The profiles shipped with the engine: name and file text.
pub const PROFILES: [(&str, &str); 3] = [
    ("twilio", include_str!("../../config/trunks/twilio.toml")),
    ("telnyx", include_str!("../../config/trunks/telnyx.toml")),
    ("generic", include_str!("../../config/trunks/generic.toml")),
];

/// How the dialed number is written in the Request-URI's user part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum NumberFormat {
    /// `+15551234567` (Twilio, Telnyx, most carriers).
    #[default]
    #[serde(rename = "+e164")]
    PlusE164,
    /// `15551234567`: E.164 digits without the plus.
    #[serde(rename = "e164")]
    E164,
}

impl NumberFormat {
    /// The user part for an E.164 number (`+` and digits).
    pub fn user(self, e164: &str) -> String {
        match self {
            NumberFormat::PlusE164 => e164.to_string(),
            NumberFormat::E164 => e164.trim_start_matches('+').to_string(),
        }
    }
}

/// Where the caller ID travels (RFC 3325 for P-Asserted-Identity).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallerIdHeader {
    #[default]
    From,
    PAssertedIdentity,
}

/// RFC 3323 privacy asked of the carrier, with P-Asserted-Identity only:
/// `id` sends `Privacy: id` and an anonymous From (RFC 3323 4.1.1.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privacy {
    #[default]
    None,
    Id,
}

/// What happens to a request from an address that is no trunk's host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UntrustedRequests {
    /// Silently: a scanner learns nothing.
    #[default]
    Drop,
    /// `403 Forbidden` (never for ACK, which gets no response).
    Refuse,
}

/// Headers the engine writes itself; `extra_headers` may not set them.
const CORE_HEADERS: [&str; 20] = [
    "via",
    "max-forwards",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "route",
    "record-route",
    "content-length",
    "content-type",
    "authorization",
    "proxy-authorization",
    "p-asserted-identity",
    "privacy",
    "allow",
    "user-agent",
    "expires",
    "require",
    "supported",
];

/// RFC 3261 25.1 `token` characters, as a header name allows.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Why an extra header cannot be sent, if it cannot.
pub fn check_extra_header(name: &str, value: &str) -> Result<(), String> {
    if !is_token(name) {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if CORE_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{name} is written by the engine and cannot be overridden"
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the value of {name} holds a control character (CR, LF, ...)"
        ));
    }
    if value.trim().is_empty() {
        return Err(format!("the value of {name} is empty"));
    }
    Ok(())
}

/// Fill each `[[trunks]]` table from its profile (pure, on the TOML before
/// it is typed): keys the trunk lacks are taken from the profile, and a
/// profile's `uri_template` becomes `uri` from the trunk's `termination`
/// and `edge`.
pub fn apply_profiles(root: &mut toml::Table) -> Result<(), ConfigError> {
    let Some(toml::Value::Array(trunks)) = root.get_mut("trunks") else {
        return Ok(());
    };
    for (i, trunk) in trunks.iter_mut().enumerate() {
        let toml::Value::Table(t) = trunk else {
            continue;
        };
        merge_one(i, t)?;
    }
    Ok(())
}

fn merge_one(i: usize, t: &mut toml::Table) -> Result<(), ConfigError> {
    let key = |k: &str| format!("trunks[{i}].{k}");
    let text = match t.get("profile") {
        None => None,
        Some(toml::Value::String(name)) => Some(
            PROFILES
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, text)| *text)
                .ok_or_else(|| {
                    let names: Vec<_> = PROFILES.iter().map(|(n, _)| *n).collect();
                    invalid(
                        key("profile"),
                        format!("no profile {name:?}; known: {}", names.join(", ")),
                    )
                })?,
        ),
        Some(_) => return Err(invalid(key("profile"), "must be a string")),
    };
    let mut template = None;
    if let Some(text) = text {
        let profile: toml::Table = text.parse().expect("built-in profiles are valid TOML");
        for (k, v) in profile {
            if k == "uri_template" {
                template = v.as_str().map(str::to_string);
            } else {
                // A trunk's `hosts` stand in for the profile's `uri`.
                let overridden = t.contains_key(&k) || (k == "uri" && t.contains_key("hosts"));
                if !overridden {
                    t.insert(k, v);
                }
            }
        }
    }
    let termination = take_string(t, "termination", &key)?;
    let edge = take_string(t, "edge", &key)?;
    let Some(template) = template else {
        if termination.is_some() || edge.is_some() {
            let k = if termination.is_some() {
                "termination"
            } else {
                "edge"
            };
            return Err(invalid(
                key(k),
                "is only used with a profile that builds the URI (twilio)",
            ));
        }
        return Ok(());
    };
    if t.contains_key("uri") || t.contains_key("hosts") {
        if termination.is_some() || edge.is_some() {
            let k = if termination.is_some() {
                "termination"
            } else {
                "edge"
            };
            return Err(invalid(
                key(k),
                "builds the uri; with uri or hosts, write each host's URI in full",
            ));
        }
        return Ok(());
    }
    let name = termination.ok_or_else(|| {
        invalid(
            key("termination"),
            "is needed to build the termination URI (or set uri)",
        )
    })?;
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    if !label_ok(&name) {
        return Err(invalid(key("termination"), "must be a domain name label"));
    }
    let uri = match edge {
        Some(e) if label_ok(&e) => template.replace("{edge}", &e),
        Some(_) => return Err(invalid(key("edge"), "must be a domain name label")),
        None => template.replace(".{edge}", ""),
    };
    t.insert(
        "uri".into(),
        toml::Value::String(uri.replace("{termination}", &name)),
    );
    Ok(())
}

fn take_string(
    t: &mut toml::Table,
    name: &str,
    key: &dyn Fn(&str) -> String,
) -> Result<Option<String>, ConfigError> {
    match t.remove(name) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(key(name), "must be a string")),
    }
}

/// Check the keys this module adds to a trunk.
pub(super) fn validate(i: usize, t: &TrunkConfig) -> Result<(), ConfigError> {
    let key = |k: &str| format!("trunks[{i}].{k}");
    match (t.uri.is_empty(), t.hosts.is_empty()) {
        (true, true) => return Err(invalid(key("uri"), "is needed (or hosts)")),
        (false, false) => {
            return Err(invalid(
                key("hosts"),
                "give either uri (one host) or hosts (several), not both",
            ))
        }
        _ => {}
    }
    for (j, h) in t.hosts.iter().enumerate() {
        super::parse_sip_uri(h).map_err(|r| invalid(format!("trunks[{i}].hosts[{j}]"), r))?;
    }
    if t.privacy == Privacy::Id && t.caller_id_header != CallerIdHeader::PAssertedIdentity {
        return Err(invalid(
            key("privacy"),
            "\"id\" needs caller_id_header = \"p-asserted-identity\" (RFC 3325)",
        ));
    }
    for (name, value) in &t.extra_headers {
        check_extra_header(name, value)
            .map_err(|r| invalid(format!("trunks[{i}].extra_headers.{name}"), r))?;
    }
    if t.options_interval_seconds > 3600 {
        return Err(invalid(
            key("options_interval_seconds"),
            "must be at most 3600 (0 turns keepalive off)",
        ));
    }
    for (k, v) in [
        ("options_down_after", t.options_down_after),
        ("options_up_after", t.options_up_after),
    ] {
        if !(1..=100).contains(&v) {
            return Err(invalid(key(k), "must be from 1 to 100"));
        }
    }
    for (j, s) in t.trusted_sources.iter().enumerate() {
        crate::trunks::sources::Cidr::parse(s)
            .map_err(|r| invalid(format!("trunks[{i}].trusted_sources[{j}]"), r))?;
    }
    Ok(())
}

pub(super) fn default_down_after() -> u32 {
    2
}
pub(super) fn default_up_after() -> u32 {
    1
}

/// Extra headers in a stable order (by name).
pub type ExtraHeaders = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::super::tests::{err, BASE};
    use super::super::Config;
    use super::*;

    /// BASE with its trunk's `uri` line replaced by `keys`.
    fn trunk(keys: &str) -> String {
        BASE.replace("uri = \"sip:127.0.0.1:5090\"", keys)
    }

    fn parse(keys: &str) -> TrunkConfig {
        Config::parse(&trunk(keys), &[]).unwrap().trunks[0].clone()
    }

    #[test]
    fn every_shipped_profile_parses_into_a_trunk() {
        for (name, _) in PROFILES {
            let keys = format!("profile = \"{name}\"\nuri = \"sip:127.0.0.1:5090\"");
            let t = parse(&keys);
            assert_eq!(t.profile.as_deref(), Some(name));
            assert_eq!(t.number_format, NumberFormat::PlusE164, "{name}");
            assert_eq!(t.options_interval_seconds, 30, "{name}");
        }
    }

    #[test]
    fn the_twilio_profile_builds_the_termination_uri_and_caps_cps() {
        let text = trunk("profile = \"twilio\"\ntermination = \"acme\"\nedge = \"ashburn\"");
        let mut table: toml::Table = text.parse().unwrap();
        apply_profiles(&mut table).unwrap();
        let t = &table["trunks"].as_array().unwrap()[0];
        assert_eq!(
            t["uri"].as_str(),
            Some("sip:acme.pstn.ashburn.twilio.com:5060")
        );
        assert_eq!(t["cps"].as_float(), Some(1.0));
        assert_eq!(t["caller_id_header"].as_str(), Some("from"));
        assert!(t.get("termination").is_none() && t.get("uri_template").is_none());
        let text = trunk("profile = \"twilio\"\ntermination = \"acme\"");
        let mut table: toml::Table = text.parse().unwrap();
        apply_profiles(&mut table).unwrap();
        let t = &table["trunks"].as_array().unwrap()[0];
        assert_eq!(t["uri"].as_str(), Some("sip:acme.pstn.twilio.com:5060"));
    }

    #[test]
    fn the_trunks_own_keys_win_over_its_profile() {
        let t = parse(
            "profile = \"twilio\"\nuri = \"sip:127.0.0.1:5090\"\ncps = 5\n\
             number_format = \"e164\"\noptions_interval_seconds = 0",
        );
        assert_eq!(t.uri, "sip:127.0.0.1:5090");
        assert_eq!(t.cps, Some(5.0));
        assert_eq!(t.number_format, NumberFormat::E164);
        assert_eq!(t.options_interval_seconds, 0);
        let t =
            parse("profile = \"telnyx\"\nhosts = [\"sip:127.0.0.1:5091\", \"sip:127.0.0.1:5092\"]");
        assert!(t.uri.is_empty(), "hosts replace the profile's uri");
        assert_eq!(
            t.host_uris(),
            vec!["sip:127.0.0.1:5091", "sip:127.0.0.1:5092"]
        );
    }

    #[test]
    fn profile_mistakes_are_named() {
        let e = err(&trunk("profile = \"acme\"\nuri = \"sip:127.0.0.1:5090\""));
        assert!(
            e.contains("trunks[0].profile") && e.contains("twilio"),
            "{e}"
        );
        let e = err(&trunk("profile = \"twilio\""));
        assert!(e.contains("trunks[0].termination"), "{e}");
        let e = err(&trunk("profile = \"twilio\"\ntermination = \"a b\""));
        assert!(e.contains("trunks[0].termination"), "{e}");
        let e = err(&trunk("uri = \"sip:127.0.0.1:5090\"\nedge = \"ashburn\""));
        assert!(e.contains("trunks[0].edge"), "{e}");
        let e = err(&trunk(
            "profile = \"twilio\"\ntermination = \"acme\"\nhosts = [\"sip:127.0.0.1:5091\"]",
        ));
        assert!(e.contains("trunks[0].termination"), "{e}");
    }

    #[test]
    fn hosts_and_uri_are_one_or_the_other() {
        let e = err(&trunk(
            "uri = \"sip:127.0.0.1:5090\"\nhosts = [\"sip:127.0.0.1:5091\"]",
        ));
        assert!(e.contains("trunks[0].hosts"), "{e}");
        let e = err(&trunk("max_channels = 3"));
        assert!(e.contains("trunks[0].uri"), "{e}");
        let e = err(&trunk("hosts = [\"sip:127.0.0.1:5091\", \"http://x\"]"));
        assert!(e.contains("trunks[0].hosts[1]"), "{e}");
    }

    #[test]
    fn caller_id_and_headers_are_checked() {
        let t = parse(
            "uri = \"sip:127.0.0.1:5090\"\ncaller_id_header = \"p-asserted-identity\"\n\
             privacy = \"id\"\nextra_headers = { \"X-Account\" = \"42\" }",
        );
        assert_eq!(t.caller_id_header, CallerIdHeader::PAssertedIdentity);
        assert_eq!(t.privacy, Privacy::Id);
        assert_eq!(t.extra_headers["X-Account"], "42");
        let e = err(&trunk("uri = \"sip:127.0.0.1:5090\"\nprivacy = \"id\""));
        assert!(e.contains("trunks[0].privacy"), "{e}");
        let e = err(&trunk(
            "uri = \"sip:127.0.0.1:5090\"\ncaller_id_header = \"pai\"",
        ));
        assert!(e.contains("caller_id_header") || e.contains("pai"), "{e}");
        for (name, value) in [
            ("Via", "x"),
            ("call-id", "x"),
            ("CSeq", "x"),
            ("X-Bad Name", "x"),
            ("X-Inject", "a\\r\\nVia: evil"),
            ("X-Empty", " "),
        ] {
            let e = err(&trunk(&format!(
                "uri = \"sip:127.0.0.1:5090\"\nextra_headers = {{ \"{name}\" = \"{value}\" }}"
            )));
            assert!(e.contains("trunks[0].extra_headers"), "{name}: {e}");
        }
    }

    #[test]
    fn keepalive_and_sources_are_checked() {
        for (k, v) in [
            ("options_interval_seconds", "3601"),
            ("options_down_after", "0"),
            ("options_up_after", "101"),
            ("trusted_sources", "[\"10.0.0.0/40\"]"),
        ] {
            let e = err(&trunk(&format!("uri = \"sip:127.0.0.1:5090\"\n{k} = {v}")));
            assert!(e.contains(&format!("trunks[0].{k}")), "{k}: {e}");
        }
        let c = Config::parse(
            &BASE.replace(
                "listen = \"127.0.0.1:5060\"",
                "listen = \"127.0.0.1:5060\"\nuntrusted_requests = \"refuse\"",
            ),
            &[],
        )
        .unwrap();
        assert_eq!(c.sip.untrusted_requests, UntrustedRequests::Refuse);
    }
}
