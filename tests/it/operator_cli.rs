//! Issue 17 item 16: what an operator reads at the terminal follows the shell's locale
//! (`LANG`; the configuration's `[messages] locale` with `--config`), line by line, not only
//! the headline: `check-config`'s fields, `audit`'s case lines, `stats`' columns, `samples
//! list`, `bans`' answers and `filter explain`'s details. The machine formats (`--json`, CSV)
//! stay as they are.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const ADMIN: i64 = 10;
const SPAMMER: i64 = 4_001;

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A stopped daemon's data folder with one filter case (#1, `ads`, `加微信`), one admin
/// label (`/spam`, case #2, sample #1) and the default rules in `<data>/rules`.
async fn a_database() -> (std::sync::Arc<tempfile::TempDir>, std::path::PathBuf) {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post_event(&group_message(1, 3_001, "member", "加微信")).await,
        StatusCode::NO_CONTENT
    );
    app.gateway.wait_delivered(2, PATIENCE).await;
    assert_eq!(
        app.post_event(&group_message(
            2,
            SPAMMER,
            "member",
            "高薪招聘宝妈在家用手机操作每天两小时收入五百元"
        ))
        .await,
        StatusCode::NO_CONTENT
    );
    let mut reply = group_message(3, ADMIN, "admin", "");
    reply["message"] = json!([
        {"type": "reply", "data": {"id": "2"}},
        {"type": "at", "data": {"qq": SPAMMER.to_string()}},
        {"type": "text", "data": {"text": " /spam"}},
    ]);
    assert_eq!(app.post_event(&reply).await, StatusCode::NO_CONTENT);
    app.gateway.wait_delivered(4, PATIENCE).await;
    let root = std::sync::Arc::clone(&app.root);
    app.stop().await;
    let data = root.path().join("data");
    write_default_rules(&data.join("rules"));
    (root, data)
}

#[tokio::test]
async fn audit_stats_samples_and_bans_speak_the_operator_s_language() {
    let (_root, data) = a_database().await;
    let zh = |args: &'static [&'static str]| {
        let data = data.clone();
        async move { stdout(&cli_lang(&data, "zh_CN.UTF-8", args).await) }
    };
    let en = |args: &'static [&'static str]| {
        let data = data.clone();
        async move { stdout(&cli_lang(&data, "C", args).await) }
    };

    // audit: every label of a case line, and the time in the groups' zone (Asia/Shanghai).
    let zh_audit = zh(&["audit"]).await;
    let first = zh_audit.lines().next().expect("a case");
    for want in [
        "#1  ",
        "+08:00  qq:726300112  成员 3001（user3001）",
        "操作人 自动",
        "规则 ads",
        "违规次数 0→1  警告",
        "命中 \"加微信\"",
        "原文 \"加微信\"",
    ] {
        assert!(first.contains(want), "missing {want:?} in:\n{zh_audit}");
    }
    assert!(zh_audit.contains("操作人 管理员 10"), "{zh_audit}");
    for not in ["member ", "by auto", "strikes ", "matched "] {
        assert!(!zh_audit.contains(not), "English {not:?} in:\n{zh_audit}");
    }
    let en_audit = en(&["audit"]).await;
    let first = en_audit.lines().next().expect("a case");
    for want in [
        "+08:00  qq:726300112  member 3001 (user3001)",
        "by auto",
        "rule ads",
        "strikes 0→1  warning",
        "matched \"加微信\"",
        "text \"加微信\"",
    ] {
        assert!(first.contains(want), "missing {want:?} in:\n{en_audit}");
    }
    assert!(en_audit.contains("by admin 10"), "{en_audit}");
    // --json is the same whatever the shell speaks.
    let zh_json = zh(&["audit", "--json"]).await;
    assert_eq!(zh_json, en(&["audit", "--json"]).await);
    let case: Value = serde_json::from_str(zh_json.lines().next().expect("a line")).expect("JSON");
    assert_eq!(case["rule"], "ads");

    // stats: the heading, the columns and the total line.
    let zh_stats = zh(&["stats", "--group", "qq:726300112", "--days", "2"]).await;
    let lines: Vec<&str> = zh_stats.lines().collect();
    assert_eq!(lines[0], "群 qq:726300112，2 天", "{zh_stats}");
    for want in ["日期", "消息", "活跃", "入群", "退群", "违规", "处置", "最多的规则"] {
        assert!(lines[1].contains(want), "missing {want:?} in:\n{zh_stats}");
    }
    assert!(lines[lines.len() - 1].starts_with("合计  "), "{zh_stats}");
    let en_stats = en(&["stats", "--group", "qq:726300112", "--days", "2"]).await;
    let lines: Vec<&str> = en_stats.lines().collect();
    assert_eq!(lines[0], "group qq:726300112, 2 days", "{en_stats}");
    assert_eq!(
        lines[1], "date        messages  active  joins  leaves  violations  actions  top rule",
        "{en_stats}"
    );
    assert!(lines[lines.len() - 1].starts_with("total       "), "{en_stats}");
    // The Chinese columns line up with their numbers (two columns a character).
    let zh_lines: Vec<&str> = zh_stats.lines().collect();
    assert_eq!(
        columns(zh_lines[1].trim_end_matches("最多的规则")),
        columns(lines[1].trim_end_matches("top rule")),
        "{zh_stats}"
    );

    // samples list: state, who labelled it, its case.
    let zh_samples = zh(&["samples", "list"]).await;
    assert!(
        zh_samples.starts_with("#1  spam  生效中  ") && zh_samples.contains("标注人 10（user10）  案件 #2"),
        "{zh_samples}"
    );
    let en_samples = en(&["samples", "list"]).await;
    assert!(
        en_samples.starts_with("#1  spam  in force  ") && en_samples.contains("by 10 (user10)  case #2"),
        "{en_samples}"
    );

    // bans: what a change did; the list is CSV either way.
    let zh_added = zh(&["bans", "add", "--reason", "小号", "qq:3001"]).await;
    assert_eq!(zh_added.trim(), "qq:3001 已拉黑；已排队从 1 个群移出", "{zh_added}");
    let en_added = en(&["bans", "add", "--reason", "小号", "qq:3001"]).await;
    assert_eq!(
        en_added.trim(),
        "qq:3001 already banned; reason updated; removal from 1 group(s) queued"
    );
    let zh_list = zh(&["bans", "list"]).await;
    assert!(zh_list.starts_with("user,reason,at,by\nqq:3001,小号,"), "{zh_list}");
    assert_eq!(zh_list, en(&["bans", "list"]).await);
    assert_eq!(zh(&["bans", "remove", "qq:3001"]).await.trim(), "已解除 1 条拉黑");
}

