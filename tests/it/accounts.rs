//! Several bot accounts in one daemon (issue 13 §1): two OneBot accounts, each behind its own
//! fake gateway with its own token and webhook secret, posting to the one webhook path.
//!
//! What is checked: the account is chosen by `X-Self-ID` and checked with its own secret
//! (crossed secrets → 401, an unknown account → 403, a body of another account → 403); a
//! group's actions leave only through the gateway of the account that keeps it; a message
//! both accounts see is handled once, through the account that is admin there; which
//! account keeps a group survives a restart; and the single `[gateway.onebot]` section still
//! accepts any `self_id`. With the ban list: a super user's `/gban` removes the member from
//! both accounts' groups, each kick through the group's own account; a banned member who
//! joins or speaks in a group of the other account is removed through that account; a plain
//! member's `/gban` changes nothing anywhere. The send governor paces each account apart.
//!
//! The same for two Telegram bots: each its own webhook (or polling offset), a `/gban` across
//! both bots' chats, and a gate button press handled from the bot that posted it, its
//! effects through the chat's keeper.

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
    two_accounts_and(b, |_| {})
}

/// [`two_accounts`], then `more` on the settings.
fn two_accounts_and(b: &FakeOneBot, more: fn(&mut qunguan::config::Settings)) -> Options {
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
            more(s);
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

// ---- One ban list over both accounts, and a send governor each (issue 13 §1 with §3) ----

const SUPER: i64 = 12;
const MEMBER: i64 = 11;

fn with_super_user(s: &mut qunguan::config::Settings) {
    s.admin.super_users = vec![SUPER.to_string().parse().expect("user")];
}

/// A command written like [`command`]'s `spec`, in `group` as account `account` receives it.
fn command_seen_by(account: i64, group: i64, message_id: i64, user: i64, spec: &str) -> Value {
    let mut event = command(message_id, user, "member", spec);
    event["group_id"] = json!(group);
    event["self_id"] = json!(account);
    event
}

/// `user` joins `group`, as account `account` reports it.
fn joined_seen_by(account: i64, group: i64, user: i64) -> Value {
    let mut event = fixture("onebot11/notice.group_increase.approve.json");
    event["group_id"] = json!(group);
    event["user_id"] = json!(user);
    event["self_id"] = json!(account);
    event["time"] = json!(1_732_172_100);
    event
}

/// The groups `calls` removed [`SPAMMER`] from.
fn kicked_from(calls: &[Call]) -> Vec<i64> {
    let mut groups: Vec<i64> = calls
        .iter()
        .filter(|c| c.action == "set_group_kick")
        .map(|c| {
            assert_eq!(c.params["user_id"], SPAMMER, "{c:?}");
            c.params["group_id"].as_i64().expect("group")
        })
        .collect();
    groups.sort_unstable();
    groups
}

#[tokio::test]
async fn a_super_users_gban_removes_the_member_from_both_accounts_groups_each_through_its_own() {
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts_and(&b, with_super_user)).await;
    // The member is seen in A's group 1001 and in B's group 1002.
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, 1_001, 1, SPAMMER, "大家好")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, 1_002, 2, SPAMMER, "在吗")).await,
        StatusCode::NO_CONTENT
    );
    // A super user bans them in A's group.
    let gban = command_seen_by(A, 1_001, 3, SUPER, "/gban {@2309855761} 广告号");
    assert_eq!(post_as(&app, A, SECRET_A, &gban).await, StatusCode::NO_CONTENT);
    app.settle().await;
    let (calls_a, calls_b) = (app.gateway.delivered(), b.delivered());
    assert_eq!(
        kicked_from(&calls_a),
        [1_001],
        "A removes them from its group: {calls_a:?}"
    );
    assert_eq!(
        kicked_from(&calls_b),
        [1_002],
        "B removes them from its group: {calls_b:?}"
    );
    let reply = calls_a
        .iter()
        .find(|c| c.action == "send_group_msg")
        .expect("the super user is answered in A's group");
    let text = sent_text(reply);
    assert!(text.contains("已全局拉黑") && text.contains("2 个群"), "{text}");
    assert!(about(&calls_a, 1_002).is_empty() && about(&calls_b, 1_001).is_empty());

    // They join a group of B's (B reports the join): removed through B.
    assert_eq!(
        post_as(&app, B, SECRET_B, &joined_seen_by(B, 1_003, SPAMMER)).await,
        StatusCode::NO_CONTENT
    );
    // They speak in another group of A's: recalled and removed through A.
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, 1_004, 5, SPAMMER, "我又来了")).await,
        StatusCode::NO_CONTENT
    );
    app.settle().await;
    let (calls_a, calls_b) = (app.gateway.delivered(), b.delivered());
    assert_eq!(kicked_from(&calls_b), [1_002, 1_003], "{calls_b:?}");
    assert_eq!(kicked_from(&calls_a), [1_001, 1_004], "{calls_a:?}");
    assert_eq!(recalls(&calls_a), [5]);
    assert!(about(&calls_a, 1_003).is_empty() && about(&calls_b, 1_004).is_empty());
    app.wait_metrics(&[("qunguan_bans_enforced_total", "2")]).await;
    app.stop().await;
}

