//! Admin commands in the group, from admins, super users and members.

use std::time::Duration;

use qunguan::domain::audit::{Actor, Measure};
use qunguan::policy::ladder::Rung;
use reqwest::StatusCode;

use crate::support::*;

const ADMIN: i64 = 10;
const MEMBER: i64 = 11;

/// Posts a command and returns the calls it caused (waiting for `expect` of them).
async fn run(app: &TestApp, id: i64, user: i64, role: &str, spec: &str, expect: usize) -> Vec<Call> {
    let before = app.gateway.delivered().len();
    assert_eq!(
        app.post_event(&command(id, user, role, spec)).await,
        StatusCode::NO_CONTENT
    );
    let calls = app.gateway.wait_delivered(before + expect, PATIENCE).await;
    calls[before..].to_vec()
}

/// The one reply among `calls`, as text; it quotes the command message.
fn reply(calls: &[Call], command_id: i64) -> String {
    let replies: Vec<&Call> = calls.iter().filter(|c| c.action == "send_group_msg").collect();
    assert_eq!(replies.len(), 1, "{calls:?}");
    let segments = replies[0].params["message"].as_array().expect("segments");
    assert_eq!(segments[0]["type"], "reply", "answers quote the command");
    assert_eq!(segments[0]["data"]["id"], command_id.to_string());
    sent_text(replies[0])
}

#[tokio::test]
async fn members_commands_are_ignored_without_a_reply() {
    let app = TestApp::spawn().await;
    for (id, spec) in [
        (1, "/warn {@4242} 刷屏"),
        (2, "/kick {@4242}"),
        (3, "/mute {@4242} 10m"),
        (4, "/strikes {@4242}"),
        (5, "/reload"),
        (6, "/why 1"),
        (7, "/mute {@4242}"),
    ] {
        assert_eq!(
            app.post_event(&command(id, MEMBER, "member", spec)).await,
            StatusCode::NO_CONTENT
        );
    }
    // An admin's command afterwards is the first thing the gateway sees.
    let calls = run(&app, 8, ADMIN, "admin", "/strikes {@4242}", 1).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(app.gateway.delivered().len(), 1, "the members' commands caused nothing");
    assert!(app.cases().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn admins_warn_mute_unmute_pardon_kick_and_ask_why() {
    let app = TestApp::spawn().await;
    // /warn: a manual strike up the ladder, answered with the case number.
    let calls = run(&app, 1, ADMIN, "admin", "/warn {@4242} 刷屏 太多", 1).await;
    let text = reply(&calls, 1);
    assert_eq!(
        text,
        "@4242 第1次警告 (1/3)：刷屏 太多。请遵守群规，再犯将受到处罚。（案件 #1）"
    );

    let text = reply(&run(&app, 2, ADMIN, "owner", "/strikes {@4242}", 1).await, 2);
    assert!(text.starts_with("@4242 当前有效警告 1/3 次："), "{text}");
    assert!(
        text.contains("「管理员处理」") && !text.contains("manual"),
        "the rule as members see it, never its id: {text}"
    );

    // A second /warn reaches the mute rung: the mute and the answer.
    let calls = run(&app, 3, ADMIN, "admin", "/warn {@4242}", 2).await;
    assert_eq!(actions(&calls), ["set_group_ban", "send_group_msg"]);
    assert_eq!(calls[0].params["duration"], 600);
    assert!(reply(&calls, 3).contains("累计 2/3 次：禁言 10分钟"), "{calls:?}");

    let calls = run(&app, 4, ADMIN, "admin", "/unmute {@4242}", 2).await;
    assert_eq!(
        (calls[0].action.as_str(), &calls[0].params["duration"]),
        ("set_group_ban", &0.into())
    );
    assert_eq!(reply(&calls, 4), "@4242 已解除禁言。（案件 #3）");

    let calls = run(&app, 5, ADMIN, "admin", "/mute {@4242} 1h30m", 2).await;
    assert_eq!(calls[0].params["duration"], 5_400);

    let text = reply(&run(&app, 6, ADMIN, "admin", "/pardon {@4242}", 1).await, 6);
    assert_eq!(text, "@4242 已撤销 1 次警告，当前 1/3 次。（案件 #5）");
    let text = reply(&run(&app, 7, ADMIN, "admin", "/pardon {@4242} all", 1).await, 7);
    assert_eq!(text, "@4242 已撤销 1 次警告，当前 0/3 次。（案件 #6）");
    let text = reply(&run(&app, 8, ADMIN, "admin", "/pardon {@4242}", 1).await, 8);
    assert_eq!(text, "@4242 没有可撤销的有效警告。", "nothing to take back: no case");

    let calls = run(&app, 9, ADMIN, "admin", "/kick {@4242}", 2).await;
    assert_eq!(calls[0].action, "set_group_kick");
    assert_eq!(calls[0].params["reject_add_request"], false);

    // /why explains a case from the audit log.
    let text = reply(&run(&app, 10, ADMIN, "admin", "/why 1", 1).await, 10);
    assert!(text.starts_with("案件 #1（"), "{text}");
    for needle in [
        "对象：4242",
        "操作：user10 (10)",
        "规则：管理员处理",
        "处理：警告",
        "警告次数：0 → 1",
        "原因：刷屏 太多",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    let text = reply(&run(&app, 11, ADMIN, "admin", "/why 99", 1).await, 11);
    assert_eq!(text, "找不到案件 #99。");

    let cases = app.cases().await;
    let measures: Vec<Measure> = cases.iter().map(|c| c.measure).collect();
    assert_eq!(
        measures,
        [
            Measure::Warn,
            Measure::Mute { seconds: 600 },
            Measure::Unmute,
            Measure::Mute { seconds: 5_400 },
            Measure::Pardon { removed: 1 },
            Measure::Pardon { removed: 1 },
            Measure::Kick,
        ]
    );
    assert!(cases.iter().all(|c| c.actor
        == Actor::Admin {
            user_id: ADMIN,
            name: "user10".into()
        }));
    app.stop().await;
}

#[tokio::test]
async fn chinese_aliases_work_for_a_configured_super_user() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| {
            s.admin.super_users = vec![MEMBER.to_string().parse().expect("user")];
            s.moderation.ladder = vec![Rung::Warn, "mute 5m".parse().expect("rung"), Rung::Kick];
        }),
        ..Options::default()
    })
    .await;
    // A plain member by role, but a super user by configuration.
    let calls = run(&app, 1, MEMBER, "member", "/警告 {@4242} 发广告", 1).await;
    assert!(reply(&calls, 1).contains("第1次警告 (1/3)：发广告"));
    assert!(reply(&run(&app, 2, MEMBER, "member", "/记录 {@4242}", 1).await, 2).contains("1/3"));
    let calls = run(&app, 3, MEMBER, "member", "/禁言 {@4242} 10分钟", 2).await;
    assert_eq!(calls[0].params["duration"], 600);
    let calls = run(&app, 4, MEMBER, "member", "/解禁 {@4242}", 2).await;
    assert_eq!(calls[0].params["duration"], 0);
    assert!(reply(&run(&app, 5, MEMBER, "member", "/赦免 {@4242} 全部", 1).await, 5).contains("已撤销 1 次"));
    let calls = run(&app, 6, MEMBER, "member", "/踢出 {@4242}", 2).await;
    assert_eq!(calls[0].action, "set_group_kick");
    // The super user is never punished by the filter either.
    app.post_event(&group_message(7, MEMBER, "member", "加微信")).await;
    let calls = run(&app, 8, MEMBER, "member", "/规则", 1).await;
    assert!(
        reply(&calls, 8).contains("1. 禁止广告"),
        "the spam above caused nothing: {calls:?}"
    );
    // Nor may an admin act on a super user.
    let text = reply(&run(&app, 9, ADMIN, "admin", "/kick {@11}", 1).await, 9);
    assert_eq!(text, "不能对机器人或超级管理员执行此操作。");
    app.stop().await;
}

