//! The Telegram gateway against a fake Bot API server: webhook and long polling, the strike
//! ladder as Bot API calls, mentions, rate limits, refusals, the admin cache, joins, and
//! both gateways at once.

use std::sync::Arc;
use std::time::Duration;

use qunguan::config::{Secret, TelegramMode, TelegramSettings};
use qunguan::domain::action::{Action, OutgoingMessage};
use qunguan::domain::event::GroupId;
use qunguan::gateway::telegram::TelegramClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::fake_telegram::{TgCall, read_html};
use crate::support::*;

/// The clock's start, in unix seconds (see `TestApp`).
const START: i64 = 1_732_171_530;

/// The default ladder as Bot API calls: delete + warn, delete + mute, delete + kick.
const THREE_STRIKES: [&str; 9] = [
    "deleteMessage",
    "sendMessage",
    "deleteMessage",
    "restrictChatMember",
    "sendMessage",
    "deleteMessage",
    "banChatMember",
    "unbanChatMember",
    "sendMessage",
];

/// The fixture spam ("… join https://t.me/+AbCdEfGhIjK") as update `update_id`, message
/// `message_id`.
fn spam(update_id: i64, message_id: i64) -> Value {
    let mut update = tg_fixture("update.message.supergroup_text.json");
    update["update_id"] = json!(update_id);
    update["message"]["message_id"] = json!(message_id);
    update
}

/// A text message in the fixtures' supergroup from `user`.
fn text_from(update_id: i64, message_id: i64, user: i64, text: &str) -> Value {
    let mut update = spam(update_id, message_id);
    update["message"]["from"] = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["message"]["text"] = json!(text);
    update["message"]["entities"] = json!([]);
    update
}

/// The `deleteMessage` calls among `actions`, in the order they were made.
fn deletes(actions: &[TgCall]) -> Vec<&TgCall> {
    actions.iter().filter(|a| a.method == "deleteMessage").collect()
}

/// A `chat_member` update: `user` goes from `old` to `new` status, done by the owner.
fn member_change(update_id: i64, user: i64, old: &str, new: &str) -> Value {
    let mut update = tg_fixture("update.chat_member.restricted.json");
    update["update_id"] = json!(update_id);
    let change = &mut update["chat_member"];
    change["from"] = json!({"id": TG_OWNER, "is_bot": false, "first_name": "Lin"});
    let person = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    change["old_chat_member"] = json!({"status": old, "user": person});
    change["new_chat_member"] = json!({"status": new, "user": person});
    update
}

fn webhook_with(tweak: impl Fn(&mut qunguan::config::Settings) + Send + Sync + 'static) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = TelegramMode::Webhook;
            tweak(s);
        }),
        ..Options::default()
    }
}

async fn post_all(app: &TestApp, updates: &[Value]) {
    for update in updates {
        assert_eq!(app.post_update(update).await, StatusCode::NO_CONTENT, "{update}");
    }
}

#[tokio::test]
async fn webhook_mode_registers_the_webhook_and_accepts_only_the_secret_token() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    let calls = app
        .telegram
        .wait_for(PATIENCE, |calls| calls.iter().any(|c| c.method == "setWebhook"))
        .await;
    let set = calls
        .iter()
        .find(|c| c.method == "setWebhook")
        .expect("setWebhook at start");
    assert_eq!(set.params["url"], "https://bot.example.org/telegram/webhook");
    assert_eq!(set.params["secret_token"], TG_SECRET);
    assert_eq!(
        set.params["allowed_updates"],
        tg_fixture("api.setWebhook.request.json")["allowed_updates"],
        "message, edited_message, chat_member, my_chat_member, chat_join_request, callback_query"
    );

    let body = serde_json::to_vec(&spam(1, 100)).expect("json");
    for (secret, why) in [
        (None, "no header"),
        (Some("q9Lr_4xT-2vWm8Z"), "a prefix of the secret"),
        (Some("q9Lr_4xT-2vWm8Zbb"), "the secret and more"),
        (Some(""), "empty"),
    ] {
        assert_eq!(
            app.post_update_raw(body.clone(), secret).await,
            StatusCode::UNAUTHORIZED,
            "{why}"
        );
    }
    for bad in [&b"{not json"[..], br#"{"message": {"text": "x"}}"#, br#"[1, 2]"#] {
        assert_eq!(
            app.post_update_raw(bad.to_vec(), Some(TG_SECRET)).await,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let huge = text_from(3, 300, TG_SPAMMER, &"广告".repeat(400_000));
    assert_eq!(app.post_update(&huge).await, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing refused was applied: the first actions are the accepted update's.
    assert_eq!(app.post_update(&spam(2, 200)).await, StatusCode::NO_CONTENT);
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&actions), ["deleteMessage", "sendMessage"]);
    assert_eq!(actions[0].params, json!({"chat_id": TG_CHAT, "message_id": 200}));
    assert!(
        app.telegram.calls_of("getUpdates").is_empty(),
        "webhook mode does not poll"
    );
    app.stop().await;
}

