//! The gate at the door (入群验证, `[verify]`) through the real daemon: a newcomer is muted and
//! asked; an answer in time unmutes and welcomes them; silence until the deadline, or
//! `max_tries` wrong answers, removes them and recalls what they posted; the question is
//! recalled whenever the gate ends; a restart neither forgets a pending newcomer nor kicks
//! them early; groups that did not opt in are untouched; a broken `rules/verify.toml` keeps
//! the old questions; every press of a Telegram button is acknowledged. QQ and Telegram.

use std::time::Duration;

use qunguan::config::TelegramMode;
use qunguan::domain::audit::Measure;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::fake_telegram::{TgCall, read_html};
use crate::support::*;

/// The one question of the test's `rules/verify.toml`.
const QUESTION: &str = "本群讨论哪门编程语言？";

fn verify_toml(question: &str, answer: &str) -> String {
    format!("[[question]]\nquestion = \"{question}\"\nanswers = [\"{answer}\", \"锈\"]\n")
}

/// The gate on in every group (timeout 5 minutes, the default) with the test question.
fn gated(tweak: impl Fn(&mut qunguan::config::Settings) + Send + Sync + 'static) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.verify.enabled = true;
            tweak(s);
        }),
        rules: Box::new(|dir| std::fs::write(dir.join("verify.toml"), verify_toml(QUESTION, "Rust")).expect("write")),
        ..Options::default()
    }
}

/// A join of `user_id` to the test group.
fn join_of(user_id: i64) -> Value {
    let mut joined = fixture("onebot11/notice.group_increase.approve.json");
    joined["user_id"] = json!(user_id);
    joined["time"] = json!(1_732_171_800 + user_id % 1000);
    joined
}

/// The text of a `send_group_msg` call, mentions written as `@<id>`.
fn text_of(call: &Call) -> String {
    call.params["message"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| match s["type"].as_str() {
            Some("at") => format!("@{}", s["data"]["qq"].as_str().unwrap_or_default()),
            _ => s["data"]["text"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Asserts that `calls` are the mute of `user` for the timeout plus a minute and the
/// question mentioning them.
fn assert_asked(calls: &[Call], user: i64) {
    assert_eq!(actions(calls), ["set_group_ban", "send_group_msg"], "{calls:?}");
    assert_eq!(calls[0].params["user_id"], user);
    assert_eq!(calls[0].params["duration"], 360, "5 minutes and a margin");
    let asked = text_of(&calls[1]);
    assert!(asked.starts_with(&format!("@{user}")), "{asked}");
    assert!(asked.contains(QUESTION) && asked.contains("5分钟"), "{asked}");
}

#[tokio::test]
async fn a_newcomer_is_muted_and_asked_and_an_answer_in_time_unmutes_and_welcomes_them() {
    let app = TestApp::spawn_with(gated(|_| {})).await;
    assert_eq!(app.post_event(&join_of(801)).await, StatusCode::NO_CONTENT);
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 801);
    let question = calls[1].message_id.expect("the question's id");
    // The question's receipt is stored once it was delivered (the outbox is empty).
    app.settle().await;

    // A wrong answer changes nothing; the right one, written differently, passes.
    app.post_event(&group_message(9_001, 801, "member", "不知道")).await;
    app.post_event(&group_message(9_002, 801, "member", " ＲＵＳＴ！"))
        .await;
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(actions(&calls[2..5]), ["set_group_ban", "delete_msg", "send_group_msg"]);
    assert_eq!(calls[2].params["user_id"], 801);
    assert_eq!(calls[2].params["duration"], 0, "unmuted");
    assert_eq!(calls[3].params["message_id"], question, "the question is recalled");
    let welcome = text_of(&calls[4]);
    assert!(
        welcome.starts_with("@801") && welcome.contains("1. 禁止广告"),
        "the welcome comes on passing: {welcome}"
    );
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"opened\"}", "1"),
        ("qunguan_verify_gates_total{result=\"passed\"}", "1"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "0"),
    ])
    .await;

    // Long after, nothing more happens: no kick, no recall of the wrong answer.
    app.advance(Duration::from_secs(3_600));
    app.gate.round().await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 5, "{:?}", app.gateway.delivered());
    app.stop().await;
}

