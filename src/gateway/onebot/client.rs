//! The OneBot v11 HTTP API client: `POST {api_root}/{action}` with a JSON body and
//! `Authorization: Bearer <access_token>`.

use std::time::Duration;

use serde_json::{Value, json};

use super::message;
use crate::config::{OneBotSettings, Secret};
use crate::domain::action::Action;
use crate::gateway::{Delivery, GatewayError, http_failure};

/// A client of one gateway's HTTP API. Cheap to share: reqwest pools connections inside.
#[derive(Clone)]
pub struct OneBotClient {
    http: reqwest::Client,
    api_root: String,
    access_token: Secret,
}

impl std::fmt::Debug for OneBotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneBotClient")
            .field("api_root", &self.api_root)
            .field("access_token", &self.access_token)
            .finish_non_exhaustive()
    }
}

impl OneBotClient {
    /// A client for the gateway described by `settings`.
    pub fn new(settings: &OneBotSettings) -> Result<Self, GatewayError> {
        let timeout = settings.timeout.get();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(8)
            .user_agent(concat!("qunguan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Transport(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            api_root: settings.api_root.trim_end_matches('/').to_owned(),
            access_token: settings.access_token.clone(),
        })
    }

    /// Carries out a neutral action.
    pub async fn execute(&self, action: &Action) -> Result<Delivery, GatewayError> {
        let Some((name, params)) = request_for(action) else {
            return Err(GatewayError::Refused {
                retcode: 0,
                message: format!("QQ cannot {}", action.kind()),
            });
        };
        let data = self.call(name, &params).await?;
        let message_id = data.get("message_id").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        Ok(Delivery { message_id })
    }