/// Columns a line takes on a terminal (CJK characters two).
fn columns(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// `check-config` and `filter explain`, line by line, in both languages.
#[tokio::test]
async fn check_config_and_explain_detail_lines_in_both_languages() {
    let (_root, data) = a_database().await;
    let run = |lang: &'static str, args: &'static [&'static str]| {
        let data = data.clone();
        async move { stdout(&cli_lang(&data, lang, args).await) }
    };
    let zh = run("zh_CN.UTF-8", &["check-config"]).await;
    for want in [
        "\n  监听地址：127.0.0.1:",
        "\n  OneBot：Webhook /onebot/v11 · API http://",
        "\n  数据目录：",
        "\n  规则目录：",
        "个词表",
        "\n  处置阶梯：warn → mute 10m → kick（违规次数保留 ",
        "\n  刷屏：",
        "\n  欢迎语：",
        "\n  潜水检测：",
    ] {
        assert!(zh.contains(want), "missing {want:?} in:\n{zh}");
    }
    for not in ["listen:", "storage:", "ladder:", "word list"] {
        assert!(!zh.contains(not), "English {not:?} in:\n{zh}");
    }
    let en = run("C", &["check-config"]).await;
    for want in [
        "\n  listen:      127.0.0.1:",
        "\n  onebot:      webhook /onebot/v11 · api http://",
        "\n  storage:     ",
        "\n  rules:       ",
        "word list(s)",
        "\n  ladder:      warn → mute 10m → kick (strikes count for ",
        "\n  flood:       ",
        "\n  welcome:     ",
        "\n  inactivity:  ",
    ] {
        assert!(en.contains(want), "missing {want:?} in:\n{en}");
    }

    let zh = run("zh_CN.UTF-8", &["filter", "explain", "加微信"]).await;
    for want in [
        "\n原文：        加微信\n",
        "\n成员：        新成员\n",
        "\n命中：\n  1. ads（硬性词）模式 \"加微信\"，位于字节 0..9：\"加微信\"\n",
        "\n规则：        违反规则 ads（命中硬性词）\n",
        "\n决定：        违反规则 ads（命中硬性词）\n",
        "向成员显示为「",
        "\n处置阶梯：    没有违规记录的成员记第 1 次 → warn（阶梯：warn → mute 10m → kick）\n",
        "\n样本：        从",
    ] {
        assert!(zh.contains(want), "missing {want:?} in:\n{zh}");
    }
    let en = run("C", &["filter", "explain", "加微信"]).await;
    for want in [
        "\ntext:        加微信\n",
        "\nmember:      new\n",
        "\nhits:\n  1. ads (hard) pattern \"加微信\" at bytes 0..9: \"加微信\"\n",
        "\nrules:       violation of rule ads (a hard phrase)\n",
        "\ndecision:    violation of rule ads (a hard phrase)\n",
        "shown to members as 「",
        "\nladder:      a member with no strikes gets strike 1 → warn (ladder: warn → mute 10m → kick)\n",
        "\nsamples:     1 learned sample(s) from the database at ",
    ] {
        assert!(en.contains(want), "missing {want:?} in:\n{en}");
    }
}
