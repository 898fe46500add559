//! The REST API against the real binary, with dispatch paused
//! (`[scheduler] paused = true`, trunk at a port where nothing listens) so
//! calls stay Queued: health, unknown routes and methods, agents CRUD and
//! validation, creating calls (every field, endpoint normalisation, every
//! bad input with its status, problem+json and field, and that nothing was
//! stored), bulk creation (mixed items, 2,000 items), the queue list
//! (filters, search, cursor pagination), statistics per agent, and cancel.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;

fn engine() -> Engine {
    Engine::start(EngineOptions::paused())
}

/// A valid agent body for POST /api/v1/agents.
fn agent_body(name: &str) -> Value {
    json!({
        "name": name,
        "timezone": "America/New_York",
        "maxConcurrentCalls": 5,
        "callerId": CALLER_ID,
        "trunk": TRUNK,
    })
}

/// Create an agent; returns its id.
fn new_agent(engine: &Engine, name: &str) -> String {
    let agent = engine.create_agent(agent_body(name));
    agent["id"].as_str().expect("agent id").to_string()
}

/// Create a call for `agent` to `endpoint`; returns its id.
fn new_call(engine: &Engine, agent: &str, endpoint: &str) -> String {
    let call = engine.create_call(json!({ "agentId": agent, "endpoint": endpoint }));
    call["id"].as_str().expect("call id").to_string()
}

