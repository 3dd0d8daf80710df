//! A fake Telegram Bot API server: `POST /bot<token>/<method>` on 127.0.0.1:0.
//!
//! It answers the real envelope (`{"ok": true, "result": …}` or `{"ok": false, "error_code",
//! "description", "parameters"}` with the HTTP status equal to `error_code`), refuses a wrong
//! token with 401 like the real server, and checks what the real server checks where a bug
//! would hide: `sendMessage` texts must be valid HTML of the parse mode (unescaped `<` or `&`
//! is a 400 "can't parse entities"), `restrictChatMember` works only in supergroups and not
//! on admins. It records every call, serves `getChatAdministrators` and `getChat` from a
//! small chat model, serves `getUpdates` from a queue with Telegram's offset semantics (long
//! polls wait for a push), and injects faults per method: 429 with `retry_after`, 400 "not
//! enough rights", 502. `answerCallbackQuery` is answered once per query id (a second answer
//! is Telegram's 400 "query is too old"), with a notice of at most 200 characters.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The bot's user id (the token's prefix).
pub const BOT_ID: i64 = 7_012_345_678;
/// The bot's token.
pub const TG_TOKEN: &str = "7012345678:AAtest-telegram-token_0123456789abcdef";
/// The supergroup of the fixtures.
pub const TG_CHAT: i64 = -1_001_876_543_210;
/// Its owner (the admin of the fixtures, Lin Zhou).
pub const TG_OWNER: i64 = 183_492_017;
/// The spammer of the fixtures.
pub const TG_SPAMMER: i64 = 6_523_018_894;

/// One recorded API call.
#[derive(Clone, Debug, PartialEq)]
pub struct TgCall {
    /// The method (`sendMessage`, `restrictChatMember`, …).
    pub method: String,
    /// The JSON body.
    pub params: Value,
    /// Whether the fake answered ok.
    pub ok: bool,
    /// The id the fake gave a message it sent.
    pub message_id: Option<i64>,
}

/// A failure to answer the next call of one method with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TgFault {
    /// HTTP 429 "Too Many Requests: retry after N" with `parameters.retry_after`.
    TooManyRequests(u64),
    /// HTTP 400 "Bad Request: not enough rights to restrict/unrestrict chat member".
    NotEnoughRights,
    /// HTTP 502 from the API.
    BadGateway,
}