#[tokio::test]
async fn no_answer_in_time_removes_the_newcomer_and_recalls_their_messages_not_a_second_early() {
    let app = TestApp::spawn_with(gated(|s| {
        s.verify.timeout = qunguan::domain::duration::HumanDuration::from_secs(120);
    }))
    .await;
    app.post_event(&join_of(802)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(calls[0].params["duration"], 180);
    let question = calls[1].message_id.expect("the question's id");
    app.settle().await;
    // Two messages: two wrong answers, one short of the default `max_tries` (3).
    app.post_event(&group_message(9_101, 802, "member", "我是来卖货的"))
        .await;
    app.post_event(&group_message(9_102, 802, "member", "42")).await;
    app.wait_metrics(&[("qunguan_memory_entries{structure=\"verify_pending\"}", "1")])
        .await;

    // One second before the deadline: the keeper has looked, and nothing happened.
    app.advance(Duration::from_secs(119));
    app.gate.round().await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 2, "{:?}", app.gateway.delivered());

    app.advance(Duration::from_secs(1));
    let calls = app.gateway.wait_delivered(6, PATIENCE).await;
    assert_eq!(
        actions(&calls[2..6]),
        ["delete_msg", "delete_msg", "delete_msg", "set_group_kick"]
    );
    assert_eq!(calls[2].params["message_id"], question, "the question first");
    assert_eq!(calls[3].params["message_id"], 9_101);
    assert_eq!(calls[4].params["message_id"], 9_102);
    assert_eq!(calls[5].params["user_id"], 802);
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"timed_out\"}", "1"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "0"),
    ])
    .await;
    // The removal is an audit case, written with the kick.
    let cases = app.cases().await;
    let case = cases.iter().find(|c| c.rule == "verify").expect("the removal's case");
    assert_eq!(
        (case.user_id, &case.measure, case.dry_run, case.recalled.as_slice()),
        (802, &Measure::Kick, false, [9_101, 9_102].as_slice())
    );
    assert!(case.reason.contains("超时"), "{}", case.reason);

    // Too late: the right answer after the kick does not let them in.
    app.post_event(&group_message(9_103, 802, "member", "rust")).await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 6, "{:?}", app.gateway.delivered());

    // An admin's /why shows the case.
    app.post_event(&command(9_104, 10, "admin", &format!("/why {}", case.case)))
        .await;
    let calls = app.gateway.wait_delivered(7, PATIENCE).await;
    let why = text_of(&calls[6]);
    assert!(
        why.contains(&format!("案件 #{}", case.case)) && why.contains("入群验证超时未答对"),
        "{why}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_restart_neither_forgets_a_newcomer_nor_kicks_them_early() {
    let app = TestApp::spawn_with(gated(|_| {})).await;
    app.post_event(&join_of(803)).await;
    app.post_event(&join_of(804)).await;
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_asked(&calls[..2], 803);
    assert_asked(&calls[2..], 804);
    let questions = [calls[1].message_id, calls[3].message_id].map(|id| id.expect("a question's id"));
    app.settle().await;
    app.post_event(&group_message(9_201, 804, "member", "hello")).await;
    app.advance(Duration::from_secs(200));

    let app = app.restart(gated(|_| {})).await;
    // The keeper read the stored deadlines at start; 100 s remain, so no one is removed.
    app.gate.round().await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 4, "{:?}", app.gateway.delivered());
    app.wait_metrics(&[("qunguan_memory_entries{structure=\"verify_pending\"}", "2")])
        .await;

    // 803 answers after the restart and is let in and welcomed; their question, asked
    // before the restart, is recalled.
    app.post_event(&group_message(9_202, 803, "member", "锈")).await;
    let calls = app.gateway.wait_delivered(7, PATIENCE).await;
    assert_eq!(actions(&calls[4..7]), ["set_group_ban", "delete_msg", "send_group_msg"]);
    assert_eq!(
        (calls[4].params["user_id"].clone(), calls[4].params["duration"].clone()),
        (json!(803), json!(0))
    );
    assert_eq!(calls[5].params["message_id"], questions[0]);
    assert!(text_of(&calls[6]).starts_with("@803"), "{}", text_of(&calls[6]));

    // 804's deadline, set before the restart, is honoured: removed at 300 s, their question
    // and their message from before the restart recalled.
    app.advance(Duration::from_secs(100));
    let calls = app.gateway.wait_delivered(10, PATIENCE).await;
    assert_eq!(actions(&calls[7..10]), ["delete_msg", "delete_msg", "set_group_kick"]);
    assert_eq!(calls[7].params["message_id"], questions[1]);
    assert_eq!(calls[8].params["message_id"], 9_201);
    assert_eq!(calls[9].params["user_id"], 804);
    app.stop().await;
}

#[tokio::test]
async fn a_newcomer_who_leaves_is_forgotten_and_their_question_recalled() {
    let app = TestApp::spawn_with(gated(|_| {})).await;
    app.post_event(&join_of(851)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 851);
    let question = calls[1].message_id.expect("the question's id");
    app.settle().await;
    let mut left = fixture("onebot11/notice.group_decrease.leave.json");
    left["user_id"] = json!(851);
    left["group_id"] = json!(GROUP);
    app.post_event(&left).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(actions(&calls[2..3]), ["delete_msg"], "{calls:?}");
    assert_eq!(calls[2].params["message_id"], question);
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"released\"}", "1"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "0"),
    ])
    .await;
    // No kick at the deadline for someone who is gone.
    app.advance(Duration::from_secs(3_600));
    app.gate.round().await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 3, "{:?}", app.gateway.delivered());
    app.stop().await;
}

