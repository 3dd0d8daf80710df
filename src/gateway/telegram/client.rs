//! The Bot API client: `POST {api_root}/bot<token>/<method>` with a JSON body, answered by the
//! `{ok, result}` / `{ok: false, error_code, description, parameters}` envelope.
//!
//! The token is part of every URL, so the URL never leaves this module: reqwest errors are
//! stripped of it ([`reqwest::Error::without_url`]) and `Debug` shows only the API root.
//!
//! Failures are classified for the outbox: 429 is [`GatewayError::RateLimited`] with the
//! `retry_after` Telegram asks for; 5xx and transport errors are retryable; every other error
//! (400 "not enough rights", 403 "bot was kicked", 401 bad token …) is a refusal, because
//! repeating the same call cannot succeed.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::html;
use super::wire::{ChatMember, Envelope, User};
use crate::config::{Secret, TelegramSettings};
use crate::domain::action::TELEGRAM_MAX_MUTE_SECS;
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::gateway::{Delivery, GatewayError, http_failure};

/// The update kinds qunguan asks for: messages and edits (filter), member changes (welcome,
/// admin cache), the bot's own status (missing rights), join requests and presses of its
/// inline buttons (the gate at the door). `chat_member` is only delivered when listed
/// explicitly.
pub const ALLOWED_UPDATES: [&str; 6] = [
    "message",
    "edited_message",
    "chat_member",
    "my_chat_member",
    "chat_join_request",
    "callback_query",
];

/// Telegram treats an `until_date` less than 30 s away as "forever"; 10 s of margin cover
/// clock skew and the time the call takes.
pub const MIN_MUTE_SECS: u64 = 40;
/// … and one more than 366 days away as "forever" too; an hour of margin on that side.
pub const MAX_MUTE_SECS: u64 = TELEGRAM_MAX_MUTE_SECS - 3600;

/// What a muted member may not do: every kind of sending. Sent with
/// `use_independent_chat_permissions: true`, so each flag means exactly itself.
const MUTED: [&str; 10] = [
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
];

/// A client of the Bot API for one bot. Cheap to share: reqwest pools connections inside.
pub struct TelegramClient {
    http: reqwest::Client,
    /// `{api_root}/bot<token>`: a secret, since it contains the token.
    base: Secret,
    api_root: String,
    bot_id: i64,
    clock: SharedClock,
    /// The `permissions` of a mute, built once.
    muted: Value,
}

impl std::fmt::Debug for TelegramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramClient")
            .field("api_root", &self.api_root)
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

