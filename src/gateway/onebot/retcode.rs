//! What a OneBot `"status": "failed"` answer means: refused for good, or failed for now.
//!
//! The spec gives no list of failure codes, and the implementations disagree
//! (`shared/research/gateways.md` §1.5):
//!
//! | retcode            | who                         | meaning                                           |
//! |--------------------|-----------------------------|---------------------------------------------------|
//! | 1400 / 400         | spec (WS), NapCat, LLOneBot | bad parameters                                    |
//! | 1401 / 401, 1403 / 403 | spec (WS)               | not authorised                                    |
//! | 1404 / 404         | spec (WS), go-cqhttp, LLOneBot, Lagrange | unknown action                       |
//! | 100                | go-cqhttp                   | business failure; `msg` names it (`NOT_MANAGEABLE` …) |
//! | 200 / 1200         | NapCat, LLOneBot, Lagrange  | the handler threw; `message` says why             |
//! | 1 with `failed`    | Lagrange `set_group_add_request` | the request could not be handled             |
//! | 10001–10003        | OneBot 12 style             | bad request, unsupported action, bad parameter    |
//!
//! A call that is wrong, unauthorised or about something that is not there (the member left,
//! the message is gone, the bot is no admin) will fail the same way every time: that is a
//! [`GatewayError::Refused`], and the outbox gives the action up at once (a dead letter). Every
//! other failure — an unknown code, a handler that threw for a reason not listed below, NapCat
//! or Lagrange answering `failed` while the QQ account reconnects or is risk-controlled
//! (风控) — may pass: that is a [`GatewayError::Failed`], retried with backoff like an HTTP 5xx,
//! a bounded number of times.
//!
//! So the classification errs towards retrying: a permanent refusal mistaken for a passing
//! one costs a few late retries; the opposite would give up a recall or a mute for good.

use crate::gateway::GatewayError;

/// Codes that always mean the call itself is wrong or not allowed.
const PERMANENT_CODES: [i64; 11] = [400, 401, 403, 404, 1400, 1401, 1403, 1404, 10001, 10002, 10003];

/// go-cqhttp `msg` codes (retcode 100) of calls that will never succeed as made.
const PERMANENT_MSG: [&str; 8] = [
    "GROUP_NOT_FOUND",
    "MEMBER_NOT_FOUND",
    "NOT_MANAGEABLE",
    "DURATION_IS_NOT_IN_RANGE",
    "MESSAGE_NOT_FOUND",
    "FLAG_NOT_FOUND",
    "FLAG_HAS_BEEN_CHECKED",
    "API_NOT_FOUND",
];

/// Phrases (lower case) in a handler's error text (NapCat, LLOneBot, Lagrange) that mean the
/// target or the right is missing, not the connection.
const PERMANENT_PHRASES: [&str; 15] = [
    "not found",
    "not exist",
    "not in group",
    "not in the group",
    "cannot ban owner",
    "no permission",
    "permission denied",
    "not manageable",
    "not admin",
    "权限",
    "不存在",
    "不在群",
    "群主",
    "不是管理员",
    "找不到",
];

/// Classifies a `failed` answer with `retcode` and the gateway's texts (`message`, `wording`
/// and `msg`, joined).
#[must_use]
pub fn classify(retcode: i64, text: &str) -> GatewayError {
    let message = text.to_owned();
    if PERMANENT_CODES.contains(&retcode) || is_permanent_text(text) {
        GatewayError::Refused { retcode, message }
    } else {
        GatewayError::Failed { retcode, message }
    }
}

fn is_permanent_text(text: &str) -> bool {
    if PERMANENT_MSG.iter().any(|code| text.contains(code)) {
        return true;
    }
    let lower = text.to_lowercase();
    PERMANENT_PHRASES.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permanent(retcode: i64, text: &str) -> bool {
        !classify(retcode, text).is_retryable()
    }

    #[test]
    fn bad_calls_and_missing_targets_are_permanent() {
        for (retcode, text) in [
            (1400, "参数错误"),
            (400, "user_id is required"),
            (1403, "token invalid"),
            (404, "API_NOT_FOUND"),
            (100, "NOT_MANAGEABLE 机器人权限不足"),
            (100, "MEMBER_NOT_FOUND"),
            (100, "MESSAGE_NOT_FOUND"),
            (200, "cannot ban owner"),
            (200, "user not in group"),
            (1200, "群成员不存在"),
            (200, "机器人不是管理员"),
            (10003, "bad param"),
        ] {
            assert!(permanent(retcode, text), "{retcode} {text:?} should be permanent");
        }
    }

    #[test]
    fn reconnects_risk_control_and_unknown_failures_are_retried() {
        for (retcode, text) in [
            (100, "injected failure"),
            (100, "SEND_MSG_API_ERROR 消息可能被风控"),
            (200, "NTQQ is not logged in"),
            (
                200,
                "Timeout: NTEvent serviceAndMethod:NodeIKernelGroupService/kickMember",
            ),
            (1200, "账号离线，正在重连"),
            (1, "request handling failed"),
            (-1, "(no message)"),
            (500, "internal error"),
        ] {
            let e = classify(retcode, text);
            assert!(
                matches!(e, GatewayError::Failed { .. }) && e.is_retryable(),
                "{retcode} {text:?} should be retried: {e:?}"
            );
        }
    }
}
