//! The group health page at `/stats/<group>` on the admin listener: the summary and one
//! chart per series, drawn as inline SVG on the server.
//!
//! Nothing is fetched: no script, font, stylesheet or image from anywhere, so the page works
//! on a host with no internet access and leaks nothing to third parties. Everything that came
//! from outside (group names, rule names) is HTML-escaped.

use std::fmt::Write as _;

use jiff::civil::Date;

use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::domain::stats::DayStats;
use crate::policy::stats_report::Summary;

/// The measures chart's series, labelled in both languages (the stats page).
const MEASURE_SERIES_BILINGUAL: [(&str, &str, &str); 4] = [
    ("warn", "警告 warn", "#d9a400"),
    ("mute", "禁言 mute", "#d0782a"),
    ("kick", "踢出 kick", "#c8372d"),
    ("other", "其他 other", "#9a9a9a"),
];

/// Chart size in SVG user units (the SVG scales to the page width).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
/// Room for the axis labels.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 26.0;
/// Room above the plot for the legend.
const TOP: f64 = 22.0;

/// A chart: its id, title, colour and the value it draws of each day.
type Series = (&'static str, &'static str, &'static str, fn(&DayStats) -> u64);

/// What the page shows.
#[derive(Debug)]
pub struct PageData<'a> {
    /// The group.
    pub group: GroupId,
    /// Its name, when the platform told it.
    pub name: Option<&'a str>,
    /// The bot account that keeps it (`qq:20001`), when one was seen there.
    pub account: Option<&'a str>,
    /// Every day of the range in order, zeros for days with nothing counted.
    pub days: &'a [(Date, DayStats)],
    /// The last week's summary.
    pub summary: &'a Summary,
    /// Whether the last day is today, which is not over yet (drawn as partial).
    pub last_is_today: bool,
    /// The member tiers now and their change over the week (with `[engagement]` on).
    pub tiers: Option<&'a [(crate::domain::engagement::Tier, usize, Option<i64>)]>,
    /// The live filter, whose rules name themselves (`display` in `rules.toml`).
    pub filter: &'a crate::policy::filter::Filter,
}

/// Renders the page.
#[must_use]
pub fn render(data: &PageData<'_>) -> String {
    let title = match data.name {
        Some(name) => format!("{} ({})", name, data.group),
        None => data.group.to_string(),
    };
    let mut html = String::with_capacity(16 * 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No network: forbid every fetch, even one a future edit adds by mistake.
    html.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
    );
    let _ = writeln!(html, "<title>群统计 · {}</title>", escape(&title));
    html.push_str(STYLE);
    html.push_str("</head>\n<body>\n");
    let _ = writeln!(html, "<h1 id=\"group\">{}</h1>", escape(&title));
    if let Some(account) = data.account {
        let _ = writeln!(
            html,
            "<p id=\"account\">机器人账号 bot account: {}</p>",
            escape(account)
        );
    }
    summary_table(&mut html, data.summary);
    if let Some(tiers) = data.tiers {
        tiers_table(&mut html, tiers);
    }
    let partial = Partial {
        last_is_today: data.last_is_today,
        label: "今天（未完） today, so far",
    };
    let series: [Series; 5] = [
        ("messages", "发言 Messages", "#2f6fde", |d| d.messages),
        ("active", "活跃成员 Active members", "#1d9a6c", |d| {
            d.active_members.max(d.members.len() as u64)
        }),
        ("joins", "进群 Joins", "#7a5bd6", |d| d.joins),
        ("leaves", "退群 Leaves", "#d0782a", |d| d.leaves),
        ("violations", "违规 Violations", "#c8372d", DayStats::violation_count),
    ];
    for (id, label, color, value) in series {
        let points: Vec<(Date, u64)> = data.days.iter().map(|(d, s)| (*d, value(s))).collect();
        let _ = writeln!(html, "<section>\n<h2>{label}</h2>");
        bar_chart(&mut html, id, label, color, &points, partial);
        html.push_str("</section>\n");
    }
    let label = "处罚 Measures taken";
    let _ = writeln!(html, "<section>\n<h2>{label}</h2>");
    let points: Vec<(Date, Vec<u64>)> = data.days.iter().map(|(d, s)| (*d, measures_split(s))).collect();
    stacked_chart(&mut html, "actions", label, &MEASURE_SERIES_BILINGUAL, &points, partial);
    html.push_str("</section>\n");
    let names = |rule: &str| data.filter.display_name(rule, Locale::ZhCn);
    rules_table(&mut html, data.days, "规则命中 Rules hit", &names, false);
    html.push_str("<footer>qunguan · ");
    let _ = write!(html, "{}", escape(env!("CARGO_PKG_VERSION")));
    html.push_str("</footer>\n</body>\n</html>\n");
    html
}