impl TelegramClient {
    /// A client for the bot described by `settings`; `clock` dates mutes.
    pub fn new(settings: &TelegramSettings, clock: SharedClock) -> Result<Self, GatewayError> {
        let timeout = settings.timeout.get();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(8)
            // The Bot API never redirects; following one would send the token (in the path)
            // wherever the redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("qunguan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Transport(format!("cannot build the HTTP client: {e}")))?;
        let api_root = settings.api_root.trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            base: Secret::new(format!("{api_root}/bot{}", settings.token.expose())),
            api_root,
            bot_id: settings.bot_id().unwrap_or_default(),
            clock,
            muted: Value::Object(MUTED.iter().map(|k| ((*k).to_owned(), Value::Bool(false))).collect()),
        })
    }

    /// The bot's user id (from the token).
    #[must_use]
    pub fn bot_id(&self) -> i64 {
        self.bot_id
    }

    /// Calls `method` with `params`; returns the envelope's `result`.
    pub async fn call(&self, method: &str, params: &impl Serialize) -> Result<Value, GatewayError> {
        self.call_with_timeout(method, params, None).await
    }

    async fn call_with_timeout(
        &self,
        method: &str,
        params: &impl Serialize,
        timeout: Option<Duration>,
    ) -> Result<Value, GatewayError> {
        let url = format!("{}/{method}", self.base.expose());
        let mut request = self.http.post(url).json(params);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        // Named in errors only: nothing formatted for a call that succeeds.
        let call = || call_for_log(&self.api_root, method);
        let response = request.send().await.map_err(|e| classify_reqwest(&call(), e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| classify_reqwest(&call(), e))?;
        classify_answer(method, status, &body)
    }

    /// `getMe`: who the token belongs to.
    pub async fn get_me(&self) -> Result<User, GatewayError> {
        let result = self.call("getMe", &json!({})).await?;
        serde_json::from_value(result).map_err(|e| GatewayError::Protocol(format!("getMe: {e}")))
    }

    /// `setWebhook` with the secret token and `ALLOWED_UPDATES`.
    pub async fn set_webhook(&self, url: &str, secret_token: &Secret, drop_pending: bool) -> Result<(), GatewayError> {
        let params = json!({
            "url": url,
            "secret_token": secret_token.expose(),
            "allowed_updates": ALLOWED_UPDATES,
            "drop_pending_updates": drop_pending,
        });
        self.call("setWebhook", &params).await.map(drop)
    }

    /// `deleteWebhook`: needed before `getUpdates` works.
    pub async fn delete_webhook(&self, drop_pending: bool) -> Result<(), GatewayError> {
        self.call("deleteWebhook", &json!({"drop_pending_updates": drop_pending}))
            .await
            .map(drop)
    }

    /// `getUpdates` long poll from `offset`, waiting up to `wait` for the first update. The
    /// updates come back unparsed so one malformed update cannot hide the others.
    pub async fn get_updates(&self, offset: Option<i64>, wait: Duration) -> Result<Vec<Value>, GatewayError> {
        let params = json!({
            "offset": offset,
            "timeout": wait.as_secs(),
            "allowed_updates": ALLOWED_UPDATES,
        });
        // The HTTP deadline must outlast the long poll itself.
        let deadline = wait + Duration::from_secs(10);
        match self.call_with_timeout("getUpdates", &params, Some(deadline)).await? {
            Value::Array(updates) => Ok(updates),
            other => Err(GatewayError::Protocol(format!(
                "getUpdates: expected an array, got {}",
                kind_of(&other)
            ))),
        }
    }

    /// `getChatAdministrators`: the chat's owner and admins (other bots omitted).
    pub async fn chat_administrators(&self, chat_id: i64) -> Result<Vec<ChatMember>, GatewayError> {
        let result = self.call("getChatAdministrators", &json!({"chat_id": chat_id})).await?;
        serde_json::from_value(result).map_err(|e| GatewayError::Protocol(format!("getChatAdministrators: {e}")))
    }

    /// `getChatMemberCount` (and `getChat` for the title): the group's name and size.
    pub async fn group_info(&self, chat_id: i64) -> Result<crate::gateway::GroupInfo, GatewayError> {
        let count = self.call("getChatMemberCount", &json!({"chat_id": chat_id})).await?;
        let member_count = count
            .as_u64()
            .ok_or_else(|| GatewayError::Protocol(format!("getChatMemberCount: {count} is not a count")))?;
        // The title is a nicety: a failure here does not lose the count.
        let name = match self.call("getChat", &json!({"chat_id": chat_id})).await {
            Ok(chat) => chat.get("title").and_then(Value::as_str).map(str::to_owned),
            Err(_) => None,
        };
        Ok(crate::gateway::GroupInfo { name, member_count })
    }

    /// Carries out a neutral action.
    pub async fn execute(&self, action: &Action) -> Result<Delivery, GatewayError> {
        match action {
            Action::Send {
                group,
                message,
                reply_to,
            } => self.send(*group, message, *reply_to).await,
            Action::Recall { group, message_id } => {
                self.call("deleteMessage", &json!({"chat_id": group.id, "message_id": message_id}))
                    .await?;
                Ok(Delivery::default())
            }
            Action::Mute { group, user_id, .. } | Action::Unmute { group, user_id } if *user_id < 0 => {
                self.channel_identity(action, *group, *user_id).await
            }
            Action::Kick { group, user_id, .. } if *user_id < 0 => {
                self.channel_identity(action, *group, *user_id).await
            }
            Action::Mute {
                group,
                user_id,
                seconds,
            } => {
                let until = self.clock.now().as_second()
                    + i64::try_from((*seconds).clamp(MIN_MUTE_SECS, MAX_MUTE_SECS)).unwrap_or(i64::MAX);
                let params = json!({
                    "chat_id": group.id,
                    "user_id": user_id,
                    "permissions": self.muted,
                    "use_independent_chat_permissions": true,
                    "until_date": until,
                });
                self.call("restrictChatMember", &params).await?;
                Ok(Delivery::default())
            }
            Action::Unmute { group, user_id } => {
                // Lifting a restriction = giving the member the chat's default permissions.
                let chat = self.call("getChat", &json!({"chat_id": group.id})).await?;
                let permissions = chat.get("permissions").cloned().ok_or_else(|| {
                    GatewayError::Protocol(format!("getChat {group}: the answer has no \"permissions\""))
                })?;
                let params = json!({
                    "chat_id": group.id,
                    "user_id": user_id,
                    "permissions": permissions,
                    "use_independent_chat_permissions": true,
                });
                self.call("restrictChatMember", &params).await?;
                Ok(Delivery::default())
            }
            Action::Kick { group, user_id, ban } => {
                let member = json!({"chat_id": group.id, "user_id": user_id});
                self.call("banChatMember", &member).await?;
                if !ban {
                    // A kick is a ban lifted at once: removed, but free to join again.
                    let unban = json!({"chat_id": group.id, "user_id": user_id, "only_if_banned": true});
                    self.call("unbanChatMember", &unban).await?;
                }
                Ok(Delivery::default())
            }
            Action::AnswerJoinRequest {
                group,
                user_id,
                approve,
                ..
            } => {
                let method = if *approve {
                    "approveChatJoinRequest"
                } else {
                    "declineChatJoinRequest"
                };
                self.call(method, &json!({"chat_id": group.id, "user_id": user_id}))
                    .await?;
                Ok(Delivery::default())
            }
            Action::Unban { group, user_id } => {
                let unban = json!({"chat_id": group.id, "user_id": user_id, "only_if_banned": true});
                self.call("unbanChatMember", &unban).await?;
                Ok(Delivery::default())
            }
            Action::AnswerButton { query_id, text, .. } => {
                let mut params = json!({"callback_query_id": query_id});
                if !text.is_empty() {
                    params["text"] = json!(text);
                }
                self.call("answerCallbackQuery", &params).await?;
                Ok(Delivery::default())
            }
        }
    }

    async fn send(
        &self,
        group: GroupId,
        message: &OutgoingMessage,
        reply_to: Option<i64>,
    ) -> Result<Delivery, GatewayError> {
        let chunks = html::render(message);
        if chunks.is_empty() {
            return Err(GatewayError::Refused {
                retcode: 0,
                message: "nothing to send: the message has no visible text".into(),
            });
        }
        let mut first = None;
        for (i, text) in chunks.iter().enumerate() {
            let mut params = json!({
                "chat_id": group.id,
                "text": text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            });
            if let (0, Some(message_id)) = (i, reply_to) {
                // The quoted message may have been deleted meanwhile; send anyway.
                params["reply_parameters"] = json!({"message_id": message_id, "allow_sending_without_reply": true});
            }
            if i + 1 == chunks.len() && !message.buttons.is_empty() {
                // One button per row, under the last part of a long message.
                let rows: Vec<Value> = message
                    .buttons
                    .iter()
                    .map(|b| json!([{"text": b.text, "callback_data": b.data}]))
                    .collect();
                params["reply_markup"] = json!({"inline_keyboard": rows});
            }
            let sent = self.call("sendMessage", &params).await?;
            if first.is_none() {
                first = sent.get("message_id").and_then(Value::as_i64);
            }
        }
        Ok(Delivery { message_id: first })
    }

    /// Actions against a member posting as one of their channels (a negative "user" id): the
    /// channel can be banned from the group with `banChatSenderChat` (a kick or ban) and
    /// unbanned, but Telegram cannot mute it for a time.
    async fn channel_identity(&self, action: &Action, group: GroupId, channel: i64) -> Result<Delivery, GatewayError> {
        let params = json!({"chat_id": group.id, "sender_chat_id": channel});
        match action {
            Action::Kick { .. } => self.call("banChatSenderChat", &params).await?,
            Action::Unmute { .. } => self.call("unbanChatSenderChat", &params).await?,
            _ => {
                return Err(GatewayError::Refused {
                    retcode: 0,
                    message: format!(
                        "Telegram cannot mute the channel identity {channel}; a kick or ban rung bans the channel"
                    ),
                });
            }
        };
        Ok(Delivery::default())
    }
}