#[tokio::test]
async fn three_strikes_delete_and_warn_then_mute_then_kick_as_ban_and_unban() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    for (strike, total) in [(1, 2), (2, 5), (3, 9)] {
        app.post_update(&spam(strike, 100 + strike)).await;
        app.telegram.wait_actions(total, PATIENCE).await;
    }
    let actions = app.telegram.actions();
    assert_eq!(methods(&actions), THREE_STRIKES);
    assert_eq!(actions[0].params, json!({"chat_id": TG_CHAT, "message_id": 101}));
    let warning = &actions[1].params;
    assert_eq!(
        (&warning["chat_id"], &warning["parse_mode"]),
        (&json!(TG_CHAT), &json!("HTML"))
    );
    let (visible, mentions) = read_html(warning["text"].as_str().expect("text"));
    assert_eq!(mentions, [(TG_SPAMMER, "Crypto Signals".to_owned())]);
    assert!(
        visible.contains("第1次警告 (1/3)") && visible.contains("「广告」") && !visible.contains("ads"),
        "{visible}"
    );

    // The mute is the fixture's request, ending 10 minutes (the default rung) from now.
    let mut mute = tg_fixture("api.restrictChatMember.mute.request.json");
    mute["until_date"] = json!(START + 600);
    assert_eq!(actions[3].params, mute);

    let (notice, _) = read_html(actions[4].params["text"].as_str().expect("text"));
    assert_eq!(notice, "@Crypto Signals 因「广告」第2次违规，禁言10分钟。");

    // A kick removes without banning for good, and the group is told.
    assert_eq!(actions[6].params, json!({"chat_id": TG_CHAT, "user_id": TG_SPAMMER}));
    assert_eq!(
        actions[7].params,
        json!({"chat_id": TG_CHAT, "user_id": TG_SPAMMER, "only_if_banned": true})
    );
    let (notice, mentions) = read_html(actions[8].params["text"].as_str().expect("text"));
    assert_eq!(notice, "@Crypto Signals 因「广告」第3次违规，已被移出本群。");
    assert_eq!(mentions, [(TG_SPAMMER, "Crypto Signals".to_owned())]);

    // The kick cleared the record: the next violation is a first warning again.
    app.post_update(&spam(4, 104)).await;
    let actions = app.telegram.wait_actions(11, PATIENCE).await;
    assert_eq!(methods(&actions[9..11]), ["deleteMessage", "sendMessage"]);
    app.stop().await;
}

#[tokio::test]
async fn a_ban_rung_bans_for_good_and_short_mutes_stay_temporary() {
    let app = TestApp::spawn_with(webhook_with(|s| {
        s.moderation.ladder = vec!["mute 10s".parse().expect("rung"), "ban".parse().expect("rung")];
    }))
    .await;
    app.post_update(&spam(1, 101)).await;
    app.telegram.wait_actions(3, PATIENCE).await;
    app.post_update(&spam(2, 102)).await;
    app.telegram.wait_actions(6, PATIENCE).await;
    app.post_update(&text_from(3, 103, 5_001, "加微信")).await;
    let actions = app.telegram.wait_actions(9, PATIENCE).await;
    assert_eq!(
        methods(&actions),
        [
            "deleteMessage",
            "restrictChatMember",
            "sendMessage",
            "deleteMessage",
            "banChatMember",
            "sendMessage",
            "deleteMessage",
            "restrictChatMember",
            "sendMessage"
        ],
        "a ban is not followed by an unban"
    );
    // Under 30 s Telegram would mute forever: 10 s becomes 40 s.
    assert_eq!(actions[1].params["until_date"], START + 40);
    assert_eq!(actions[7].params["user_id"], 5_001);
    app.stop().await;
}