/// The member tiers: count now and change over the week, per tier.
fn tiers_table(html: &mut String, tiers: &[(crate::domain::engagement::Tier, usize, Option<i64>)]) {
    html.push_str("<h2>成员分层 Member tiers</h2>\n<table id=\"tiers\">\n");
    html.push_str("<tr><th></th><th>人数 Members</th><th>较上周 vs a week ago</th></tr>\n");
    for (tier, n, change) in tiers {
        let zh = crate::policy::i18n::tier_name(Locale::ZhCn, *tier);
        let en = crate::policy::i18n::tier_name(Locale::En, *tier);
        let change = match change {
            Some(c) if *c > 0 => format!("+{c}"),
            Some(c) => c.to_string(),
            None => "—".to_owned(),
        };
        let _ = writeln!(
            html,
            "<tr class=\"{}\"><td>{zh} {en}</td><td class=\"n\">{n}</td><td class=\"n\">{change}</td></tr>",
            tier.as_str()
        );
    }
    html.push_str("</table>\n");
}

const STYLE: &str = "<style>\n\
body{font-family:system-ui,sans-serif;max-width:760px;margin:1.5em auto;padding:0 1em;color:#222}\n\
h1{font-size:1.4em}h2{font-size:1.05em;margin:1.4em 0 .3em}\n\
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}\n\
td.n{text-align:right}svg{width:100%;height:auto;display:block}\n\
svg text{font-size:11px;fill:#555}code{font-size:.85em;color:#666}footer{margin-top:2em;color:#888;font-size:.8em}\n\
</style>\n";

fn summary_table(html: &mut String, s: &Summary) {
    let opt = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or_else(|| "—".to_owned(), f);
    let rows: [(&str, String); 9] = [
        (
            "成员 Members",
            s.members.map_or_else(|| "—".to_owned(), |m| m.to_string()),
        ),
        ("统计天数 Days counted (of 7)", s.days.to_string()),
        ("日均发言 Messages a day", format!("{:.1}", s.messages_per_day)),
        (
            "每百人日均发言 Per 100 members a day",
            opt(s.per_100_members, &|x| format!("{x:.1}")),
        ),
        ("日均活跃 Active a day", format!("{:.1}", s.active_per_day)),
        (
            "活跃率 Active share",
            opt(s.active_share, &|x| format!("{:.1}%", x * 100.0)),
        ),
        ("进群 / 退群 Joins / leaves", format!("{} / {}", s.joins, s.leaves)),
        ("违规 Violations", s.violations.to_string()),
        ("较上周 Vs last week", opt(s.trend_percent, &|x| format!("{x:+.0}%"))),
    ];
    html.push_str("<h2>近 7 天 Last 7 days</h2>\n<table id=\"summary\">\n");
    for (label, value) in rows {
        let _ = writeln!(html, "<tr><th>{label}</th><td class=\"n\">{}</td></tr>", escape(&value));
    }
    html.push_str("</table>\n");
}

/// The rules hit over `days`, most first, each under its display name (`names`); with
/// `show_ids` (the operators' console) the rule's id is the name's tooltip, so an operator can
/// find it in `rules.toml`. The public page never shows an id.
pub fn rules_table(
    html: &mut String,
    days: &[(Date, DayStats)],
    heading: &str,
    names: &dyn Fn(&str) -> String,
    show_ids: bool,
) {
    let mut totals: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (_, day) in days {
        for (rule, n) in &day.violations {
            *totals.entry(rule).or_default() += n;
        }
    }
    let mut rows: Vec<(&str, u64)> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let _ = writeln!(html, "<section>\n<h2>{}</h2>", escape(heading));
    if rows.is_empty() {
        html.push_str("<p>—</p>\n");
    } else {
        html.push_str("<table id=\"rules\">\n");
        for (rule, n) in rows {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
                rule_cell(&names(rule), rule, show_ids)
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("</section>\n");
}

/// A rule's display name, escaped; with `show_id`, its id is the tooltip when the two differ.
#[must_use]
pub fn rule_cell(name: &str, rule: &str, show_id: bool) -> String {
    if show_id && name != rule {
        format!("<span title=\"{}\">{}</span>", escape(rule), escape(name))
    } else {
        escape(name)
    }
}

/// The y axis of a chart: a round step and a top that is a multiple of it, for at most
/// [`MAX_TICKS`] gridlines above zero (`max` 7 → step 2, top 8; `max` 1234 → step 500, top
/// 1500). A chart of zeros gets step 1, top 1.
#[must_use]
pub fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let rough = max.div_ceil(MAX_TICKS);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= rough {
        magnitude = magnitude.saturating_mul(10);
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| magnitude.saturating_mul(*m))
        .find(|s| *s >= rough)
        .unwrap_or(rough);
    (step, max.div_ceil(step).saturating_mul(step))
}

/// Horizontal room of one legend entry (names are a word or two).
const LEGEND_STEP: f64 = 100.0;

/// Gridlines above zero at most.
const MAX_TICKS: u64 = 4;

/// How a chart marks today, which is not over yet.
#[derive(Clone, Copy, Debug)]
pub struct Partial<'a> {
    /// Whether the last day is today (so far).
    pub last_is_today: bool,
    /// The legend and tooltip text, e.g. `今天（未完） today, so far`.
    pub label: &'a str,
}

