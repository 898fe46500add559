//! The OpenAPI document at `/api/v1/openapi.json`: served to any key (a
//! read key included), and checked against the live engine by
//! Schemathesis, which sends requests generated from it (valid and not)
//! to every operation but the endless `/events` stream; no answer may be a
//! 5xx. Schemathesis comes from PyPI (`scripts/test.sh` installs it); the
//! test fails, never skips, without it. `SCHEMATHESIS` names another
//! binary; `OPENAPI_MAX_EXAMPLES` changes the examples per operation.

mod common;

use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a Schemathesis run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(300);

#[test]
fn the_document_is_served_to_a_read_key() {
    let engine = Engine::start(EngineOptions::paused().key(TestKey::new(
        "reader",
        "od_reader_key_0123456789",
        "read",
    )));
    let r = engine.with_key(
        "od_reader_key_0123456789",
        reqwest::Method::GET,
        "/api/v1/openapi.json",
        Body::None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(r.body["paths"]["/api/v1/calls"]["post"].is_object());
    let anonymous = engine.without_key(reqwest::Method::GET, "/api/v1/openapi.json", Body::None);
    assert_eq!(anonymous.status, 401);
}

#[test]
fn schemathesis_finds_no_server_error() {
    let engine = Engine::start(
        EngineOptions {
            // Generated requests come fast; 429s would hide the handlers.
            api_extra: "rate_per_second = 100000\nburst = 100000".to_string(),
            ..EngineOptions::paused()
        }
        // The id the document's examples name, so they schedule real calls.
        .agent(AgentConfig {
            id: "00000000-0000-4000-8000-000000000001".to_string(),
            ..AgentConfig::default()
        }),
    );
    let program = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".to_string());
    let examples = std::env::var("OPENAPI_MAX_EXAMPLES").unwrap_or_else(|_| "50".to_string());
    let mut cmd = Command::new(&program);
    cmd.arg("run")
        .arg(format!("http://{}/api/v1/openapi.json", engine.api))
        .args(["--checks", "not_a_server_error"])
        .args(["--header", &format!("Authorization: Bearer {API_KEY}")])
        .args(["--max-examples", &examples])
        .args(["--exclude-path", "/api/v1/events"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: Hypothesis is not thread-safe everywhere, and a
        // worker's crash would count against the engine.
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        // No example database: nothing is left behind between runs.
        .args(["--generation-database", "none"])
        .arg("--no-color")
        .current_dir(engine.dir())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot run {program:?} ({e}); install it with `pip install schemathesis` (scripts/test.sh does)")
    });
    // Drain both pipes on their own threads so a full pipe never blocks it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    eprintln!("{out}\n{err}\nschemathesis took {:?}", started.elapsed());
    let status = status.unwrap_or_else(|| panic!("schemathesis ran over {RUN_LIMIT:?}"));
    assert!(
        status.success(),
        "schemathesis found failures ({status}); see its report above"
    );
}
