//! Tables of the texts: placeholders, durations, the case-numbered answers.

use super::*;
use crate::domain::action::Part;
use crate::domain::audit::Measure;

#[test]
fn render_fills_variables_and_mentions() {
    let msg = render(
        "{at} 欢迎 {name}！{{规则}}\n{rules}",
        Some((42, "小明")),
        &[("name", "小明"), ("rules", "不许打广告")],
    );
    assert_eq!(
        msg.parts,
        vec![
            Part::Mention {
                user_id: 42,
                name: "小明".into()
            },
            Part::Text {
                text: " 欢迎 小明！{规则}\n不许打广告".into()
            },
        ]
    );
}

#[test]
fn render_keeps_unknown_placeholders_visible() {
    assert_eq!(render("hi {nmae}", None, &[("name", "x")]).plain_text(), "hi {nmae}");
    assert_eq!(render("unclosed {at", None, &[]).plain_text(), "unclosed {at");
}

#[test]
fn durations_read_naturally_in_both_languages() {
    for (secs, zh, en) in [
        (0, "0秒", "0 s"),
        (45, "45秒", "45 s"),
        (600, "10分钟", "10 min"),
        (5_400, "1小时30分钟", "1 h 30 min"),
        (2_592_000, "30天", "30 d"),
        (90_061, "1天1小时", "1 d 1 h"),
        (86_460, "1天", "1 d"),
    ] {
        assert_eq!(duration(Locale::ZhCn, secs), zh, "{secs}");
        assert_eq!(duration(Locale::En, secs), en, "{secs}");
    }
}

#[test]
fn manual_actions_name_the_case() {
    let warn = manual_action(Locale::ZhCn, 7, Measure::Warn, "刷屏", Some((1, 3)), 12).plain_text();
    assert_eq!(
        warn,
        "@7 第1次警告 (1/3)：刷屏。请遵守群规，再犯将受到处罚。（案件 #12）"
    );
    let mute = manual_action(Locale::En, 7, Measure::Mute { seconds: 600 }, "", None, 3).plain_text();
    assert_eq!(mute, "@7 mute for 10 min. (case #3)");
}

#[test]
fn warning_counts_against_the_ladder() {
    let msg = warning(Locale::ZhCn, 7, "阿杰", "消息触发了规则「ads」", 1, 3);
    assert!(msg.plain_text().contains("第1次警告 (1/3)"), "{}", msg.plain_text());
    assert!(matches!(msg.parts[0], Part::Mention { user_id: 7, .. }));
    let en = warning(Locale::En, 7, "A", "r", 2, 3).plain_text();
    assert!(en.contains("Warning 2 (2/3)"), "{en}");
}

#[test]
fn a_moment_ago_reads_just_now() {
    assert_eq!(ago(Locale::ZhCn, 0), "刚刚");
    assert_eq!(ago(Locale::En, 59), "just now");
    assert_eq!(ago(Locale::ZhCn, 600), "10分钟前");
    assert_eq!(ago(Locale::En, 5_400), "1 h 30 min ago");
    let line = StrikeLine {
        age_secs: 0,
        left_secs: 86_400,
        rule: "ads".into(),
        weight: 1,
    };
    let text = strikes(Locale::ZhCn, 7, 1, 3, &[line]).plain_text();
    assert!(
        text.contains("· 刚刚 「ads」，1天后失效") && !text.contains("秒前"),
        "{text}"
    );
}

#[test]
fn stats_name_the_top_rules_and_count_the_others_so_the_numbers_add_up() {
    use crate::policy::stats_report::Summary;
    let summary = Summary {
        members: None,
        days: 7,
        messages: 70,
        messages_per_day: 10.0,
        per_100_members: None,
        active_per_day: 3.0,
        active_share: None,
        joins: 0,
        leaves: 0,
        violations: 10,
        top_rules: vec![("ads".into(), 5), ("flood".into(), 2), ("manual".into(), 1)],
        other_rules: 2,
        trend_percent: None,
    };
    let zh = stats_summary(Locale::ZhCn, &summary).plain_text();
    assert!(
        zh.contains("违规：10 次（ads 5、flood 2、manual 1、其他 2 次）"),
        "{zh}"
    );
    let en = stats_summary(Locale::En, &summary).plain_text();
    assert!(
        en.contains("Violations: 10 (ads 5, flood 2, manual 1, 2 other)"),
        "{en}"
    );
}

#[test]
fn the_reload_summary_is_in_one_language() {
    let counts = RulesCounts {
        lists: vec!["ads".into(), "scam".into()],
        phrases: 88,
        detectors: 3,
        group_rules_chars: 0,
        groups_with_own_rules: 0,
        posts: 2,
        posts_enabled: 1,
    };
    assert_eq!(
        reloaded(Locale::ZhCn, Ok(&counts)).plain_text(),
        "规则已重新加载：2 个词表（ads、scam），共 88 条；3 个检测器；群规：无；定时消息 2 条，1 条启用"
    );
    assert_eq!(
        reloaded(Locale::En, Ok(&counts)).plain_text(),
        "Rules reloaded: 2 word list(s) [ads, scam] with 88 phrase(s); 3 detector(s); group rules: none; 2 scheduled post(s), 1 enabled"
    );
}

#[test]
fn dead_letters_show_their_time_in_the_groups_zone_in_either_language() {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
    let line = DeadLetterLine {
        seq: 7,
        // 2026-11-21T06:05:03Z
        dead_ms: 1_795_241_103_000,
        group: "qq:726300112",
        kind: "delete_msg",
        case: Some(3),
        attempts: 5,
        reason: "retcode 100",
    };
    assert_eq!(
        dead_letter_line(Locale::ZhCn, &line, &zone),
        "7  2026-11-21T14:05:03+08:00  qq:726300112  delete_msg  案件 #3  已尝试 5 次  retcode 100"
    );
    assert_eq!(
        dead_letter_line(Locale::En, &DeadLetterLine { case: None, ..line }, &zone),
        "7  2026-11-21T14:05:03+08:00  qq:726300112  delete_msg  case -  attempts 5  retcode 100"
    );
}

#[test]
fn padding_counts_wide_characters_twice() {
    assert_eq!(display_width("日期"), 4);
    assert_eq!(display_width("date"), 4);
    assert_eq!(pad("日期", 10, false), "日期      ");
    assert_eq!(pad("消息", 8, true), "    消息");
    assert_eq!(pad("messages", 6, true), "messages", "never cut");
}
