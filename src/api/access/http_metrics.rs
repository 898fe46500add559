//! HTTP metrics for `/metrics`: request latency by route pattern and
//! status class, requests by status, rate-limited requests by key and
//! authentication failures by reason.
//!
//! Routes are labelled by their pattern (`/api/v1/calls/{callId}`), never
//! by the path as sent, so a scan of random paths cannot grow the series
//! without bound: a request that matched no route is `unmatched`.

use crate::metrics::family;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why a request was refused before it reached a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Bearer <key>`.
    Malformed,
    /// A key this engine does not know.
    Unknown,
    /// A known key whose scope does not allow the method.
    Scope,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Unknown => "unknown",
            AuthFailure::Scope => "scope",
        }
    }
}

/// One latency histogram series.
#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Count per bucket (not cumulative); the last one is `+Inf`.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
    }
}

#[derive(Debug, Default)]
struct Series {
    /// By (route pattern, status class).
    latency: BTreeMap<(String, &'static str), Histogram>,
    by_status: BTreeMap<u16, u64>,
    rate_limited: BTreeMap<String, u64>,
    auth_failures: BTreeMap<AuthFailure, u64>,
}

/// The HTTP counters. A std Mutex: held for one map update, never across an
/// await.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: Mutex<Series>,
}

/// `2xx`, `4xx`, ... for a status code.
fn class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// A label value with `\`, `"` and newlines escaped (Prometheus text
/// format).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl HttpMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().expect("http metrics lock")
    }

    /// A request answered with `status` after `took`; `route` is the
    /// pattern it matched, if any.
    pub fn request(&self, route: Option<&str>, status: u16, took: Duration) {
        let mut s = self.lock();
        let route = route.unwrap_or("unmatched").to_string();
        s.latency
            .entry((route, class(status)))
            .or_default()
            .observe(took.as_secs_f64());
        *s.by_status.entry(status).or_default() += 1;
    }

    pub fn rate_limited(&self, key: &str) {
        *self.lock().rate_limited.entry(key.to_string()).or_default() += 1;
    }

    pub fn auth_failure(&self, why: AuthFailure) {
        *self.lock().auth_failures.entry(why).or_default() += 1;
    }

    /// Append these series in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let s = self.lock();
        let name = "outdial_http_request_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "HTTP request latency until the response head, by route pattern and status class.",
        );
        for ((route, class), h) in &s.latency {
            let labels = format!("route=\"{}\",class=\"{class}\"", label(route));
            let mut cumulative = 0;
            for (i, n) in h.counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
        }
        family(
            out,
            "outdial_http_requests_total",
            "counter",
            "HTTP requests answered, by status code.",
        );
        for (status, n) in &s.by_status {
            let _ = writeln!(
                out,
                "outdial_http_requests_total{{status=\"{status}\"}} {n}"
            );
        }
        family(
            out,
            "outdial_http_rate_limited_total",
            "counter",
            "Requests refused with 429 because their key was over its rate limit, by key name.",
        );
        for (key, n) in &s.rate_limited {
            let _ = writeln!(
                out,
                "outdial_http_rate_limited_total{{key=\"{}\"}} {n}",
                label(key)
            );
        }
        family(
            out,
            "outdial_http_auth_failures_total",
            "counter",
            "Requests refused with 401 or 403, by reason.",
        );
        for why in [
            AuthFailure::Missing,
            AuthFailure::Malformed,
            AuthFailure::Unknown,
            AuthFailure::Scope,
        ] {
            let n = s.auth_failures.get(&why).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "outdial_http_auth_failures_total{{reason=\"{}\"}} {n}",
                why.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_cumulative_histogram_per_route_and_class() {
        let m = HttpMetrics::default();
        let route = Some("/api/v1/calls/{callId}");
        m.request(route, 200, Duration::from_micros(300));
        m.request(route, 200, Duration::from_millis(3));
        m.request(route, 404, Duration::from_millis(3));
        m.request(None, 404, Duration::from_secs(60));
        let mut out = String::new();
        m.render(&mut out);
        let series = "outdial_http_request_duration_seconds_bucket{route=\"/api/v1/calls/{callId}\",class=\"2xx\"";
        assert!(
            out.contains(&format!("{series},le=\"0.0005\"}} 1\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("{series},le=\"0.0025\"}} 1\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("{series},le=\"0.005\"}} 2\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("{series},le=\"+Inf\"}} 2\n")),
            "{out}"
        );
        assert!(out.contains(
            "outdial_http_request_duration_seconds_count{route=\"/api/v1/calls/{callId}\",class=\"4xx\"} 1\n"
        ));
        assert!(out.contains(
            "outdial_http_request_duration_seconds_bucket{route=\"unmatched\",class=\"4xx\",le=\"10\"} 0\n"
        ));
        assert!(out.contains(
            "outdial_http_request_duration_seconds_bucket{route=\"unmatched\",class=\"4xx\",le=\"+Inf\"} 1\n"
        ));
        assert!(out.contains("outdial_http_requests_total{status=\"200\"} 2\n"));
        assert!(out.contains("outdial_http_requests_total{status=\"404\"} 2\n"));
        assert!(out.contains("# TYPE outdial_http_request_duration_seconds histogram\n"));
    }

    #[test]
    fn counts_refusals_and_escapes_labels() {
        let m = HttpMetrics::default();
        m.rate_limited("ops \"east\"");
        m.rate_limited("ops \"east\"");
        m.auth_failure(AuthFailure::Unknown);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("outdial_http_rate_limited_total{key=\"ops \\\"east\\\"\"} 2\n"));
        assert!(out.contains("outdial_http_auth_failures_total{reason=\"unknown\"} 1\n"));
        assert!(out.contains("outdial_http_auth_failures_total{reason=\"missing\"} 0\n"));
    }

    #[test]
    fn status_classes() {
        assert_eq!(class(101), "1xx");
        assert_eq!(class(204), "2xx");
        assert_eq!(class(308), "3xx");
        assert_eq!(class(429), "4xx");
        assert_eq!(class(503), "5xx");
    }
}