#[tokio::test]
async fn a_group_without_the_gate_is_unaffected_and_a_group_override_opts_in() {
    const OTHER: i64 = 726_300_999;
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            let group = s.groups.entry(OTHER.to_string()).or_default();
            group.verify.enabled = Some(true);
        }),
        ..Options::default()
    })
    .await;
    // The test group is not gated: welcomed at once, never muted.
    app.post_event(&join_of(805)).await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg"]);
    assert!(text_of(&calls[0]).contains("1. 禁止广告"));
    app.post_event(&group_message(9_301, 805, "member", "大家好")).await;
    // The other group opted in: without verify.toml, an arithmetic question.
    let mut join = join_of(806);
    join["group_id"] = json!(OTHER);
    app.post_event(&join).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(actions(&calls[1..3]), ["set_group_ban", "send_group_msg"]);
    assert_eq!(calls[1].params["group_id"], OTHER);
    assert!(text_of(&calls[2]).contains("= ?"), "{}", text_of(&calls[2]));
    app.settle().await;
    app.advance(Duration::from_secs(3_600));
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(actions(&calls[3..5]), ["delete_msg", "set_group_kick"]);
    assert_eq!(calls[3].params["message_id"], calls[2].message_id.expect("id"));
    assert_eq!(
        (calls[4].params["group_id"].clone(), calls[4].params["user_id"].clone()),
        (json!(OTHER), json!(806))
    );
    app.settle().await;
    assert_eq!(
        app.gateway.delivered().len(),
        5,
        "the ungated member stays: {:?}",
        app.gateway.delivered()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_broken_verify_toml_keeps_the_old_questions_and_names_the_line() {
    let app = TestApp::spawn_with(gated(|_| {})).await;
    let path = app.root.path().join("rules").join("verify.toml");
    std::fs::write(
        &path,
        "[[question]]\nquestion = \"新问题\"\nanswers = [\"x\"]\n\n[[question]]\nquestion = \"坏的\"\nanswers = []\n",
    )
    .expect("write");
    let error = qunguan::config::rules::reload(&app.rules, &app.root.path().join("rules")).expect_err("refused");
    assert_eq!(error.line, Some(5), "{error}");
    assert!(error.to_string().contains("verify.toml:5"), "{error}");
    app.post_event(&join_of(807)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 807);

    // A good file goes live for the next newcomer; 807 keeps the question they were asked.
    std::fs::write(&path, verify_toml("新问题？", "新答案")).expect("write");
    qunguan::config::rules::reload(&app.rules, &app.root.path().join("rules")).expect("reloads");
    app.post_event(&join_of(808)).await;
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    assert!(text_of(&calls[3]).contains("新问题？"), "{}", text_of(&calls[3]));
    app.post_event(&group_message(9_401, 807, "member", "rust")).await;
    let calls = app.gateway.wait_delivered(6, PATIENCE).await;
    assert_eq!(calls[4].params["user_id"], 807);
    assert_eq!(calls[4].params["duration"], 0);
    app.stop().await;
}

#[tokio::test]
async fn english_texts_with_the_english_locale() {
    let app = TestApp::spawn_with(gated(|s| {
        s.messages.locale = qunguan::domain::locale::Locale::En;
    }))
    .await;
    app.post_event(&join_of(809)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    let asked = text_of(&calls[1]);
    assert!(asked.contains("within 5 min") && asked.contains(QUESTION), "{asked}");
    assert!(asked.contains("private message"), "muted on QQ: {asked}");
    app.stop().await;
}

#[tokio::test]
async fn on_telegram_a_restricted_newcomer_is_asked_with_the_button_even_without_button_and_let_in_or_banned_out() {
    // The defaults: mute = true, button = false. A restricted member cannot post, so they are
    // asked with the button all the same (a typed answer could never come).
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = TelegramMode::Webhook;
            s.verify.enabled = true;
        }),
        rules: Box::new(|dir| std::fs::write(dir.join("verify.toml"), verify_toml(QUESTION, "Rust")).expect("write")),
        ..Options::default()
    })
    .await;
    let newcomer = 7_359_024_416_i64;
    assert_eq!(
        app.post_update(&tg_fixture("update.message.new_chat_members.json"))
            .await,
        StatusCode::NO_CONTENT
    );
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&actions), ["restrictChatMember", "sendMessage"]);
    assert_eq!(actions[0].params["user_id"], newcomer);
    assert_eq!(actions[0].params["permissions"]["can_send_messages"], false);
    let (visible, mentions) = read_html(actions[1].params["text"].as_str().expect("text"));
    assert_eq!(mentions, [(newcomer, "小雨".to_owned())]);
    assert!(visible.contains("点击下方按钮"), "{visible}");
    let button = &actions[1].params["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["text"], "我不是机器人", "{:?}", actions[1].params);
    let data = button["callback_data"].as_str().expect("callback data").to_owned();
    let question = actions[1].message_id.expect("the question's id");
    app.settle().await;

    // Their press lets them in: restriction lifted, the question recalled, then the welcome.
    app.post_update(&press(718_290_500, newcomer, &data)).await;
    let actions = app.telegram.wait_actions(5, PATIENCE).await;
    assert_eq!(
        methods(&actions[2..5]),
        ["restrictChatMember", "deleteMessage", "sendMessage"]
    );
    assert_eq!(actions[2].params["permissions"]["can_send_messages"], true);
    assert_eq!(actions[3].params["message_id"], question, "the question is recalled");
    let (visible, _) = read_html(actions[4].params["text"].as_str().expect("text"));
    assert!(visible.contains("1. 禁止广告"), "{visible}");

    // Another newcomer stays silent and is removed at the deadline.
    let mut join = tg_fixture("update.message.new_chat_members.json");
    let person = json!({"id": 7_359_024_417_i64, "is_bot": false, "first_name": "阿杰"});
    join["update_id"] = json!(718_290_501);
    join["message"]["message_id"] = json!(58_301);
    join["message"]["from"] = person.clone();
    join["message"]["new_chat_members"] = json!([person]);
    join["message"]["new_chat_member"] = person.clone();
    join["message"]["new_chat_participant"] = person;
    app.post_update(&join).await;
    app.telegram.wait_actions(7, PATIENCE).await;
    app.settle().await;
    app.advance(Duration::from_secs(300));
    let actions = app
        .telegram
        .wait_for(PATIENCE, |calls| {
            calls
                .iter()
                .any(|c| c.method == "banChatMember" && c.params["user_id"] == 7_359_024_417_i64)
        })
        .await;
    assert!(
        actions.iter().any(|c| c.method == "banChatMember"),
        "{:?}",
        methods(&actions)
    );
    app.stop().await;
}

