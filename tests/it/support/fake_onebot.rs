//! A fake OneBot v11 gateway: the HTTP API side (`POST /{action}`) on 127.0.0.1:0.
//!
//! It checks the Bearer token like NapCat (403 when missing or wrong), answers the real
//! envelope (`{"status","retcode","data","echo"}`, `data.message_id` for sends), records every
//! call with its arrival time (calls about the harness's [`MARKER_GROUP`] apart), and can
//! inject faults: HTTP 500, `status: failed`, or holding a call — queued for the next calls,
//! for calls matching a predicate, or for every call until the mode is changed back.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// One recorded API call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The action name (`delete_msg`, `set_group_ban`, …).
    pub action: String,
    /// The JSON body (with `"__failed": true` added when the call was not answered ok).
    pub params: Value,
    /// When it arrived.
    pub at: std::time::Instant,
    /// The id the fake gave the message, for a `send_group_msg` answered ok.
    pub message_id: Option<i64>,
}

/// Decides whether a targeted fault applies to a call: `(action, params)`.
pub type Matcher = Box<dyn Fn(&str, &Value) -> bool + Send>;

/// A fault to inject into upcoming calls, consumed one per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer HTTP 500.
    Http500,
    /// Answer `status: failed` with retcode 100.
    Failed,
    /// Answer `status: failed` as NapCat does while the QQ account is offline or reconnecting
    /// (retcode 200, the handler threw): a failure that passes.
    Offline,
    /// Hold the call this long before answering ok. Longer than the client's timeout, it is a
    /// timeout; it is recorded as a failed attempt either way.
    Hang(Duration),
}

/// The group the harness posts its own marker messages in (see `TestApp::outbox_round`).
/// The fake keeps calls about it apart: [`FakeOneBot::calls`], [`FakeOneBot::delivered`] and
/// the waits never show them, so the counts a test asserts never include the harness's markers.
pub const MARKER_GROUP: i64 = 726_300_199;

/// What `get_group_info` answers.
pub const MEMBER_COUNT: u64 = 200;
/// The group name `get_group_info` answers (with markup, to catch unescaped output).
pub const GROUP_NAME: &str = "Rust <b>学习</b>群";

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// Calls about [`MARKER_GROUP`].
    markers: Vec<Call>,
    faults: VecDeque<Fault>,
    targeted: Vec<(Matcher, Fault, usize)>,
    mode: Option<Fault>,
    next_message_id: i64,
    /// What `get_group_member_info` answers as the role of `(group, user)` ("member" when
    /// not set).
    roles: std::collections::HashMap<(i64, i64), &'static str>,
}

impl Inner {
    /// Keeps a call, apart if it is about [`MARKER_GROUP`].
    fn record(&mut self, call: Call) {
        if call.params["group_id"] == MARKER_GROUP {
            self.markers.push(call);
        } else {
            self.calls.push(call);
        }
    }

    /// The fault for this call: a queued one first, then a matching targeted one, then the
    /// mode.
    fn fault_for(&mut self, action: &str, params: &Value) -> Option<Fault> {
        if let Some(fault) = self.faults.pop_front() {
            return Some(fault);
        }
        if let Some(i) = self
            .targeted
            .iter()
            .position(|(m, _, left)| *left > 0 && m(action, params))
        {
            let (_, fault, left) = &mut self.targeted[i];
            *left -= 1;
            return Some(*fault);
        }
        self.mode
    }
}

