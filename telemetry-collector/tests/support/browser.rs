//! A real headless Chromium for the web UI's tests, driven over WebDriver
//! (chromedriver, Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs) with fantoccini.
//!
//! Each test gets its own chromedriver on a free port, in a process group of
//! its own that is killed when the [`Browser`] drops, so a failing test leaves
//! no Chromium behind. Tests take [`Browser::open`] one at a time (two Chromiums
//! at once on a 2-core machine make every wait longer, not the suite shorter).
//!
//! Where no browser can be started: under CI (`CI` set) that is a failure with
//! the reason; elsewhere the tests print `SKIPPED` with the reason.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::Value;

/// One test's browser at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file()).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| {
                candidates
                    .iter()
                    .map(move |c| dir.join(Path::new(c).file_name().unwrap()))
            })
            .find(|p| p.is_file())
    })
}

/// A headless Chromium under chromedriver, and the WebDriver session on it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Chromium's profile, deleted with the browser.
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// A browser, or `None` (with `SKIPPED` printed) when none can start outside CI.
    pub async fn open() -> Option<Browser> {
        let turn = ONE_AT_A_TIME.lock().await;
        match Self::start().await {
            Ok((client, driver, profile)) => Some(Browser {
                client,
                driver,
                _profile: profile,
                _turn: turn,
            }),
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("no headless browser under CI: {why} (install chromium and chromium-driver)")
            }
            Err(why) => {
                eprintln!("SKIPPED: no headless browser: {why} (apt-get install chromium chromium-driver)");
                None
            }
        }
    }

    async fn start() -> Result<(Client, Child, tempfile::TempDir), String> {
        let driver_bin = find(&["/usr/bin/chromedriver", "chromedriver"]).ok_or("chromedriver not found")?;
        let chrome = std::env::var("CHROME_BIN")
            .map(PathBuf::from)
            .ok()
            .or_else(|| find(&["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]))
            .ok_or("chromium not found")?;
        let port = super::postgres::free_port();
        let mut command = Command::new(driver_bin);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut driver = command.spawn().map_err(|e| format!("starting chromedriver: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = driver.kill();
                return Err("chromedriver did not listen within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chrome,
                // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--hide-scrollbars",
                         format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        // chromedriver is plain HTTP on loopback: no TLS stack needed.
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| {
                kill_group(&driver);
                format!("starting a Chromium session: {e}")
            })?;
        Ok((client, driver, profile))
    }

    /// Opens `url` and waits for the page's script to have run.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_for("document.readyState === 'complete'", "the page to load")
            .await;
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self.client.find(fantoccini::Locator::Css(css)).await;
        element
            .unwrap_or_else(|e| panic!("no {css} to click: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The value of a JavaScript expression.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    /// Waits (up to 10 s) until `expression` is truthy; its value.
    pub async fn wait_for(&self, expression: &str, what: &str) -> Value {
        self.wait_for_within(expression, what, Duration::from_secs(10)).await
    }

    /// Waits until `expression` is truthy, at most `limit`; its value.
    pub async fn wait_for_within(&self, expression: &str, what: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(expression).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != 0 && value != "";
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body.innerText.slice(0, 2000)").await;
                panic!(
                    "waited {limit:?} for {what} ({expression}); the page says:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Saves a screenshot as `ui-screenshots/{name}.png` in cargo's target
    /// temporary directory; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Stops Chromium and chromedriver (what dropping does; this reads better
    /// at the end of a test). fantoccini's own `close` waits for every clone
    /// of the client to go, so the process group is killed instead.
    pub async fn close(self) {
        drop(self);
    }
}

fn kill_group(driver: &Child) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", driver.id())])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&self.driver);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
