//! Who may call the API and how often: API keys with read or write scope,
//! a token bucket per key, and the HTTP metrics.

pub mod bucket;
pub mod http_metrics;
pub mod keys;
