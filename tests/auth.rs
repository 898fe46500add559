//! API hygiene against the real binary: keys and scopes on `/api/v1`, the
//! key a fresh engine makes for itself, `Idempotency-Key` replays (also
//! after a restart), rate limits, and the HTTP metrics.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;

const READ_KEY: &str = "od_read_only_key_for_tests_0001";
const OTHER_WRITE_KEY: &str = "od_second_write_key_for_tests_01";
const IDEMPOTENCY: &str = "Idempotency-Key";

/// A paused engine with the default agent, the harness key
/// (`OUTDIAL_API_KEY`) and a read-only key.
fn engine_with(options: EngineOptions) -> Engine {
    Engine::start(options.agent(AgentConfig::default()).key(TestKey::new(
        "dashboard",
        READ_KEY,
        "read",
    )))
}

fn queued(engine: &Engine) -> u64 {
    engine.statistics(None)["Queued"].as_u64().unwrap()
}

fn call_body(endpoint: &str) -> Value {
    json!({ "agentId": AGENT_ID, "endpoint": endpoint })
}

/// POST with an `Idempotency-Key` and the given API key.
fn post_once(engine: &Engine, api_key: &str, path: &str, body: Body, key: &str) -> Reply {
    engine.send(
        Some(api_key),
        Method::POST,
        path,
        body,
        &[(IDEMPOTENCY, key)],
    )
}

#[test]
fn without_a_key_or_with_an_unknown_one_the_api_answers_401() {
    let engine = engine_with(EngineOptions::paused());
    let r = engine.without_key(Method::GET, "/api/v1/agents", Body::None);
    assert_problem(&r, 401, None);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"outdial\"")
    );
    // Unknown routes too: without a key nothing says which routes exist.
    let r = engine.without_key(Method::GET, "/api/v1/nothing-here", Body::None);
    assert_problem(&r, 401, None);
    let wrong = "od_this_is_not_a_key_of_the_engine";
    let r = engine.with_key(wrong, Method::GET, "/api/v1/agents", Body::None);
    assert_problem(&r, 401, None);
    let challenge = r.header("www-authenticate").unwrap_or("");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("invalid_token"),
        "{r:?}"
    );
    assert!(
        !r.body.to_string().contains(wrong),
        "the key is not echoed: {r}"
    );
    let basic = engine.send(
        None,
        Method::GET,
        "/api/v1/agents",
        Body::None,
        &[("authorization", "Basic b2Q6b2Q=")],
    );
    assert_problem(&basic, 401, None);
    let r = engine.without_key(
        Method::POST,
        "/api/v1/calls",
        Body::Json(call_body("+15551230001")),
    );
    assert_problem(&r, 401, None);
    assert_eq!(queued(&engine), 0, "a refused request creates nothing");

    // With the key: the API as before.
    assert_eq!(engine.get("/api/v1/agents").status, 200);
    assert_problem(&engine.get("/api/v1/nothing-here"), 404, None);
    // Open: health and (by default) metrics.
    assert_eq!(
        engine
            .without_key(Method::GET, "/health", Body::None)
            .status,
        200
    );
    assert_eq!(
        engine
            .without_key(Method::GET, "/metrics", Body::None)
            .status,
        200
    );
    // No key is made when one is configured, and no key is ever logged.
    assert!(!engine.dir().join("outdial.api-key.sha256").exists());
    let log = engine.log();
    for secret in [API_KEY, READ_KEY, wrong] {
        assert!(!log.contains(secret), "{secret} appears in the log");
    }
}

#[test]
fn a_read_key_reads_and_is_refused_with_403_on_writes() {
    let engine = engine_with(EngineOptions::paused());
    let call = engine.create_call(call_body("+15551230002"));
    let id = call["id"].as_str().unwrap();
    let read = |method, path: &str, body| engine.with_key(READ_KEY, method, path, body);
    assert_eq!(read(Method::GET, "/api/v1/agents", Body::None).status, 200);
    assert_eq!(
        read(Method::GET, &format!("/api/v1/calls/{id}"), Body::None).status,
        200
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/calls".to_string(),
            Body::Json(call_body("+15551230003")),
        ),
        (Method::DELETE, format!("/api/v1/calls/{id}"), Body::None),
        (
            Method::PATCH,
            format!("/api/v1/agents/{AGENT_ID}"),
            Body::Json(json!({"weight": 2})),
        ),
    ] {
        let r = read(method.clone(), &path, body);
        assert_problem(&r, 403, None);
        let challenge = r.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.contains("insufficient_scope"),
            "{method} {path}: {r:?}"
        );
    }
    assert_eq!(queued(&engine), 1, "nothing created, nothing canceled");
    assert_eq!(engine.call(id)["status"], "Queued");
}