#[tokio::test]
async fn warnings_escape_the_members_name_and_mention_them() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    let mut update = spam(1, 101);
    update["message"]["from"]["first_name"] = json!("<b>管理员</b> & \"Co\"");
    update["message"]["from"]["last_name"] = json!("<a href=\"https://evil.example\">x</a>");
    app.post_update(&update).await;
    // The fake refuses HTML that does not parse, so a delivered warning is well-formed.
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    let text = actions[1].params["text"].as_str().expect("text");
    let name = "<b>管理员</b> & \"Co\" <a href=\"https://evil.example\">x</a>";
    let (visible, mentions) = read_html(text);
    assert_eq!(mentions, [(TG_SPAMMER, name.to_owned())]);
    assert!(visible.starts_with(&format!("@{name} 第1次警告")), "{visible}");
    assert!(
        !text.contains("evil.example\">"),
        "the name is text, not markup: {text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_edit_into_spam_is_filtered_again() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    let edit = tg_fixture("update.edited_message.json");
    let mut original = edit.clone();
    original["update_id"] = json!(718_290_479);
    original["message"] = original["edited_message"].take();
    original["message"]["text"] = json!("hi all");
    post_all(&app, &[original, edit.clone(), edit]).await;
    // A member's violation afterwards shows what came before it.
    app.post_update(&text_from(2, 300, 5_001, "加微信")).await;
    let actions = app.telegram.wait_actions(4, PATIENCE).await;
    // The second recall may overtake the first warning (`[outbox] early_recalls`).
    assert_names_in_order(
        &methods(&actions),
        &["deleteMessage", "sendMessage", "deleteMessage", "sendMessage"],
    );
    let deleted = deletes(&actions);
    assert_eq!(
        deleted[0].params,
        json!({"chat_id": TG_CHAT, "message_id": 58_270}),
        "the edited message is deleted, once although the edit was delivered twice"
    );
    assert_eq!(deleted[1].params["message_id"], 300);
    app.stop().await;
}

#[tokio::test]
async fn captions_and_hidden_link_targets_are_filtered() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    // Clean: a visible @mention is just text.
    let mut clean = text_from(1, 299, 5_001, "ask @rustlang_zh");
    clean["message"]["entities"] = json!([{"type": "mention", "offset": 4, "length": 12}]);
    // The visible words are harmless; the link behind them is not.
    let mut hidden = text_from(2, 300, 5_002, "💰 点这里 领取");
    hidden["message"]["entities"] =
        json!([{"type": "text_link", "offset": 3, "length": 3, "url": "https://t.me/+AbCdEf"}]);
    post_all(&app, &[clean, tg_fixture("update.message.photo_caption.json"), hidden]).await;
    let actions = app.telegram.wait_actions(4, PATIENCE).await;
    // The second recall may overtake the first warning (`[outbox] early_recalls`).
    assert_names_in_order(
        &methods(&actions),
        &["deleteMessage", "sendMessage", "deleteMessage", "sendMessage"],
    );
    let deleted = deletes(&actions);
    assert_eq!(deleted[0].params["message_id"], 58_240, "the photo's caption");
    assert_eq!(deleted[1].params["message_id"], 300, "the hidden link");
    app.stop().await;
}

