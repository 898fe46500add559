//! Test harness for the black-box tests: runs the real `outdial` binary with
//! a generated config in a temporary directory, talks to its REST API over
//! loopback, and runs SIPp as the carrier (UAS) with the scenarios in
//! `sip-test/`.
//!
//! - [`free_udp_port`] / [`free_tcp_port`]: loopback ports nobody holds.
//! - [`Engine`]: start, kill -9, restart on the same config and database;
//!   HTTP helpers returning a [`Reply`] (status, JSON body, content type,
//!   headers), sending the engine's API key ([`API_KEY`] unless a test
//!   says otherwise; [`Engine::without_key`] and [`Engine::with_key`] send
//!   none or another); [`Engine::wait_for_call`] polls a call until a
//!   predicate holds.
//! - [`Sipp`]: one SIPp UAS process, its exit code and its message log
//!   ([`Sipp::received`] parses the SIP messages it received).
//!
//! On a failing test the engine's log and SIPp's logs are printed.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use reqwest::Method;

/// The agent declared in generated configs unless a test says otherwise.
pub const AGENT_ID: &str = "2f1c0a4e-7d3b-4c8e-9a51-0b6f2d9e8c11";
/// That agent's caller id (the From user part of its INVITEs).
pub const CALLER_ID: &str = "+15550001111";
/// The one trunk of generated configs.
pub const TRUNK: &str = "carrier";
/// The read-write key the engine gets in `OUTDIAL_API_KEY` unless a test
/// says otherwise; every request helper sends it.
pub const API_KEY: &str = "od_harness_key_0123456789abcdef";

/// How long the engine has to answer `/health` after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Polling interval of the waiting helpers.
const POLL: Duration = Duration::from_millis(100);

/// Statuses after which a call never changes again.
pub const TERMINAL: [&str; 3] = ["Completed", "Failed", "Canceled"];
/// Every status, as the statistics endpoint names them.
pub const STATUSES: [&str; 7] = [
    "Created",
    "Queued",
    "Pending",
    "InProgress",
    "Completed",
    "Failed",
    "Canceled",
];

// ---------------------------------------------------------------- ports

/// Ports handed out by this process, so two tests running in parallel never
/// get the same one even if the OS offers it twice.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn claim(port: u16) -> bool {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(HashSet::new).insert(port)
}

/// A UDP port on 127.0.0.1 that was free a moment ago (bind to port 0, take
/// the port, drop the socket).
pub fn free_udp_port() -> u16 {
    loop {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on 127.0.0.1");
        let port = socket.local_addr().expect("local address").port();
        if claim(port) {
            return port;
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP socket on 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        if claim(port) {
            return port;
        }
    }
}

// ---------------------------------------------------------------- engine

/// An agent declared in the config file (`[[agents]]`).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub id: String,
    pub name: String,
    pub is_enabled: bool,
    pub timezone: String,
    pub max_concurrent_calls: u32,
    pub caller_id: String,
    pub trunk: String,
    pub ring_timeout_seconds: u32,
    pub max_call_duration_seconds: u32,
    pub weight: u32,
    /// TOML value of `calling_window`: `"always"` by default, so that tests
    /// about SIP do not depend on the hour they run at.
    pub calling_window: String,
    /// TOML value of `retry`: by default one attempt, no retries.
    pub retry: String,
    /// TOML value of `business_hours`, if any.
    pub business_hours: Option<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            id: AGENT_ID.to_string(),
            name: "Reminders".to_string(),
            is_enabled: true,
            timezone: "America/New_York".to_string(),
            max_concurrent_calls: 5,
            caller_id: CALLER_ID.to_string(),
            trunk: TRUNK.to_string(),
            ring_timeout_seconds: 45,
            max_call_duration_seconds: 60,
            weight: 1,
            calling_window: "\"always\"".to_string(),
            retry: "{ max_attempts = 1 }".to_string(),
            business_hours: None,
        }
    }
}

