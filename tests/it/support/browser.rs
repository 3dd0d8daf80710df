//! Headless Chromium driven over the DevTools protocol, for tests that click through a page
//! like a person: load, type, click (real mouse events), accept a `confirm()`, read the DOM,
//! and take screenshots.
//!
//! Chromium runs with the flags that keep it off the network (no component updates, no sync,
//! no background requests) and only ever loads the daemon's loopback URLs. It is killed when
//! the [`Browser`] is dropped, and every wait is bounded.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long one protocol call or page load may take.
const STEP: Duration = Duration::from_secs(20);

/// The Chromium binary, if one is installed.
pub fn chromium() -> Option<String> {
    ["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|c| (*c).to_owned())
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A headless Chromium with one page.
pub struct Browser {
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: Mutex<u64>,
    session: String,
    loads: Arc<(Mutex<u64>, Notify)>,
    /// The messages of `confirm()` dialogs accepted so far.
    pub dialogs: Arc<Mutex<Vec<String>>>,
}

impl Browser {
    /// Starts Chromium and opens a blank page.
    pub async fn start(binary: &str) -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let ws_url = tokio::time::timeout(STEP, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium exited without a DevTools address");
        })
        .await
        .expect("chromium printed its DevTools address in time");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(&ws_url)
            .await
            .expect("DevTools connects");
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let loads: Arc<(Mutex<u64>, Notify)> = Arc::default();
        let dialogs: Arc<Mutex<Vec<String>>> = Arc::default();
        {
            let (pending, loads, dialogs, out) = (
                Arc::clone(&pending),
                Arc::clone(&loads),
                Arc::clone(&dialogs),
                out.clone(),
            );
            tokio::spawn(async move {
                let mut dialog_id = 1_000_000u64;
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else { continue };
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if let Some(id) = value.get("id").and_then(Value::as_u64) {
                        if let Some(tx) = pending.lock().expect("lock").remove(&id) {
                            let _ = tx.send(value);
                        }
                        continue;
                    }
                    match value["method"].as_str() {
                        Some("Page.loadEventFired") => {
                            *loads.0.lock().expect("lock") += 1;
                            loads.1.notify_waiters();
                        }
                        Some("Page.javascriptDialogOpening") => {
                            // A person reads the question and clicks OK.
                            let text = value["params"]["message"].as_str().unwrap_or_default().to_owned();
                            dialogs.lock().expect("lock").push(text);
                            dialog_id += 1;
                            let accept = json!({
                                "id": dialog_id, "method": "Page.handleJavaScriptDialog",
                                "params": {"accept": true}, "sessionId": value["sessionId"],
                            });
                            let _ = out.send(Message::Text(accept.to_string().into()));
                        }
                        _ => {}
                    }
                }
            });
        }
        let mut browser = Self {
            _child: child,
            _profile: profile,
            out,
            pending,
            next_id: Mutex::new(0),
            session: String::new(),
            loads,
            dialogs,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"})).await;
        let target_id = target["targetId"].as_str().expect("a target").to_owned();
        let attached = browser
            .call("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}))
            .await;
        browser.session = attached["sessionId"].as_str().expect("a session").to_owned();
        browser.call("Page.enable", json!({})).await;
        browser.call("Runtime.enable", json!({})).await;
        browser
    }

    /// Sends one protocol command to the page (or the browser, before a page is attached)
    /// and returns its result.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let id = {
            let mut next = self.next_id.lock().expect("lock");
            *next += 1;
            *next
        };
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id, tx);
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = Value::String(self.session.clone());
        }
        self.out
            .send(Message::Text(message.to_string().into()))
            .expect("DevTools connection open");
        let answer = tokio::time::timeout(STEP, rx)
            .await
            .unwrap_or_else(|_| panic!("{method}: no answer within {STEP:?}"))
            .expect("answered");
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    fn loads(&self) -> u64 {
        *self.loads.0.lock().expect("lock")
    }

    /// Waits until more than `before` page loads have finished.
    async fn wait_load(&self, before: u64) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let notified = self.loads.1.notified();
            if self.loads() > before {
                return;
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "no page load within {STEP:?}"
            );
        }
    }

    /// Loads `url` and waits for the page.
    pub async fn goto(&self, url: &str) {
        let before = self.loads();
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_load(before).await;
    }

    /// Evaluates `expression` in the page and returns its value.
    pub async fn eval(&self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.eval("location.href").await.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the first element matching `selector` (empty if none).
    pub async fn text(&self, selector: &str) -> String {
        let expr = format!(
            "(function(){{var e=document.querySelector({}); return e ? e.innerText : '';}})()",
            Value::String(selector.to_owned())
        );
        self.eval(&expr).await.as_str().unwrap_or_default().to_owned()
    }

    /// Types `text` into the field `selector` (focus, then key-level text input).
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.click_at(selector).await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Clicks the element `selector` with the mouse (scrolled into view, at its centre).
    async fn click_at(&self, selector: &str) {
        let expr = format!(
            "(function(){{var e=document.querySelector({}); if(!e) return null; e.scrollIntoView({{block:'center'}}); \
             var r=e.getBoundingClientRect(); return [r.left+r.width/2, r.top+r.height/2];}})()",
            Value::String(selector.to_owned())
        );
        let at = self.eval(&expr).await;
        let (x, y) = (
            at[0].as_f64().unwrap_or_else(|| panic!("no element {selector}")),
            at[1].as_f64().expect("y"),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Clicks `selector` and waits for the page it leads to.
    pub async fn click_and_wait(&self, selector: &str) {
        let before = self.loads();
        self.click_at(selector).await;
        self.wait_load(before).await;
    }

    /// A full-page PNG at `width` CSS pixels (a phone's viewport below 500), written to
    /// `path`.
    pub async fn screenshot(&self, width: u32, path: &Path) {
        let mobile = width < 500;
        let metrics = |height: u64| json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.call("Emulation.setDeviceMetricsOverride", metrics(800)).await;
        let height = self
            .eval("Math.ceil(document.documentElement.scrollHeight)")
            .await
            .as_u64()
            .unwrap_or(800)
            .clamp(200, 8000);
        self.call("Emulation.setDeviceMetricsOverride", metrics(height)).await;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64_decode(shot["data"].as_str().expect("image data"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        std::fs::write(path, png).expect("screenshot written");
        self.call("Emulation.clearDeviceMetricsOverride", json!({})).await;
    }
}

/// Standard base64 (the protocol's image encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        let keep = chunk.len() - 1;
        for i in 0..keep {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