#[tokio::test]
async fn a_429_waits_the_retry_after_telegram_asks_for() {
    let mut options = telegram(TelegramMode::Webhook);
    let tweak = options.tweak;
    options.tweak = Box::new(move |s| {
        tweak(s);
        // One call at a time, for `outbox_round`.
        s.outbox.concurrency = 1;
    });
    let app = TestApp::spawn_with(options).await;
    app.telegram.inject("deleteMessage", [TgFault::TooManyRequests(17)]);
    app.post_update(&spam(1, 101)).await;
    app.telegram
        .wait_for(PATIENCE, |calls| calls.iter().any(|c| c.method == "deleteMessage"))
        .await;
    // Past the outbox's own first backoff (1 s) but not Telegram's 17 s: the worker, looking
    // at the moved clock, finds nothing of this chat due.
    app.clock.advance(Duration::from_secs(2));
    app.outbox_round().await;
    assert_eq!(app.telegram.calls_of("deleteMessage").len(), 1);
    assert!(
        app.telegram.calls_of("sendMessage").is_empty(),
        "the group's actions stay in order"
    );
    app.clock.advance(Duration::from_secs(15));
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&actions), ["deleteMessage", "sendMessage"]);
    assert_eq!(
        app.telegram
            .calls_of("deleteMessage")
            .iter()
            .map(|c| c.ok)
            .collect::<Vec<_>>(),
        [false, true]
    );
    app.stop().await;
}

#[tokio::test]
async fn not_enough_rights_is_a_refusal_and_is_not_retried() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    app.telegram.inject("restrictChatMember", [TgFault::NotEnoughRights]);
    app.telegram.inject("banChatMember", [TgFault::BadGateway]);
    for (strike, total) in [(1, 2), (2, 4)] {
        app.post_update(&spam(strike, 100 + strike)).await;
        app.telegram.wait_actions(total, PATIENCE).await;
    }
    // The third strike's kick meets a 502 first: that one is retried (after a backoff).
    app.post_update(&spam(3, 103)).await;
    app.telegram
        .wait_for(PATIENCE, |calls| calls.iter().any(|c| c.method == "banChatMember"))
        .await;
    app.clock.advance(Duration::from_secs(60));
    let actions = app.telegram.wait_actions(8, PATIENCE).await;
    // The notices are independent of their actions: the refused mute's notice still goes out
    // (the refusal is a dead letter for the operator), and the kick's waits for the kick.
    assert_eq!(
        methods(&actions),
        [
            "deleteMessage",
            "sendMessage",
            "deleteMessage",
            "sendMessage",
            "deleteMessage",
            "banChatMember",
            "unbanChatMember",
            "sendMessage"
        ]
    );
    let restricts = app.telegram.calls_of("restrictChatMember");
    assert_eq!(restricts.len(), 1, "a refusal is dropped, not retried");
    assert!(!restricts[0].ok);
    assert_eq!(app.telegram.calls_of("banChatMember").len(), 2, "a 502 is retried");
    app.stop().await;
}