/// The axis, gridlines with their values, and the date labels (first, middle, last; the
/// first anchored at its start and the last at its end, so neither is cut off).
#[allow(clippy::cast_precision_loss)] // chart coordinates
fn frame(html: &mut String, top: u64, step: u64, dates: &[Date], partial: Partial<'_>) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base = TOP + plot_h;
    let mut tick = 0;
    while tick <= top {
        let y = base - plot_h * (tick as f64) / (top as f64);
        let stroke = if tick == 0 { "#999" } else { "#e6e6e6" };
        let _ = write!(
            html,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{WIDTH}\" y2=\"{y:.1}\" stroke=\"{stroke}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            LEFT - 6.0,
            y + 4.0
        );
        tick += step;
    }
    html.push('\n');
    let n = dates.len();
    let slot = (WIDTH - LEFT) / n.max(1) as f64;
    let mut shown = vec![0, n / 2, n.saturating_sub(1)];
    shown.dedup();
    for i in shown {
        let Some(date) = dates.get(i) else { continue };
        let (x, anchor) = if i == 0 {
            (LEFT + 1.0, "start")
        } else if i + 1 == n {
            (WIDTH - 1.0, "end")
        } else {
            (LEFT + slot * i as f64 + slot / 2.0, "middle")
        };
        let _ = writeln!(
            html,
            "<text class=\"date\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            HEIGHT - 6.0,
            date.strftime("%m-%d")
        );
    }
    if partial.last_is_today && n > 0 {
        let _ = writeln!(
            html,
            "<g class=\"legend\"><rect x=\"{}\" y=\"4\" width=\"10\" height=\"10\" fill=\"#888\" fill-opacity=\"0.35\" \
             stroke=\"#888\" stroke-dasharray=\"2 1\"/><text x=\"{}\" y=\"14\" text-anchor=\"end\">{}</text></g>",
            WIDTH - 9.0,
            WIDTH - 13.0,
            escape(partial.label)
        );
    }
}

/// One bar per day on a y axis with round ticks; today's bar, not over yet, is drawn pale
/// with a dashed outline and says so in its tooltip.
#[allow(clippy::cast_precision_loss)] // chart coordinates
pub fn bar_chart(html: &mut String, id: &str, label: &str, color: &str, points: &[(Date, u64)], partial: Partial<'_>) {
    let (step, top) = axis(points.iter().map(|p| p.1).max().unwrap_or(0));
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / points.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let _ = writeln!(
        html,
        "<svg id=\"chart-{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label)
    );
    let dates: Vec<Date> = points.iter().map(|p| p.0).collect();
    frame(html, top, step, &dates, partial);
    let base = TOP + plot_h;
    for (i, (date, value)) in points.iter().enumerate() {
        let h = plot_h * (*value as f64) / (top as f64);
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let today = partial.last_is_today && i + 1 == points.len();
        let (style, note) = if today {
            (
                " fill-opacity=\"0.45\" stroke-dasharray=\"3 2\" stroke-width=\"1\"",
                format!(" ({})", escape(partial.label)),
            )
        } else {
            ("", String::new())
        };
        let stroke = if today {
            format!(" stroke=\"{color}\"")
        } else {
            String::new()
        };
        let _ = writeln!(
            html,
            "<rect class=\"bar{}\" data-date=\"{date}\" data-value=\"{value}\" x=\"{x:.1}\" y=\"{:.1}\" \
             width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{color}\"{stroke}{style}><title>{date}: {value}{note}</title></rect>",
            if today { " partial" } else { "" },
            base - h
        );
    }
    html.push_str("</svg>\n");
}