impl AgentConfig {
    fn to_toml(&self) -> String {
        format!(
            "[[agents]]\nid = {}\nname = {}\nis_enabled = {}\ntimezone = {}\n\
             max_concurrent_calls = {}\ncaller_id = {}\ntrunk = {}\n\
             ring_timeout_seconds = {}\nmax_call_duration_seconds = {}\nweight = {}\n\
             calling_window = {}\nretry = {}\n{}",
            toml_str(&self.id),
            toml_str(&self.name),
            self.is_enabled,
            toml_str(&self.timezone),
            self.max_concurrent_calls,
            toml_str(&self.caller_id),
            toml_str(&self.trunk),
            self.ring_timeout_seconds,
            self.max_call_duration_seconds,
            self.weight,
            self.calling_window,
            self.retry,
            self.business_hours
                .as_ref()
                .map(|b| format!("business_hours = {b}\n"))
                .unwrap_or_default(),
        )
    }
}

/// What to put in the generated config.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Port on 127.0.0.1 where the carrier (SIPp) listens; the trunk
    /// `carrier` points there.
    pub trunk_port: u16,
    /// `[scheduler] paused`: store calls, dial none.
    pub paused: bool,
    /// `[[agents]]` in the config.
    pub agents: Vec<AgentConfig>,
    /// More keys for the `carrier` trunk table (TOML lines).
    pub trunk_extra: String,
    /// Environment variables for the engine process.
    pub env: Vec<(String, String)>,
    /// More TOML appended to the config after everything else, e.g. a
    /// `[webhooks]` table.
    pub extra_config: String,
    /// `OUTDIAL_API_KEY` for the engine, sent by the request helpers;
    /// `None`: no key from the environment (the engine makes one when
    /// `keys` is empty too).
    pub api_key: Option<String>,
    /// More keys of the `[api]` table (TOML lines), e.g. `burst = 3`.
    pub api_extra: String,
    /// More keys of the `[sip]` table (TOML lines), e.g.
    /// `untrusted_requests = "refuse"`.
    pub sip_extra: String,
    /// `[[api.keys]]` in the config.
    pub keys: Vec<TestKey>,
}

/// A key in `[[api.keys]]`: the harness writes its SHA-256, never the key.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub name: String,
    pub key: String,
    /// `"read"` or `"write"`.
    pub scope: String,
    /// More keys of the entry (TOML lines), e.g. `burst = 100`.
    pub extra: String,
}

impl TestKey {
    pub fn new(name: &str, key: &str, scope: &str) -> TestKey {
        TestKey {
            name: name.to_string(),
            key: key.to_string(),
            scope: scope.to_string(),
            extra: String::new(),
        }
    }

    fn to_toml(&self) -> String {
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(self.key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "[[api.keys]]
name = {}
sha256 = {}
scope = {}
{}
",
            toml_str(&self.name),
            toml_str(&hash),
            toml_str(&self.scope),
            self.extra
        )
    }
}

impl EngineOptions {
    /// A trunk at `127.0.0.1:trunk_port`, dispatch on, no agents.
    pub fn new(trunk_port: u16) -> Self {
        EngineOptions {
            trunk_port,
            paused: false,
            agents: Vec::new(),
            trunk_extra: String::new(),
            env: Vec::new(),
            extra_config: String::new(),
            api_key: Some(API_KEY.to_string()),
            api_extra: String::new(),
            sip_extra: String::new(),
            keys: Vec::new(),
        }
    }

    /// Dispatch off, and the trunk at a port where nothing listens: every
    /// call stays Queued. For API tests.
    pub fn paused() -> Self {
        EngineOptions {
            trunk_port: free_udp_port(),
            paused: true,
            agents: Vec::new(),
            trunk_extra: String::new(),
            env: Vec::new(),
            extra_config: String::new(),
            api_key: Some(API_KEY.to_string()),
            api_extra: String::new(),
            sip_extra: String::new(),
            keys: Vec::new(),
        }
    }