/// The fake gateway. Dropping it does not stop the server task; the test process ends it.
#[derive(Clone)]
pub struct FakeOneBot {
    /// Where it listens.
    pub addr: SocketAddr,
    token: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeOneBot {
    /// Starts a fake gateway that requires `token` (empty = no auth).
    pub async fn start(token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake gateway");
        let addr = listener.local_addr().expect("addr");
        let fake = Self {
            addr,
            token: token.to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                next_message_id: 9_000,
                ..Inner::default()
            })),
            changed: Arc::new(Notify::new()),
        };
        let app = Router::new().route("/{action}", post(handle)).with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The `api_root` to configure.
    pub fn api_root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues faults for the next calls, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().expect("lock").faults.extend(faults);
    }

    /// Applies `fault` to the next `times` calls for which `matches(action, params)` holds.
    pub fn inject_when(&self, matches: impl Fn(&str, &Value) -> bool + Send + 'static, fault: Fault, times: usize) {
        self.inner
            .lock()
            .expect("lock")
            .targeted
            .push((Box::new(matches), fault, times));
    }

    /// Makes `get_group_member_info` answer `role` for `user` in `group`.
    pub fn set_role(&self, group: i64, user: i64, role: &'static str) {
        self.inner.lock().expect("lock").roles.insert((group, user), role);
    }

    /// Applies `fault` to every call from now on (`None`: answer normally again).
    pub fn set_mode(&self, fault: Option<Fault>) {
        self.inner.lock().expect("lock").mode = fault;
    }

    /// Every call recorded so far (including refused ones).
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().expect("lock").calls.clone()
    }

    /// The calls about [`MARKER_GROUP`] (the harness's markers), kept apart from the others.
    pub fn marker_calls(&self) -> Vec<Call> {
        self.inner.lock().expect("lock").markers.clone()
    }

    /// Waits until a marker call satisfies `done`, up to `limit`; returns whether one did.
    pub async fn wait_marker(&self, limit: Duration, done: impl Fn(&Call) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if self.marker_calls().iter().any(&done) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Successful calls only (what the group actually saw).
    pub fn delivered(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.params.get("__failed").is_none())
            .collect()
    }

    /// Waits until at least `n` calls were delivered successfully, up to `limit`; returns them.
    pub async fn wait_delivered(&self, n: usize, limit: Duration) -> Vec<Call> {
        self.wait_until(|| self.delivered(), n, limit).await
    }

    /// Waits until at least `n` calls were attempted (failed ones included), up to `limit`.
    pub async fn wait_calls(&self, n: usize, limit: Duration) -> Vec<Call> {
        self.wait_until(|| self.calls(), n, limit).await
    }

    async fn wait_until(&self, read: impl Fn() -> Vec<Call>, n: usize, limit: Duration) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            let calls = read();
            if calls.len() >= n || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

async fn handle(
    State(fake): State<FakeOneBot>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, axum::Json<Value>) {
    if !fake.token.is_empty() {
        let expected = format!("Bearer {}", fake.token);
        let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
        if !ok {
            return (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"status": "failed", "retcode": 1403, "data": null})),
            );
        }
    }
    // The daemon's health probe (at start, and while a gateway fails): answered, never
    // recorded and never given a fault, so the calls a test counts are the group's.
    if action == "get_status" {
        return (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "retcode": 0, "data": {"online": true, "good": true}})),
        );
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let at = std::time::Instant::now();
    let fault = fake.inner.lock().expect("lock").fault_for(&action, &params);
    if let Some(Fault::Hang(d)) = fault {
        // Recorded on arrival as not delivered: the client gives up before the answer and
        // axum then drops this handler, so nothing after the sleep may run.
        let mut attempt = params.clone();
        if let Value::Object(map) = &mut attempt {
            map.insert("__failed".into(), Value::Bool(true));
        }
        fake.inner.lock().expect("lock").record(Call {
            action: action.clone(),
            params: attempt,
            at,
            message_id: None,
        });
        fake.changed.notify_waiters();
        tokio::time::sleep(d).await;
        return (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "retcode": 0, "data": null})),
        );
    }
    let mut message_id = None;
    let (status, envelope, failed) = match fault {
        Some(Fault::Http500) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": "failed", "retcode": 500}),
            true,
        ),
        Some(Fault::Failed) => (
            StatusCode::OK,
            json!({"status": "failed", "retcode": 100, "data": null, "msg": "NOT_MANAGEABLE", "wording": "机器人权限不足"}),
            true,
        ),
        Some(Fault::Offline) => (
            StatusCode::OK,
            json!({"status": "failed", "retcode": 200, "data": null, "message": "NTQQ is offline, reconnecting",
                   "wording": "NTQQ is offline, reconnecting"}),
            true,
        ),
        _ => {
            let mut inner = fake.inner.lock().expect("lock");
            let data = if action == "send_group_msg" {
                inner.next_message_id += 1;
                message_id = Some(inner.next_message_id);
                json!({"message_id": inner.next_message_id})
            } else if action == "get_group_info" {
                // NapCat's shape; every group has the same size in these tests.
                json!({"group_id": params["group_id"], "group_name": GROUP_NAME, "member_count": MEMBER_COUNT,
                       "max_member_count": 500})
            } else if action == "get_group_member_info" {
                let (group, user) = (
                    params["group_id"].as_i64().unwrap_or(0),
                    params["user_id"].as_i64().unwrap_or(0),
                );
                let role = inner.roles.get(&(group, user)).copied().unwrap_or("member");
                json!({"group_id": group, "user_id": user, "role": role, "nickname": "", "card": ""})
            } else {
                Value::Null
            };
            (
                StatusCode::OK,
                json!({"status": "ok", "retcode": 0, "data": data, "echo": null}),
                false,
            )
        }
    };
    let mut recorded = params;
    if failed && let Value::Object(map) = &mut recorded {
        map.insert("__failed".into(), Value::Bool(true));
    }
    fake.inner.lock().expect("lock").record(Call {
        action,
        params: recorded,
        at,
        message_id,
    });
    fake.changed.notify_waiters();
    (status, axum::Json(envelope))
}