#[tokio::test]
async fn on_telegram_without_the_mute_the_newcomer_types_the_answer_in_the_group() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = TelegramMode::Webhook;
            s.verify.enabled = true;
            s.verify.mute = false;
        }),
        rules: Box::new(|dir| std::fs::write(dir.join("verify.toml"), verify_toml(QUESTION, "Rust")).expect("write")),
        ..Options::default()
    })
    .await;
    let newcomer = 7_359_024_416_i64;
    app.post_update(&tg_fixture("update.message.new_chat_members.json"))
        .await;
    let actions = app.telegram.wait_actions(1, PATIENCE).await;
    assert_eq!(methods(&actions), ["sendMessage"], "not restricted: they can type");
    let (visible, _) = read_html(actions[0].params["text"].as_str().expect("text"));
    assert!(visible.contains(QUESTION) && visible.contains("在群里"), "{visible}");
    assert!(
        actions[0].params["reply_markup"].is_null(),
        "no button: {:?}",
        actions[0].params
    );
    let question = actions[0].message_id.expect("the question's id");
    app.settle().await;

    // A forged press of a button this gate never offered lets no one in (acknowledged
    // silently).
    app.post_update(&press(718_290_509, newcomer, &format!("gate:{newcomer}")))
        .await;
    let calls = app
        .telegram
        .wait_for(PATIENCE, |calls| {
            calls.iter().any(|c| c.method == "answerCallbackQuery")
        })
        .await;
    let ack = calls
        .iter()
        .find(|c| c.method == "answerCallbackQuery")
        .expect("acknowledged");
    assert_eq!(ack.params["text"].as_str().unwrap_or_default(), "", "{ack:?}");
    app.settle().await;
    assert_eq!(methods(&app.telegram.actions()), ["sendMessage"], "no one let in");

    // The typed answer (from a member who can post) lets them in.
    let mut answer = tg_fixture("update.message.supergroup_text.json");
    answer["update_id"] = json!(718_290_510);
    answer["message"]["message_id"] = json!(58_310);
    answer["message"]["from"] = json!({"id": newcomer, "is_bot": false, "first_name": "小雨"});
    answer["message"]["text"] = json!("rust");
    answer["message"]["entities"] = json!([]);
    app.post_update(&answer).await;
    let actions = app.telegram.wait_actions(3, PATIENCE).await;
    assert_eq!(methods(&actions[1..3]), ["deleteMessage", "sendMessage"]);
    assert_eq!(actions[1].params["message_id"], question, "the question is recalled");
    let (visible, _) = read_html(actions[2].params["text"].as_str().expect("text"));
    assert!(visible.contains("1. 禁止广告"), "{visible}");
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_join_asks_once_a_leaver_is_forgotten_and_a_full_gate_lets_newcomers_in() {
    let app = TestApp::spawn_with(gated(|s| s.limits.verify_pending = 16)).await;
    // The same join twice (the gateway redelivers): one mute, one question.
    app.post_event(&join_of(810)).await;
    app.post_event(&join_of(810)).await;
    // 811 joins and leaves before answering: forgotten, never kicked.
    app.post_event(&join_of(811)).await;
    let mut left = fixture("onebot11/notice.group_decrease.leave.json");
    left["user_id"] = json!(811);
    left["group_id"] = json!(GROUP);
    app.post_event(&left).await;
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"opened\"}", "2"),
        ("qunguan_verify_gates_total{result=\"released\"}", "1"),
        ("qunguan_events_duplicate_total", "1"),
    ])
    .await;
    // Fill the gate: 15 more newcomers make 16 pending; the 17th is let in and welcomed.
    for user in 820..835 {
        app.post_event(&join_of(user)).await;
    }
    app.post_event(&join_of(835)).await;
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"full\"}", "1"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "16"),
    ])
    .await;
    app.settle().await;
    let calls = app.gateway.delivered();
    let mutes: Vec<i64> = calls
        .iter()
        .filter(|c| c.action == "set_group_ban")
        .filter_map(|c| c.params["user_id"].as_i64())
        .collect();
    assert_eq!(mutes.len(), 17, "810, 811 and 15 more: {mutes:?}");
    assert!(!mutes.contains(&835));
    let last = calls.last().expect("a call");
    assert!(
        last.action == "send_group_msg" && text_of(last).starts_with("@835") && text_of(last).contains("1. 禁止广告"),
        "835 is welcomed at once: {last:?}"
    );
    // At the deadline 16 are removed; 811, who left, is not.
    app.advance(Duration::from_secs(300));
    app.wait_metrics(&[("qunguan_verify_gates_total{result=\"timed_out\"}", "16")])
        .await;
    app.settle().await;
    let kicked: Vec<i64> = app
        .gateway
        .delivered()
        .iter()
        .filter(|c| c.action == "set_group_kick")
        .filter_map(|c| c.params["user_id"].as_i64())
        .collect();
    assert_eq!(kicked.len(), 16, "{kicked:?}");
    assert!(!kicked.contains(&811) && !kicked.contains(&835));
    app.stop().await;
}

