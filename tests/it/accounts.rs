//! Several bot accounts in one daemon (issue 13 §1): two OneBot accounts, each behind its own
//! fake gateway with its own token and webhook secret, posting to the one webhook path.
//!
//! What is checked: the account is chosen by `X-Self-ID` and checked with its own secret
//! (crossed secrets → 401, an unknown account → 403, a body of another account → 403); a
//! group's actions leave only through the gateway of the account that keeps it; a message
//! both accounts see is handled once, through the account that is admin there; which
//! account keeps a group survives a restart; and the single `[gateway.onebot]` section still
//! accepts any `self_id`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::fake_onebot::{Call, FakeOneBot};
use crate::support::*;
use qunguan::config::{OneBotAccount, Secret, TelegramBot, TelegramMode};

const A: i64 = 20_001;
const B: i64 = 20_002;
const SECRET_A: &str = "secret-of-account-a";
const SECRET_B: &str = "secret-of-account-b";
const TOKEN_B: &str = "token-of-account-b";
const SPAMMER: i64 = 2_309_855_761;
const SPAM: &str = "FREE MONEY 点击领取";

/// Options listing accounts A (the harness's fake, `app.gateway`) and B (`b`).
fn two_accounts(b: &FakeOneBot) -> Options {
    let root_b = b.api_root();
    Options {
        tweak: Box::new(move |s| {
            let root_a = s.gateway.onebot.api_root.clone();
            s.gateway.onebot.accounts = vec![
                OneBotAccount {
                    self_id: A,
                    api_root: root_a,
                    access_token: Secret::new(TOKEN),
                    secret: Secret::new(SECRET_A),
                    timeout: None,
                },
                OneBotAccount {
                    self_id: B,
                    api_root: root_b.clone(),
                    access_token: Secret::new(TOKEN_B),
                    secret: Secret::new(SECRET_B),
                    timeout: None,
                },
            ];
        }),
        ..Options::default()
    }
}

/// A message in `group` as account `account` receives it.
fn seen_by(account: i64, group: i64, message_id: i64, user: i64, text: &str) -> Value {
    let mut event = group_message_in(group, message_id, user, "member", text);
    event["self_id"] = json!(account);
    event
}

/// Posts `event` as account `account`'s gateway, signed with `secret`.
async fn post_as(app: &TestApp, account: i64, secret: &str, event: &Value) -> StatusCode {
    app.poster().for_account(account, secret).post(event).await
}

/// The audit cases of QQ group `group`.
async fn cases_in(app: &TestApp, group: i64) -> Vec<Value> {
    let request = qunguan::runtime::control::Request::Audit {
        group: Some(format!("qq:{group}")),
        last: None,
    };
    app.control(request)
        .await
        .iter()
        .map(|l| serde_json::from_str(l).expect("an audit entry"))
        .collect()
}

/// The message ids recalled (`delete_msg` names only the message).
fn recalls(calls: &[Call]) -> Vec<i64> {
    calls
        .iter()
        .filter(|c| c.action == "delete_msg")
        .filter_map(|c| c.params["message_id"].as_i64())
        .collect()
}