#[tokio::test]
async fn rules_is_for_everyone_but_at_most_once_a_minute_from_members() {
    let app = TestApp::spawn().await;
    let text = reply(&run(&app, 1, MEMBER, "member", "/rules", 1).await, 1);
    assert_eq!(text, "1. 禁止广告\n2. 友善交流");
    // Again within a minute: ignored. An admin is not limited.
    app.post_event(&command(2, MEMBER + 1, "member", "/规则")).await;
    run(&app, 3, ADMIN, "admin", "/规则", 1).await;
    app.advance(Duration::from_secs(61));
    run(&app, 4, MEMBER, "member", "/rules", 1).await;
    let sent: Vec<i64> = app
        .gateway
        .delivered()
        .iter()
        .map(|c| {
            c.params["message"][0]["data"]["id"]
                .as_str()
                .expect("reply")
                .parse()
                .expect("id")
        })
        .collect();
    assert_eq!(sent, [1, 3, 4]);
    app.stop().await;
}

#[tokio::test]
async fn reload_swaps_the_rules_and_a_bad_file_keeps_the_old_ones_live() {
    let app = TestApp::spawn().await;
    let rules = app.root.path().join("rules");
    std::fs::write(rules.join("scam.txt"), "兼职刷单\n").expect("write");
    let text = reply(&run(&app, 1, ADMIN, "admin", "/reload", 1).await, 1);
    assert!(text.starts_with("规则已重新加载：2 个词表（ads、scam）"), "{text}");
    assert!(
        !text.contains("word list") && !text.contains("phrase"),
        "one language: {text}"
    );
    let calls = run(&app, 2, MEMBER, "member", "招人兼职刷单", 2).await;
    assert_eq!(calls[0].params["message_id"], 2, "the new list is live");

    std::fs::write(rules.join("broken.txt"), b"fine\n\xff\n").expect("write");
    let text = reply(&run(&app, 3, ADMIN, "owner", "/重载", 1).await, 3);
    assert!(text.starts_with("规则重新加载失败，继续使用原规则。"), "{text}");
    assert!(text.contains("broken.txt:2"), "names the file and line: {text}");
    let calls = run(&app, 4, MEMBER + 1, "member", "兼职刷单", 2).await;
    assert_eq!(calls[0].params["message_id"], 4, "the old rules stayed live");
    app.stop().await;
}