    pub fn agent(mut self, agent: AgentConfig) -> Self {
        self.agents.push(agent);
        self
    }

    pub fn key(mut self, key: TestKey) -> Self {
        self.keys.push(key);
        self
    }
}

/// The `outdial` binary running on loopback ports, with its config,
/// database and log in a temporary directory. Killed on drop.
pub struct Engine {
    /// REST API address.
    pub api: SocketAddr,
    /// The engine's SIP (UDP) address.
    pub sip: SocketAddr,
    pub options: EngineOptions,
    config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    http: reqwest::blocking::Client,
    /// The key the request helpers send.
    key: Option<String>,
    // Last, so the directory outlives the child in drop order.
    dir: tempfile::TempDir,
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("build an HTTP client")
}

impl Engine {
    /// Write the config, spawn `outdial serve --config FILE` and wait for
    /// `GET /health` to answer 200.
    pub fn start(options: EngineOptions) -> Engine {
        let dir = tempfile::Builder::new()
            .prefix("outdial-test-")
            .tempdir()
            .expect("create a temporary directory");
        let api: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        let sip: SocketAddr = ([127, 0, 0, 1], free_udp_port()).into();
        let sandbox: SocketAddr = ([127, 0, 0, 1], free_udp_port()).into();
        let db = dir.path().join("outdial.db");
        let mut config = format!(
            "# Generated by tests/common/mod.rs\n\
             [api]\nlisten = {}\n{}\n\n\
             [store]\nurl = {}\n\n\
             [sip]\nlisten = {}\n{}\n\n\
             [sandbox]\nenabled = false\nlisten = {}\n\n\
             [scheduler]\npaused = {}\n\n\
             [[trunks]]\nname = {}\nuri = {}\n{}\n",
            toml_str(&api.to_string()),
            options.api_extra,
            toml_str(&format!("sqlite://{}", db.display())),
            toml_str(&sip.to_string()),
            options.sip_extra,
            toml_str(&sandbox.to_string()),
            options.paused,
            toml_str(TRUNK),
            toml_str(&format!("sip:127.0.0.1:{}", options.trunk_port)),
            options.trunk_extra,
        );
        for agent in &options.agents {
            config.push_str(&agent.to_toml());
            config.push('\n');
        }
        for key in &options.keys {
            config.push_str(&key.to_toml());
        }
        config.push_str(&options.extra_config);
        let config_path = dir.path().join("outdial.toml");
        fs::write(&config_path, config).expect("write the config file");
        let log_path = dir.path().join("outdial.log");
        let mut engine = Engine {
            api,
            sip,
            config_path,
            log_path,
            child: None,
            http: http_client(),
            key: options.api_key.clone(),
            options,
            dir,
        };
        engine.spawn();
        engine
    }