/// The calls naming `group` (the role questions apart).
fn about(calls: &[Call], group: i64) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| c.params["group_id"] == group && c.action != "get_group_member_info")
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_account_is_checked_with_its_own_secret() {
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts(&b)).await;
    let event = seen_by(A, 1_001, 1, 42, "你好");
    let body = serde_json::to_vec(&event).expect("json");
    // A's event signed with B's secret: the secrets are crossed.
    let crossed = qunguan::gateway::onebot::signature::sign(SECRET_B.as_bytes(), &body);
    let poster = app.poster().for_account(A, SECRET_A);
    assert_eq!(
        poster.post_raw(body.clone(), Some(&crossed)).await,
        StatusCode::UNAUTHORIZED
    );
    // Unsigned, where A has a secret.
    assert_eq!(poster.post_raw(body.clone(), None).await, StatusCode::UNAUTHORIZED);
    // An account the daemon does not list.
    let stranger = seen_by(30_003, 1_001, 2, 42, "你好");
    assert_eq!(post_as(&app, 30_003, SECRET_A, &stranger).await, StatusCode::FORBIDDEN);
    // B's header and secret on a body that says it is A's.
    assert_eq!(post_as(&app, B, SECRET_B, &event).await, StatusCode::FORBIDDEN);
    // Right account, right secret.
    assert_eq!(post_as(&app, A, SECRET_A, &event).await, StatusCode::NO_CONTENT);
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, 1_002, 3, 42, "你好")).await,
        StatusCode::NO_CONTENT
    );
    let metrics = app
        .wait_metrics(&[
            ("qunguan_refused_total{reason=\"401\"}", "2"),
            ("qunguan_refused_total{reason=\"403\"}", "2"),
        ])
        .await;
    assert!(
        metrics.contains("qunguan_group_account{group=\"qq:1001\",account=\"qq:20001\",role=\"unknown\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("qunguan_group_account{group=\"qq:1002\",account=\"qq:20002\",role=\"unknown\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_groups_actions_leave_only_through_the_account_that_keeps_it() {
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts(&b)).await;
    // Group 1001 is A's, group 1002 is B's.
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, 1_001, 11, SPAMMER, SPAM)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, 1_002, 21, SPAMMER, SPAM)).await,
        StatusCode::NO_CONTENT
    );
    app.settle().await;
    let (calls_a, calls_b) = (app.gateway.delivered(), b.delivered());
    assert_eq!(
        actions(&about(&calls_a, 1_001)),
        ["send_group_msg"],
        "A warns in its group"
    );
    assert_eq!(recalls(&calls_a), [11], "A recalls its own group's message only");
    assert_eq!(actions(&about(&calls_b, 1_002)), ["send_group_msg"]);
    assert_eq!(recalls(&calls_b), [21]);
    assert!(
        about(&calls_a, 1_002).is_empty(),
        "nothing of B's group went through A: {calls_a:?}"
    );
    assert!(
        about(&calls_b, 1_001).is_empty(),
        "nothing of A's group went through B: {calls_b:?}"
    );
    // The stats page and /readyz name the account.
    let page = app.admin_get("/stats/qq:1002").await.text().await.expect("page");
    assert!(page.contains("bot account: qq:20002"), "{page}");
    let ready = app.admin_get("/readyz").await.text().await.expect("readyz");
    assert!(ready.contains("group qq:1001: account qq:20001"), "{ready}");
    assert!(ready.contains("group qq:1002: account qq:20002"), "{ready}");
    app.stop().await;
}

#[tokio::test]
async fn a_message_both_accounts_see_is_handled_once_through_the_admin() {
    const G: i64 = 1_003;
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts(&b)).await;
    // B is the admin of the group; A is a member there.
    b.set_role(G, B, "admin");
    app.gateway.set_role(G, A, "member");
    // A sees the group first, then B: both accounts' roles are asked, and B takes over.
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, G, 100, 42, "早上好")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, G, 900, 42, "早上好")).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[
        (
            "qunguan_group_account{group=\"qq:1003\",account=\"qq:20002\",role=\"admin\"}",
            "1",
        ),
        (
            "qunguan_group_account{group=\"qq:1003\",account=\"qq:20001\",role=\"member\"}",
            "0",
        ),
    ])
    .await;
    // One spam message, seen by both accounts with their own message ids, A's copy first.
    let mut from_a = seen_by(A, G, 101, SPAMMER, SPAM);
    let mut from_b = seen_by(B, G, 901, SPAMMER, SPAM);
    from_a["time"] = json!(1_732_171_900);
    from_b["time"] = json!(1_732_171_900);
    assert_eq!(post_as(&app, A, SECRET_A, &from_a).await, StatusCode::NO_CONTENT);
    assert_eq!(post_as(&app, B, SECRET_B, &from_b).await, StatusCode::NO_CONTENT);
    // B delivers it again (a redelivery): still once.
    assert_eq!(post_as(&app, B, SECRET_B, &from_b).await, StatusCode::NO_CONTENT);
    app.settle().await;
    let through_b = about(&b.delivered(), G);
    assert_eq!(actions(&through_b), ["send_group_msg"], "{through_b:?}");
    assert_eq!(recalls(&b.delivered()), [901], "B recalls its own copy");
    assert!(recalls(&app.gateway.delivered()).is_empty());
    assert!(
        about(&app.gateway.delivered(), G).is_empty(),
        "nothing went through A: {:?}",
        app.gateway.delivered()
    );
    let cases = cases_in(&app, G).await;
    assert_eq!(cases.len(), 1, "one case for one message: {cases:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_copy_reaching_a_new_keeper_late_is_a_duplicate() {
    // B keeps the group and handles a spam message; then A turns out to be the group's admin
    // and takes over, and only then does A's own copy of that message arrive. A is the keeper
    // now, so its copy reaches the pipeline, where its cross-account key (group, member,
    // time, content: not A's message id) makes it a duplicate.
    const G: i64 = 1_004;
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts(&b)).await;
    app.gateway.set_role(G, A, "admin");
    let mut from_b = seen_by(B, G, 501, SPAMMER, SPAM);
    let mut from_a = seen_by(A, G, 77, SPAMMER, SPAM);
    from_b["time"] = json!(1_732_172_000);
    from_a["time"] = json!(1_732_172_000);
    assert_eq!(post_as(&app, B, SECRET_B, &from_b).await, StatusCode::NO_CONTENT);
    app.settle().await;
    assert_eq!(actions(&about(&b.delivered(), G)), ["send_group_msg"]);
    assert_eq!(recalls(&b.delivered()), [501]);
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, G, 78, 42, "大家好")).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[
        (
            "qunguan_group_account{group=\"qq:1004\",account=\"qq:20001\",role=\"admin\"}",
            "1",
        ),
        (
            "qunguan_group_account{group=\"qq:1004\",account=\"qq:20002\",role=\"member\"}",
            "0",
        ),
    ])
    .await;
    assert_eq!(post_as(&app, A, SECRET_A, &from_a).await, StatusCode::NO_CONTENT);
    app.settle().await;
    assert!(
        about(&app.gateway.delivered(), G).is_empty() && recalls(&app.gateway.delivered()).is_empty(),
        "A's late copy acted again: {:?}",
        app.gateway.delivered()
    );
    assert_eq!(about(&b.delivered(), G).len(), 1, "{:?}", b.delivered());
    let cases = cases_in(&app, G).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    app.wait_metrics(&[("qunguan_events_duplicate_total", "1")]).await;
    app.stop().await;
}