/// One stacked bar per day: a segment per series (`(name, label, colour)`), bottom first,
/// with a legend. Each day is a `<g class="bar">` carrying the day's total and, per series,
/// its value (`data-<name>`).
#[allow(clippy::cast_precision_loss)] // chart coordinates
pub fn stacked_chart(
    html: &mut String,
    id: &str,
    label: &str,
    series: &[(&str, &str, &str)],
    points: &[(Date, Vec<u64>)],
    partial: Partial<'_>,
) {
    let total = |values: &[u64]| values.iter().sum::<u64>();
    let (step, top) = axis(points.iter().map(|p| total(&p.1)).max().unwrap_or(0));
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / points.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let _ = writeln!(
        html,
        "<svg id=\"chart-{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        escape(label)
    );
    let dates: Vec<Date> = points.iter().map(|p| p.0).collect();
    frame(html, top, step, &dates, partial);
    let base = TOP + plot_h;
    for (i, (date, values)) in points.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let today = partial.last_is_today && i + 1 == points.len();
        let _ = write!(
            html,
            "<g class=\"bar{}\" data-date=\"{date}\" data-value=\"{}\"",
            if today { " partial" } else { "" },
            total(values)
        );
        for ((name, _, _), v) in series.iter().zip(values) {
            let _ = write!(html, " data-{name}=\"{v}\"");
        }
        html.push_str(if today { " fill-opacity=\"0.45\">" } else { ">" });
        let mut y = base;
        let mut tip = format!("{date}:");
        for ((_, name, color), v) in series.iter().zip(values) {
            let _ = write!(tip, " {} {v}", escape(name));
            if *v == 0 {
                continue;
            }
            let h = plot_h * (*v as f64) / (top as f64);
            y -= h;
            let _ = write!(
                html,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{color}\"/>"
            );
        }
        if today {
            let _ = write!(tip, " ({})", escape(partial.label));
        }
        let _ = writeln!(html, "<title>{tip}</title></g>");
    }
    // The legend, left to right from the plot's left edge.
    let mut x = LEFT + 4.0;
    html.push_str("<g class=\"legend\">");
    for (_, name, color) in series {
        let _ = write!(
            html,
            "<rect x=\"{x:.1}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"14\">{}</text>",
            x + 14.0,
            escape(name)
        );
        x += LEGEND_STEP;
    }
    html.push_str("</g>\n</svg>\n");
}

/// The measures of a day split into warn, mute, kick (bans included) and everything else
/// (recalls, unmutes …), in that order: the series of the measures chart.
#[must_use]
pub fn measures_split(day: &DayStats) -> Vec<u64> {
    let get = |k: &str| day.actions.get(k).copied().unwrap_or(0);
    let (warn, mute, kick) = (get("warn"), get("mute"), get("kick") + get("ban"));
    let all: u64 = day.actions.values().sum();
    vec![warn, mute, kick, all.saturating_sub(warn + mute + kick)]
}