    /// The temporary directory holding config, database and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the engine is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the engine log");
        let log_err = log.try_clone().expect("clone the log handle");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_outdial"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // The config file alone decides; no override from the environment.
        for var in [
            "OUTDIAL_API_LISTEN",
            "OUTDIAL_STORE_URL",
            "OUTDIAL_SIP_LISTEN",
            "OUTDIAL_API_KEY",
        ] {
            cmd.env_remove(var);
        }
        if let Some(key) = &self.options.api_key {
            cmd.env("OUTDIAL_API_KEY", key);
        }
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        // A plain log file, without colour escapes.
        cmd.env("NO_COLOR", "1");
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info,outdial=debug");
        }
        self.child = Some(cmd.spawn().expect("spawn the outdial binary"));
        // Connections pooled to a killed engine are dead.
        self.http = http_client();
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let started = Instant::now();
        let url = self.url("/health");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("outdial exited during start-up with {status}");
                }
            }
            if let Ok(resp) = self.http.get(&url).timeout(Duration::from_secs(2)).send() {
                if resp.status().as_u16() == 200 {
                    return;
                }
            }
            if started.elapsed() > START_TIMEOUT {
                panic!("outdial did not answer GET /health with 200 within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (what an init system sends), then wait up to `timeout` for
    /// the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "send SIGTERM to the engine");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("outdial did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start again on the same config and database (killing first if it
    /// still runs), and wait until it is healthy.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Everything the engine wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    // ------------------------------------------------------------ HTTP

    /// The key the request helpers send.
    pub fn api_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Send `key` from now on (e.g. the engine's generated key), also after
    /// restarts.
    pub fn use_api_key(&mut self, key: Option<String>) {
        self.key = key;
    }

    /// `Bearer <key>` for clients built by a test, e.g. an event stream.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key.as_deref().unwrap_or(""))
    }

    /// One HTTP request with the engine's key. Transport errors fail the
    /// test.
    pub fn request(&self, method: Method, path: &str, body: Body) -> Reply {
        self.send(self.key.as_deref(), method, path, body, &[])
    }

    /// One HTTP request without any key.
    pub fn without_key(&self, method: Method, path: &str, body: Body) -> Reply {
        self.send(None, method, path, body, &[])
    }

    /// One HTTP request with another key.
    pub fn with_key(&self, key: &str, method: Method, path: &str, body: Body) -> Reply {
        self.send(Some(key), method, path, body, &[])
    }

    /// One HTTP request with `key` as `Authorization: Bearer` (none if
    /// `None`) and more headers.
    pub fn send(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(text, content_type) => req.header("content-type", content_type).body(text),
        };
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: request failed: {e}"));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_string(), v)
            })
            .collect();
        let text = resp
            .text()
            .unwrap_or_else(|e| panic!("{method} {path}: cannot read the body: {e}"));
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            body,
            content_type,
            headers,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Body::None)
    }

    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Body::Json(body))
    }

    /// POST a body as written, e.g. malformed JSON.
    pub fn post_raw(&self, path: &str, text: &str, content_type: &str) -> Reply {
        self.request(
            Method::POST,
            path,
            Body::Raw(text.to_string(), content_type.to_string()),
        )
    }

    pub fn patch(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Body::Json(body))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, Body::None)
    }

    // ------------------------------------------------------------ API

    /// POST an agent; it must be created (201). Returns the agent JSON.
    pub fn create_agent(&self, agent: Value) -> Value {
        let r = self.post("/api/v1/agents", agent);
        assert_eq!(r.status, 201, "POST /api/v1/agents: {r}");
        assert!(r.body["id"].is_string(), "created agent has an id: {r}");
        r.body
    }

    /// POST a call; it must be created (201). Returns the call JSON.
    pub fn create_call(&self, call: Value) -> Value {
        let r = self.post("/api/v1/calls", call);
        assert_eq!(r.status, 201, "POST /api/v1/calls: {r}");
        assert!(r.body["id"].is_string(), "created call has an id: {r}");
        r.body
    }

    /// GET a call that must exist.
    pub fn call(&self, id: &str) -> Value {
        let r = self.get(&format!("/api/v1/calls/{id}"));
        assert_eq!(r.status, 200, "GET /api/v1/calls/{id}: {r}");
        r.body
    }

    /// Status counts, for one agent or all.
    pub fn statistics(&self, agent_id: Option<&str>) -> Value {
        let path = match agent_id {
            Some(a) => format!("/api/v1/calls/statistics/statuses?agentId={a}"),
            None => "/api/v1/calls/statistics/statuses".to_string(),
        };
        let r = self.get(&path);
        assert_eq!(r.status, 200, "GET {path}: {r}");
        r.body
    }

    /// Poll `GET /api/v1/calls/{id}` every 100 ms until `pred` holds, and
    /// return that call. Fails the test with the last answer on timeout.
    pub fn wait_for_call(
        &self,
        id: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let started = Instant::now();
        let path = format!("/api/v1/calls/{id}");
        loop {
            let r = self.get(&path);
            if r.status == 200 && pred(&r.body) {
                return r.body;
            }
            if started.elapsed() > timeout {
                panic!("call {id}: condition not met within {timeout:?}; last answer: {r}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Wait until the call is Completed, Failed or Canceled.
    pub fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for_call(id, is_terminal, timeout)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "===== outdial log ({}) =====\n{}\n===== end of outdial log =====",
                self.log_path.display(),
                tail(&self.log(), 200_000)
            );
        }
    }
}