fn agent_ids(engine: &Engine) -> Vec<String> {
    let r = engine.get("/api/v1/agents");
    assert_eq!(r.status, 200, "{r}");
    r.body["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("{{\"agents\": [...]}}: {r}"))
        .iter()
        .map(|a| a["id"].as_str().unwrap_or("").to_string())
        .collect()
}

fn count(stats: &Value, status: &str) -> i64 {
    stats[status]
        .as_i64()
        .unwrap_or_else(|| panic!("statistics has a count for {status}: {stats}"))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// GET the queue list with this query string; must answer 200.
fn list(engine: &Engine, query: &str) -> (Vec<Value>, Option<String>) {
    let r = engine.get(&format!("/api/v1/calls/queue/list?{query}"));
    assert_eq!(r.status, 200, "queue list ?{query}: {r}");
    let calls = r.body["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("{{\"calls\": [...]}}: {r}"))
        .clone();
    let next = match &r.body["nextCursor"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("nextCursor is a string or null, got {other}"),
    };
    (calls, next)
}

fn ids(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Every id of the list for `query`, following nextCursor with `limit`.
/// Asserts that no page is larger than `limit` and no id comes twice.
fn list_all(engine: &Engine, query: &str, limit: usize) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", enc(c)));
        }
        let (calls, next) = list(engine, &q);
        assert!(calls.len() <= limit, "a page has at most {limit} calls");
        for id in ids(&calls) {
            assert!(seen.insert(id.clone()), "{id} listed twice (?{query})");
        }
        match next {
            Some(n) => {
                assert!(!calls.is_empty(), "a page with a next cursor is not empty");
                cursor = Some(n);
            }
            None => return seen,
        }
    }
    panic!("pagination did not end");
}

// ---------------------------------------------------------------- routes

#[test]
fn health_unknown_routes_and_wrong_methods() {
    let engine = engine();
    assert_eq!(engine.get("/health").status, 200);

    for path in ["/api/v1/nothing-here", "/nope", "/api/v2/calls"] {
        let r = engine.get(path);
        assert_problem(&r, 404, None);
    }
    let r = engine.request(Method::PUT, "/api/v1/agents", Body::Json(json!({})));
    assert_problem(&r, 405, None);
    assert_eq!(
        r.header("allow"),
        Some("GET, POST"),
        "405 names what is allowed"
    );
    let r = engine.delete("/api/v1/calls");
    assert_problem(&r, 405, None);
    assert!(
        r.header("allow").is_some_and(|a| a.contains("POST")),
        "{:?}",
        r.header("allow")
    );
    let r = engine.request(
        Method::PUT,
        &format!("/api/v1/calls/{}", unknown_id()),
        Body::Json(json!({})),
    );
    assert_problem(&r, 405, None);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
    let r = engine.request(Method::POST, "/metrics", Body::Json(json!({})));
    assert_eq!(r.header("allow"), Some("GET"));
}

// ---------------------------------------------------------------- agents

#[test]
fn agents_create_list_get_patch_delete() {
    let engine = engine();
    let created = engine.create_agent(agent_body("Reminders"));
    let id = created["id"].as_str().unwrap().to_string();
    uuid::Uuid::parse_str(&id).expect("agent id is a UUID");
    assert_eq!(created["name"], "Reminders");
    assert_eq!(created["timezone"], "America/New_York");
    assert_eq!(created["maxConcurrentCalls"], 5);
    assert_eq!(created["callerId"], CALLER_ID);
    assert_eq!(created["trunk"], TRUNK);
    // Defaults.
    assert_eq!(created["isEnabled"], true, "{created}");
    assert_eq!(created["ringTimeoutSeconds"], 45, "{created}");
    assert_eq!(created["maxCallDurationSeconds"], 3600, "{created}");
    assert_eq!(created["weight"], 1, "{created}");

    assert!(agent_ids(&engine).contains(&id));
    let r = engine.get(&format!("/api/v1/agents/{id}"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body, created);

    let r = engine.patch(
        &format!("/api/v1/agents/{id}"),
        json!({ "name": "Renamed", "maxConcurrentCalls": 3, "weight": 7 }),
    );
    assert_eq!(r.status, 200, "{r}");
    let mut expected = created.clone();
    expected["name"] = json!("Renamed");
    expected["maxConcurrentCalls"] = json!(3);
    expected["weight"] = json!(7);
    assert_eq!(r.body, expected, "PATCH changes only the given fields");
    assert_eq!(engine.get(&format!("/api/v1/agents/{id}")).body, expected);

    let r = engine.delete(&format!("/api/v1/agents/{id}"));
    assert_eq!(r.status, 204, "{r}");
    assert_problem(&engine.get(&format!("/api/v1/agents/{id}")), 404, None);
    assert_problem(&engine.delete(&format!("/api/v1/agents/{id}")), 404, None);
    assert_problem(
        &engine.patch(&format!("/api/v1/agents/{id}"), json!({ "name": "x" })),
        404,
        None,
    );
    assert!(!agent_ids(&engine).contains(&id));
}

#[test]
fn agents_declared_in_the_config_are_listed() {
    let engine = Engine::start(EngineOptions::paused().agent(AgentConfig::default()));
    assert!(agent_ids(&engine).contains(&AGENT_ID.to_string()));
    let r = engine.get(&format!("/api/v1/agents/{AGENT_ID}"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body["name"], "Reminders");
    assert_eq!(r.body["maxCallDurationSeconds"], 60);
}

#[test]
fn invalid_agents_are_refused_naming_the_field() {
    let engine = engine();
    let existing = new_agent(&engine, "Existing");
    let before = agent_ids(&engine);

    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown trunk", json!({ "trunk": "nope" }), "trunk"),
        (
            "unknown time zone",
            json!({ "timezone": "Mars/Olympus" }),
            "timezone",
        ),
        (
            "caller id without country code",
            json!({ "callerId": "555-0001" }),
            "callerId",
        ),
        (
            "caller id not in E.164 form",
            json!({ "callerId": "+1 555 000 1111" }),
            "callerId",
        ),
        (
            "caller id that is a URI",
            json!({ "callerId": "sip:me@example.com" }),
            "callerId",
        ),
        (
            "zero concurrency",
            json!({ "maxConcurrentCalls": 0 }),
            "maxConcurrentCalls",
        ),
        ("empty name", json!({ "name": "" }), "name"),
        (
            "business hours that end before they start",
            json!({ "businessHours": { "mon": ["17:00-09:00"] } }),
            "businessHours.mon[0]",
        ),
        (
            "a date off that is not a date",
            json!({ "businessHours": { "mon": ["09:00-17:00"], "datesOff": ["2026-13-01"] } }),
            "businessHours.datesOff[0]",
        ),
        (
            "an unknown calling window",
            json!({ "callingWindow": "nightly" }),
            "callingWindow",
        ),
        (
            "a retry policy with no attempts",
            json!({ "retry": { "maxAttempts": 0 } }),
            "retry.maxAttempts",
        ),
        (
            "a retry for a cause that is never retried",
            json!({ "retry": { "after": { "not_found": 60 } } }),
            "retry.after.not_found",
        ),
    ];
    for (what, change, field) in &cases {
        let mut body = agent_body("Bad");
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = engine.post("/api/v1/agents", body);
        assert_eq!(r.status, 422, "{what}: {r}");
        assert_problem(&r, 422, Some(field));
    }
    assert_eq!(agent_ids(&engine), before, "no invalid agent was stored");

    // PATCH is validated too, and a refused PATCH changes nothing.
    let path = format!("/api/v1/agents/{existing}");
    let original = engine.get(&path).body;
    for (what, change, field) in &cases {
        let r = engine.patch(&path, change.clone());
        assert_eq!(r.status, 422, "PATCH {what}: {r}");
        assert_problem(&r, 422, Some(field));
    }
    assert_eq!(engine.get(&path).body, original);
}

// ---------------------------------------------------------------- calls

#[test]
fn a_call_is_stored_queued_with_every_field() {
    let engine = engine();
    let agent = new_agent(&engine, "A");
    // Whole seconds, so a store that keeps less precision still matches.
    let deadline = (chrono::Utc::now() + chrono::Duration::hours(2))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let data = json!({ "orderId": 42, "tags": ["a", "b"], "nested": { "x": null } });
    let r = engine.post(
        "/api/v1/calls",
        json!({
            "agentId": agent,
            "endpoint": "+1-555-123-4567",
            "priority": 7,
            "deadline": deadline,
            "additionalData": data,
            "timezone": "Europe/Berlin",
        }),
    );
    assert_eq!(r.status, 201, "{r}");
    let call = r.body;
    let id = call["id"].as_str().expect("id").to_string();
    uuid::Uuid::parse_str(&id).expect("call id is a UUID");
    assert_eq!(call["agentId"], agent);
    assert_eq!(call["endpoint"], "+15551234567");
    assert_eq!(call["priority"], 7);
    let stored = chrono::DateTime::parse_from_rfc3339(call["deadline"].as_str().expect("deadline"))
        .expect("deadline is RFC 3339");
    let sent = chrono::DateTime::parse_from_rfc3339(&deadline).unwrap();
    assert_eq!(stored, sent, "the same instant");
    assert_eq!(call["timezone"], "Europe/Berlin");
    assert_eq!(call["additionalData"], data);
    assert_eq!(call["status"], "Queued");
    assert!(call["cause"].is_null(), "{call}");
    for t in ["createdAt", "updatedAt"] {
        chrono::DateTime::parse_from_rfc3339(call[t].as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{t} is RFC 3339: {e}: {call}"));
    }
    assert_eq!(call["attempts"], json!([]), "paused: never dialed");
    let history = call["history"].as_array().expect("history");
    let queued = history
        .iter()
        .find(|e| e["event"] == "call.queued")
        .unwrap_or_else(|| panic!("history has call.queued: {call}"));
    assert_eq!(queued["status"], "Queued", "{call}");
    assert_eq!(queued["callId"], id, "{call}");
    chrono::DateTime::parse_from_rfc3339(queued["at"].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("history `at` is RFC 3339: {e}: {call}"));

    let got = engine.call(&id);
    for k in [
        "id",
        "agentId",
        "endpoint",
        "priority",
        "timezone",
        "additionalData",
        "status",
    ] {
        assert_eq!(got[k], call[k], "GET shows the stored {k}");
    }
    // The same instant (the store may keep less than nanosecond precision).
    let created = |c: &Value| {
        chrono::DateTime::parse_from_rfc3339(c["createdAt"].as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("createdAt is RFC 3339: {e}: {c}"))
    };
    let drift = (created(&got) - created(&call)).abs();
    assert!(
        drift < chrono::Duration::milliseconds(1),
        "createdAt: {got} vs {call}"
    );

    // Defaults.
    let minimal = engine.create_call(json!({ "agentId": agent, "endpoint": "+15551234568" }));
    assert_eq!(minimal["priority"], 5, "{minimal}");
    assert!(minimal["deadline"].is_null(), "{minimal}");
    assert_eq!(minimal["status"], "Queued");
}

#[test]
fn endpoints_are_normalised() {
    let engine = engine();
    // One agent per written form: from one agent, the second call to the
    // same number within the duplicate window is refused.
    for (i, written) in ["+1-555-123-4567", "+1 (555) 123-4567", "+15551234567"]
        .into_iter()
        .enumerate()
    {
        let agent = new_agent(&engine, &format!("N{i}"));
        let call = engine.create_call(json!({ "agentId": agent, "endpoint": written }));
        assert_eq!(call["endpoint"], "+15551234567", "{written:?}");
        let id = call["id"].as_str().unwrap();
        assert_eq!(
            engine.call(id)["endpoint"],
            "+15551234567",
            "stored normalised"
        );
    }
    let agent = new_agent(&engine, "A");
    for uri in ["sip:alice@example.com", "sips:bob@example.org:5061"] {
        let call = engine.create_call(json!({ "agentId": agent, "endpoint": uri }));
        assert_eq!(call["endpoint"], uri, "URIs are kept as given");
    }
}

#[test]
fn bad_calls_are_refused_naming_the_field_and_nothing_is_stored() {
    let engine = engine();
    let agent = new_agent(&engine, "A");
    let mut disabled_body = agent_body("Off");
    disabled_body["isEnabled"] = json!(false);
    let disabled = engine.create_agent(disabled_body)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = engine.statistics(None);

    // Malformed JSON.
    let r = engine.post_raw("/api/v1/calls", r#"{"agentId": "#, "application/json");
    assert_problem(&r, 400, None);

    let good = json!({ "agentId": agent, "endpoint": "+15551234567" });
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let big = "x".repeat(17 * 1024);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing agentId", without("agentId"), "agentId"),
        (
            "unknown agentId",
            with("agentId", json!(unknown_id())),
            "agentId",
        ),
        (
            "agentId not a UUID",
            with("agentId", json!("agent-7")),
            "agentId",
        ),
        (
            "disabled agent",
            with("agentId", json!(disabled)),
            "agentId",
        ),
        ("missing endpoint", without("endpoint"), "endpoint"),
        (
            "no country code",
            with("endpoint", json!("555-123-4567")),
            "endpoint",
        ),
        (
            "letters",
            with("endpoint", json!("+1 555 CALL NOW")),
            "endpoint",
        ),
        ("empty endpoint", with("endpoint", json!("")), "endpoint"),
        ("too short", with("endpoint", json!("+12")), "endpoint"),
        (
            "not SIP",
            with("endpoint", json!("http://example.com")),
            "endpoint",
        ),
        ("priority 11", with("priority", json!(11)), "priority"),
        ("priority -1", with("priority", json!(-1)), "priority"),
        (
            "priority \"high\"",
            with("priority", json!("high")),
            "priority",
        ),
        (
            "deadline in the past",
            with("deadline", json!(rfc3339_from_now(-60))),
            "deadline",
        ),
        (
            "scheduledAt not a date",
            with("scheduledAt", json!("soon")),
            "scheduledAt",
        ),
        (
            "scheduledAt after the deadline",
            json!({
                "agentId": agent, "endpoint": "+15551234567",
                "deadline": "2099-01-01T00:00:00Z", "scheduledAt": "2099-01-02T00:00:00Z",
            }),
            "scheduledAt",
        ),
        (
            "deadline not a date",
            with("deadline", json!("tomorrow")),
            "deadline",
        ),
        (
            "additionalData an array",
            with("additionalData", json!([1, 2])),
            "additionalData",
        ),
        (
            "additionalData a string",
            with("additionalData", json!("x")),
            "additionalData",
        ),
        (
            "additionalData over 16 KiB",
            with("additionalData", json!({ "blob": big })),
            "additionalData",
        ),
        (
            "unknown time zone",
            with("timezone", json!("Mars/Olympus")),
            "timezone",
        ),
    ];
    // Values of the wrong shape may be refused as 400 or 422; every other
    // case is 422. All name the field.
    let shape_errors = ["agentId not a UUID", "deadline not a date"];
    for (what, body, field) in &cases {
        let r = engine.post("/api/v1/calls", body.clone());
        let status = if shape_errors.contains(what) && r.status == 400 {
            400
        } else {
            422
        };
        assert_eq!(r.status, status, "{what}: {r}");
        assert_problem(&r, status, Some(field));
    }
    assert_eq!(
        engine.statistics(None),
        before,
        "no refused call was stored"
    );
    let (queued, _) = list(&engine, "status=Queued&status=Created&limit=1000");
    assert!(queued.is_empty(), "nothing listed: {queued:?}");

    // Just under the size limit is fine.
    let fits = with("additionalData", json!({ "blob": "x".repeat(16_000) }));
    engine.create_call(fits);
}

// ---------------------------------------------------------------- bulk

#[test]
fn bulk_keeps_good_items_and_reports_bad_ones() {
    let engine = engine();
    let a = new_agent(&engine, "A");
    let b = new_agent(&engine, "B");
    let r = engine.post(
        "/api/v1/calls/bulk",
        json!({
            "agentId": a,
            "calls": [
                { "endpoint": "+15553000000" },
                { "endpoint": "not a number" },
                { "endpoint": "+15553000002", "agentId": b, "priority": 9 },
                { "endpoint": "+15553000003", "priority": 11 },
                { "endpoint": "+15553000004", "additionalData": [1] },
                { "endpoint": "+15553000005", "agentId": unknown_id() },
                { "endpoint": "+1 555 300 0006", "deadline": rfc3339_from_now(3600) },
                { "endpoint": "+15553000007", "timezone": "Mars/Olympus" },
            ],
        }),
    );
    assert_eq!(r.status, 200, "{r}");
    let mut created = r.body["created"].as_array().expect("created").clone();
    let mut failed = r.body["failed"].as_array().expect("failed").clone();
    created.sort_by_key(|c| c["index"].as_i64());
    failed.sort_by_key(|f| f["index"].as_i64());
    let created_idx: Vec<i64> = created
        .iter()
        .map(|c| c["index"].as_i64().unwrap())
        .collect();
    assert_eq!(created_idx, [0, 2, 6], "{r}");
    let failed_fields: Vec<(i64, Vec<String>)> = failed
        .iter()
        .map(|f| (f["index"].as_i64().unwrap(), error_fields(f)))
        .collect();
    let expect = [
        (1, "endpoint"),
        (3, "priority"),
        (4, "additionalData"),
        (5, "agentId"),
        (7, "timezone"),
    ];
    assert_eq!(failed_fields.len(), expect.len(), "{r}");
    for ((index, fields), (want_index, want_field)) in failed_fields.iter().zip(expect) {
        assert_eq!(*index, want_index, "{r}");
        assert!(
            fields.iter().any(|f| f == want_field),
            "item {index} names {want_field}: {r}"
        );
    }

    let id_of = |i: usize| created[i]["id"].as_str().unwrap().to_string();
    let first = engine.call(&id_of(0));
    assert_eq!(first["agentId"], a, "the top-level agentId is the default");
    assert_eq!(first["status"], "Queued");
    let second = engine.call(&id_of(1));
    assert_eq!(second["agentId"], b, "an item's own agentId wins");
    assert_eq!(second["priority"], 9);
    assert_eq!(engine.call(&id_of(2))["endpoint"], "+15553000006");
    assert_eq!(count(&engine.statistics(Some(&a)), "Queued"), 2);
    assert_eq!(count(&engine.statistics(Some(&b)), "Queued"), 1);

    // No agentId anywhere: that item fails, naming agentId.
    let r = engine.post(
        "/api/v1/calls/bulk",
        json!({ "calls": [ { "endpoint": "+15553000008" }, { "endpoint": "+15553000009", "agentId": a } ] }),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body["created"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r.body["created"][0]["index"], 1, "{r}");
    assert_eq!(r.body["failed"][0]["index"], 0, "{r}");
    assert!(
        error_fields(&r.body["failed"][0]).contains(&"agentId".to_string()),
        "{r}"
    );
    assert_eq!(count(&engine.statistics(None), "Queued"), 4);
}

#[test]
fn bulk_of_two_thousand_calls() {
    let engine = engine();
    let agent = new_agent(&engine, "Bulk");
    let n = 2_000;
    let calls: Vec<Value> = (0..n)
        .map(|i| json!({ "endpoint": format!("+1555200{i:04}") }))
        .collect();
    let r = engine.post(
        "/api/v1/calls/bulk",
        json!({ "agentId": agent, "calls": calls }),
    );
    assert_eq!(
        r.status, 200,
        "bulk of {n}: {} [{}]",
        r.status, r.content_type
    );
    let created = r.body["created"].as_array().expect("created");
    assert_eq!(r.body["failed"], json!([]), "no failures");
    assert_eq!(created.len(), n);
    let indexes: HashSet<i64> = created
        .iter()
        .map(|c| c["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, (0..n as i64).collect(), "every index once");
    let unique: HashSet<&str> = created.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), n, "distinct ids");
    let spot = created.iter().find(|c| c["index"] == 1234).unwrap();
    assert_eq!(
        engine.call(spot["id"].as_str().unwrap())["endpoint"],
        "+15552001234"
    );
    assert_eq!(count(&engine.statistics(Some(&agent)), "Queued"), n as i64);

    // Listed in full through the cursor, at the maximum page size.
    let all = list_all(&engine, &format!("status=Queued&agentId={agent}"), 1000);
    let expected: HashSet<String> = unique.iter().map(|s| s.to_string()).collect();
    assert_eq!(all, expected);
    // The default page size is 50.
    let (page, next) = list(&engine, &format!("status=Queued&agentId={agent}"));
    assert_eq!(page.len(), 50);
    assert!(next.is_some());
}

// ---------------------------------------------------------------- queue list

#[test]
fn queue_list_filters_searches_and_pages() {
    let engine = engine();
    let a = new_agent(&engine, "A");
    let b = new_agent(&engine, "B");
    let a_ids: Vec<String> = (0..5)
        .map(|i| new_call(&engine, &a, &format!("+1555123000{i}")))
        .collect();
    let b_ids: Vec<String> = (5..8)
        .map(|i| new_call(&engine, &b, &format!("+1555123000{i}")))
        .collect();
    let canceled = &a_ids[4];
    assert_eq!(
        engine.delete(&format!("/api/v1/calls/{canceled}")).status,
        200
    );

    let set = |v: &[String]| v.iter().cloned().collect::<HashSet<_>>();
    let queued_a = set(&a_ids[..4]);
    let all_queued: HashSet<String> = queued_a.union(&set(&b_ids)).cloned().collect();

    let (calls, next) = list(&engine, "status=Queued");
    assert_eq!(set(&ids(&calls)), all_queued);
    assert!(next.is_none());
    assert!(calls.iter().all(|c| c["status"] == "Queued"));

    let (calls, _) = list(&engine, &format!("status=Queued&agentId={a}"));
    assert_eq!(set(&ids(&calls)), queued_a);
    assert!(calls.iter().all(|c| c["agentId"] == a));

    let (calls, _) = list(&engine, "status=Canceled");
    assert_eq!(ids(&calls), vec![canceled.to_string()]);

    let mut both = all_queued.clone();
    both.insert(canceled.clone());
    let (calls, _) = list(&engine, "status=Queued&status=Canceled");
    assert_eq!(set(&ids(&calls)), both, "status is repeatable");
    let (calls, _) = list(&engine, "status=Queued,Canceled");
    assert_eq!(set(&ids(&calls)), both, "status takes a comma list");
    let (calls, _) = list(&engine, "status=Pending&status=InProgress");
    assert!(calls.is_empty(), "paused: nothing is dialing");

    // Search by call id and by the endpoint's digits.
    let target = &b_ids[1]; // +15551230006
    let (calls, _) = list(&engine, &format!("status=Queued&search={target}"));
    assert_eq!(ids(&calls), vec![target.to_string()]);
    let (calls, _) = list(&engine, "status=Queued&search=5551230006");
    assert_eq!(ids(&calls), vec![target.to_string()]);
    assert_eq!(calls[0]["endpoint"], "+15551230006");
    let (calls, _) = list(
        &engine,
        &format!("status=Queued&search={}", enc("+15551230002")),
    );
    assert_eq!(ids(&calls), [a_ids[2].clone()]);

    // Pages of 3 cover everything once: no duplicates, no gaps.
    assert_eq!(list_all(&engine, "status=Queued", 3), all_queued);
    assert_eq!(list_all(&engine, "status=Queued", 1), all_queued);
    assert_eq!(
        list_all(&engine, &format!("status=Queued&agentId={a}"), 2),
        queued_a
    );

    // An unknown status is named.
    let r = engine.get("/api/v1/calls/queue/list?status=Bogus");
    assert_problem(&r, 422, Some("status"));
}

// ---------------------------------------------------------------- statistics

#[test]
fn statistics_count_per_status_and_per_agent() {
    let engine = engine();
    let a = new_agent(&engine, "A");
    let b = new_agent(&engine, "B");

    let zero = engine.statistics(None);
    for s in STATUSES {
        assert_eq!(count(&zero, s), 0, "{zero}");
    }

    let a_calls: Vec<String> = (0..3)
        .map(|i| new_call(&engine, &a, &format!("+1555400000{i}")))
        .collect();
    for i in 0..2 {
        new_call(&engine, &b, &format!("+1555400010{i}"));
    }
    assert_eq!(
        engine
            .delete(&format!("/api/v1/calls/{}", a_calls[0]))
            .status,
        200
    );

    let sa = engine.statistics(Some(&a));
    let sb = engine.statistics(Some(&b));
    let all = engine.statistics(None);
    for (stats, queued, canceled) in [(&sa, 2, 1), (&sb, 2, 0), (&all, 4, 1)] {
        for s in STATUSES {
            let want = match s {
                "Queued" => queued,
                "Canceled" => canceled,
                _ => 0,
            };
            assert_eq!(count(stats, s), want, "{s}: {stats}");
        }
    }
}

// ---------------------------------------------------------------- cancel

#[test]
fn cancel_a_queued_call_once() {
    let engine = engine();
    let agent = new_agent(&engine, "A");
    let id = new_call(&engine, &agent, "+15551234567");

    let r = engine.delete(&format!("/api/v1/calls/{id}"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["status"], "Canceled", "{r}");
    assert_eq!(r.body["cause"], "canceled", "{r}");

    let call = engine.call(&id);
    assert_eq!(call["status"], "Canceled");
    assert_eq!(call["cause"], "canceled");
    assert_eq!(call["attempts"], json!([]));
    assert_in_order(&history_events(&call), &["call.queued", "call.canceled"]);

    // A finished call cannot be canceled again.
    assert_problem(&engine.delete(&format!("/api/v1/calls/{id}")), 409, None);
    assert_eq!(engine.call(&id)["status"], "Canceled");

    assert_problem(
        &engine.delete(&format!("/api/v1/calls/{}", unknown_id())),
        404,
        None,
    );
    assert_problem(
        &engine.get(&format!("/api/v1/calls/{}", unknown_id())),
        404,
        None,
    );
    // An id that is not even a UUID names no call either.
    assert_problem(&engine.delete("/api/v1/calls/not-a-uuid"), 404, None);
    assert_problem(&engine.get("/api/v1/calls/not-a-uuid"), 404, None);

    let stats = engine.statistics(Some(&agent));
    assert_eq!(count(&stats, "Canceled"), 1);
    assert_eq!(count(&stats, "Queued"), 0);
}

/// Duplicate protection: the same agent calling the same number again
/// within the window (default 300 s) is refused, however the number is
/// written, in single and bulk requests; another agent may, and a
/// canceled call does not block a new one.
#[test]
fn duplicate_calls_are_refused_within_the_window() {
    let mut engine = engine();
    let a = new_agent(&engine, "A");
    let b = new_agent(&engine, "B");
    let first = engine.create_call(json!({ "agentId": a, "endpoint": "+15557770001" }));
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": a, "endpoint": "+1 (555) 777-0001" }),
    );
    assert_problem(&r, 422, Some("endpoint"));
    engine.create_call(json!({ "agentId": b, "endpoint": "+15557770001" }));

    let r = engine.post(
        "/api/v1/calls/bulk",
        json!({ "agentId": a, "calls": [
            { "endpoint": "+15557770002" },
            { "endpoint": "+1-555-777-0002" },
            { "endpoint": "+15557770001" },
        ]}),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["created"].as_array().unwrap().len(),
        1,
        "{:?}",
        r.body
    );
    let failed = failed_indexes(&r.body);
    assert_eq!(failed, [1, 2], "{:?}", r.body);

    // The window holds across a restart.
    engine.restart();
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": b, "endpoint": "+15557770001" }),
    );
    assert_problem(&r, 422, Some("endpoint"));

    let id = first["id"].as_str().unwrap();
    assert_eq!(engine.delete(&format!("/api/v1/calls/{id}")).status, 200);
    engine.create_call(json!({ "agentId": a, "endpoint": "+15557770001" }));
}

// ---------------------------------------------------------------- time rules

#[test]
fn time_rules_round_trip_and_the_queue_list_says_why_each_call_waits() {
    let engine = engine();
    let mut body = agent_body("Rules");
    body["businessHours"] =
        json!({ "mon": ["09:00-12:00", "13:00-17:00"], "datesOff": ["2099-12-25"] });
    body["callingWindow"] = json!({ "sat": ["10:00-14:00"], "mon": ["08:00-21:00"] });
    body["retry"] = json!({ "maxAttempts": 5, "after": { "busy": 600 } });
    let agent = engine.create_agent(body);
    assert_eq!(
        agent["businessHours"],
        json!({ "mon": ["09:00-12:00", "13:00-17:00"], "datesOff": ["2099-12-25"] })
    );
    assert_eq!(
        agent["callingWindow"],
        json!({ "mon": ["08:00-21:00"], "sat": ["10:00-14:00"] })
    );
    assert_eq!(
        agent["retry"],
        json!({ "maxAttempts": 5, "after": { "busy": 600 }, "throttledAfter": 30 })
    );
    let id = agent["id"].as_str().unwrap().to_string();
    assert_eq!(engine.get(&format!("/api/v1/agents/{id}")).body, agent);
    let defaults = engine.create_agent(agent_body("Defaults"));
    assert_eq!(
        defaults["callingWindow"], "tcpa",
        "the TCPA window by default"
    );
    assert_eq!(defaults["retry"]["after"]["no_answer"], 86_400);

    // Every call below sits in the queue of an agent whose window is always
    // open (dispatch is paused), so only its own rules make it wait.
    let mut body = agent_body("Always");
    body["callingWindow"] = json!("always");
    let always = engine.create_agent(body)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut body = agent_body("Tcpa");
    body["callingWindow"] = json!("tcpa");
    let tcpa = engine.create_agent(body)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (night, day) = night_and_day_zones();

    let ready = engine.create_call(json!({ "agentId": always, "endpoint": "+15550000001" }));
    // A local time without an offset is read in the call's timezone.
    let date = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive();
    let local = date.and_hms_opt(9, 0, 0).unwrap();
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let expected = chrono::TimeZone::from_local_datetime(&berlin, &local)
        .unwrap()
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let later = engine.create_call(json!({
        "agentId": always, "endpoint": "+15550000002",
        "scheduledAt": local.format("%Y-%m-%dT%H:%M:%S").to_string(), "timezone": "Europe/Berlin",
    }));
    assert_eq!(later["scheduledAt"], expected, "{later}");
    let asleep = engine.create_call(json!({
        "agentId": tcpa, "endpoint": "+15550000003", "timezone": night,
    }));
    let awake = engine.create_call(json!({
        "agentId": tcpa, "endpoint": "+15550000004", "timezone": day,
    }));

    let (calls, _) = list(&engine, "status=Queued&limit=100");
    let queue_of = |call: &Value| {
        let id = call["id"].as_str().unwrap();
        calls
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} is listed"))["queue"]
            .clone()
    };
    let q = queue_of(&ready);
    assert_eq!(q["waitReason"], "waiting_for_slot", "{q}");
    assert_eq!(q["position"], 1, "{q}");
    let q = queue_of(&later);
    assert_eq!(q["waitReason"], "scheduled_for_later", "{q}");
    assert_eq!(q["waitUntil"], expected, "{q}");
    assert!(q["position"].is_null(), "{q}");
    let q = queue_of(&asleep);
    assert_eq!(q["waitReason"], "outside_calling_window", "{night}: {q}");
    let until = chrono::DateTime::parse_from_rfc3339(q["waitUntil"].as_str().unwrap()).unwrap();
    let tz: chrono_tz::Tz = night.parse().unwrap();
    assert_eq!(
        chrono::Timelike::hour(&until.with_timezone(&tz)),
        8,
        "opens at 08:00 in {night}: {q}"
    );
    let q = queue_of(&awake);
    assert_eq!(q["waitReason"], "waiting_for_slot", "{day}: {q}");
    // The same answer for one call.
    let one = engine.call(asleep["id"].as_str().unwrap());
    assert_eq!(one["queue"], queue_of(&asleep));

    // A toll-free number may be anywhere from Guam to Newfoundland: with
    // business hours as the window no moment suits them all, so the call
    // is refused unless it says where the recipient is.
    let mut body = agent_body("Business");
    body["callingWindow"] = json!("business");
    let business = engine.create_agent(body)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": business, "endpoint": "+18005550100" }),
    );
    assert_problem(&r, 422, Some("endpoint"));
    let r = engine.post(
        "/api/v1/calls",
        json!({ "agentId": business, "endpoint": "+18005550100", "timezone": "America/Chicago" }),
    );
    assert_eq!(r.status, 201, "{r}");
}