#[tokio::test]
async fn a_plain_members_gban_is_ignored_on_both_accounts() {
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts_and(&b, with_super_user)).await;
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, 1_001, 1, SPAMMER, "大家好")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, 1_002, 2, SPAMMER, "在吗")).await,
        StatusCode::NO_CONTENT
    );
    for (account, secret, group, id, spec) in [
        (B, SECRET_B, 1_002, 3, "/gban {@2309855761} 广告号"),
        (A, SECRET_A, 1_001, 4, "/全局拉黑 {@2309855761}"),
        (A, SECRET_A, 1_001, 5, "/gban 2309855761"),
    ] {
        let event = command_seen_by(account, group, id, MEMBER, spec);
        assert_eq!(post_as(&app, account, secret, &event).await, StatusCode::NO_CONTENT);
    }
    // The member speaks again in both groups: nobody is banned, so nothing is done.
    assert_eq!(
        post_as(&app, A, SECRET_A, &seen_by(A, 1_001, 6, SPAMMER, "还在")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, 1_002, 7, SPAMMER, "还在")).await,
        StatusCode::NO_CONTENT
    );
    // Every decision was stored before the webhook answered; settled, all sent has arrived.
    app.settle().await;
    let (calls_a, calls_b) = (app.gateway.delivered(), b.delivered());
    assert!(calls_a.is_empty(), "nothing through A: {calls_a:?}");
    assert!(calls_b.is_empty(), "nothing through B: {calls_b:?}");
    assert!(cases_in(&app, 1_001).await.is_empty() && cases_in(&app, 1_002).await.is_empty());
    app.wait_metrics(&[("qunguan_bans{source=\"local\"}", "0")]).await;
    app.stop().await;
}

#[tokio::test]
async fn one_accounts_send_limit_does_not_hold_back_the_other_accounts_messages() {
    let b = FakeOneBot::start(TOKEN_B).await;
    let app = TestApp::spawn_with(two_accounts_and(&b, |s| {
        // One message a second per account; the group limit stays out of the way.
        s.outbox.sends_per_second_total = 1;
    }))
    .await;
    // Two spam messages in A's group: two recalls (never paced) and two warnings, of which
    // A may send one now and the other a second later. The clock stands still.
    for (id, user) in [(11, SPAMMER), (12, SPAMMER + 1)] {
        assert_eq!(
            post_as(&app, A, SECRET_A, &seen_by(A, 1_001, id, user, SPAM)).await,
            StatusCode::NO_CONTENT
        );
    }
    let delivered = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(recalls(&delivered), [11, 12], "{delivered:?}");
    // Spam in B's group: B's warning leaves at once, though A's second one still waits.
    assert_eq!(
        post_as(&app, B, SECRET_B, &seen_by(B, 1_002, 21, SPAMMER, SPAM)).await,
        StatusCode::NO_CONTENT
    );
    let through_b = b.wait_delivered(2, PATIENCE).await;
    assert_eq!(actions(&about(&through_b, 1_002)), ["send_group_msg"], "{through_b:?}");
    // Exactly one action is left: A's second warning, held by A's own window.
    app.wait_metrics(&[("qunguan_outbox_depth", "1")]).await;
    let warnings = |calls: &[Call]| calls.iter().filter(|c| c.action == "send_group_msg").count();
    assert_eq!(warnings(&app.gateway.delivered()), 1, "{:?}", app.gateway.delivered());
    // A second later A's window allows it.
    app.advance(std::time::Duration::from_secs(1));
    app.settle().await;
    assert_eq!(warnings(&app.gateway.delivered()), 2, "{:?}", app.gateway.delivered());
    assert_eq!(warnings(&b.delivered()), 1);
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
    two_bots_and(second, |_| {})
}