/// The last `max` bytes of `text` (on a character boundary).
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    /// Text and its content type.
    Raw(String, String),
}

/// An HTTP answer: status, body as JSON (`Null` when empty, a JSON string
/// when it is not JSON) and the content type.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}] {}", self.status, self.content_type, self.body)
    }
}

impl Reply {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `field` of each entry of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        error_fields(&self.body)
    }
}

/// The `field` of each entry of `errors` in a problem or a bulk failure.
/// SIPp exits 0 only when it saw the whole expected exchange; wait for it
/// (15 s at most) and show its errors if not.
#[track_caller]
pub fn assert_sipp_succeeded(sipp: &mut Sipp) {
    let code = sipp.wait(Duration::from_secs(15));
    assert_eq!(
        code,
        Some(0),
        "SIPp ({}) exits 0 only when it saw the whole expected exchange; errors:\n{}",
        sipp.scenario,
        sipp.error_log()
    );
}

/// The `index` of every entry of a bulk answer's `failed` list.
pub fn failed_indexes(body: &Value) -> Vec<u64> {
    body["failed"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["index"].as_u64()).collect())
        .unwrap_or_default()
}

pub fn error_fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Assert an `application/problem+json` answer with this status, the
/// members every problem has, and (when given) an `errors` entry naming
/// `field` with a reason.
#[track_caller]
pub fn assert_problem(r: &Reply, status: u16, field: Option<&str>) {
    assert_eq!(r.status, status, "status: {r}");
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "content type is application/problem+json: {r}"
    );
    for member in ["type", "title", "detail"] {
        assert!(r.body[member].is_string(), "problem has `{member}`: {r}");
    }
    assert_eq!(r.body["status"], json!(status), "problem `status`: {r}");
    if let Some(field) = field {
        let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
        let named = errors.iter().find(|e| e["field"] == json!(field));
        let named = named.unwrap_or_else(|| panic!("an error names field `{field}`: {r}"));
        assert!(
            named["reason"].as_str().is_some_and(|s| !s.is_empty()),
            "the error for `{field}` has a reason: {r}"
        );
    }
}

// ---------------------------------------------------------------- calls

pub fn status(call: &Value) -> &str {
    call["status"].as_str().unwrap_or("")
}

pub fn is_terminal(call: &Value) -> bool {
    TERMINAL.contains(&status(call))
}

pub fn attempts(call: &Value) -> Vec<Value> {
    call["attempts"].as_array().cloned().unwrap_or_default()
}

/// The last attempt; fails the test if there is none.
#[track_caller]
pub fn last_attempt(call: &Value) -> Value {
    attempts(call)
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("call has no attempt: {call}"))
}

