//! Engagement through the real daemon: check-in (`/签到`) with streaks across midnight in the
//! group's zone, points (earned, capped, taken away on a strike, adjusted by admins), the
//! leaderboards and their scheduled post, keyword answers with their cooldown, opting out,
//! and the tier alert — on QQ (OneBot) and Telegram.

use std::time::Duration;

use jiff::Timestamp;
use qunguan::config::TelegramMode;
use qunguan::domain::audit::{Actor, Measure};
use qunguan::domain::duration::HumanDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::fake_telegram::read_html;
use crate::support::*;

const ADMIN: i64 = 10;
const ALICE: i64 = 101;
const BOB: i64 = 102;
const CAROL: i64 = 103;
const DAVE: i64 = 104;

fn at(instant: &str) -> Timestamp {
    instant.parse().expect("an RFC 3339 instant")
}

async fn post(app: &TestApp, event: &Value) {
    assert_eq!(app.post_event(event).await, StatusCode::NO_CONTENT, "{event}");
}

/// Posts `spec` from `user` and returns the text of the one message the daemon sends for it.
async fn ask(app: &TestApp, id: i64, user: i64, role: &str, spec: &str) -> String {
    let before = app.gateway.delivered().len();
    post(app, &command(id, user, role, spec)).await;
    let calls = app.gateway.wait_delivered(before + 1, PATIENCE).await;
    assert_eq!(calls.len(), before + 1, "{spec}: {calls:?}");
    assert_eq!(calls[before].action, "send_group_msg");
    sent_text(&calls[before])
}

/// An admin's `/stats` (message `id`) and the text of its answer.
async fn stats_answer(app: &TestApp, id: i64) -> String {
    let before = app.gateway.delivered().len();
    post(app, &command(id, ADMIN, "admin", "/stats")).await;
    // The member count is asked first (get_group_info), then the answer is sent.
    let calls = app.gateway.wait_delivered(before + 2, PATIENCE).await;
    calls[before..]
        .iter()
        .find(|c| c.action == "send_group_msg")
        .map(sent_text)
        .expect("the /stats answer")
}

fn with(tweak: impl Fn(&mut qunguan::config::Settings) + Send + Sync + 'static) -> Options {
    Options {
        tweak: Box::new(tweak),
        ..Options::default()
    }
}

#[tokio::test]
async fn check_in_once_a_day_with_a_streak_across_midnight_in_the_groups_zone_and_its_reset() {
    let options = || with(|s| s.engagement.streak_bonus = vec!["2:7".into()]);
    let app = TestApp::spawn_with(options()).await;
    // Thursday 2024-11-21, 14:45 in Shanghai (the default [stats] timezone).
    assert_eq!(
        ask(&app, 1, ALICE, "member", "/签到").await,
        "@101 签到成功！连续 1 天，获得 5 积分，今天第 1 个签到，当前积分 5。"
    );
    assert_eq!(
        ask(&app, 2, BOB, "member", "/打卡").await,
        "@102 签到成功！连续 1 天，获得 5 积分，今天第 2 个签到，当前积分 5。"
    );
    assert_eq!(
        ask(&app, 3, ALICE, "member", "/checkin").await,
        "今天已经签到过了，明天再来吧～（已连续签到 1 天）"
    );
    // 23:59 in Shanghai is still the same day (15:59 UTC) …
    app.clock.set(at("2024-11-21T23:59:00+08:00"));
    assert_eq!(
        ask(&app, 4, ALICE, "member", "/签到").await,
        "今天已经签到过了，明天再来吧～（已连续签到 1 天）"
    );
    // … and one minute after midnight there is the next day: a 2-day streak and its bonus.
    app.clock.set(at("2024-11-22T00:01:00+08:00"));
    assert_eq!(
        ask(&app, 5, ALICE, "member", "/签到").await,
        "@101 签到成功！连续 2 天，获得 5 积分，连续签到奖励 +7，今天第 1 个签到，当前积分 17。"
    );
    // A redelivered check-in changes nothing and is not answered again.
    post(&app, &command(5, ALICE, "member", "/签到")).await;
    // Points survive a restart.
    let app = app.restart(options()).await;
    assert_eq!(
        ask(&app, 6, ALICE, "member", "/积分").await,
        "user101 当前积分 17，排名第 1。"
    );
    // Missing Saturday resets the streak on Sunday.
    app.clock.set(at("2024-11-24T09:00:00+08:00"));
    assert_eq!(
        ask(&app, 7, ALICE, "member", "/签到").await,
        "@101 签到成功！连续 1 天，获得 5 积分，今天第 1 个签到，当前积分 22。"
    );
    app.stop().await;
}