#[tokio::test]
async fn why_explains_an_automatic_case_and_bad_arguments_get_usage_for_admins_only() {
    let app = TestApp::spawn().await;
    run(&app, 1, MEMBER, "member", "快 加微信 领红包", 2).await;
    let text = reply(&run(&app, 2, ADMIN, "admin", "/why #1", 1).await, 2);
    for needle in ["操作：自动", "规则：广告", "命中：「加微信」", "原文：快 加微信 领红包"]
    {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    assert!(!text.contains("ads"), "never the rule's internal id: {text}");
    // Usage help for an admin's malformed command; a member's is just a message.
    let text = reply(&run(&app, 3, ADMIN, "admin", "/mute {@4242}", 1).await, 3);
    assert!(text.starts_with("用法：/mute @成员 10m"), "{text}");
    app.post_event(&command(4, MEMBER, "member", "/mute {@4242}")).await;
    run(&app, 5, ADMIN, "admin", "/why 1", 1).await;
    assert_eq!(app.gateway.delivered().len(), 5, "nothing for the member's /mute");
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_command_acts_once_and_english_answers_on_request() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.messages.locale = qunguan::domain::locale::Locale::En),
        ..Options::default()
    })
    .await;
    let warn = command(1, ADMIN, "admin", "/warn {@4242} spamming");
    for _ in 0..3 {
        assert_eq!(app.post_event(&warn).await, StatusCode::NO_CONTENT);
    }
    let calls = app.gateway.wait_delivered(1, PATIENCE).await;
    assert_eq!(
        reply(&calls, 1),
        "@4242 Warning 1 (1/3): spamming. Please follow the group rules. (case #1)"
    );
    let text = reply(&run(&app, 2, ADMIN, "admin", "/strikes {@4242}", 1).await, 2);
    assert!(text.starts_with("@4242 has 1/3 active strike(s):"), "{text}");
    assert_eq!(app.cases().await.len(), 1, "three deliveries, one case");
    app.stop().await;
}

#[tokio::test]
async fn edge_cases_are_answered_with_the_specific_reason_and_change_nothing() {
    let app = TestApp::spawn().await;
    // Another admin is known from a message they sent.
    const OTHER_ADMIN: i64 = 12;
    app.post_event(&group_message(1, OTHER_ADMIN, "admin", "大家好")).await;
    let cases: &[(i64, i64, &str, &str)] = &[
        // (message id, sender, command, what the answer must say)
        (2, ADMIN, "/warn {@10} 测试", "群主和管理员不能被警告"),
        (3, ADMIN, "/warn {@12} 刷屏", "群主和管理员不能被警告"),
        (4, ADMIN, "/mute @unknown 10m", "找不到成员「@unknown」"),
        (5, ADMIN, "/mute {@4242} 31d", "QQ 的禁言必须短于 30 天"),
        (6, ADMIN, "/mute {@4242} 30d", "QQ 的禁言必须短于 30 天"),
        (
            7,
            ADMIN,
            "/schedule add 25:00 早安",
            "时间「25:00」不对：小时是 25，只能是 0 到 23",
        ),
    ];
    for &(id, sender, spec, expected) in cases {
        let text = reply(&run(&app, id, sender, "admin", spec, 1).await, id);
        assert!(text.contains(expected), "{spec}: {text}");
        assert!(!text.starts_with("用法："), "{spec}: more than the usage line: {text}");
    }
    assert!(app.cases().await.is_empty(), "none of them acted on anyone");
    // The longest mute QQ takes still works.
    let calls = run(&app, 8, ADMIN, "admin", "/mute {@4242} 29d", 2).await;
    assert_eq!(calls[0].action, "set_group_ban");
    assert_eq!(calls[0].params["duration"], 29 * 86_400);
    app.stop().await;
}

#[tokio::test]
async fn edge_case_answers_and_usage_follow_the_english_locale() {
    let app = TestApp::spawn_with(Options {
        tweak: Box::new(|s| s.messages.locale = qunguan::domain::locale::Locale::En),
        ..Options::default()
    })
    .await;
    let text = reply(&run(&app, 1, ADMIN, "admin", "/mute {@4242}", 1).await, 1);
    assert_eq!(text, "Usage: /mute @member 10m");
    let text = reply(&run(&app, 2, ADMIN, "admin", "/schedule add 07:75 hi", 1).await, 2);
    assert!(text.contains("the minute is 75"), "{text}");
    let text = reply(&run(&app, 3, ADMIN, "admin", "/warn {@10}", 1).await, 3);
    assert_eq!(text, "Owners and admins cannot be warned.");
    app.stop().await;
}