/// The `event` of each history entry, in order.
pub fn history_events(call: &Value) -> Vec<String> {
    call["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|e| e["event"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Assert that `expected` occur in `events` in this order (others may come
/// between them).
#[track_caller]
pub fn assert_in_order(events: &[String], expected: &[&str]) {
    let mut rest = events.iter();
    for want in expected {
        assert!(
            rest.any(|e| e == want),
            "history has {expected:?} in this order; it is {events:?}"
        );
    }
}

// ---------------------------------------------------------------- SIPp

/// A SIPp UAS running one of the scenarios of `sip-test/`, listening on
/// 127.0.0.1 only, with its logs in a temporary directory. Killed on drop.
pub struct Sipp {
    pub port: u16,
    pub scenario: String,
    /// Over TCP (`-t t1` or `-t tn` in the arguments) rather than UDP.
    pub tcp: bool,
    child: Option<Child>,
    exit: Option<Option<i32>>,
    dir: tempfile::TempDir,
}

impl Sipp {
    /// `sipp -sf sip-test/SCENARIO -i 127.0.0.1 -p PORT -m 1 ...`; `-m 1`
    /// is left out when `extra_args` has its own `-m`. Returns once SIPp
    /// listens.
    pub fn uas(scenario: &str, port: u16, extra_args: &[&str]) -> Sipp {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sip-test")
            .join(scenario);
        assert!(path.is_file(), "no scenario {}", path.display());
        let dir = tempfile::Builder::new()
            .prefix("outdial-sipp-")
            .tempdir()
            .expect("create a temporary directory");
        let d = dir.path();
        let screen = File::create(d.join("screen.log")).expect("create the screen log");
        let screen_err = screen.try_clone().expect("clone the screen log handle");
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf")
            .arg(&path)
            // SIP, media and the control socket on loopback only.
            .args(["-i", "127.0.0.1", "-bind_local", "-ci", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-nostdin", "-buff_size", "4194304"])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(d.join("errors.log"))
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(d.join("messages.log"));
        if !extra_args.contains(&"-m") {
            cmd.args(["-m", "1"]);
        }
        cmd.args(extra_args)
            .current_dir(d)
            .stdin(Stdio::null())
            .stdout(screen)
            .stderr(screen_err);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run sipp ({e}); scripts/test.sh installs it (Debian: sip-tester)")
        });
        let tcp = extra_args
            .windows(2)
            .any(|w| w[0] == "-t" && (w[1] == "t1" || w[1] == "tn"));
        let mut sipp = Sipp {
            port,
            scenario: scenario.to_string(),
            tcp,
            child: Some(child),
            exit: None,
            dir,
        };
        sipp.wait_listening();
        sipp
    }

    /// Wait until SIPp's UDP socket is bound (its TCP socket listens, with
    /// `-t t1`/`tn`), read from /proc/net so that probing never races SIPp
    /// for the port.
    fn wait_listening(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("sipp ({}) exited at start with {status}", self.scenario);
                }
            }
            let table = if self.tcp {
                "/proc/net/tcp"
            } else {
                "/proc/net/udp"
            };
            match fs::read_to_string(table) {
                Ok(table) if udp_port_bound(&table, self.port) => return,
                Ok(_) => {}
                // No procfs: give SIPp a moment instead.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(500));
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "sipp ({}) did not bind {} port {}",
            self.scenario,
            if self.tcp { "TCP" } else { "UDP" },
            self.port
        );
    }

    /// Wait for SIPp to exit; its exit code (0: every call succeeded), or
    /// `None` if it still runs after `timeout` (or died by a signal).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        if let Some(code) = self.exit {
            return code;
        }
        let started = Instant::now();
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.exit = Some(status.code());
                self.child = None;
                return status.code();
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `-trace_msg` log: every message sent and received.
    pub fn message_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default()
    }

    /// The `-trace_err` log: unexpected messages and failures.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("errors.log")).unwrap_or_default()
    }

    /// The SIP messages SIPp received, in order (retransmissions included).
    pub fn received(&self) -> Vec<SipMessage> {
        parse_message_log(&self.message_log())
            .into_iter()
            .filter(|m| m.received)
            .collect()
    }

    /// Received requests of one method, in order.
    pub fn received_requests(&self, method: &str) -> Vec<SipMessage> {
        self.received()
            .into_iter()
            .filter(|m| m.method() == Some(method))
            .collect()
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let mut screen = String::new();
            if let Ok(mut f) = File::open(self.dir.path().join("screen.log")) {
                let _ = f.read_to_string(&mut screen);
            }
            // SIPp writes its screen only when it exits by itself.
            if !screen.trim().is_empty() {
                eprintln!("===== sipp: last screen =====\n{}", tail(&screen, 4_000));
            }
            eprintln!(
                "===== sipp {} on port {}: errors =====\n{}\n\
                 ===== sipp: messages =====\n{}\n===== end of sipp logs =====",
                self.scenario,
                self.port,
                self.error_log(),
                tail(&self.message_log(), 100_000)
            );
        }
    }
}