/// Interprets one HTTP answer of the Bot API.
fn classify_answer(method: &str, status: u16, body: &[u8]) -> Result<Value, GatewayError> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        // Not the API's JSON: a proxy's error page, a truncated answer …
        Err(_) if !(200..300).contains(&status) => {
            return Err(GatewayError::Status {
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        Err(e) => {
            return Err(GatewayError::Protocol(format!(
                "{method}: the answer is not the API's JSON: {e}"
            )));
        }
    };
    if envelope.ok {
        return Ok(envelope.result.unwrap_or(Value::Null));
    }
    let code = envelope.error_code.unwrap_or(i64::from(status));
    let description = envelope.description.unwrap_or_else(|| "(no description)".into());
    let parameters = envelope.parameters.unwrap_or_default();
    if code == 429 {
        let secs = parameters.retry_after.unwrap_or(5).max(1);
        return Err(GatewayError::RateLimited(Duration::from_secs(secs)));
    }
    if code >= 500 {
        return Err(GatewayError::Status {
            status: u16::try_from(code).unwrap_or(status),
            body: format!("{method}: {description}"),
        });
    }
    let message = match parameters.migrate_to_chat_id {
        Some(to) => format!("{method}: {description} (the group is now tg:{to}; moderate it under that id)"),
        None => format!("{method}: {description}"),
    };
    Err(GatewayError::Refused { retcode: code, message })
}

/// `POST <api_root>/bot…/<method>`: the call as logs show it. The URL carries the token,
/// which must never reach an error message or a log, so it is left out here and the
/// reqwest error is read without its URL.
fn call_for_log(api_root: &str, method: &str) -> String {
    format!("POST {api_root}/bot…/{method}")
}

fn classify_reqwest(call: &str, err: reqwest::Error) -> GatewayError {
    http_failure(call, &err.without_url())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_for_the_outbox() {
        let fixture_429 = include_bytes!("../../../tests/fixtures/telegram/api.response.error.429.json");
        let no_rights = include_bytes!("../../../tests/fixtures/telegram/api.response.error.no_rights.json");
        let kicked =
            br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the supergroup chat"}"#;
        let migrated = br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001}}"#;
        let internal = br#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#;
        let html_page = b"<html>502 Bad Gateway</html>";
        for (status, body, retryable, expect) in [
            (429, &fixture_429[..], true, "rate limited; retry after 17s"),
            (400, &no_rights[..], false, "not enough rights"),
            (403, &kicked[..], false, "bot was kicked"),
            (400, &migrated[..], false, "the group is now tg:-1001"),
            (502, &internal[..], true, "HTTP 502"),
            (502, &html_page[..], true, "502 Bad Gateway"),
            (200, &b"{\"ok\":tru"[..], true, "not the API's JSON"),
        ] {
            let err = classify_answer("m", status, body).expect_err("a failure");
            assert_eq!(err.is_retryable(), retryable, "{err}");
            assert!(err.to_string().contains(expect), "{err}");
        }
        assert_eq!(
            classify_answer("m", 429, fixture_429).expect_err("429").retry_after(),
            Some(Duration::from_secs(17))
        );
        let sent = include_bytes!("../../../tests/fixtures/telegram/api.response.ok.sendMessage.json");
        assert_eq!(
            classify_answer("m", 200, sent).expect("ok")["message_id"],
            json!(58_216)
        );
        assert_eq!(
            classify_answer("m", 200, br#"{"ok":true,"result":true}"#).expect("ok"),
            json!(true)
        );
    }

    #[test]
    fn debug_output_hides_the_token() {
        let settings = TelegramSettings {
            token: Secret::new("123456:AAE-secret-part-of-the-token-xyz"),
            ..TelegramSettings::default()
        };
        let client =
            TelegramClient::new(&settings, std::sync::Arc::new(crate::domain::clock::SystemClock)).expect("client");
        let debug = format!("{client:?}");
        assert!(
            !debug.contains("secret-part") && debug.contains("api.telegram.org"),
            "{debug}"
        );
        assert_eq!(client.bot_id(), 123_456);
    }
}
