//! A real browser for the dashboard tests: headless Chromium driven over
//! WebDriver by chromedriver, both from Debian's packages (`chromium`,
//! `chromium-driver`; `scripts/test.sh` installs them), on a free loopback
//! port, with a fresh profile in a temporary directory.
//!
//! The test code is synchronous like the rest of the harness: each browser
//! command runs to completion on a private current-thread Tokio runtime.
//! Reads go through small scripts (`text`, `exists`), so a page that
//! re-renders between two commands never leaves a stale element behind;
//! clicks and typing are real WebDriver input. [`Browser::wait_until`]
//! polls a condition until a timeout: no fixed sleeps.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::fs::{self, File};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait polls before it fails the test.
pub const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    // Last: the profile and the driver's log outlive the processes.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a headless Chromium session. Fails the test
    /// when either is missing: a dashboard test that cannot run must not
    /// pass.
    pub fn start() -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).is_file(),
                "{path} is missing: the dashboard tests need Debian's {package} package \
                 (scripts/test.sh installs it with apt-get)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("outdial-browser-")
            .tempdir()
            .expect("create a temporary directory");
        let port = crate::common::free_tcp_port();
        let log = File::create(dir.path().join("chromedriver.log")).expect("create the driver log");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("run chromedriver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime for the WebDriver client");
        let mut browser = Browser {
            rt,
            client: None,
            driver,
            dir,
        };
        browser.wait_for_driver(port);
        let profile = browser.dir.path().join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // Without the background-networking flags Chromium reaches
                // for the network at start, which this machine refuses.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = browser
            .rt
            .block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("start a headless Chromium session: {e}"));
        browser.client = Some(client);
        browser
    }

    fn wait_for_driver(&mut self, port: u16) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited at start with {status}");
            }
            assert!(
                started.elapsed() < WAIT,
                "chromedriver did not listen on port {port} within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a browser session")
    }

    pub fn goto(&self, url: &str) {
        self.rt
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub fn current_url(&self) -> String {
        self.rt
            .block_on(self.client().current_url())
            .expect("the current URL")
            .to_string()
    }

    /// Run `script` (a function body; `arguments[i]` are `args`) in the page.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.client().execute(script, args))
            .unwrap_or_else(|e| panic!("run a script in the page: {e}\n{script}"))
    }

    /// The text of the first element matching `css`, or `None`.
    pub fn text(&self, css: &str) -> Option<String> {
        let v = self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            vec![json!(css)],
        );
        v.as_str().map(|s| s.trim().to_string())
    }

    /// Whether an element matches `css` and is displayed.
    pub fn visible(&self, css: &str) -> bool {
        self.js(
            "const e = document.querySelector(arguments[0]);
             return !!e && e.getClientRects().length > 0;",
            vec![json!(css)],
        ) == json!(true)
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let v = self.js(
            "const e = document.querySelector(arguments[0]);
             return e ? e.getAttribute(arguments[1]) : null;",
            vec![json!(css), json!(name)],
        );
        v.as_str().map(str::to_string)
    }

    /// Poll `cond` every 100 ms until it gives `Some`, for up to `timeout`;
    /// on timeout fail the test saying what was awaited.
    #[track_caller]
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(v) = cond(self) {
                return v;
            }
            if started.elapsed() > timeout {
                panic!("waited {timeout:?} for {what}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Wait for a displayed element matching `css`, then return it.
    #[track_caller]
    pub fn element(&self, css: &str) -> Element {
        self.wait_until(&format!("{css} to be displayed"), WAIT, |b| {
            b.visible(css).then_some(())
        });
        self.rt
            .block_on(self.client().find(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Do `act` to the element matching `css` once it is displayed. A list
    /// that re-renders from the event stream may replace the element
    /// between finding and acting (a stale reference), so a failed attempt
    /// is retried, until [`WAIT`] has passed.
    #[track_caller]
    fn act<F, Fut>(&self, css: &str, what: &str, act: F)
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let started = Instant::now();
        loop {
            let element = self.element(css);
            match self.rt.block_on(act(element)) {
                Ok(()) => return,
                Err(e) if started.elapsed() > WAIT => panic!("{what} {css}: {e}"),
                Err(_) => std::thread::sleep(POLL),
            }
        }
    }

    /// Wait for `css`, then click it like a user.
    #[track_caller]
    pub fn click(&self, css: &str) {
        self.act(css, "click", |e| async move { e.click().await });
    }

    /// Type into a field like a user (one input event per key).
    #[track_caller]
    pub fn type_into(&self, css: &str, text: &str) {
        self.act(css, "type into", |e| async move { e.send_keys(text).await });
    }

    /// Empty a field like a user deleting its text (an input event follows).
    #[track_caller]
    pub fn clear(&self, css: &str) {
        self.act(css, "clear", |e| async move { e.clear().await });
        self.js(
            "document.querySelector(arguments[0])
                .dispatchEvent(new Event('input', { bubbles: true }));",
            vec![json!(css)],
        );
    }

    /// Set a field's value as a date picker would, then fire `input`.
    /// (Typing into `datetime-local` depends on the browser's locale.)
    pub fn set_value(&self, css: &str, value: &str) {
        self.js(
            "const e = document.querySelector(arguments[0]);
             e.value = arguments[1];
             e.dispatchEvent(new Event('input', { bubbles: true }));
             return e.value;",
            vec![json!(css), json!(value)],
        );
        assert_eq!(
            self.js(
                "return document.querySelector(arguments[0]).value;",
                vec![json!(css)]
            ),
            json!(value),
            "{css} took the value {value:?}"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(c) = self.client.as_ref() {
                let page = self.rt.block_on(c.execute(
                    "return location.href + '\\n' + document.body.innerText;",
                    vec![],
                ));
                if let Ok(Value::String(page)) = page {
                    eprintln!("===== the page when the test failed =====\n{page}");
                }
            }
            let log =
                fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
            let start = log.len().saturating_sub(20_000);
            let start = (start..log.len())
                .find(|&i| log.is_char_boundary(i))
                .unwrap_or(log.len());
            eprintln!(
                "===== chromedriver log (end) =====\n{}\n===== end of browser logs =====",
                &log[start..]
            );
        }
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