#[tokio::test]
async fn admins_come_from_a_cached_admin_list_kept_current_by_member_updates() {
    const ADMIN: i64 = 5_550_001;
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    app.telegram.set_admins(
        TG_CHAT,
        vec![
            (TG_OWNER, "creator"),
            (BOT_ID, "administrator"),
            (ADMIN, "administrator"),
        ],
    );
    let mut anonymous = tg_fixture("update.message.anonymous_admin.json");
    anonymous["message"]["text"] = json!("加微信 test");
    anonymous["message"]["entities"] = json!([]);
    post_all(
        &app,
        &[
            text_from(1, 101, TG_OWNER, "加微信"),
            text_from(2, 102, ADMIN, "加微信"),
            anonymous,
            text_from(4, 104, TG_SPAMMER, "加微信"),
        ],
    )
    .await;
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(
        actions[0].params["message_id"], 104,
        "owner, admin and anonymous admin are exempt"
    );

    // Promotions and demotions update the cached list without asking again.
    post_all(
        &app,
        &[
            member_change(5, TG_SPAMMER, "member", "administrator"),
            text_from(6, 106, TG_SPAMMER, "加微信"),
            member_change(7, ADMIN, "administrator", "member"),
            text_from(8, 108, ADMIN, "加微信"),
        ],
    )
    .await;
    let actions = app.telegram.wait_actions(4, PATIENCE).await;
    assert_eq!(methods(&actions[2..4]), ["deleteMessage", "sendMessage"]);
    assert_eq!(
        actions[2].params["message_id"], 108,
        "the promoted member is exempt, the demoted one not"
    );
    assert_eq!(
        app.telegram.calls_of("getChatAdministrators").len(),
        1,
        "one fetch so far"
    );

    // After the TTL (10 min by default) the next message is answered from the old list while
    // a fresh one is fetched in the background. The fake still says the old truth, so then
    // ADMIN is exempt again and the spammer is not.
    app.clock.advance(Duration::from_secs(11 * 60));
    app.post_update(&text_from(9, 109, 5_001, "早上好")).await;
    app.telegram
        .wait_for(PATIENCE, |calls| {
            calls.iter().filter(|c| c.method == "getChatAdministrators").count() == 2
        })
        .await;
    post_all(
        &app,
        &[
            text_from(10, 110, ADMIN, "加微信"),
            text_from(11, 111, TG_SPAMMER, "加微信"),
        ],
    )
    .await;
    // The mute's notice may follow: the first two calls are the ones this checks.
    let actions = app.telegram.wait_actions(6, PATIENCE).await;
    assert_eq!(methods(&actions[4..6]), ["deleteMessage", "restrictChatMember"]);
    assert_eq!(actions[4].params["message_id"], 111);
    assert_eq!(app.telegram.calls_of("getChatAdministrators").len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_join_reported_twice_is_welcomed_once_with_a_real_mention() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    let member_update = tg_fixture("update.chat_member.joined_via_link.json");
    let service = tg_fixture("update.message.new_chat_members.json");
    // Another member's join, whose two reports are a second apart.
    let person = json!({"id": 7_359_024_417_i64, "is_bot": false, "first_name": "阿杰<3"});
    let mut member_update2 = member_update.clone();
    member_update2["update_id"] = json!(718_290_491);
    member_update2["chat_member"]["from"] = person.clone();
    member_update2["chat_member"]["old_chat_member"]["user"] = person.clone();
    member_update2["chat_member"]["new_chat_member"]["user"] = person.clone();
    let mut service2 = service.clone();
    service2["update_id"] = json!(718_290_441);
    service2["message"]["message_id"] = json!(58_231);
    service2["message"]["date"] = json!(1_732_172_002);
    service2["message"]["from"] = person.clone();
    service2["message"]["new_chat_members"] = json!([person]);
    post_all(
        &app,
        &[
            member_update,
            service,
            service2,
            member_update2,
            tg_fixture("update.message.left_chat_member.json"),
            tg_fixture("update.chat_join_request.json"),
            tg_fixture("update.my_chat_member.promoted.json"),
            text_from(9, 300, 5_001, "加微信"),
        ],
    )
    .await;
    let actions = app.telegram.wait_actions(4, PATIENCE).await;
    // Two welcomes, then the violation: no duplicate welcome, nothing for leaves and requests.
    // The violation's recall may overtake the welcomes (`[outbox] early_recalls`), so find the
    // welcomes among the bot's messages, which keep their order.
    assert_names_in_order(
        &methods(&actions),
        &["sendMessage", "sendMessage", "deleteMessage", "sendMessage"],
    );
    assert_eq!(
        deletes(&actions)[0].params["message_id"],
        300,
        "the violation is recalled"
    );
    let said: Vec<&TgCall> = actions.iter().filter(|a| a.method == "sendMessage").collect();
    let (visible, mentions) = read_html(said[0].params["text"].as_str().expect("text"));
    assert_eq!(mentions, [(7_359_024_416, "小雨".to_owned())], "the first welcome");
    assert!(visible.contains("1. 禁止广告"), "{visible}");
    let (_, mentions) = read_html(said[1].params["text"].as_str().expect("text"));
    assert_eq!(mentions, [(7_359_024_417, "阿杰<3".to_owned())], "the second welcome");
    app.stop().await;
}

#[tokio::test]
async fn basic_groups_fall_back_to_warnings_and_channel_identities_are_banned_as_channels() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    const BASIC: i64 = -4_012_345_678;
    for (id, message_id) in [(1, 101), (2, 102)] {
        let mut update = spam(id, message_id);
        update["message"]["chat"] = json!({"id": BASIC, "type": "group", "title": "小群"});
        app.post_update(&update).await;
        app.telegram
            .wait_actions(usize::try_from(id * 2).expect("small"), PATIENCE)
            .await;
    }
    let actions = app.telegram.actions();
    assert_eq!(
        methods(&actions),
        ["deleteMessage", "sendMessage", "deleteMessage", "sendMessage"],
        "basic groups cannot restrict members; the second strike warns"
    );
    let (visible, _) = read_html(actions[3].params["text"].as_str().expect("text"));
    assert!(visible.contains("(2/3)"), "{visible}");

    // A member posting as their channel: strikes land on the channel, and a kick bans it.
    let mut as_channel = spam(3, 103);
    as_channel["message"]["from"] = json!({"id": 136_817_688, "is_bot": true, "first_name": "Channel"});
    as_channel["message"]["sender_chat"] =
        json!({"id": -1_009_998_887_776_i64, "type": "channel", "title": "暴富频道"});
    for id in 3..=5 {
        as_channel["update_id"] = json!(id);
        as_channel["message"]["message_id"] = json!(100 + id);
        app.post_update(&as_channel).await;
    }
    let calls = app
        .telegram
        .wait_for(PATIENCE, |calls| calls.iter().any(|c| c.method == "banChatSenderChat"))
        .await;
    let ban = calls
        .iter()
        .find(|c| c.method == "banChatSenderChat")
        .expect("channel banned");
    assert_eq!(
        ban.params,
        json!({"chat_id": TG_CHAT, "sender_chat_id": -1_009_998_887_776_i64})
    );
    let warning = calls
        .iter()
        .filter(|c| c.method == "sendMessage")
        .nth(2)
        .expect("channel warned");
    assert!(
        warning.params["text"]
            .as_str()
            .expect("text")
            .starts_with("<b>暴富频道</b>"),
        "a channel is named, not linked: {}",
        warning.params["text"]
    );
    assert!(
        calls.iter().all(|c| c.params["user_id"] != json!(136_817_688)),
        "the Channel_Bot placeholder is never punished"
    );
    app.stop().await;
}