/// [`two_bots`], then `more` on the settings.
fn two_bots_and(second: &FakeTelegram, more: fn(&mut qunguan::config::Settings)) -> Options {
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
            more(s);
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

/// A text message from `user` in `chat`, as update `update_id` of one bot.
fn tg_text_in(update_id: i64, message_id: i64, chat: i64, user: i64, text: &str) -> Value {
    let mut update = tg_spam(update_id, message_id, chat);
    update["message"]["from"] = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["message"]["text"] = json!(text);
    update["message"]["entities"] = json!([]);
    update
}

/// `user` joins `chat` through an invite link, as update `update_id` of one bot.
fn tg_joined_in(update_id: i64, chat: i64, user: i64) -> Value {
    let mut update = tg_fixture("update.chat_member.joined_via_link.json");
    update["update_id"] = json!(update_id);
    update["chat_member"]["chat"]["id"] = json!(chat);
    let person = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["chat_member"]["from"] = person.clone();
    update["chat_member"]["old_chat_member"]["user"] = person.clone();
    update["chat_member"]["new_chat_member"]["user"] = person;
    update
}

/// The chats a fake Bot API banned `user` from.
fn tg_banned_from(fake: &FakeTelegram, user: i64) -> Vec<i64> {
    let mut chats: Vec<i64> = fake
        .calls_of("banChatMember")
        .iter()
        .filter(|c| c.params["user_id"] == user)
        .filter_map(|c| c.params["chat_id"].as_i64())
        .collect();
    chats.sort_unstable();
    chats
}

#[tokio::test]
async fn a_gban_in_one_bots_chat_removes_the_member_from_the_other_bots_chats_too() {
    /// A third chat, only bot 2 is in.
    const CHAT_3: i64 = -1_009_999_000_003;
    const MEMBER_TG: i64 = 6_001;
    let second = FakeTelegram::start_as(TOKEN_2, BOT_2).await;
    let app = TestApp::spawn_with(two_bots_and(&second, |s| {
        s.admin.super_users = vec![format!("tg:{TG_OWNER}").parse().expect("user")];
    }))
    .await;
    // The member speaks in bot 1's chat and in bot 2's chat.
    for (path, secret, update) in [
        (PATH_1, TG_SECRET, tg_text_in(1, 100, TG_CHAT, MEMBER_TG, "大家好")),
        (PATH_2, SECRET_2, tg_text_in(5_001, 7, CHAT_2, MEMBER_TG, "在吗")),
        // The chat's owner, a super user, bans them by id in bot 1's chat.
        (
            PATH_1,
            TG_SECRET,
            tg_text_in(2, 101, TG_CHAT, TG_OWNER, "/gban 6001 广告"),
        ),
    ] {
        assert_eq!(
            post_update_to(&app, path, secret, &update).await,
            StatusCode::NO_CONTENT
        );
    }
    app.settle().await;
    assert_eq!(
        tg_banned_from(&app.telegram, MEMBER_TG),
        [TG_CHAT],
        "{:?}",
        app.telegram.actions()
    );
    assert_eq!(tg_banned_from(&second, MEMBER_TG), [CHAT_2], "{:?}", second.actions());
    // They join a chat only bot 2 is in: removed through bot 2.
    assert_eq!(
        post_update_to(&app, PATH_2, SECRET_2, &tg_joined_in(5_002, CHAT_3, MEMBER_TG)).await,
        StatusCode::NO_CONTENT
    );
    app.settle().await;
    assert_eq!(tg_banned_from(&second, MEMBER_TG), [CHAT_3, CHAT_2]);
    assert!(tg_actions_in(&app.telegram, CHAT_3).is_empty() && tg_actions_in(&app.telegram, CHAT_2).is_empty());
    assert!(tg_actions_in(&second, TG_CHAT).is_empty(), "{:?}", second.actions());
    // A plain member's /gban in bot 2's chat is ignored.
    let before = (app.telegram.actions().len(), second.actions().len());
    assert_eq!(
        post_update_to(
            &app,
            PATH_2,
            SECRET_2,
            &tg_text_in(5_003, 8, CHAT_2, 6_002, "/gban 6003")
        )
        .await,
        StatusCode::NO_CONTENT
    );
    app.settle().await;
    assert_eq!((app.telegram.actions().len(), second.actions().len()), before);
    app.stop().await;
}

/// A press of the inline button reporting `data`, by `user`, under a bot message in `chat`.
fn tg_press(update_id: i64, chat: i64, user: i64, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cb{update_id}"),
            "from": {"id": user, "is_bot": false, "first_name": format!("user{user}")},
            "message": {
                "message_id": 58_400,
                "date": 1_732_172_100,
                "chat": {"id": chat, "type": "supergroup", "title": "第二个群"}
            },
            "chat_instance": "-4242",
            "data": data
        }
    })
}