#[tokio::test]
async fn which_account_keeps_a_group_survives_a_restart() {
    const G: i64 = 1_005;
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts(&b)).await;
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, G, 1, 42, "你好")).await,
        StatusCode::NO_CONTENT
    );
    app.settle().await;
    let app = app.restart(two_accounts(&b)).await;
    // Known before any event of this run.
    app.wait_metrics(&[(
        "qunguan_group_account{group=\"qq:1005\",account=\"qq:20002\",role=\"unknown\"}",
        "1",
    )])
    .await;
    let ready = app.admin_get("/readyz").await.text().await.expect("readyz");
    assert!(ready.contains("group qq:1005: account qq:20002"), "{ready}");
    app.stop().await;
}

#[tokio::test]
async fn the_single_section_accepts_any_self_id() {
    let app = TestApp::spawn().await;
    let mut event = group_message(5, SPAMMER, "member", SPAM);
    event["self_id"] = json!(99_999);
    assert_eq!(post_as(&app, 99_999, SECRET, &event).await, StatusCode::NO_CONTENT);
    app.settle().await;
    assert_eq!(actions(&about(&app.gateway.delivered(), GROUP)), ["send_group_msg"]);
    assert_eq!(recalls(&app.gateway.delivered()), [5]);
    app.stop().await;
}

// ---- Several Telegram bots (issue 13 §2) ----

const BOT_2: i64 = 7_012_345_679;
const TOKEN_2: &str = "7012345679:AAtest-telegram-token_other_bot_01234";
const SECRET_2: &str = "other-bot_secret-2";
const PATH_1: &str = "/telegram/webhook";
const PATH_2: &str = "/telegram/bot2";
/// A chat only bot 2 is in.
const CHAT_2: i64 = -1_009_999_000_001;

/// Options listing two bots in webhook mode: bot 1 (the harness's fake, `app.telegram`) and
/// bot 2 (`second`), each with its own path and secret token.
fn two_bots(second: &FakeTelegram) -> Options {
    let root_2 = second.api_root();
    Options {
        tweak: Box::new(move |s| {
            let tg = &mut s.gateway.telegram;
            tg.enabled = true;
            let root_1 = tg.api_root.clone();
            tg.bots = vec![
                TelegramBot {
                    token: Secret::new(TG_TOKEN),
                    mode: Some(TelegramMode::Webhook),
                    webhook_path: Some(PATH_1.into()),
                    webhook_url: format!("https://bot.example.org{PATH_1}"),
                    secret_token: Secret::new(TG_SECRET),
                    api_root: Some(root_1),
                },
                TelegramBot {
                    token: Secret::new(TOKEN_2),
                    mode: Some(TelegramMode::Webhook),
                    webhook_path: Some(PATH_2.into()),
                    webhook_url: format!("https://bot.example.org{PATH_2}"),
                    secret_token: Secret::new(SECRET_2),
                    api_root: Some(root_2.clone()),
                },
            ];
        }),
        ..Options::default()
    }
}