/// `API key: <key>` lines in the log.
fn printed_keys(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("API key: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_fresh_engine_without_keys_makes_one_prints_it_once_and_keeps_only_its_hash() {
    let mut options = EngineOptions::paused().agent(AgentConfig::default());
    options.api_key = None;
    let mut engine = Engine::start(options);
    let printed = printed_keys(&engine.log());
    assert_eq!(printed.len(), 1, "printed once: {}", engine.log());
    let key = printed[0].clone();
    assert!(key.starts_with("od_") && key.len() > 40, "{key}");

    let r = engine.without_key(Method::GET, "/api/v1/agents", Body::None);
    assert_problem(&r, 401, None);
    assert_eq!(
        engine
            .with_key(&key, Method::GET, "/api/v1/agents", Body::None)
            .status,
        200
    );
    engine.use_api_key(Some(key.clone()));
    engine.create_call(call_body("+15551230004"));

    // Only the hash is kept: in the file beside the database, and nowhere
    // else in the data folder is the key written.
    let hash_file = engine.dir().join("outdial.api-key.sha256");
    let stored = std::fs::read_to_string(&hash_file).expect("the hash file");
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored.trim(), hash);
    for entry in std::fs::read_dir(engine.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "outdial.log") {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&path) {
            let found = bytes.windows(key.len()).any(|w| w == key.as_bytes());
            assert!(!found, "the key is written in {}", path.display());
        }
    }

    // A restart keeps the key and does not show it again.
    engine.restart();
    assert_eq!(printed_keys(&engine.log()).len(), 1, "{}", engine.log());
    assert_eq!(engine.log().matches(key.as_str()).count(), 1);
    assert_eq!(engine.get("/api/v1/agents").status, 200);
    assert_eq!(queued(&engine), 1);
}