#[tokio::test]
async fn polling_resumes_after_a_restart_without_losing_or_repeating_updates() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Polling)).await;
    let first = tg_fixture("update.message.supergroup_text.json"); // update 718290431
    let join = tg_fixture("update.chat_member.joined_via_link.json"); // update 718290490
    app.telegram.push_updates([first, join]);
    let actions = app.telegram.wait_actions(3, PATIENCE).await;
    assert_eq!(methods(&actions), ["deleteMessage", "sendMessage", "sendMessage"]);
    assert_eq!(actions[0].params["message_id"], 58_214);
    // The next poll confirms both updates: the offset was stored before it was sent.
    app.telegram
        .wait_for(PATIENCE, |calls| {
            calls
                .iter()
                .any(|c| c.method == "getUpdates" && c.params["offset"] == 718_290_491)
        })
        .await;
    let polls_before = app.telegram.calls_of("getUpdates").len();
    assert!(
        app.telegram.calls_of("deleteWebhook").len() == 1,
        "polling removes any webhook first"
    );

    // An update that arrives while qunguan is down is fetched after the restart.
    let fake = app.telegram.clone();
    let app = app
        .restart_after(telegram(TelegramMode::Polling), move |_| {
            fake.push_updates([spam(718_290_495, 58_300)]);
        })
        .await;
    let actions = app.telegram.wait_actions(5, PATIENCE).await;
    assert_eq!(
        methods(&actions[3..5]),
        ["deleteMessage", "restrictChatMember"],
        "the second strike: strikes survived, nothing was repeated"
    );
    assert_eq!(actions[3].params["message_id"], 58_300);
    let polls = app.telegram.calls_of("getUpdates");
    assert_eq!(
        polls[polls_before].params["offset"], 718_290_491,
        "the first poll after the restart"
    );
    app.stop().await;
}