/// A press of the inline button reporting `data`, by `user`, under a message in the fixtures'
/// supergroup.
fn press(update_id: i64, user: i64, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cb{update_id}"),
            "from": {"id": user, "is_bot": false, "first_name": format!("user{user}")},
            "message": {
                "message_id": 58_400,
                "date": 1_732_172_100,
                "chat": {"id": TG_CHAT, "type": "supergroup", "title": "Rust 中文社区"}
            },
            "chat_instance": "-4242",
            "data": data
        }
    })
}

#[tokio::test]
async fn on_telegram_the_newcomer_passes_with_their_own_button_and_every_press_is_acknowledged() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = TelegramMode::Webhook;
            s.verify.enabled = true;
            s.verify.button = true;
        }),
        ..Options::default()
    })
    .await;
    let newcomer = 7_359_024_416_i64;
    app.post_update(&tg_fixture("update.message.new_chat_members.json"))
        .await;
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    assert_eq!(methods(&actions), ["restrictChatMember", "sendMessage"]);
    let button = &actions[1].params["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["text"], "我不是机器人");
    let data = button["callback_data"].as_str().expect("callback data").to_owned();
    let (visible, _) = read_html(actions[1].params["text"].as_str().expect("text"));
    assert!(visible.contains("点击下方按钮"), "{visible}");
    assert!(
        !visible.contains("答错"),
        "a button cannot be answered wrongly: {visible}"
    );
    let question = actions[1].message_id.expect("the question's id");
    app.settle().await;

    // Someone else's press, a forged one and a press of a button that is not a gate's let no
    // one in, but each is acknowledged; the newcomer's own press lets them in.
    app.post_update(&press(718_290_600, TG_SPAMMER, &data)).await;
    app.post_update(&press(718_290_601, newcomer, "gate:1")).await;
    app.post_update(&press(718_290_604, TG_SPAMMER, "poll:7")).await;
    app.post_update(&press(718_290_602, newcomer, &data)).await;
    let actions = app.telegram.wait_actions(5, PATIENCE).await;
    assert_eq!(
        methods(&actions[2..5]),
        ["restrictChatMember", "deleteMessage", "sendMessage"]
    );
    assert_eq!(actions[2].params["user_id"], newcomer);
    assert_eq!(actions[2].params["permissions"]["can_send_messages"], true);
    assert_eq!(actions[3].params["message_id"], question, "the question is recalled");
    let (visible, _) = read_html(actions[4].params["text"].as_str().expect("text"));
    assert!(visible.contains("1. 禁止广告"), "{visible}");
    app.wait_metrics(&[("qunguan_verify_gates_total{result=\"passed\"}", "1")])
        .await;
    let answered = |calls: &[TgCall]| {
        calls
            .iter()
            .filter(|c| c.method == "answerCallbackQuery" && c.ok)
            .count()
    };
    let calls = app.telegram.wait_for(PATIENCE, |calls| answered(calls) >= 4).await;
    let acks: Vec<(String, String)> = calls
        .iter()
        .filter(|c| c.method == "answerCallbackQuery" && c.ok)
        .map(|c| {
            (
                c.params["callback_query_id"].as_str().unwrap_or_default().to_owned(),
                c.params["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let ack_of = |id: &str| {
        acks.iter()
            .find(|(query, _)| query == id)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("{id} is acknowledged: {acks:?}"))
    };
    assert!(ack_of("cb718290600").contains("不是给你的"), "{acks:?}");
    assert!(ack_of("cb718290601").contains("不是给你的"), "{acks:?}");
    assert_eq!(ack_of("cb718290604"), "", "not a gate's button: acknowledged silently");
    assert!(ack_of("cb718290602").contains("验证通过"), "{acks:?}");
    // The newcomer's acknowledgement leaves before the unrestriction.
    let position = |pred: &dyn Fn(&TgCall) -> bool| calls.iter().position(pred).expect("a call");
    assert!(
        position(&|c| c.params["callback_query_id"] == "cb718290602")
            < position(&|c| c.method == "restrictChatMember" && c.params["permissions"]["can_send_messages"] == true)
    );

    // The deadline passes: nothing more (no ban); a press of the spent button is told so.
    app.advance(Duration::from_secs(600));
    app.post_update(&press(718_290_603, newcomer, &data)).await;
    // A redelivered press is acknowledged once (the fake refuses a second answer).
    app.post_update(&press(718_290_603, newcomer, &data)).await;
    app.gate.round().await;
    app.settle().await;
    assert_eq!(
        app.telegram.actions().len(),
        5,
        "{:?}",
        methods(&app.telegram.actions())
    );
    let late = app.telegram.calls_of("answerCallbackQuery");
    assert_eq!(late.len(), 5, "{late:?}");
    assert!(late.iter().all(|c| c.ok), "{late:?}");
    assert_eq!(late[4].params["callback_query_id"], "cb718290603");
    assert!(
        late[4].params["text"].as_str().unwrap_or_default().contains("已经结束"),
        "{late:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn button_notices_follow_the_english_locale_and_the_configured_texts() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.gateway.telegram.enabled = true;
            s.gateway.telegram.mode = TelegramMode::Webhook;
            s.verify.enabled = true;
            s.verify.button = true;
            s.messages.locale = qunguan::domain::locale::Locale::En;
            s.verify.button_not_yours = "Hands off, this one is for the newcomer.".into();
        }),
        ..Options::default()
    })
    .await;
    let newcomer = 7_359_024_416_i64;
    app.post_update(&tg_fixture("update.message.new_chat_members.json"))
        .await;
    let actions = app.telegram.wait_actions(2, PATIENCE).await;
    let button = &actions[1].params["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["text"], "I am not a robot");
    let data = button["callback_data"].as_str().expect("callback data").to_owned();
    app.post_update(&press(718_290_700, TG_SPAMMER, &data)).await;
    app.post_update(&press(718_290_701, newcomer, &data)).await;
    let calls = app
        .telegram
        .wait_for(PATIENCE, |calls| {
            calls.iter().filter(|c| c.method == "answerCallbackQuery").count() >= 2
        })
        .await;
    let texts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "answerCallbackQuery")
        .map(|c| c.params["text"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        texts,
        ["Hands off, this one is for the newcomer.", "Verified. Welcome!"]
    );
    app.stop().await;
}

