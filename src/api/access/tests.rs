//! Admission on a virtual clock: authentication, scope, then the rate
//! limit, and how each refusal is answered.

use super::*;
use crate::clock::ManualClock;
use crate::config::Config;
use keys::to_hex;
use std::sync::Arc;
use std::time::Duration;

const BASE: &str = r#"
[api]
listen = "127.0.0.1:8080"
rate_per_second = 1
burst = 2
[store]
url = "sqlite://data/outdial.db"
[sip]
listen = "127.0.0.1:5060"
"#;

fn config(extra: &str, env: &[(&str, &str)]) -> Config {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::parse(&format!("{BASE}{extra}"), &env).unwrap()
}

fn keyed(name: &str, key: &str, scope: &str, limits: &str) -> String {
    format!(
        "[[api.keys]]\nname = \"{name}\"\nsha256 = \"{}\"\nscope = \"{scope}\"\n{limits}\n",
        to_hex(&hash_key(key))
    )
}

fn access(c: &Config, clock: &ManualClock) -> Access {
    Access::new(key_table(&c.api, None), false, Arc::new(clock.clone()))
}

fn bearer(key: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {key}")).unwrap()
}

const READ: &str = "od_reader_key_0123456789";
const WRITE: &str = "od_writer_key_0123456789";

fn two_keys() -> Config {
    let keys = keyed("ops-read", READ, "read", "") + &keyed("ops", WRITE, "write", "burst = 50");
    config(&keys, &[])
}

#[test]
fn no_wrong_or_malformed_key_is_unauthorized() {
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let a = access(&two_keys(), &clock);
    let get = Method::GET;
    let denied = |why| Err(Denied::Auth(why));
    assert_eq!(
        a.admit(&[], &get).map(|c| c.index),
        denied(AuthFailure::Missing)
    );
    let wrong = bearer("od_not_a_key_0123456789");
    assert_eq!(
        a.admit(&[&wrong], &get).map(|c| c.index),
        denied(AuthFailure::Unknown)
    );
    let basic = HeaderValue::from_static("Basic b2Q6b2Q=");
    assert_eq!(
        a.admit(&[&basic], &get).map(|c| c.index),
        denied(AuthFailure::Malformed)
    );
    let good = bearer(WRITE);
    assert_eq!(
        a.admit(&[&good, &good], &get).map(|c| c.index),
        denied(AuthFailure::Malformed),
        "two Authorization headers"
    );
    assert_eq!(a.admit(&[&good], &get).map(|c| c.index), Ok(1));
}

#[test]
fn a_read_key_may_only_read() {
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let a = access(&two_keys(), &clock);
    let read = bearer(READ);
    assert_eq!(a.admit(&[&read], &Method::GET).map(|c| c.index), Ok(0));
    for m in [Method::POST, Method::PATCH, Method::DELETE] {
        assert_eq!(
            a.admit(&[&read], &m).map(|c| c.index),
            Err(Denied::Scope {
                name: "ops-read".into(),
                scope: Scope::Read
            })
        );
    }
    assert!(a.admit(&[&bearer(WRITE)], &Method::DELETE).is_ok());
}

#[test]
fn each_key_has_its_own_bucket_with_the_default_or_its_own_limit() {
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let a = access(&two_keys(), &clock);
    let (read, write) = (bearer(READ), bearer(WRITE));
    // ops-read: the [api] default, 1/s with a burst of 2.
    assert!(a.admit(&[&read], &Method::GET).is_ok());
    assert!(a.admit(&[&read], &Method::GET).is_ok());
    assert_eq!(
        a.admit(&[&read], &Method::GET).map(|c| c.index),
        Err(Denied::Limited {
            name: "ops-read".into(),
            retry_after: 1
        })
    );
    // ops: its own burst of 50, untouched by the other key.
    for _ in 0..50 {
        assert!(a.admit(&[&write], &Method::GET).is_ok());
    }
    assert!(a.admit(&[&write], &Method::GET).is_err());
    clock.advance(Duration::from_secs(1));
    assert!(a.admit(&[&read], &Method::GET).is_ok());
    assert!(a.admit(&[&write], &Method::GET).is_ok());
}

#[test]
fn refusals_are_problems_with_their_headers() {
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let a = access(&two_keys(), &clock);
    let post = Method::POST;
    let header = |res: &HttpResponse, name| {
        res.headers()
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap().to_string())
    };
    let res = a.refuse(Denied::Auth(AuthFailure::Missing), &post);
    assert_eq!(res.status(), 401);
    assert_eq!(
        header(&res, header::CONTENT_TYPE).as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(
        header(&res, header::WWW_AUTHENTICATE).as_deref(),
        Some("Bearer realm=\"outdial\"")
    );
    let res = a.refuse(Denied::Auth(AuthFailure::Unknown), &post);
    assert!(header(&res, header::WWW_AUTHENTICATE)
        .unwrap()
        .contains("invalid_token"));
    let res = a.refuse(
        Denied::Scope {
            name: "r".into(),
            scope: Scope::Read,
        },
        &post,
    );
    assert_eq!(res.status(), 403);
    assert!(header(&res, header::WWW_AUTHENTICATE)
        .unwrap()
        .contains("insufficient_scope"));
    let res = a.refuse(
        Denied::Limited {
            name: "r".into(),
            retry_after: 3,
        },
        &post,
    );
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, header::RETRY_AFTER).as_deref(), Some("3"));
    let mut metrics = String::new();
    a.http.render(&mut metrics);
    assert!(metrics.contains("outdial_http_rate_limited_total{key=\"r\"} 1\n"));
    assert!(metrics.contains("outdial_http_auth_failures_total{reason=\"scope\"} 1\n"));
    assert!(metrics.contains("outdial_http_auth_failures_total{reason=\"missing\"} 1\n"));
}

#[test]
fn the_environment_key_writes_and_the_generated_one_is_only_added_when_given() {
    let env_key = "od_from_the_environment_01";
    let c = config("", &[("OUTDIAL_API_KEY", env_key)]);
    let table = key_table(&c.api, None);
    assert_eq!(table.len(), 1);
    let k = table.get(0).unwrap();
    assert_eq!((k.name.as_str(), k.scope), (ENV_KEY_NAME, Scope::Write));
    assert_eq!(table.find(env_key), Some(0));
    assert_eq!(
        k.limit,
        Limit {
            rate: 1.0,
            burst: 2
        }
    );
    let c = config("", &[]);
    assert!(key_table(&c.api, None).is_empty());
    let table = key_table(&c.api, Some(hash_key("od_generated")));
    assert_eq!(table.find("od_generated"), Some(0));
    assert_eq!(table.get(0).unwrap().name, GENERATED_KEY_NAME);
}

#[test]
fn owners_are_the_key_hashes_never_the_keys() {
    let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
    let a = access(&two_keys(), &clock);
    assert_eq!(&*a.owners[1], to_hex(&hash_key(WRITE)).as_str());
    assert!(a.owners.iter().all(|o| !o.contains("od_")));
}
