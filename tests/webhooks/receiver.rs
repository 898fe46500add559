//! The webhook receiver of the black-box tests: a small HTTP/1.1 server
//! on 127.0.0.1 (a thread accepting, one thread per connection) that
//! answers as a script says and checks every Standard Webhooks signature
//! with its own HMAC code, independent of the engine's.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The receiver's secret, and a second one for a key rotation.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OLD_SECRET: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";
/// What the receiver answers to its n-th request (from 0).
#[derive(Clone)]
pub enum Answer {
    Status(u16),
    /// Wait this long, then answer 200 (if the engine still listens).
    Slow(Duration),
    Redirect(String),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub content_type: String,
    pub body: Value,
    /// Verified with the current secret, and with the old one.
    pub verified: bool,
    pub verified_old: bool,
    /// The status it was answered with; 0 for a slow answer (recorded when
    /// the request arrives, answered 200 after the wait).
    pub answered: u16,
}

pub struct Receiver {
    pub port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

type Script = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

impl Receiver {
    pub fn start(port: u16, script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        listener.set_nonblocking(true).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let script: Script = Arc::new(script);
        let count = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (g, script, count) = (g.clone(), script.clone(), count.clone());
                        std::thread::spawn(move || serve(conn, &g, &script, &count));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            port,
            got,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Requests answered 2xx in time.
    pub fn delivered(&self) -> Vec<Got> {
        self.got()
            .into_iter()
            .filter(|g| (200..300).contains(&g.answered))
            .collect()
    }

    /// Wait until `n` requests were answered 2xx.
    pub fn wait_delivered(&self, n: usize, timeout: Duration) -> Vec<Got> {
        let started = Instant::now();
        loop {
            let d = self.delivered();
            if d.len() >= n {
                return d;
            }
            assert!(
                started.elapsed() < timeout,
                "{n} deliveries within {timeout:?}; got {:#?}",
                self.got()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one request, check it, answer it, close.
fn serve(mut conn: TcpStream, got: &Mutex<Vec<Got>>, script: &Script, count: &AtomicUsize) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let len: usize = header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let answer = script(count.fetch_add(1, Ordering::SeqCst));
    let status = match &answer {
        Answer::Status(s) => *s,
        Answer::Slow(_) => 200,
        Answer::Redirect(_) => 307,
    };
    got.lock().unwrap().push(Got {
        verified: verify(SECRET, &id, &ts, &body, &sig),
        verified_old: verify(OLD_SECRET, &id, &ts, &body, &sig),
        id,
        timestamp: ts.parse().unwrap_or(0),
        signature: sig,
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        answered: if matches!(answer, Answer::Slow(_)) {
            0
        } else {
            status
        },
    });
    if let Answer::Slow(wait) = &answer {
        std::thread::sleep(*wait);
    }
    let location = match &answer {
        Answer::Redirect(to) => format!("Location: {to}\r\n"),
        _ => String::new(),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\n{location}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// The Standard Webhooks check, as a receiver's library does it: HMAC-SHA256
/// of `id.timestamp.body` keyed with the base64 part of the secret, against
/// each `v1,` signature of the header.
fn verify(secret: &str, id: &str, ts: &str, body: &[u8], header: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|s| s == want)
}