#[tokio::test]
async fn updates_fetched_again_after_a_lost_offset_change_nothing() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Polling)).await;
    app.telegram.push_updates([spam(10, 1_010), spam(11, 1_011)]);
    app.telegram.wait_actions(5, PATIENCE).await;
    app.telegram
        .wait_for(PATIENCE, |calls| {
            calls
                .iter()
                .any(|c| c.method == "getUpdates" && c.params["offset"] == 12)
        })
        .await;

    // As if qunguan had died after handling both updates but before storing the offset.
    app.telegram.forget_confirmations();
    let app = app
        .restart_after(telegram(TelegramMode::Polling), |root| {
            let store = qunguan::store::Store::open_path(&root.join("data")).expect("open the stopped daemon's store");
            store
                .set_state(qunguan::gateway::telegram::polling::OFFSET_STATE, &10_i64.to_be_bytes())
                .expect("rewind");
            store.flush_blocking().expect("flush");
        })
        .await;
    let polls = app
        .telegram
        .wait_for(PATIENCE, |calls| {
            calls
                .iter()
                .filter(|c| c.method == "getUpdates" && c.params["offset"] == 12)
                .count()
                >= 2
        })
        .await;
    assert!(
        polls
            .iter()
            .any(|c| c.method == "getUpdates" && c.params["offset"] == 10),
        "the rewound offset was used"
    );
    // Both updates were served again and changed nothing; the next one is the third strike.
    // (The two first updates come in one batch, so the second recall may overtake the first
    // warning: a recall goes out before its record's flush.)
    app.telegram.push_updates([spam(12, 1_012)]);
    let actions = app.telegram.wait_actions(9, PATIENCE).await;
    assert_names_in_order(&methods(&actions), &THREE_STRIKES);
    app.stop().await;
}

#[tokio::test]
async fn both_gateways_at_once_keep_their_groups_apart() {
    const USER: i64 = 42;
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    assert_eq!(
        app.post_event(&group_message(1, USER, "member", "加微信")).await,
        StatusCode::NO_CONTENT
    );
    app.post_update(&text_from(1, 101, USER, "加微信")).await;
    let qq = app.gateway.wait_delivered(2, PATIENCE).await;
    let tg = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(actions(&qq), ["delete_msg", "send_group_msg"]);
    assert_eq!(methods(&tg), ["deleteMessage", "sendMessage"]);
    // The same user id on both platforms has two records: both strikes are first strikes.
    let qq_text: String = qq[1].params["message"]
        .as_array()
        .expect("segments")
        .iter()
        .filter_map(|s| s["data"]["text"].as_str())
        .collect();
    let (tg_text, _) = read_html(tg[1].params["text"].as_str().expect("text"));
    assert!(
        qq_text.contains("(1/3)") && tg_text.contains("(1/3)"),
        "{qq_text} | {tg_text}"
    );
    // A second QQ strike mutes on QQ only.
    app.post_event(&group_message(2, USER, "member", "加微信")).await;
    let qq = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(actions(&qq[2..4]), ["delete_msg", "set_group_ban"]);
    assert_eq!(app.telegram.actions().len(), 2);
    app.stop().await;
}

fn client_for(fake: &FakeTelegram, token: &str) -> TelegramClient {
    let settings = TelegramSettings {
        enabled: true,
        token: Secret::new(token),
        api_root: fake.api_root(),
        ..TelegramSettings::default()
    };
    TelegramClient::new(&settings, Arc::new(qunguan::domain::clock::SystemClock)).expect("client")
}

#[tokio::test]
async fn join_requests_and_unmutes_become_their_bot_api_calls() {
    let fake = FakeTelegram::start().await;
    let client = client_for(&fake, TG_TOKEN);
    let group = GroupId::telegram(TG_CHAT);
    let applicant = 7_359_024_416;
    for approve in [true, false] {
        client
            .execute(&Action::AnswerJoinRequest {
                group,
                user_id: applicant,
                handle: applicant.to_string(),
                approve,
                reason: String::new(),
            })
            .await
            .expect("answered");
    }
    client
        .execute(&Action::Unmute {
            group,
            user_id: TG_SPAMMER,
        })
        .await
        .expect("unmuted");
    let calls = fake.calls();
    assert_eq!(
        methods(&calls),
        [
            "approveChatJoinRequest",
            "declineChatJoinRequest",
            "getChat",
            "restrictChatMember"
        ]
    );
    assert_eq!(calls[0].params, json!({"chat_id": TG_CHAT, "user_id": applicant}));
    // Unmuting gives back the chat's default permissions, with no end date.
    let defaults = &client
        .call("getChat", &json!({"chat_id": TG_CHAT}))
        .await
        .expect("chat")["permissions"];
    assert_eq!(
        calls[3].params,
        json!({"chat_id": TG_CHAT, "user_id": TG_SPAMMER, "permissions": defaults, "use_independent_chat_permissions": true})
    );
}