/// A private message to the bot from `user_id` (`sub_type` `group`: a temporary session
/// opened from the group, as NapCat reports it).
fn private_message(message_id: i64, user_id: i64, text: &str) -> Value {
    json!({
        "post_type": "message", "message_type": "private", "sub_type": "group",
        "time": 1_732_172_000 + message_id, "self_id": SELF_ID, "user_id": user_id,
        "message_id": message_id, "message": [{"type": "text", "data": {"text": text}}],
        "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": format!("user{user_id}")}
    })
}

#[tokio::test]
async fn a_muted_qq_newcomer_answers_by_private_message_and_strangers_are_ignored() {
    let app = TestApp::spawn_with(gated(|_| {})).await;
    app.post_event(&join_of(821)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 821);
    let asked = text_of(&calls[1]);
    assert!(
        asked.contains("私聊") && asked.contains(&SELF_ID.to_string()),
        "a muted newcomer is told to answer the bot privately: {asked}"
    );
    assert!(asked.contains("答错 3 次"), "the tries are told: {asked}");
    let question = calls[1].message_id.expect("the question's id");

    // A wrong private answer does not pass; private messages of someone with no gate (one
    // that would be a right answer, a command, an advert) change nothing: no command runs,
    // nothing is filtered as if it were posted in a group.
    assert_eq!(
        app.post_event(&private_message(7_001, 821, "不知道")).await,
        StatusCode::NO_CONTENT
    );
    app.post_event(&private_message(7_002, 822, "Rust")).await;
    app.post_event(&private_message(7_004, 822, "/kick 821")).await;
    app.post_event(&private_message(7_005, 822, "加我微信 abc123 免费送"))
        .await;
    app.wait_metrics(&[
        ("qunguan_events_total{kind=\"private_message\"}", "4"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "1"),
    ])
    .await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 2, "{:?}", app.gateway.delivered());

    // The right answer, by private message: unmuted in the group, the question recalled,
    // and welcomed there.
    app.post_event(&private_message(7_003, 821, "ｒｕｓｔ")).await;
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(
        actions(&calls[2..5]),
        ["set_group_ban", "delete_msg", "send_group_msg"],
        "{calls:?}"
    );
    assert_eq!(
        (calls[2].params["user_id"].clone(), calls[2].params["duration"].clone()),
        (json!(821), json!(0))
    );
    assert_eq!(calls[3].params["message_id"], question);
    assert_eq!(calls[4].params["group_id"], GROUP);
    assert!(text_of(&calls[4]).starts_with("@821"), "{}", text_of(&calls[4]));
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"passed\"}", "1"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "0"),
    ])
    .await;

    // A redelivery of the answer, and the deadline, do nothing more.
    app.post_event(&private_message(7_003, 821, "ｒｕｓｔ")).await;
    app.advance(Duration::from_secs(3_600));
    app.gate.round().await;
    app.wait_metrics(&[("qunguan_events_total{kind=\"private_message\"}", "6")])
        .await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 5, "{:?}", app.gateway.delivered());
    app.stop().await;
}

