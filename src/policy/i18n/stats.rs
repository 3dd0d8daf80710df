//! The answer to `/stats`.

use crate::domain::action::OutgoingMessage;
use crate::domain::locale::Locale;

/// The `/stats` answer: a short health report of the group over the last 7 days.
#[must_use]
pub fn stats_summary(locale: Locale, s: &crate::policy::stats_report::Summary) -> OutgoingMessage {
    use std::fmt::Write as _;
    let zh = locale == Locale::ZhCn;
    let mut out = String::new();
    if s.days == 0 {
        return OutgoingMessage::text(if zh {
            "群统计：还没有数据（qunguan 从启动后开始统计）。"
        } else {
            "Group stats: nothing counted yet (qunguan counts from when it started)."
        });
    }
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    if zh {
        let _ = write!(out, "群统计（近{}天", s.days);
        match s.members {
            Some(m) => {
                let _ = write!(out, "，成员 {m} 人）");
            }
            None => out.push('）'),
        }
        let _ = write!(out, "\n发言：{} 条，日均 {:.1} 条", s.messages, s.messages_per_day);
        if let Some(x) = s.per_100_members {
            let _ = write!(out, "（每百人 {x:.1} 条/天）");
        }
        let _ = write!(out, "\n活跃：日均 {:.1} 人", s.active_per_day);
        if let Some(x) = s.active_share {
            let _ = write!(out, "，活跃率 {}", pct(x));
        }
        let _ = write!(out, "\n进群 {} 人，退群 {} 人", s.joins, s.leaves);
        let _ = write!(out, "\n违规：{} 次", s.violations);
        if !s.top_rules.is_empty() {
            let mut top: Vec<String> = s.top_rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
            if s.other_rules > 0 {
                top.push(format!("其他 {} 次", s.other_rules));
            }
            let _ = write!(out, "（{}）", top.join("、"));
        }
        match s.trend_percent {
            Some(t) => {
                let _ = write!(out, "\n较上周：日均发言 {t:+.0}%");
            }
            None => out.push_str("\n较上周：暂无上周数据"),
        }
    } else {
        if s.days == 1 {
            out.push_str("Group stats (last day");
        } else {
            let _ = write!(out, "Group stats (last {} days", s.days);
        }
        if let Some(m) = s.members {
            let _ = write!(out, ", {m} members");
        }
        out.push(')');
        let _ = write!(out, "\nMessages: {}, {:.1} a day", s.messages, s.messages_per_day);
        if let Some(x) = s.per_100_members {
            let _ = write!(out, " ({x:.1} per 100 members a day)");
        }
        let _ = write!(out, "\nActive: {:.1} members a day", s.active_per_day);
        if let Some(x) = s.active_share {
            let _ = write!(out, ", {} of the group", pct(x));
        }
        let _ = write!(out, "\nJoined {}, left {}", s.joins, s.leaves);
        let _ = write!(out, "\nViolations: {}", s.violations);
        if !s.top_rules.is_empty() {
            let mut top: Vec<String> = s.top_rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
            if s.other_rules > 0 {
                top.push(format!("{} other", s.other_rules));
            }
            let _ = write!(out, " ({})", top.join(", "));
        }
        match s.trend_percent {
            Some(t) => {
                let _ = write!(out, "\nVs last week: {t:+.0}% messages a day");
            }
            None => out.push_str("\nVs last week: no data for last week yet"),
        }
    }
    OutgoingMessage::text(out)
}