    /// `get_group_info`: the group's name and member count (`no_cache`, so the count is
    /// current rather than whatever the gateway cached at login).
    pub async fn group_info(&self, group_id: i64) -> Result<crate::gateway::GroupInfo, GatewayError> {
        let data = self
            .call("get_group_info", &json!({"group_id": group_id, "no_cache": true}))
            .await?;
        let member_count = data
            .get("member_count")
            .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .ok_or_else(|| GatewayError::Protocol("get_group_info: no member_count in the answer".into()))?;
        let name = data
            .get("group_name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Ok(crate::gateway::GroupInfo { name, member_count })
    }

    /// `get_group_member_info` of `user_id` in `group_id`: the member's role there (used with
    /// the account's own id, to learn whether it is an admin of the group).
    pub async fn member_role(&self, group_id: i64, user_id: i64) -> Result<crate::domain::event::Role, GatewayError> {
        use crate::domain::event::Role;
        let data = self
            .call(
                "get_group_member_info",
                &json!({"group_id": group_id, "user_id": user_id, "no_cache": true}),
            )
            .await?;
        match data.get("role").and_then(Value::as_str) {
            Some("owner") => Ok(Role::Owner),
            Some("admin") => Ok(Role::Admin),
            Some("member") => Ok(Role::Member),
            _ => Err(GatewayError::Protocol(
                "get_group_member_info: no role in the answer".into(),
            )),
        }
    }

    /// Calls `action` with `params` and returns the envelope's `data` on success.
    pub async fn call(&self, action: &str, params: &Value) -> Result<Value, GatewayError> {
        let url = format!("{}/{action}", self.api_root);
        let mut request = self.http.post(&url).json(params);
        if !self.access_token.is_empty() {
            request = request.bearer_auth(self.access_token.expose());
        }
        // Named in errors only: nothing formatted for a call that succeeds.
        let call = || format!("POST {url}");
        let response = request.send().await.map_err(|e| http_failure(&call(), &e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| http_failure(&call(), &e))?;
        if !status.is_success() {
            return Err(GatewayError::Status {
                status: status.as_u16(),
                body: format!("{}: {}", call(), status_detail(&body)),
            });
        }
        let envelope: Value = serde_json::from_slice(&body)
            .map_err(|e| GatewayError::Protocol(format!("{action}: the answer is not JSON: {e}")))?;
        match envelope.get("status").and_then(Value::as_str) {
            // "async": accepted and queued by the gateway; there is no result to wait for.
            Some("ok" | "async") => Ok(envelope.get("data").cloned().unwrap_or(Value::Null)),
            // Refused for good, or failed for now: see `retcode`.
            Some(_) => {
                let mut texts: Vec<&str> = ["msg", "message", "wording"]
                    .iter()
                    .filter_map(|k| envelope.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
                    .collect();
                texts.dedup();
                let mut text = texts.join(" ");
                if text.is_empty() {
                    text.push_str("(no message)");
                }
                Err(super::retcode::classify(
                    envelope.get("retcode").and_then(Value::as_i64).unwrap_or(-1),
                    &text,
                ))
            }
            None => Err(GatewayError::Protocol(format!(
                "{action}: the answer has no \"status\""
            ))),
        }
    }
}

/// The API call for an action. Every parameter is explicit: implementations disagree on
/// defaults. `None`: QQ has no such call (buttons are Telegram's).
fn request_for(action: &Action) -> Option<(&'static str, Value)> {
    Some(match action {
        Action::Send {
            group,
            message,
            reply_to,
        } => (
            "send_group_msg",
            json!({"group_id": group.id, "message": message::to_segments(message, *reply_to), "auto_escape": false}),
        ),
        Action::Recall { message_id, .. } => ("delete_msg", json!({"message_id": message_id})),
        Action::Mute {
            group,
            user_id,
            seconds,
        } => (
            "set_group_ban",
            json!({"group_id": group.id, "user_id": user_id, "duration": seconds}),
        ),
        Action::Unmute { group, user_id } => (
            "set_group_ban",
            json!({"group_id": group.id, "user_id": user_id, "duration": 0}),
        ),
        Action::Kick { group, user_id, ban } => (
            "set_group_kick",
            json!({"group_id": group.id, "user_id": user_id, "reject_add_request": ban}),
        ),
        Action::AnswerJoinRequest {
            handle,
            approve,
            reason,
            ..
        } => (
            "set_group_add_request",
            json!({"flag": handle, "sub_type": "add", "type": "add", "approve": approve, "reason": reason}),
        ),
        Action::AnswerButton { .. } | Action::Unban { .. } => return None,
    })
}

/// What a non-success HTTP answer says: the gateway's `retcode` and `wording`/`message` when
/// the body is OneBot JSON (NapCat answers a bad token with 403 and one), else its start.
fn status_detail(body: &[u8]) -> String {
    if let Ok(envelope) = serde_json::from_slice::<Value>(body) {
        let retcode = envelope.get("retcode").and_then(Value::as_i64);
        let wording = ["wording", "message", "msg"]
            .iter()
            .find_map(|k| envelope.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()));
        match (retcode, wording) {
            (Some(code), Some(text)) => return format!("retcode {code}: {text}"),
            (Some(code), None) => return format!("retcode {code}"),
            (None, Some(text)) => return text.to_owned(),
            (None, None) => {}
        }
    }
    let start: String = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if start.trim().is_empty() {
        "(empty body)".to_owned()
    } else {
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::action::OutgoingMessage;
    use crate::domain::duration::HumanDuration;
    use crate::domain::event::GroupId;

    fn client_for(api_root: String, timeout_secs: u64) -> OneBotClient {
        OneBotClient::new(&OneBotSettings {
            api_root,
            timeout: HumanDuration::from_secs(timeout_secs),
            ..OneBotSettings::default()
        })
        .expect("client")
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_call_and_the_cause() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let err = client_for(format!("http://127.0.0.1:{port}"), 2)
            .call("delete_msg", &json!({"message_id": 1}))
            .await
            .expect_err("nothing listens");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("POST http://127.0.0.1:{port}/delete_msg: connection refused")),
            "{text}"
        );
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_gateway_that_never_answers_is_a_timeout_naming_the_call() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // Accepts and holds the connection without a word.
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(socket);
        });
        let err = client_for(format!("http://127.0.0.1:{port}"), 1)
            .call("set_group_ban", &json!({}))
            .await
            .expect_err("no answer");
        assert_eq!(
            err,
            GatewayError::Timeout(format!("POST http://127.0.0.1:{port}/set_group_ban"))
        );
        assert_eq!(
            err.to_string(),
            format!("POST http://127.0.0.1:{port}/set_group_ban: no answer in time")
        );
        held.abort();
    }

    #[test]
    fn an_error_status_says_the_gateways_retcode_and_wording() {
        assert_eq!(
            status_detail(br#"{"status":"failed","retcode":1403,"data":null,"wording":"token verify failed"}"#),
            "retcode 1403: token verify failed"
        );
        assert_eq!(status_detail(br#"{"status":"failed","retcode":1403}"#), "retcode 1403");
        assert_eq!(status_detail(b"<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
        assert_eq!(status_detail(b""), "(empty body)");
    }

    #[test]
    fn mute_and_unmute_always_carry_a_duration() {
        let g = GroupId::qq(1);
        let (name, params) = request_for(&Action::Mute {
            group: g,
            user_id: 2,
            seconds: 600,
        })
        .expect("a QQ call");
        assert_eq!((name, params["duration"].as_u64()), ("set_group_ban", Some(600)));
        let (name, params) = request_for(&Action::Unmute { group: g, user_id: 2 }).expect("a QQ call");
        assert_eq!((name, params["duration"].as_u64()), ("set_group_ban", Some(0)));
    }

    #[test]
    fn sends_are_segment_arrays() {
        let (name, params) = request_for(&Action::Send {
            group: GroupId::qq(1),
            message: OutgoingMessage::text("hi"),
            reply_to: None,
        })
        .expect("a QQ call");
        assert_eq!(name, "send_group_msg");
        assert_eq!(params["message"], json!([{"type": "text", "data": {"text": "hi"}}]));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let settings = OneBotSettings {
            access_token: Secret::new("tok-123"),
            ..OneBotSettings::default()
        };
        let client = OneBotClient::new(&settings).expect("client");
        assert!(!format!("{client:?}").contains("tok-123"));
    }
}