#[tokio::test]
async fn max_tries_wrong_private_answers_remove_the_newcomer_like_the_deadline() {
    let app = TestApp::spawn_with(gated(|s| s.verify.max_tries = 2)).await;
    app.post_event(&join_of(841)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 841);
    assert!(text_of(&calls[1]).contains("答错 2 次"), "{}", text_of(&calls[1]));
    let question = calls[1].message_id.expect("the question's id");
    app.settle().await;

    // One wrong answer, and its redelivery (counted once): still waiting.
    app.post_event(&private_message(7_101, 841, "Python")).await;
    app.post_event(&private_message(7_101, 841, "Python")).await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 2, "{:?}", app.gateway.delivered());
    app.wait_metrics(&[("qunguan_memory_entries{structure=\"verify_pending\"}", "1")])
        .await;

    // The second wrong answer removes them at once, long before the deadline: the question
    // recalled, then the kick.
    app.post_event(&private_message(7_102, 841, "Go")).await;
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(actions(&calls[2..4]), ["delete_msg", "set_group_kick"], "{calls:?}");
    assert_eq!(calls[2].params["message_id"], question);
    assert_eq!(
        (
            calls[3].params["user_id"].clone(),
            calls[3].params["reject_add_request"].clone()
        ),
        (json!(841), json!(false))
    );
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"failed\"}", "1"),
        ("qunguan_verify_gates_total{result=\"timed_out\"}", "0"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "0"),
    ])
    .await;
    let cases = app.cases().await;
    let case = cases.iter().find(|c| c.rule == "verify").expect("the removal's case");
    assert_eq!((case.user_id, &case.measure), (841, &Measure::Kick));
    assert!(case.reason.contains("答错 2 次"), "{}", case.reason);

    // The right answer now, and the deadline, change nothing.
    app.post_event(&private_message(7_103, 841, "rust")).await;
    app.advance(Duration::from_secs(3_600));
    app.gate.round().await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 4, "{:?}", app.gateway.delivered());
    app.stop().await;
}

#[tokio::test]
async fn max_tries_wrong_answers_in_the_group_are_recalled_with_the_question_and_zero_means_unlimited() {
    const UNLIMITED: i64 = 726_300_888;
    let app = TestApp::spawn_with(gated(|s| {
        s.verify.mute = false;
        let group = s.groups.entry(UNLIMITED.to_string()).or_default();
        group.verify.max_tries = Some(0);
    }))
    .await;
    app.post_event(&join_of(842)).await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert!(text_of(&calls[0]).contains("答错 3 次"), "{}", text_of(&calls[0]));
    let question = calls[0].message_id.expect("the question's id");
    app.settle().await;
    for (id, text) in [(9_901, "大家好"), (9_902, "42")] {
        app.post_event(&group_message(id, 842, "member", text)).await;
    }
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 1, "{:?}", app.gateway.delivered());
    // The third, an advert: it removes them (no warning on top).
    app.post_event(&group_message(9_903, 842, "member", "加我微信 abc123"))
        .await;
    let calls = app.gateway.wait_delivered(6, PATIENCE).await;
    assert_eq!(
        actions(&calls[1..6]),
        ["delete_msg", "delete_msg", "delete_msg", "delete_msg", "set_group_kick"],
        "{calls:?}"
    );
    let recalled: Vec<i64> = calls[1..5]
        .iter()
        .filter_map(|c| c.params["message_id"].as_i64())
        .collect();
    assert_eq!(recalled, [question, 9_901, 9_902, 9_903]);
    assert_eq!(calls[5].params["user_id"], 842);
    // The answer that removed them is recorded: its redelivery is a duplicate, not an advert
    // to recall and warn about.
    app.post_event(&group_message(9_903, 842, "member", "加我微信 abc123"))
        .await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 6, "{:?}", app.gateway.delivered());

    // With `max_tries = 0` in another group, five wrong answers remove no one; the right one
    // still passes. (Different words, paced, so the flood limits stay out of it.)
    let mut join = join_of(843);
    join["group_id"] = json!(UNLIMITED);
    app.post_event(&join).await;
    let calls = app.gateway.wait_delivered(7, PATIENCE).await;
    assert!(!text_of(&calls[6]).contains("答错"), "{}", text_of(&calls[6]));
    app.settle().await;
    for (id, guess) in (9_950..).zip(["Python", "Go", "Java", "Ruby", "Kotlin"]) {
        app.advance(Duration::from_secs(10));
        app.post_event(&group_message_in(UNLIMITED, id, 843, "member", guess))
            .await;
    }
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 7, "{:?}", app.gateway.delivered());
    app.post_event(&group_message_in(UNLIMITED, 9_960, 843, "member", "rust"))
        .await;
    let calls = app.gateway.wait_delivered(9, PATIENCE).await;
    assert_eq!(actions(&calls[7..9]), ["delete_msg", "send_group_msg"], "{calls:?}");
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"failed\"}", "1"),
        ("qunguan_verify_gates_total{result=\"passed\"}", "1"),
    ])
    .await;
    app.stop().await;
}