#[tokio::test]
async fn message_points_are_capped_flagged_messages_earn_nothing_and_strikes_and_admins_change_points() {
    let app = TestApp::spawn_with(with(|s| {
        s.engagement.message_points_daily_cap = 3;
        s.engagement.strike_penalty = 4;
    }))
    .await;
    // An admin gives 20 points, audited.
    assert_eq!(
        ask(&app, 1, ADMIN, "admin", "/加分 {@101} 20 分享教程").await,
        "@101 加 20 积分（分享教程），当前积分 20。（案件 #1）"
    );
    // A member's /加分 is an ordinary message: no answer, no points (the admin's next answer
    // shows it).
    post(&app, &command(2, BOB, "member", "/加分 {@102} 100")).await;
    // Five clean messages, one point each, capped at 3 a day.
    for (i, text) in ["早上好", "今天天气不错", "有人吗", "在的", "哈哈"].iter().enumerate() {
        let id = 10 + i64::try_from(i).expect("small");
        post(&app, &group_message(id, ALICE, "member", text)).await;
    }
    assert_eq!(
        ask(&app, 20, ADMIN, "admin", "/积分 {@101}").await,
        "user101 当前积分 23，排名第 1。"
    );
    // Spam earns nothing and its strike costs 4 points.
    let before = app.gateway.delivered().len();
    post(&app, &group_message(21, ALICE, "member", "加微信 领福利")).await;
    app.gateway.wait_delivered(before + 2, PATIENCE).await;
    assert_eq!(
        ask(&app, 22, ADMIN, "admin", "/积分 {@101}").await,
        "user101 当前积分 19，排名第 1。"
    );
    // Bob's /加分 was an ordinary message, worth its one point.
    assert_eq!(
        ask(&app, 23, BOB, "member", "/积分").await,
        "user102 当前积分 1，排名第 2。"
    );
    // A deduction, audited too.
    assert_eq!(
        ask(&app, 24, ADMIN, "owner", "/扣分 {@101} 5 刷屏").await,
        "@101 扣 5 积分（刷屏），当前积分 14。（案件 #3）"
    );
    let cases = app.cases().await;
    let points: Vec<(i64, Measure, &str)> = cases
        .iter()
        .filter(|c| matches!(c.measure, Measure::Points { .. }))
        .map(|c| (c.user_id, c.measure, c.reason.as_str()))
        .collect();
    assert_eq!(
        points,
        [
            (ALICE, Measure::Points { delta: 20 }, "分享教程"),
            (ALICE, Measure::Points { delta: -5 }, "刷屏")
        ]
    );
    assert!(matches!(cases[0].actor, Actor::Admin { user_id: ADMIN, .. }));
    // Usage for a missing amount.
    assert_eq!(
        ask(&app, 25, ADMIN, "admin", "/加分 {@101}").await,
        "用法：/加分 @成员 10 [原因]  (/addpoints)"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_leaderboards_show_the_week_and_the_month_and_leave_out_members_who_opted_out() {
    let app = TestApp::spawn().await;
    ask(&app, 1, ADMIN, "admin", "/加分 {@101} 30").await;
    ask(&app, 2, ADMIN, "admin", "/加分 {@102} 50").await;
    ask(&app, 3, ADMIN, "admin", "/加分 {@103} 10").await;
    assert_eq!(
        ask(&app, 4, DAVE, "member", "/排行").await,
        "本周积分排行：\n1. 102 50 分\n2. 101 30 分\n3. 103 10 分"
    );
    // Carol checks in (named now); Bob opts out.
    ask(&app, 5, CAROL, "member", "/签到").await;
    assert_eq!(
        ask(&app, 6, BOB, "member", "/退出积分").await,
        "已退出积分排行和提醒：你的积分会保留，但不再显示。再发一次 /退出积分 可恢复。"
    );
    assert_eq!(
        ask(&app, 7, BOB, "member", "/积分").await,
        "user102 已退出积分排行，积分不显示。"
    );
    // Next Monday (2024-11-25) a new week begins; the month goes on.
    app.clock.set(at("2024-11-25T10:00:00+08:00"));
    ask(&app, 8, ADMIN, "admin", "/加分 {@103} 1").await;
    assert_eq!(
        ask(&app, 9, DAVE, "member", "/top").await,
        "本周积分排行：\n1. user103 1 分"
    );
    assert_eq!(
        ask(&app, 10, DAVE, "member", "/排行 月").await,
        "本月积分排行：\n1. 101 30 分\n2. user103 16 分"
    );
    // In December nobody has points yet.
    app.clock.set(at("2024-12-01T10:00:00+08:00"));
    assert_eq!(
        ask(&app, 11, DAVE, "member", "/top month").await,
        "本月积分排行：还没有人获得积分。"
    );
    app.stop().await;
}

/// One delivery at a time, no jitter (for the scheduled board).
fn board_options() -> Options {
    with(|s| {
        s.schedule.jitter = HumanDuration::from_secs(0);
        s.outbox.concurrency = 1;
    })
}

#[tokio::test]
async fn the_weekly_board_is_posted_on_sunday_evening_exactly_once_across_a_restart() {
    let app = TestApp::spawn_with(board_options()).await;
    app.clock.set(at("2024-11-22T12:00:00+08:00"));
    std::fs::write(
        app.root.path().join("rules/schedule.toml"),
        "[[post]]\nid = \"weekly-board\"\ngroups = [726300112]\ncron = \"0 0 20 * * Sun\"\nkind = \"leaderboard\"\n",
    )
    .expect("write");
    let app = app.restart(board_options()).await;
    ask(&app, 1, ADMIN, "admin", "/加分 {@101} 12").await;
    ask(&app, 2, ALICE, "member", "/签到").await;
    let boards = |app: &TestApp| -> Vec<String> {
        app.gateway
            .delivered()
            .iter()
            .filter(|c| c.action == "send_group_msg" && c.params["message"][0]["type"] != "reply")
            .map(sent_text)
            .collect()
    };
    app.clock.set(at("2024-11-24T19:59:59+08:00"));
    app.settle().await;
    assert!(boards(&app).is_empty(), "{:?}", boards(&app));
    app.clock.set(at("2024-11-24T20:00:00+08:00"));
    app.gateway.wait_delivered(3, PATIENCE).await;
    app.settle().await;
    assert_eq!(boards(&app), ["本周积分排行：\n1. user101 17 分"]);
    // A restart within the same occurrence posts nothing again.
    let app = app.restart(board_options()).await;
    app.clock.set(at("2024-11-24T20:03:00+08:00"));
    app.settle().await;
    assert_eq!(boards(&app).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_keyword_is_answered_once_within_its_cooldown_never_for_flagged_messages_and_admins_add_their_own() {
    let app = TestApp::spawn().await;
    std::fs::write(
        app.root.path().join("rules/replies.toml"),
        "[[reply]]\nkeywords = [\"怎么进群\", \"ＱＱ群号\"]\nanswer = \"先看群公告，再按公告里的步骤来。\"\n",
    )
    .expect("write");
    let app = app.restart(Options::default()).await;
    // Spaces and full-width forms are normalized away, like the filter's.
    assert_eq!(
        ask(&app, 1, ALICE, "member", "请问 怎么 进群？").await,
        "先看群公告，再按公告里的步骤来。"
    );
    // Within the cooldown (60 s by default) the same question gets no second answer: the
    // admin's /rules right after is the next thing sent.
    post(&app, &group_message(2, BOB, "member", "怎么进群啊")).await;
    assert_eq!(ask(&app, 3, ADMIN, "admin", "/rules").await, "1. 禁止广告\n2. 友善交流");
    // A flagged message is not answered, whatever it asks.
    let before = app.gateway.delivered().len();
    post(&app, &group_message(4, CAROL, "member", "怎么进群 加微信")).await;
    app.gateway.wait_delivered(before + 2, PATIENCE).await;
    app.advance(Duration::from_secs(61));
    assert_eq!(
        ask(&app, 5, BOB, "member", "qq群号多少").await,
        "先看群公告，再按公告里的步骤来。"
    );
    let texts: Vec<String> = app.gateway.delivered()[before..].iter().map(sent_text).collect();
    assert_eq!(
        texts.iter().filter(|t| t.contains("先看群公告")).count(),
        1,
        "the flagged question was not answered: {texts:?}"
    );
    // Admins add an answer in the group.
    assert_eq!(
        ask(&app, 6, ADMIN, "admin", "/问答 add 群规 发送 /规则 查看群规").await,
        "已添加关键词回复 #1：「群规」。删除：/问答 del 1"
    );
    assert_eq!(
        ask(&app, 7, DAVE, "member", "群规在哪里看").await,
        "发送 /规则 查看群规"
    );
    assert_eq!(
        ask(&app, 8, ADMIN, "admin", "/问答 list").await,
        "关键词回复：\n[1] 怎么进群 / ＱＱ群号 → 先看群公告，再按公告里的步骤来。\n#1 群规 → 发送 /规则 查看群规"
    );
    // A member cannot add one: an ordinary message (answered by nothing).
    post(&app, &command(9, DAVE, "member", "/问答 add 你好 广告")).await;
    assert_eq!(
        ask(&app, 10, ADMIN, "admin", "/问答 del 1").await,
        "已删除关键词回复 #1。"
    );
    app.advance(Duration::from_secs(61));
    assert_eq!(
        ask(&app, 11, ADMIN, "admin", "/faq").await,
        "关键词回复：\n[1] 怎么进群 / ＱＱ群号 → 先看群公告，再按公告里的步骤来。"
    );
    app.wait_metrics(&[("qunguan_engagement_faq_answers_total", "3")]).await;
    app.stop().await;
}

#[tokio::test]
async fn the_tier_alert_tells_the_admins_at_most_once_a_day_and_stats_shows_the_tiers() {
    let app = TestApp::spawn_with(with(|s| s.engagement.alert_min_members = 3)).await;
    post(&app, &group_message(1, ADMIN, "admin", "欢迎大家")).await;
    for (i, user) in [ALICE, BOB, CAROL].into_iter().enumerate() {
        post(
            &app,
            &group_message(2 + i64::try_from(i).expect("small"), user, "member", "大家好"),
        )
        .await;
    }
    // Nobody silent yet.
    assert_eq!(app.engagement.alert_sweep(&app.inactivity).await.expect("sweep"), 0);
    // Four days later only Dave speaks: 3 of 4 members (75 %) silent for 3 days.
    app.advance(Duration::from_secs(4 * 86_400));
    post(&app, &group_message(10, DAVE, "member", "我来了")).await;
    assert_eq!(app.engagement.alert_sweep(&app.inactivity).await.expect("sweep"), 1);
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(
        sent_text(&calls[0]),
        "@10 活跃度提醒：本群 75% 的成员（3/4）已经 3 天以上没有发言了，可以发起话题或活动，带动一下气氛。"
    );
    // Once a day: not again the same day, even after a restart.
    assert_eq!(app.engagement.alert_sweep(&app.inactivity).await.expect("sweep"), 0);
    let app = app.restart(with(|s| s.engagement.alert_min_members = 3)).await;
    assert_eq!(app.engagement.alert_sweep(&app.inactivity).await.expect("sweep"), 0);
    app.advance(Duration::from_secs(86_400));
    assert_eq!(app.engagement.alert_sweep(&app.inactivity).await.expect("sweep"), 1);
    app.wait_metrics(&[("qunguan_engagement_alerts_total", "1")]).await;
    // /stats shows the tiers.
    let text = stats_answer(&app, 20).await;
    assert!(
        text.contains("成员分层：核心 0 · 活跃 4 (+1) · 潜水 0 · 沉睡 0"),
        "{text}"
    );
    // And the stats page on the admin listener.
    let page = app
        .admin_get(&format!("/stats/qq:{GROUP}"))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("<tr class=\"active\"><td>活跃 active</td><td class=\"n\">4</td><td class=\"n\">+1</td></tr>"),
        "{page}"
    );
    app.stop().await;
}

/// A Telegram text message in the fixtures' supergroup from `user`.
fn tg_text(update_id: i64, message_id: i64, user: i64, text: &str) -> Value {
    let mut update = tg_fixture("update.message.supergroup_text.json");
    update["update_id"] = json!(update_id);
    update["message"]["message_id"] = json!(message_id);
    update["message"]["from"] = json!({"id": user, "is_bot": false, "first_name": format!("user{user}")});
    update["message"]["text"] = json!(text);
    update["message"]["entities"] = json!([]);
    update
}

#[tokio::test]
async fn telegram_members_check_in_earn_points_and_get_keyword_answers() {
    let app = TestApp::spawn_with(telegram(TelegramMode::Webhook)).await;
    std::fs::write(
        app.root.path().join("rules/replies.toml"),
        "[[reply]]\nkeywords = [\"怎么进群\"]\nanswer = \"看置顶公告\"\n",
    )
    .expect("write");
    let app = app.restart(telegram(TelegramMode::Webhook)).await;
    let texts = |n: usize| {
        let app = &app;
        async move {
            let calls = app
                .telegram
                .wait_for(PATIENCE, |c| {
                    c.iter().filter(|c| c.method == "sendMessage").count() >= n
                })
                .await;
            calls
                .iter()
                .filter(|c| c.method == "sendMessage")
                .map(|c| read_html(c.params["text"].as_str().expect("text")))
                .collect::<Vec<_>>()
        }
    };
    const MEMBER: i64 = 5_001;
    for (i, text) in [
        "/签到",
        "/checkin@qunguan_bot",
        "早上好",
        "/积分",
        "请问怎么进群",
        "怎么进群",
    ]
    .into_iter()
    .enumerate()
    {
        let n = i64::try_from(i).expect("small");
        assert_eq!(
            app.post_update(&tg_text(100 + n, 500 + n, MEMBER, text)).await,
            StatusCode::NO_CONTENT
        );
    }
    let sent = texts(4).await;
    assert_eq!(
        sent[0].1,
        [(MEMBER, "user5001".to_owned())],
        "the check-in mentions the member"
    );
    assert_eq!(
        sent[0].0,
        "@user5001 签到成功！连续 1 天，获得 5 积分，今天第 1 个签到，当前积分 5。"
    );
    assert_eq!(sent[1].0, "今天已经签到过了，明天再来吧～（已连续签到 1 天）");
    assert_eq!(
        sent[2].0, "user5001 当前积分 6，排名第 1。",
        "5 for the check-in, 1 for the message"
    );
    assert_eq!(sent[3].0, "看置顶公告");
    // The second question was within the cooldown: the next answer is this /top.
    app.post_update(&tg_text(110, 510, MEMBER, "/top")).await;
    let sent = texts(5).await;
    assert_eq!(sent.len(), 5, "{sent:?}");
    // The two questions were ordinary messages, a point each.
    assert_eq!(sent[4].0, "本周积分排行：\n1. user5001 8 分");
    app.stop().await;
}

#[tokio::test]
async fn texts_speak_english_and_follow_the_configured_templates() {
    let app = TestApp::spawn_with(with(|s| {
        s.messages.locale = qunguan::domain::locale::Locale::En;
        s.engagement.checkin_template = "{at} 打卡第 {rank} 名，连续 {streak} 天，共 {total} 分".into();
    }))
    .await;
    assert_eq!(
        ask(&app, 1, ALICE, "member", "/checkin").await,
        "@101 打卡第 1 名，连续 1 天，共 5 分"
    );
    assert_eq!(
        ask(&app, 2, ALICE, "member", "/checkin").await,
        "You have already checked in today; come back tomorrow. (1 day(s) in a row)"
    );
    assert_eq!(
        ask(&app, 3, ALICE, "member", "/points").await,
        "user101 has 5 points, #1 in this group."
    );
    assert_eq!(
        ask(&app, 4, ADMIN, "admin", "/deductpoints {@101} 2 spam").await,
        "@101 -2 points (spam); 3 points in all. (case #1)"
    );
    assert_eq!(
        ask(&app, 5, BOB, "member", "/top").await,
        "This week's points:\n1. user101 3"
    );
    // A member asking about someone else is an ordinary message; the admin's next answer shows
    // nothing came of it.
    post(&app, &command(6, BOB, "member", "/points {@101}")).await;
    assert_eq!(
        ask(&app, 7, ADMIN, "admin", "/points {@101}").await,
        "user101 has 3 points, #1 in this group."
    );
    app.stop().await;
}

/// The `/积分`, `/加分`, `/排行` and `/问答` answers follow `[engagement]`'s templates (issue
/// 18: every member-facing text is configurable); the built-in Chinese texts stay where no
/// template is set (the second check-in's answer here).
#[tokio::test]
async fn points_boards_and_keyword_admin_answers_follow_the_configured_templates() {
    let app = TestApp::spawn_with(with(|s| {
        let e = &mut s.engagement;
        e.points_template = "{at} 金币 {points}，第 {rank} 名".into();
        e.points_adjusted_template = "{at} 金币 {change}（{reason}），余 {total}，记录 {case}".into();
        e.board_week_title = "本周金币榜".into();
        e.board_row_template = "第{rank}名 {name}：{points} 枚".into();
        e.board_empty_template = "{title}：空空如也".into();
        e.faq_added_template = "问答 {number} 已记下：{keyword}".into();
        e.faq_list_title = "本群问答".into();
        e.faq_list_row_template = "{label}｜{keywords}｜{answer}".into();
        e.faq_deleted_template = "问答 {number} 删掉了".into();
        e.faq_missing_template = "没有问答 {number}".into();
        e.faq_list_empty_template = "一条问答也没有".into();
    }))
    .await;
    assert_eq!(ask(&app, 1, BOB, "member", "/排行").await, "本周金币榜：空空如也");
    ask(&app, 2, ALICE, "member", "/签到").await;
    assert_eq!(
        ask(&app, 3, ALICE, "member", "/签到").await,
        "今天已经签到过了，明天再来吧～（已连续签到 1 天）"
    );
    assert_eq!(ask(&app, 4, ALICE, "member", "/积分").await, "@101 金币 5，第 1 名");
    assert_eq!(
        ask(&app, 5, ADMIN, "admin", "/加分 {@101} 3 活动奖励").await,
        "@101 金币 +3（活动奖励），余 8，记录 1"
    );
    assert_eq!(
        ask(&app, 6, BOB, "member", "/排行").await,
        "本周金币榜：\n第1名 user101：8 枚"
    );
    assert_eq!(ask(&app, 7, ADMIN, "admin", "/问答 list").await, "一条问答也没有");
    assert_eq!(
        ask(&app, 8, ADMIN, "admin", "/问答 add 群规 发送 /规则 查看群规").await,
        "问答 1 已记下：群规"
    );
    assert_eq!(
        ask(&app, 9, ADMIN, "admin", "/问答 list").await,
        "本群问答\n#1｜群规｜发送 /规则 查看群规"
    );
    assert_eq!(ask(&app, 10, ADMIN, "admin", "/问答 del 7").await, "没有问答 7");
    assert_eq!(ask(&app, 11, ADMIN, "admin", "/问答 del 1").await, "问答 1 删掉了");
    app.stop().await;
}

/// An admin's `/spam` on a member's message is a strike like the filter's, and costs
/// `strike_penalty` points in the label's own transaction.
#[tokio::test]
async fn a_spam_label_s_strike_costs_points_too() {
    let app = TestApp::spawn_with(with(|s| s.engagement.strike_penalty = 4)).await;
    assert_eq!(
        ask(&app, 1, ADMIN, "admin", "/加分 {@101} 20 活动").await,
        "@101 加 20 积分（活动），当前积分 20。（案件 #1）"
    );
    // An ordinary message as far as the rules go, worth its point …
    post(&app, &group_message(2, ALICE, "member", "私聊我有好东西")).await;
    // … until an admin marks it as spam (replying to it): recall and a warning.
    let mut label = group_message(3, ADMIN, "admin", "");
    label["message"] = json!([
        {"type": "reply", "data": {"id": "2"}},
        {"type": "at", "data": {"qq": ALICE.to_string()}},
        {"type": "text", "data": {"text": " /spam"}},
    ]);
    let before = app.gateway.delivered().len();
    post(&app, &label).await;
    let calls = app.gateway.wait_delivered(before + 2, PATIENCE).await;
    assert_eq!(calls.len(), before + 2, "{calls:?}");
    assert_eq!(
        ask(&app, 4, ADMIN, "admin", "/积分 {@101}").await,
        "user101 当前积分 17，排名第 1。",
        "20 + 1 for the message − 4 for the strike"
    );
    app.stop().await;
}

/// Issue 18: the `/退出积分` answers are `[engagement] optout_template` and `optin_template`,
/// with `{at}` and `{name}`; the built-in answer stays where none is set.
#[tokio::test]
async fn the_optout_answers_follow_their_templates() {
    let app = TestApp::spawn_with(with(|s| {
        s.engagement.optout_template = "{at} 已隐身，{name} 的积分照旧保留".into();
        s.engagement.optin_template = "欢迎回来，{name}".into();
    }))
    .await;
    assert_eq!(
        ask(&app, 1, BOB, "member", "/退出积分").await,
        "@102 已隐身，user102 的积分照旧保留"
    );
    assert_eq!(ask(&app, 2, BOB, "member", "/optout").await, "欢迎回来，user102");
    app.stop().await;
    // Without templates: the built-in texts.
    let app = TestApp::spawn().await;
    assert_eq!(
        ask(&app, 1, BOB, "member", "/optout").await,
        "已退出积分排行和提醒：你的积分会保留，但不再显示。再发一次 /退出积分 可恢复。"
    );
    assert_eq!(ask(&app, 2, BOB, "member", "/退出积分").await, "已恢复积分排行和提醒。");
    app.stop().await;
}

/// Issue 18: the tiers line of `/stats` is `[engagement] tiers_template`: one placeholder a
/// tier, and `{tiers}` for the built-in list.
#[tokio::test]
async fn the_stats_tiers_line_follows_its_template() {
    let app = TestApp::spawn_with(with(|s| {
        s.engagement.tiers_template = "活跃度 核心{core}/活跃{active}/潜水{lurking}/沉睡{dormant}（{tiers}）".into();
    }))
    .await;
    post(&app, &group_message(1, ALICE, "member", "大家好")).await;
    post(&app, &group_message(2, BOB, "member", "早上好")).await;
    let text = stats_answer(&app, 3).await;
    assert!(
        text.contains("\n活跃度 核心0/活跃2/潜水0/沉睡0（核心 0 · 活跃 2 · 潜水 0 · 沉睡 0）"),
        "{text}"
    );
    assert!(!text.contains("成员分层："), "the built-in line is replaced: {text}");
    app.stop().await;
}

/// Issue 18: a `/notspam` (`/误判`) that takes back a strike gives back the points that
/// strike took, recorded as a case of its own with its reason, like `/加分`; a second
/// `/notspam` of the same case gives nothing more.
#[tokio::test]
async fn notspam_gives_back_the_points_the_strike_took_and_audits_it() {
    let app = TestApp::spawn_with(with(|s| s.engagement.strike_penalty = 4)).await;
    assert_eq!(
        ask(&app, 1, ADMIN, "admin", "/加分 {@101} 20 活动").await,
        "@101 加 20 积分（活动），当前积分 20。（案件 #1）"
    );
    // The filter's strike (case #2) takes 4 points.
    let before = app.gateway.delivered().len();
    post(&app, &group_message(2, ALICE, "member", "加微信")).await;
    app.gateway.wait_delivered(before + 2, PATIENCE).await;
    assert_eq!(
        ask(&app, 3, ADMIN, "admin", "/积分 {@101}").await,
        "101 当前积分 16，排名第 1。"
    );
    // The admin says it was a mistake: the strike and its points come back.
    let answer = ask(&app, 4, ADMIN, "admin", "/误判 2").await;
    assert!(
        answer.contains("案件 #2 是误判：已撤销 1 次警告") && answer.contains("已退还 4 积分。"),
        "{answer}"
    );
    assert_eq!(
        ask(&app, 5, ADMIN, "admin", "/积分 {@101}").await,
        "101 当前积分 20，排名第 1。"
    );
    let cases: Vec<qunguan::domain::audit::AuditEntry> = app
        .control(qunguan::runtime::control::Request::Audit {
            group: Some(format!("qq:{GROUP}")),
            last: None,
        })
        .await
        .iter()
        .map(|l| serde_json::from_str(l).expect("an audit entry"))
        .collect();
    let strike = cases.iter().find(|c| c.case == 2).expect("case #2");
    assert_eq!(strike.points, -4, "the strike's case records what it took");
    let pardon = cases.iter().find(|c| c.case == 3).expect("case #3");
    assert_eq!(pardon.measure, qunguan::domain::audit::Measure::Pardon { removed: 1 });
    let refund = cases.iter().find(|c| c.case == 4).expect("case #4: the refund");
    assert_eq!(refund.measure, qunguan::domain::audit::Measure::Points { delta: 4 });
    assert_eq!(refund.user_id, ALICE);
    assert!(
        matches!(
            refund.actor,
            qunguan::domain::audit::Actor::Admin { user_id: ADMIN, .. }
        ),
        "{refund:?}"
    );
    assert_eq!(refund.reason, "误判退还：案件 #2 的警告扣除的积分");
    // Again: no strike left to take back, no points either.
    let answer = ask(&app, 6, ADMIN, "admin", "/notspam 2").await;
    assert!(
        answer.contains("没有需要撤销的有效警告") && !answer.contains("退还"),
        "{answer}"
    );
    assert_eq!(
        ask(&app, 7, ADMIN, "admin", "/积分 {@101}").await,
        "101 当前积分 20，排名第 1。"
    );
    app.stop().await;
}