struct Inner {
    calls: Vec<TgCall>,
    faults: HashMap<String, VecDeque<TgFault>>,
    next_message_id: i64,
    /// Updates not yet confirmed by a `getUpdates` offset, in id order.
    updates: Vec<Value>,
    /// Every update ever pushed, for re-serving after `forget_confirmations`.
    history: Vec<Value>,
    /// Per chat: (user id, "creator" | "administrator").
    admins: HashMap<i64, Vec<(i64, &'static str)>>,
    /// The `result` of `sendMessage`, from the fixture; id, chat and text are filled in.
    sent_message: Value,
    /// Callback queries already answered.
    answered: std::collections::HashSet<String>,
}

/// The fake server. Clones share state. Dropping it does not stop the server task; the test
/// process ends it.
#[derive(Clone)]
pub struct FakeTelegram {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The token it accepts and the id of its bot.
    token: &'static str,
    bot_id: i64,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeTelegram {
    /// Starts a fake with the fixtures' supergroup: owner [`TG_OWNER`], the bot an admin.
    pub async fn start() -> Self {
        Self::start_as(TG_TOKEN, BOT_ID).await
    }

    /// A fake Bot API of another bot: it accepts `token`, answers `getMe` with `bot_id`, and
    /// its bot is an administrator of no chat until [`FakeTelegram::set_admins`] says so.
    pub async fn start_as(token: &'static str, bot_id: i64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let addr = listener.local_addr().expect("addr");
        let admins = if bot_id == BOT_ID {
            HashMap::from([(TG_CHAT, vec![(TG_OWNER, "creator"), (BOT_ID, "administrator")])])
        } else {
            HashMap::from([(TG_CHAT, vec![(TG_OWNER, "creator")])])
        };
        let fake = Self {
            addr,
            token,
            bot_id,
            inner: Arc::new(Mutex::new(Inner {
                calls: Vec::new(),
                faults: HashMap::new(),
                next_message_id: 58_300,
                updates: Vec::new(),
                history: Vec::new(),
                admins,
                sent_message: sent_message_fixture(),
                answered: std::collections::HashSet::new(),
            })),
            changed: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The `api_root` to configure.
    pub fn api_root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next calls of `method` with `faults`, in order.
    pub fn inject(&self, method: &str, faults: impl IntoIterator<Item = TgFault>) {
        self.lock().faults.entry(method.to_owned()).or_default().extend(faults);
    }

    /// Sets the owner and admins of `chat`.
    pub fn set_admins(&self, chat: i64, admins: Vec<(i64, &'static str)>) {
        self.lock().admins.insert(chat, admins);
    }

    /// Queues updates for `getUpdates`.
    pub fn push_updates(&self, updates: impl IntoIterator<Item = Value>) {
        let mut inner = self.lock();
        for update in updates {
            inner.history.push(update.clone());
            inner.updates.push(update);
        }
        inner.updates.sort_by_key(update_id);
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Serves every update ever pushed again, as if no offset had been confirmed (what
    /// Telegram does for a client that lost its offset).
    pub fn forget_confirmations(&self) {
        let mut inner = self.lock();
        inner.updates = inner.history.clone();
        inner.updates.sort_by_key(update_id);
    }

    /// Every call so far, `getUpdates` polls included.
    pub fn calls(&self) -> Vec<TgCall> {
        self.lock().calls.clone()
    }

    /// The calls of `method`.
    pub fn calls_of(&self, method: &str) -> Vec<TgCall> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Successful calls that change the group (what members see), in order: everything but
    /// the reads and the bot's own setup.
    pub fn actions(&self) -> Vec<TgCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.ok && !is_housekeeping(&c.method))
            .collect()
    }

    /// Waits until `done` holds for the calls, up to `limit`; returns the calls.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&[TgCall]) -> bool) -> Vec<TgCall> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            let calls = self.calls();
            if done(&calls) || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Waits until at least `n` actions (see [`FakeTelegram::actions`]) succeeded; returns them.
    pub async fn wait_actions(&self, n: usize, limit: Duration) -> Vec<TgCall> {
        self.wait_for(limit, |calls| {
            calls.iter().filter(|c| c.ok && !is_housekeeping(&c.method)).count() >= n
        })
        .await;
        self.actions()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("fake telegram lock")
    }
}

fn sent_message_fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/telegram/api.response.ok.sendMessage.json"
    );
    let envelope: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    envelope["result"].clone()
}

/// Reads, setup and a press's acknowledgement (seen only by the member who pressed, in a
/// popup): not something the group sees.
fn is_housekeeping(method: &str) -> bool {
    matches!(
        method,
        "answerCallbackQuery"
            | "getUpdates"
            | "getMe"
            | "setWebhook"
            | "deleteWebhook"
            | "getChatAdministrators"
            | "getChat"
            | "getChatMemberCount"
    )
}

fn update_id(update: &Value) -> i64 {
    update["update_id"].as_i64().expect("updates have an update_id")
}

/// Method names of calls, for compact assertions.
pub fn methods(calls: &[TgCall]) -> Vec<&str> {
    calls.iter().map(|c| c.method.as_str()).collect()
}

type Answer = (StatusCode, axum::Json<Value>);

fn ok(result: Value) -> Answer {
    (StatusCode::OK, axum::Json(json!({"ok": true, "result": result})))
}

fn error(code: u16, description: &str, parameters: Option<Value>) -> Answer {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (StatusCode::from_u16(code).expect("status"), axum::Json(body))
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Answer {
    if bot.strip_prefix("bot") != Some(fake.token) {
        return error(401, "Unauthorized", None);
    }
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if method == "getUpdates" {
        // Recorded on arrival: a long poll is usually still waiting when the daemon stops.
        fake.lock().calls.push(TgCall {
            method,
            params: params.clone(),
            ok: true,
            message_id: None,
        });
        fake.changed.notify_waiters();
        return get_updates(&fake, &params).await;
    }
    let fault = fake.lock().faults.get_mut(&method).and_then(VecDeque::pop_front);
    let answer = match fault {
        Some(TgFault::TooManyRequests(secs)) => error(
            429,
            &format!("Too Many Requests: retry after {secs}"),
            Some(json!({"retry_after": secs})),
        ),
        Some(TgFault::NotEnoughRights) => error(
            400,
            "Bad Request: not enough rights to restrict/unrestrict chat member",
            None,
        ),
        Some(TgFault::BadGateway) => error(502, "Bad Gateway", None),
        None => answer(&fake, &method, &params),
    };
    let succeeded = answer.0 == StatusCode::OK;
    let message_id = answer.1.0["result"]["message_id"].as_i64();
    fake.lock().calls.push(TgCall {
        method,
        params,
        ok: succeeded,
        message_id,
    });
    fake.changed.notify_waiters();
    answer
}

/// `getUpdates`: drop what the offset confirms, answer what is left, or wait up to `timeout`
/// seconds for a push.
async fn get_updates(fake: &FakeTelegram, params: &Value) -> Answer {
    let wait = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = fake.changed.notified();
        {
            let mut inner = fake.lock();
            if let Some(offset) = params["offset"].as_i64() {
                inner.updates.retain(|u| update_id(u) >= offset);
            }
            if !inner.updates.is_empty() || tokio::time::Instant::now() >= deadline {
                let batch: Vec<Value> = inner.updates.iter().take(100).cloned().collect();
                return ok(Value::Array(batch));
            }
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

/// What `getChatMemberCount` answers.
pub const MEMBER_COUNT: u64 = 250;

fn answer(fake: &FakeTelegram, method: &str, params: &Value) -> Answer {
    let chat_id = params["chat_id"].as_i64();
    let user_id = params["user_id"].as_i64();
    let mut inner = fake.lock();
    let is_admin = |inner: &Inner, chat: i64, user: i64| {
        inner
            .admins
            .get(&chat)
            .is_some_and(|list| list.iter().any(|(id, _)| *id == user))
    };
    match method {
        "getMe" => ok(json!({"id": fake.bot_id, "is_bot": true, "first_name": "群管", "username": "qunguan_bot"})),
        "setWebhook" | "deleteWebhook" => ok(json!(true)),
        "getChatAdministrators" => {
            let Some(chat) = chat_id else {
                return error(400, "Bad Request: chat_id is empty", None);
            };
            let list = inner.admins.get(&chat).cloned().unwrap_or_default();
            ok(Value::Array(
                list.into_iter()
                    .map(|(id, status)| {
                        json!({"status": status, "user": {"id": id, "is_bot": id == fake.bot_id, "first_name": format!("admin{id}")}})
                    })
                    .collect(),
            ))
        }
        // Every chat has the same size in these tests.
        "getChatMemberCount" => match chat_id {
            Some(_) => ok(json!(MEMBER_COUNT)),
            None => error(400, "Bad Request: chat_id is empty", None),
        },
        "getChat" => match chat_id {
            Some(chat) => ok(json!({
                "id": chat, "type": if chat < -1_000_000_000_000 { "supergroup" } else { "group" },
                "title": "Rust 中文社区",
                "permissions": {"can_send_messages": true, "can_send_audios": true, "can_send_documents": true,
                                "can_send_photos": true, "can_send_videos": true, "can_send_video_notes": true,
                                "can_send_voice_notes": true, "can_send_polls": false, "can_send_other_messages": true,
                                "can_add_web_page_previews": true, "can_change_info": false, "can_invite_users": true,
                                "can_pin_messages": false, "can_manage_topics": false}
            })),
            None => error(400, "Bad Request: chat_id is empty", None),
        },
        "sendMessage" => {
            let Some(chat) = chat_id else {
                return error(400, "Bad Request: chat_id is empty", None);
            };
            let text = params["text"].as_str().unwrap_or("");
            if params["parse_mode"] == "HTML"
                && let Err(why) = check_html(text)
            {
                return error(400, &format!("Bad Request: can't parse entities: {why}"), None);
            }
            if text.trim().is_empty() {
                return error(400, "Bad Request: message text is empty", None);
            }
            if visible_units(text) > 4096 {
                return error(400, "Bad Request: message is too long", None);
            }
            inner.next_message_id += 1;
            let mut message = inner.sent_message.clone();
            message["message_id"] = json!(inner.next_message_id);
            message["chat"]["id"] = json!(chat);
            message["text"] = json!(text);
            message["entities"] = json!([]);
            ok(message)
        }
        "restrictChatMember" => match (chat_id, user_id) {
            (Some(chat), _) if chat > -1_000_000_000_000 => {
                error(400, "Bad Request: method is available only for supergroups", None)
            }
            (Some(chat), Some(user)) if is_admin(&inner, chat, user) => {
                error(400, "Bad Request: user is an administrator of the chat", None)
            }
            (Some(_), Some(_)) if params["permissions"].is_object() => ok(json!(true)),
            _ => error(400, "Bad Request: invalid parameters", None),
        },
        "banChatMember" => match (chat_id, user_id) {
            (Some(chat), Some(user)) if is_admin(&inner, chat, user) => {
                error(400, "Bad Request: user is an administrator of the chat", None)
            }
            (Some(_), Some(_)) => ok(json!(true)),
            _ => error(400, "Bad Request: invalid parameters", None),
        },
        "unbanChatMember" | "approveChatJoinRequest" | "declineChatJoinRequest" => match (chat_id, user_id) {
            (Some(_), Some(_)) => ok(json!(true)),
            _ => error(400, "Bad Request: invalid parameters", None),
        },
        "banChatSenderChat" | "unbanChatSenderChat" => match (chat_id, params["sender_chat_id"].as_i64()) {
            (Some(_), Some(_)) => ok(json!(true)),
            _ => error(400, "Bad Request: invalid parameters", None),
        },
        "answerCallbackQuery" => {
            let Some(id) = params["callback_query_id"].as_str().filter(|id| !id.is_empty()) else {
                return error(400, "Bad Request: query_id_invalid", None);
            };
            if params["text"].as_str().is_some_and(|t| t.chars().count() > 200) {
                return error(400, "Bad Request: MESSAGE_TOO_LONG", None);
            }
            if !inner.answered.insert(id.to_owned()) {
                return error(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is invalid",
                    None,
                );
            }
            ok(json!(true))
        }
        "deleteMessage" => match (chat_id, params["message_id"].as_i64()) {
            (Some(_), Some(_)) => ok(json!(true)),
            _ => error(400, "Bad Request: message to delete not found", None),
        },
        _ => error(404, "Not Found: method not found", None),
    }
}

/// What Telegram's HTML parse mode accepts: the tags qunguan may send, and `&` only as one of
/// the four entities.
fn check_html(text: &str) -> Result<(), String> {
    let mut rest = text;
    let mut open: Vec<&str> = Vec::new();
    while let Some(i) = rest.find(['<', '&', '>']) {
        let tail = &rest[i..];
        if tail.starts_with('>') {
            return Err(format!("unexpected '>' at {:?}", &tail[..tail.len().min(20)]));
        }
        if tail.starts_with('&') {
            let entity = ["&lt;", "&gt;", "&amp;", "&quot;"]
                .into_iter()
                .find(|e| tail.starts_with(e))
                .ok_or_else(|| format!("unsupported entity at {:?}", &tail[..tail.len().min(12)]))?;
            rest = &tail[entity.len()..];
            continue;
        }
        let end = tail.find('>').ok_or("unclosed tag")?;
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name) {
                return Err(format!("unmatched end tag </{name}>"));
            }
        } else if tag == "b" {
            open.push("b");
        } else if let Some(href) = tag.strip_prefix("a href=\"").and_then(|h| h.strip_suffix('"')) {
            if href.contains(['"', '<', '>']) {
                return Err(format!("bad href {href:?}"));
            }
            open.push("a");
        } else {
            return Err(format!("unsupported tag <{tag}>"));
        }
        rest = &tail[end + 1..];
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed {open:?}"))
    }
}

/// Visible length in UTF-16 units: tags removed, entities counted once.
fn visible_units(html: &str) -> usize {
    let mut units = 0;
    let mut in_tag = false;
    let mut rest = html;
    while let Some(ch) = rest.chars().next() {
        if in_tag {
            in_tag = ch != '>';
        } else if ch == '<' {
            in_tag = true;
        } else if ch == '&' {
            let len = rest.find(';').map_or(1, |i| i + 1);
            units += 1;
            rest = &rest[len..];
            continue;
        } else {
            units += ch.len_utf16();
        }
        rest = &rest[ch.len_utf8()..];
    }
    units
}

/// Parses the HTML `sendMessage` text back into what members see: (visible text, mentions
/// as (user id, shown name)).
pub fn read_html(html: &str) -> (String, Vec<(i64, String)>) {
    let unescape = |s: &str| {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    };
    let mut text = String::new();
    let mut mentions = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a href=\"tg://user?id=") {
        text.push_str(&unescape(&rest[..start]));
        let after = &rest[start + "<a href=\"tg://user?id=".len()..];
        let quote = after.find('"').expect("closing quote");
        let id: i64 = after[..quote].parse().expect("numeric id");
        let body_start = after.find('>').expect("tag end") + 1;
        let body_end = after.find("</a>").expect("closing tag");
        let name = unescape(&after[body_start..body_end]);
        text.push('@');
        text.push_str(&name);
        mentions.push((id, name));
        rest = &after[body_end + "</a>".len()..];
    }
    text.push_str(&unescape(rest));
    (text, mentions)
}