#[tokio::test]
async fn without_the_mute_a_qq_newcomer_is_asked_to_answer_in_the_group() {
    let app = TestApp::spawn_with(gated(|s| s.verify.mute = false)).await;
    app.post_event(&join_of(823)).await;
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(actions(&calls), ["send_group_msg"], "not muted");
    let asked = text_of(&calls[0]);
    assert!(asked.contains("在群里") && !asked.contains("私聊"), "{asked}");
    app.settle().await;
    app.post_event(&group_message(9_801, 823, "member", "锈")).await;
    let calls = app.gateway.wait_delivered(3, PATIENCE).await;
    assert_eq!(
        actions(&calls[1..3]),
        ["delete_msg", "send_group_msg"],
        "the question recalled and the newcomer welcomed; nothing to unmute"
    );
    assert!(text_of(&calls[2]).contains("1. 禁止广告"), "{}", text_of(&calls[2]));
    app.stop().await;
}

#[tokio::test]
async fn in_dry_run_the_gate_logs_and_lets_newcomers_in_and_super_users_and_exempt_members_pass_freely() {
    const DRY: i64 = 726_300_777;
    const SUPER: i64 = 12;
    const EXEMPT: i64 = 13;
    let app = TestApp::spawn_with(gated(|s| {
        s.admin.super_users = vec![SUPER.to_string().parse().expect("user")];
        s.groups.entry(GROUP.to_string()).or_default().exempt = vec![EXEMPT];
        s.groups.entry(DRY.to_string()).or_default().dry_run = Some(true);
    }))
    .await;
    // A super user and an exempt member join the gated group: welcomed, never muted or asked.
    app.post_event(&join_of(SUPER)).await;
    app.post_event(&join_of(EXEMPT)).await;
    // A newcomer of the dry-run group: nothing muted, asked, recalled or kicked; welcomed.
    let mut join = join_of(861);
    join["group_id"] = json!(DRY);
    app.post_event(&join).await;
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"skipped\"}", "3"),
        ("qunguan_verify_gates_total{result=\"opened\"}", "0"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "0"),
    ])
    .await;
    app.post_event(&group_message_in(DRY, 9_970, 861, "member", "大家好"))
        .await;
    app.advance(Duration::from_secs(3_600));
    app.gate.round().await;
    app.settle().await;
    let calls = app.gateway.delivered();
    assert!(
        calls.iter().all(|c| c.action == "send_group_msg"),
        "only welcomes: {calls:?}"
    );
    let welcomed: Vec<String> = calls.iter().map(text_of).collect();
    for user in [SUPER, EXEMPT, 861] {
        assert!(
            welcomed
                .iter()
                .any(|t| t.contains(&format!("@{user}")) && t.contains("1. 禁止广告")),
            "{user} is welcomed: {welcomed:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_private_question_back_or_a_long_message_is_not_a_wrong_answer() {
    let app = TestApp::spawn_with(gated(|s| s.verify.max_tries = 2)).await;
    app.post_event(&join_of(871)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 871);
    app.settle().await;
    // Asking back, three times, and a long message: none could be the answer, none counts.
    for (id, text) in [
        (7_201, "你好，题目是什么？"),
        (7_202, "你好，题目是什么？"),
        (7_203, "请问?"),
        (7_204, "请问管理员我什么时候可以在群里说话呢我刚刚进来的"),
    ] {
        app.post_event(&private_message(id, 871, text)).await;
    }
    app.wait_metrics(&[("qunguan_events_total{kind=\"private_message\"}", "4")])
        .await;
    app.settle().await;
    assert_eq!(app.gateway.delivered().len(), 2, "{:?}", app.gateway.delivered());
    // Two plausible wrong answers do count: removed.
    app.post_event(&private_message(7_205, 871, "Python")).await;
    app.post_event(&private_message(7_206, 871, "Go")).await;
    let calls = app.gateway.wait_delivered(4, PATIENCE).await;
    assert_eq!(actions(&calls[2..4]), ["delete_msg", "set_group_kick"], "{calls:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_rejoin_while_gated_recalls_the_first_question_and_counts_one_pending_gate() {
    let app = TestApp::spawn_with(gated(|_| {})).await;
    app.post_event(&join_of(881)).await;
    let calls = app.gateway.wait_delivered(2, PATIENCE).await;
    assert_asked(&calls, 881);
    let first = calls[1].message_id.expect("the question's id");
    app.settle().await;
    // The same member joins again (a new event) before answering: the first question is
    // recalled, then they are asked anew.
    let mut again = join_of(881);
    again["time"] = json!(1_732_172_900);
    app.post_event(&again).await;
    let calls = app.gateway.wait_delivered(5, PATIENCE).await;
    assert_eq!(actions(&calls[2..5]), ["delete_msg", "set_group_ban", "send_group_msg"]);
    assert_eq!(calls[2].params["message_id"], first);
    let second = calls[4].message_id.expect("the question's id");
    app.wait_metrics(&[
        ("qunguan_verify_gates_total{result=\"opened\"}", "2"),
        ("qunguan_memory_entries{structure=\"verify_pending\"}", "1"),
    ])
    .await;
    app.settle().await;
    // At the deadline: the second question recalled and one kick.
    app.advance(Duration::from_secs(300));
    let calls = app.gateway.wait_delivered(7, PATIENCE).await;
    assert_eq!(actions(&calls[5..7]), ["delete_msg", "set_group_kick"]);
    assert_eq!(calls[5].params["message_id"], second);
    app.wait_metrics(&[("qunguan_memory_entries{structure=\"verify_pending\"}", "0")])
        .await;
    app.stop().await;
}