#[tokio::test]
async fn a_gate_button_press_is_answered_by_the_bot_it_reached_and_lets_in_through_the_keeper() {
    const NEWCOMER: i64 = 7_359_024_416;
    let second = FakeTelegram::start_as(TOKEN_2, BOT_2).await;
    let app = TestApp::spawn_with(two_bots_and(&second, |s| {
        s.verify.enabled = true;
        s.verify.button = true;
    }))
    .await;
    // A newcomer joins a chat only bot 2 keeps: bot 2 mutes them and posts the button.
    assert_eq!(
        post_update_to(&app, PATH_2, SECRET_2, &tg_joined_in(5_001, CHAT_2, NEWCOMER)).await,
        StatusCode::NO_CONTENT
    );
    let posted = second.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&posted), ["restrictChatMember", "sendMessage"]);
    let data = posted[1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .expect("callback data")
        .to_owned();
    // Bot 1 arrives in the chat as its admin and takes it over.
    app.telegram.set_admins(CHAT_2, vec![(BOT_ID, "administrator")]);
    assert_eq!(
        post_update_to(&app, PATH_1, TG_SECRET, &tg_text_in(6, 60, CHAT_2, 6_002, "大家好")).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[(
        "qunguan_group_account{group=\"tg:-1009999000001\",account=\"tg:7012345678\",role=\"admin\"}",
        "1",
    )])
    .await;
    // The press reaches only bot 2, whose message carries the button: it still lets the
    // newcomer in, and the unmute and the welcome leave through bot 1, the keeper now.
    assert_eq!(
        post_update_to(&app, PATH_2, SECRET_2, &tg_press(5_002, CHAT_2, NEWCOMER, &data)).await,
        StatusCode::NO_CONTENT
    );
    app.wait_metrics(&[("qunguan_verify_gates_total{result=\"passed\"}", "1")])
        .await;
    app.settle().await;
    let through_1 = tg_actions_in(&app.telegram, CHAT_2);
    assert_eq!(
        through_1,
        ["restrictChatMember", "deleteMessage", "sendMessage"],
        "{:?}",
        app.telegram.actions()
    );
    // The question is recalled by the keeper too (a chat's message ids are the same for
    // every bot in it).
    let recall = app.telegram.calls_of("deleteMessage");
    assert_eq!(
        recall[0].params["message_id"],
        posted[1].message_id.expect("the question's id")
    );
    let unmute = app.telegram.calls_of("restrictChatMember");
    assert_eq!(unmute[0].params["user_id"], NEWCOMER);
    assert_eq!(unmute[0].params["permissions"]["can_send_messages"], true);
    assert_eq!(tg_actions_in(&second, CHAT_2).len(), 2, "{:?}", second.actions());
    // The press is answered by the bot Telegram delivered it to (the press's id is that
    // bot's: the keeper could not answer it).
    let answers = second.calls_of("answerCallbackQuery");
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers[0].ok, "{answers:?}");
    assert_eq!(answers[0].params["callback_query_id"], "cb5002");
    assert!(app.telegram.calls_of("answerCallbackQuery").is_empty());
    app.stop().await;
}