#[test]
fn a_retried_call_with_the_same_idempotency_key_replays_even_after_a_restart() {
    let mut engine =
        engine_with(EngineOptions::paused().key(TestKey::new("second", OTHER_WRITE_KEY, "write")));
    let body = call_body("+15551230005");
    let first = post_once(
        &engine,
        API_KEY,
        "/api/v1/calls",
        Body::Json(body.clone()),
        "order-17",
    );
    assert_eq!(first.status, 201, "{first}");
    assert_eq!(first.header("idempotent-replayed"), None);

    // The same JSON written differently is the same request.
    let respaced = format!("{{ \"endpoint\": \"+15551230005\",  \"agentId\": \"{AGENT_ID}\" }}");
    let again = post_once(
        &engine,
        API_KEY,
        "/api/v1/calls",
        Body::Raw(respaced, "application/json".into()),
        "order-17",
    );
    assert_eq!(again.status, 201, "{again}");
    assert_eq!(again.body, first.body, "the first answer, replayed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(queued(&engine), 1, "one call created");

    let other = call_body("+15551230006");
    let r = post_once(
        &engine,
        API_KEY,
        "/api/v1/calls",
        Body::Json(other.clone()),
        "order-17",
    );
    assert_problem(&r, 422, Some(IDEMPOTENCY));
    assert_eq!(queued(&engine), 1);

    // Keys are per API key: another key may use the same one.
    let r = post_once(
        &engine,
        OTHER_WRITE_KEY,
        "/api/v1/calls",
        Body::Json(other),
        "order-17",
    );
    assert_eq!(r.status, 201, "{r}");
    assert_ne!(r.body["id"], first.body["id"]);
    assert_eq!(queued(&engine), 2);

    engine.restart();
    let after = post_once(
        &engine,
        API_KEY,
        "/api/v1/calls",
        Body::Json(body.clone()),
        "order-17",
    );
    assert_eq!(after.status, 201, "{after}");
    assert_eq!(after.body, first.body, "replayed after a restart");
    assert_eq!(queued(&engine), 2);
    // Without the key the same body is a new request (here a duplicate).
    let r = engine.post("/api/v1/calls", body);
    assert_problem(&r, 422, Some("endpoint"));
}

#[test]
fn a_bad_idempotency_key_is_refused_with_400_naming_the_header() {
    let engine = engine_with(EngineOptions::paused());
    let long = "k".repeat(256);
    for bad in ["", long.as_str(), "two words", "café", "tab\there"] {
        let r = post_once(
            &engine,
            API_KEY,
            "/api/v1/calls",
            Body::Json(call_body("+15551230007")),
            bad,
        );
        assert_problem(&r, 400, Some(IDEMPOTENCY));
    }
    assert_eq!(queued(&engine), 0);
    let longest = "k".repeat(255);
    let r = post_once(
        &engine,
        API_KEY,
        "/api/v1/calls",
        Body::Json(call_body("+15551230007")),
        &longest,
    );
    assert_eq!(r.status, 201, "{r}");
}

#[test]
fn a_retried_bulk_request_replays_its_answer_and_creates_nothing_more() {
    let mut engine = engine_with(EngineOptions::paused());
    let body = json!({
        "agentId": AGENT_ID,
        "calls": [{"endpoint": "+15551230010"}, {"endpoint": "12"}, {"endpoint": "+15551230011"}],
    });
    let post = |engine: &Engine, body: &Value, key| {
        post_once(
            engine,
            API_KEY,
            "/api/v1/calls/bulk",
            Body::Json(body.clone()),
            key,
        )
    };
    let first = post(&engine, &body, "bulk-1");
    assert_eq!(first.status, 200, "{first}");
    assert_eq!(first.body["created"].as_array().unwrap().len(), 2);
    assert_eq!(failed_indexes(&first.body), [1]);
    let again = post(&engine, &body, "bulk-1");
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(queued(&engine), 2);

    let mut changed = body.clone();
    changed["calls"][1]["endpoint"] = json!("+15551230012");
    assert_problem(&post(&engine, &changed, "bulk-1"), 422, Some(IDEMPOTENCY));
    // The same key on another route is another request too.
    let r = post_once(
        &engine,
        API_KEY,
        "/api/v1/calls",
        Body::Json(call_body("+15551230013")),
        "bulk-1",
    );
    assert_problem(&r, 422, Some(IDEMPOTENCY));

    engine.restart();
    let after = post(&engine, &body, "bulk-1");
    assert_eq!(after.body, first.body, "replayed after a restart");
    assert_eq!(queued(&engine), 2);
}

#[test]
fn concurrent_requests_with_one_key_create_the_calls_once() {
    let engine = engine_with(EngineOptions::paused());
    let calls: Vec<Value> = (0..1_000)
        .map(|i| json!({"endpoint": format!("+1555{:07}", 2_000_000 + i)}))
        .collect();
    let body = json!({"agentId": AGENT_ID, "calls": calls});
    let answers: Vec<Reply> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let body = body.clone();
                let engine = &engine;
                s.spawn(move || {
                    post_once(
                        engine,
                        API_KEY,
                        "/api/v1/calls/bulk",
                        Body::Json(body),
                        "race",
                    )
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let created: Vec<&Reply> = answers.iter().filter(|r| r.status == 200).collect();
    assert!(!created.is_empty(), "one request ran: {answers:?}");
    for r in &answers {
        match r.status {
            200 => assert_eq!(r.body, created[0].body, "every 200 is the same answer"),
            409 => assert_problem(r, 409, Some(IDEMPOTENCY)),
            other => panic!("unexpected {other}: {r}"),
        }
    }
    let ids: HashSet<&str> = created[0].body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1_000);
    assert_eq!(queued(&engine), 1_000, "the calls were created once");
}

#[test]
fn a_key_over_its_rate_limit_gets_429_with_retry_after() {
    let mut options = EngineOptions::paused();
    options.api_extra = "rate_per_second = 0.1\nburst = 3".into();
    let mut roomy = TestKey::new("roomy", OTHER_WRITE_KEY, "write");
    roomy.extra = "rate_per_second = 100\nburst = 100".into();
    let engine = engine_with(options.key(roomy));
    for _ in 0..3 {
        assert_eq!(engine.get("/api/v1/agents").status, 200);
    }
    let r = engine.get("/api/v1/calls/statistics/statuses");
    assert_problem(&r, 429, None);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in whole seconds: {r:?}"));
    assert!((1..=10).contains(&retry), "{retry}");
    // Limits are per key; health is not limited.
    let other = engine.with_key(OTHER_WRITE_KEY, Method::GET, "/api/v1/agents", Body::None);
    assert_eq!(other.status, 200);
    assert_eq!(
        engine
            .without_key(Method::GET, "/health", Body::None)
            .status,
        200
    );
    let metrics = engine.without_key(Method::GET, "/metrics", Body::None);
    let text = metrics.body.as_str().unwrap_or("");
    assert!(
        text.contains("outdial_http_rate_limited_total{key=\"OUTDIAL_API_KEY\"} 1\n"),
        "{text}"
    );
}

#[test]
fn metrics_show_request_latency_by_route_and_can_require_a_key() {
    let mut options = EngineOptions::paused();
    options.api_extra = "metrics_require_key = true".into();
    let engine = engine_with(options);
    let call = engine.create_call(call_body("+15551230020"));
    engine.call(call["id"].as_str().unwrap());
    engine.without_key(Method::GET, "/api/v1/agents", Body::None);

    let r = engine.without_key(Method::GET, "/metrics", Body::None);
    assert_problem(&r, 401, None);
    let r = engine.with_key(READ_KEY, Method::GET, "/metrics", Body::None);
    assert_eq!(r.status, 200, "a read key may scrape: {r}");
    let text = r.body.as_str().unwrap_or("").to_string();
    for line in [
        "# TYPE outdial_http_request_duration_seconds histogram\n",
        "outdial_http_request_duration_seconds_bucket{route=\"/api/v1/calls/{callId}\",class=\"2xx\",le=\"+Inf\"} 1\n",
        "outdial_http_request_duration_seconds_count{route=\"/api/v1/calls\",class=\"2xx\"} 1\n",
        "outdial_http_request_duration_seconds_count{route=\"/api/v1/agents\",class=\"4xx\"} 1\n",
        "outdial_http_requests_total{status=\"201\"} 1\n",
        "outdial_http_auth_failures_total{reason=\"missing\"} 2\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(
        text.contains("outdial_http_request_duration_seconds_sum{route=\"/health\",class=\"2xx\"}"),
        "{text}"
    );
    assert_eq!(
        engine
            .without_key(Method::GET, "/health", Body::None)
            .status,
        200
    );
}