/// Escapes text for HTML element content and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::stats_report::summarize;
    use jiff::civil::date;

    #[test]
    fn one_bar_per_day_scaled_to_the_largest() {
        let days: Vec<(Date, DayStats)> = [0u64, 5, 10]
            .iter()
            .enumerate()
            .map(|(i, &m)| {
                let d = date(2026, 11, 20) + jiff::Span::new().days(i64::try_from(i).expect("small"));
                (
                    d,
                    DayStats {
                        messages: m,
                        ..DayStats::default()
                    },
                )
            })
            .collect();
        let summary = summarize(&days, date(2026, 11, 22), Some(date(2026, 11, 20)), Some(10));
        let filter =
            crate::policy::filter::Filter::build(&crate::policy::filter::FilterSpec::default()).expect("empty filter");
        let html = render(&PageData {
            filter: &filter,
            account: None,
            group: GroupId::qq(5),
            name: None,
            days: &days,
            summary: &summary,
            last_is_today: false,
            tiers: None,
        });
        let chart = html
            .split("<svg id=\"chart-messages\"")
            .nth(1)
            .and_then(|s| s.split("</svg>").next())
            .expect("messages chart");
        let heights: Vec<&str> = chart
            .split("height=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert_eq!(
            heights,
            ["0.0".to_owned(), format!("{:.1}", plot_h / 2.0), format!("{plot_h:.1}")]
        );
    }

    #[test]
    fn the_axis_has_round_ticks_covering_the_largest_value() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(1), (1, 1));
        assert_eq!(axis(7), (2, 8));
        assert_eq!(axis(10), (5, 10));
        assert_eq!(axis(37), (10, 40));
        assert_eq!(axis(1234), (500, 1500));
        for max in 1..2_000u64 {
            let (step, top) = axis(max);
            assert!(
                top >= max && top / step <= MAX_TICKS && top % step == 0,
                "{max}: {step} {top}"
            );
        }
    }

    #[test]
    fn date_labels_stay_inside_the_chart_and_today_is_marked_partial() {
        let days: Vec<(Date, u64)> = (0..30)
            .map(|i| (date(2026, 11, 1) + jiff::Span::new().days(i), 3))
            .collect();
        let mut html = String::new();
        let partial = Partial {
            last_is_today: true,
            label: "today",
        };
        bar_chart(&mut html, "m", "M", "#000", &days, partial);
        assert!(html.contains("text-anchor=\"start\">11-01</text>"), "{html}");
        assert!(html.contains("text-anchor=\"end\">11-30</text>"), "{html}");
        assert_eq!(html.matches("class=\"bar partial\"").count(), 1);
        assert!(html.contains("data-date=\"2026-11-30\""));
        // Ticks 0, 1, 2, 3 label the axis.
        for tick in 0..=3 {
            assert!(
                html.contains(&format!("text-anchor=\"end\">{tick}</text>")),
                "tick {tick}"
            );
        }
    }

    #[test]
    fn measures_split_into_warn_mute_kick_and_the_rest() {
        let mut day = DayStats::default();
        for (k, n) in [("warn", 3), ("mute", 2), ("kick", 1), ("ban", 1), ("recall", 4)] {
            day.actions.insert(k.into(), n);
        }
        assert_eq!(measures_split(&day), vec![3, 2, 2, 4]);
        let mut html = String::new();
        let partial = Partial {
            last_is_today: false,
            label: "",
        };
        stacked_chart(
            &mut html,
            "actions",
            "Measures",
            &MEASURE_SERIES_BILINGUAL,
            &[(date(2026, 11, 1), measures_split(&day))],
            partial,
        );
        assert!(
            html.contains("data-value=\"11\" data-warn=\"3\" data-mute=\"2\" data-kick=\"2\" data-other=\"4\""),
            "{html}"
        );
    }

    #[test]
    fn rules_show_their_display_names_and_ids_only_as_a_tooltip() {
        assert_eq!(rule_cell("刷屏", "flood", false), "刷屏");
        assert_eq!(rule_cell("刷屏", "flood", true), "<span title=\"flood\">刷屏</span>");
        assert_eq!(rule_cell("a<b", "x\"y", true), "<span title=\"x&quot;y\">a&lt;b</span>");
        let days = [(
            date(2026, 11, 1),
            DayStats {
                violations: [("ads".to_owned(), 3)].into_iter().collect(),
                ..DayStats::default()
            },
        )];
        let mut html = String::new();
        rules_table(&mut html, &days, "h", &|_| "广告引流".to_owned(), false);
        assert!(html.contains("<td>广告引流</td><td class=\"n\">3</td>"), "{html}");
        assert!(!html.contains("ads"), "{html}");
    }

    #[test]
    fn names_from_outside_are_escaped() {
        let mut day = DayStats::default();
        day.violations.insert("<script>alert(1)</script>".into(), 1);
        let days = [(date(2026, 11, 22), day)];
        let summary = summarize(&days, date(2026, 11, 22), Some(date(2026, 11, 22)), None);
        let filter =
            crate::policy::filter::Filter::build(&crate::policy::filter::FilterSpec::default()).expect("empty filter");
        let html = render(&PageData {
            filter: &filter,
            account: None,
            group: GroupId::qq(5),
            name: Some("\"><img src=x onerror=alert(1)>"),
            days: &days,
            summary: &summary,
            last_is_today: true,
            tiers: None,
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        // A rule the filter does not name shows under the generic name, never by its id.
        assert!(html.contains("<td>违规内容</td>"), "{html}");
        assert!(!html.contains("alert(1)</script>"), "{html}");
        assert!(!html.contains("href="), "nothing links out");
    }
}