/// Options listing two bots that poll, bot 1 (`app.telegram`) and bot 2 (`second`).
fn two_polling_bots(second: &FakeTelegram) -> Options {
    let root_2 = second.api_root();
    Options {
        tweak: Box::new(move |s| {
            let tg = &mut s.gateway.telegram;
            tg.enabled = true;
            tg.mode = TelegramMode::Polling;
            tg.bots = vec![
                TelegramBot {
                    token: Secret::new(TG_TOKEN),
                    mode: None,
                    webhook_path: None,
                    webhook_url: String::new(),
                    secret_token: Secret::new(""),
                    api_root: None,
                },
                TelegramBot {
                    token: Secret::new(TOKEN_2),
                    mode: Some(TelegramMode::Polling),
                    webhook_path: None,
                    webhook_url: String::new(),
                    secret_token: Secret::new(""),
                    api_root: Some(root_2.clone()),
                },
            ];
        }),
        ..Options::default()
    }
}

/// Waits until `fake` polls with `offset` (it has confirmed everything before it).
async fn polls_from(fake: &FakeTelegram, offset: i64) {
    fake.wait_for(PATIENCE, |calls| {
        calls
            .iter()
            .any(|c| c.method == "getUpdates" && c.params["offset"] == offset)
    })
    .await;
}

#[tokio::test]
async fn two_polling_bots_keep_their_own_offsets_across_a_restart() {
    let second = FakeTelegram::start_as(TOKEN_2, BOT_2).await;
    let app = TestApp::spawn_with(two_polling_bots(&second)).await;
    // Update ids are each bot's own: both bots deliver an update 10, two different messages.
    app.telegram
        .push_updates([tg_spam(10, 100, TG_CHAT), tg_spam(11, 101, TG_CHAT)]);
    second.push_updates([tg_spam(10, 7, CHAT_2)]);
    polls_from(&app.telegram, 12).await;
    polls_from(&second, 11).await;
    app.settle().await;
    let deleted = |fake: &FakeTelegram| -> Vec<i64> {
        fake.calls_of("deleteMessage")
            .iter()
            .filter_map(|c| c.params["message_id"].as_i64())
            .collect()
    };
    assert_eq!(deleted(&app.telegram), [100, 101]);
    assert_eq!(deleted(&second), [7], "bot 2's update 10 is not bot 1's");
    // Bot 2 gets an update while the daemon is down; each bot resumes from its own offset.
    let polls = |fake: &FakeTelegram| -> Vec<i64> {
        fake.calls_of("getUpdates")
            .iter()
            .map(|c| c.params["offset"].as_i64().unwrap_or_default())
            .collect()
    };
    let (one, two) = (app.telegram.clone(), second.clone());
    let before = (polls(&one).len(), polls(&second).len());
    let app = app
        .restart_after(two_polling_bots(&second), move |_| {
            two.push_updates([tg_spam(11, 8, CHAT_2)]);
        })
        .await;
    polls_from(&second, 12).await;
    one.wait_for(PATIENCE, |calls| {
        calls.iter().filter(|c| c.method == "getUpdates").count() > before.0
    })
    .await;
    app.settle().await;
    assert_eq!(deleted(&second), [7, 8]);
    assert_eq!(deleted(&one), [100, 101], "nothing of bot 1 was handled again");
    // A poll may have been under way at the stop; the new daemon's first poll is the one
    // after the last offset each bot had stored.
    assert_eq!(
        polls(&one)[before.0..].iter().min(),
        Some(&12),
        "bot 1 resumed from its own offset: {:?}",
        polls(&one)
    );
    assert_eq!(
        polls(&second)[before.1..].iter().min(),
        Some(&11),
        "bot 2 resumed from its own offset: {:?}",
        polls(&second)
    );
    app.stop().await;
}