/// Whether /proc/net/udp (or /proc/net/tcp) lists a socket bound to `port`.
fn udp_port_bound(table: &str, port: u16) -> bool {
    let want = format!("{port:04X}");
    table.lines().skip(1).any(|line| {
        line.split_whitespace()
            .nth(1)
            .and_then(|local| local.rsplit(':').next())
            .is_some_and(|p| p.eq_ignore_ascii_case(&want))
    })
}

/// One SIP message from SIPp's `-trace_msg` log.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// Received by SIPp (rather than sent).
    pub received: bool,
    /// `INVITE sip:... SIP/2.0` or `SIP/2.0 200 OK`.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Compact header forms (RFC 3261 section 7.3.3).
const COMPACT: [(&str, &str); 7] = [
    ("i", "call-id"),
    ("f", "from"),
    ("t", "to"),
    ("m", "contact"),
    ("v", "via"),
    ("c", "content-type"),
    ("l", "content-length"),
];

impl SipMessage {
    /// The method of a request; `None` for a response.
    pub fn method(&self) -> Option<&str> {
        if self.start_line.starts_with("SIP/2.0") {
            None
        } else {
            self.start_line.split_whitespace().next()
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        self.method()?;
        self.start_line.split_whitespace().nth(1)
    }

    /// The first header of that name (case-insensitive, compact forms too).
    pub fn header(&self, name: &str) -> Option<&str> {
        let want = name.to_ascii_lowercase();
        self.headers.iter().find_map(|(n, v)| {
            let n = n.to_ascii_lowercase();
            let long = COMPACT
                .iter()
                .find(|(short, _)| *short == n)
                .map_or(n.as_str(), |(_, long)| long);
            (long == want).then_some(v.as_str())
        })
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }
}

/// Parse a SIPp `-trace_msg` log. Each message there follows a line of
/// dashes with a timestamp, then `UDP message received [N] bytes :` or
/// `UDP message sent (N bytes):`, then a blank line and the message.
pub fn parse_message_log(text: &str) -> Vec<SipMessage> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let received = line.contains("message received");
        let sent = line.contains("message sent");
        if !(received || sent) {
            continue;
        }
        // Skip the blank line(s) before the start line.
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        let Some(start_line) = lines.next() else {
            break;
        };
        let mut headers = Vec::new();
        for l in lines.by_ref() {
            if l.trim().is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut body = String::new();
        while let Some(l) = lines.peek() {
            if l.starts_with("--------------------") {
                break;
            }
            body.push_str(l);
            body.push('\n');
            lines.next();
        }
        out.push(SipMessage {
            received,
            start_line: start_line.trim().to_string(),
            headers,
            body: body.trim_end().to_string(),
        });
    }
    out
}

/// A random UUID that no agent or call has.
pub fn unknown_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An RFC 3339 timestamp `seconds` from now (negative: in the past).
pub fn rfc3339_from_now(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

// ---------------------------------------------------------------- time

/// A zone where the local hour is now between 00:00 and 05:59 (outside
/// any calling window), and one where it is between 10:00 and 18:59.
pub fn night_and_day_zones() -> (&'static str, &'static str) {
    use chrono::Timelike;
    const ZONES: [&str; 8] = [
        "Pacific/Honolulu",
        "America/Los_Angeles",
        "America/New_York",
        "Atlantic/Azores",
        "Europe/Berlin",
        "Asia/Dubai",
        "Asia/Bangkok",
        "Asia/Tokyo",
    ];
    let hour = |z: &str| {
        let tz: chrono_tz::Tz = z.parse().unwrap();
        chrono::Utc::now().with_timezone(&tz).hour()
    };
    let night = ZONES
        .into_iter()
        .find(|z| hour(z) < 6)
        .expect("a zone at night");
    let day = ZONES
        .into_iter()
        .find(|z| (10..19).contains(&hour(z)))
        .expect("a zone by day");
    (night, day)
}