/// The fixture spam as update `update_id` of one bot, message `message_id` in `chat`.
fn tg_spam(update_id: i64, message_id: i64, chat: i64) -> Value {
    let mut update = tg_fixture("update.message.supergroup_text.json");
    update["update_id"] = json!(update_id);
    update["message"]["message_id"] = json!(message_id);
    update["message"]["chat"]["id"] = json!(chat);
    update
}

/// POSTs `update` to the webhook at `path` with `secret` in the secret-token header.
async fn post_update_to(app: &TestApp, path: &str, secret: &str, update: &Value) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header("x-telegram-bot-api-secret-token", secret)
        .json(update)
        .send()
        .await
        .expect("webhook answers")
        .status()
}

/// The actions a fake Bot API carried out in `chat`.
fn tg_actions_in(fake: &FakeTelegram, chat: i64) -> Vec<String> {
    fake.actions()
        .into_iter()
        .filter(|c| c.params["chat_id"] == chat)
        .map(|c| c.method)
        .collect()
}

#[tokio::test]
async fn two_telegram_bots_each_have_their_webhook_and_act_only_in_their_chats() {
    let second = FakeTelegram::start_as(TOKEN_2, BOT_2).await;
    let app = TestApp::spawn_with(two_bots(&second)).await;
    // Each bot registers its own webhook with its own Bot API.
    for (fake, path, secret) in [(&app.telegram, PATH_1, TG_SECRET), (&second, PATH_2, SECRET_2)] {
        let calls = fake
            .wait_for(PATIENCE, |calls| calls.iter().any(|c| c.method == "setWebhook"))
            .await;
        let set = calls.iter().find(|c| c.method == "setWebhook").expect("setWebhook");
        assert_eq!(set.params["url"], format!("https://bot.example.org{path}"));
        assert_eq!(set.params["secret_token"], secret);
    }
    // Crossed secret tokens are refused.
    let update = tg_spam(1, 100, TG_CHAT);
    assert_eq!(
        post_update_to(&app, PATH_1, SECRET_2, &update).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_update_to(&app, PATH_2, TG_SECRET, &update).await,
        StatusCode::UNAUTHORIZED
    );
    // The fixtures' chat: bot 1 (its admin) sees the spam, then bot 2 delivers the same
    // message (its own update id).
    assert_eq!(
        post_update_to(&app, PATH_1, TG_SECRET, &update).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_update_to(&app, PATH_2, SECRET_2, &tg_spam(5_000, 100, TG_CHAT)).await,
        StatusCode::NO_CONTENT
    );
    // A chat only bot 2 is in.
    assert_eq!(
        post_update_to(&app, PATH_2, SECRET_2, &tg_spam(5_001, 7, CHAT_2)).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[
        (
            "qunguan_group_account{group=\"tg:-1001876543210\",account=\"tg:7012345678\",role=\"admin\"}",
            "1",
        ),
        (
            "qunguan_group_account{group=\"tg:-1001876543210\",account=\"tg:7012345679\",role=\"member\"}",
            "0",
        ),
        (
            "qunguan_group_account{group=\"tg:-1009999000001\",account=\"tg:7012345679\",role=\"unknown\"}",
            "1",
        ),
    ])
    .await;
    app.settle().await;
    assert_eq!(
        tg_actions_in(&app.telegram, TG_CHAT),
        ["deleteMessage", "sendMessage"],
        "once, by bot 1"
    );
    assert!(tg_actions_in(&second, TG_CHAT).is_empty(), "{:?}", second.actions());
    assert_eq!(tg_actions_in(&second, CHAT_2), ["deleteMessage", "sendMessage"]);
    assert!(
        tg_actions_in(&app.telegram, CHAT_2).is_empty(),
        "{:?}",
        app.telegram.actions()
    );
    app.stop().await;
}