#[tokio::test]
async fn long_messages_are_split_and_a_bad_token_is_refused_without_showing_it() {
    let fake = FakeTelegram::start().await;
    let client = client_for(&fake, TG_TOKEN);
    let rules = "1. 不许发广告，包括二维码、链接、私聊引流。\n".repeat(200); // > 4096 characters
    let delivery = client
        .execute(&Action::Send {
            group: GroupId::telegram(TG_CHAT),
            message: OutgoingMessage::text(rules.clone()),
            reply_to: Some(58_214),
        })
        .await
        .expect("sent in parts");
    let sends = fake.calls_of("sendMessage");
    assert!(sends.len() >= 2 && sends.iter().all(|c| c.ok), "{sends:?}");
    assert_eq!(delivery.message_id, Some(58_301), "the first part's id");
    assert_eq!(
        sends[0].params["reply_parameters"],
        json!({"message_id": 58_214, "allow_sending_without_reply": true})
    );
    assert!(sends[1].params.get("reply_parameters").is_none());
    let joined: String = sends.iter().map(|c| c.params["text"].as_str().expect("text")).collect();
    assert_eq!(joined, rules, "split at line breaks, nothing lost");

    let wrong = "7012345678:AAwrong-token-that-the-server-refuses0";
    let err = client_for(&fake, wrong)
        .execute(&Action::Recall {
            group: GroupId::telegram(TG_CHAT),
            message_id: 1,
        })
        .await
        .expect_err("401");
    assert!(!err.is_retryable() && err.to_string().contains("Unauthorized"), "{err}");
    assert!(!err.to_string().contains("AAwrong"), "{err}");

    // Transport errors name no URL: the URL carries the token.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let settings = TelegramSettings {
        enabled: true,
        token: Secret::new(TG_TOKEN),
        api_root: format!("http://127.0.0.1:{port}"),
        ..TelegramSettings::default()
    };
    let unreachable = TelegramClient::new(&settings, Arc::new(qunguan::domain::clock::SystemClock)).expect("client");
    let err = unreachable.get_me().await.expect_err("nothing listens");
    assert!(err.is_retryable(), "{err}");
    assert!(!format!("{err} {err:?}").contains("AAtest"), "{err:?}");
}

/// Runs `qunguan check-config` on the example config with Telegram enabled plus `env`.
fn check_config_with(env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_qunguan"))
        .args(["check-config", "--config", "config.example.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("QUNGUAN__GATEWAY__TELEGRAM__ENABLED", "true")
        .env("QUNGUAN__GATEWAY__TELEGRAM__TOKEN", TG_TOKEN)
        .envs(env.iter().copied())
        .output()
        .expect("runs")
}

#[test]
fn check_config_summarises_the_telegram_gateway_without_its_token() {
    let out = check_config_with(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The example speaks zh-CN; `[messages] locale = "en"` gives the English line.
    assert!(stdout.contains("\n  Telegram：长轮询（每次最长 30s）"), "{stdout}");
    assert!(!stdout.contains("AAtest"), "{stdout}");
    let out = check_config_with(&[("QUNGUAN__MESSAGES__LOCALE", "en")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\n  telegram:    long polling (up to 30s a call)"),
        "{stdout}"
    );
    assert!(!stdout.contains("AAtest"), "{stdout}");

    let out = check_config_with(&[("QUNGUAN__GATEWAY__TELEGRAM__MODE", "webhook")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("gateway.telegram.webhook_url") && stderr.contains("gateway.telegram.secret_token"),
        "{stderr}"
    );
    assert!(!stderr.contains("AAtest"), "{stderr}");
}
