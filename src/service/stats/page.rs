//! The group health page at `/stats/<group>` on the admin listener: the summary and one
//! chart per series, drawn as inline SVG on the server.
//!
//! Nothing is fetched: no script, font, stylesheet or image from anywhere, so the page works
//! on a host with no internet access and leaks nothing to third parties. Everything that came
//! from outside (group names, rule names) is HTML-escaped.

use std::fmt::Write as _;

use jiff::civil::Date;

use crate::domain::event::GroupId;
use crate::domain::stats::DayStats;
use crate::policy::stats_report::Summary;

/// Chart size in SVG user units (the SVG scales to the page width).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
/// Room for the axis labels.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// A chart: its id, title, colour and the value it draws of each day.
type Series = (&'static str, &'static str, &'static str, fn(&DayStats) -> u64);

/// What the page shows.
#[derive(Debug)]
pub struct PageData<'a> {
    /// The group.
    pub group: GroupId,
    /// Its name, when the platform told it.
    pub name: Option<&'a str>,
    /// Every day of the range in order, zeros for days with nothing counted.
    pub days: &'a [(Date, DayStats)],
    /// The last week's summary.
    pub summary: &'a Summary,
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
    summary_table(&mut html, data.summary);
    let series: [Series; 6] = [
        ("messages", "发言 Messages", "#2f6fde", |d| d.messages),
        ("active", "活跃成员 Active members", "#1d9a6c", |d| {
            d.active_members.max(d.members.len() as u64)
        }),
        ("joins", "进群 Joins", "#7a5bd6", |d| d.joins),
        ("leaves", "退群 Leaves", "#d0782a", |d| d.leaves),
        ("violations", "违规 Violations", "#c8372d", DayStats::violation_count),
        ("actions", "处罚 Measures taken", "#6b6b6b", |d| {
            d.actions.values().sum()
        }),
    ];
    for (id, label, color, value) in series {
        let points: Vec<(Date, u64)> = data.days.iter().map(|(d, s)| (*d, value(s))).collect();
        let _ = writeln!(html, "<section>\n<h2>{label}</h2>");
        bar_chart(&mut html, id, label, color, &points);
        html.push_str("</section>\n");
    }
    rules_table(&mut html, data.days);
    html.push_str("<footer>qunguan · ");
    let _ = write!(html, "{}", escape(env!("CARGO_PKG_VERSION")));
    html.push_str("</footer>\n</body>\n</html>\n");
    html
}

const STYLE: &str = "<style>\n\
body{font-family:system-ui,sans-serif;max-width:760px;margin:1.5em auto;padding:0 1em;color:#222}\n\
h1{font-size:1.4em}h2{font-size:1.05em;margin:1.4em 0 .3em}\n\
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}\n\
td.n{text-align:right}svg{width:100%;height:auto;display:block}\n\
svg text{font-size:11px;fill:#555}footer{margin-top:2em;color:#888;font-size:.8em}\n\
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

fn rules_table(html: &mut String, days: &[(Date, DayStats)]) {
    let mut totals: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (_, day) in days {
        for (rule, n) in &day.violations {
            *totals.entry(rule).or_default() += n;
        }
    }
    let mut rows: Vec<(&str, u64)> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    html.push_str("<section>\n<h2>规则命中 Rules hit</h2>\n");
    if rows.is_empty() {
        html.push_str("<p>—</p>\n");
    } else {
        html.push_str("<table id=\"rules\">\n");
        for (rule, n) in rows {
            let _ = writeln!(html, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", escape(rule));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</section>\n");
}

/// One bar per day, a light grid at the top value, the first/middle/last dates under the axis.
#[allow(clippy::cast_precision_loss)] // chart coordinates
fn bar_chart(html: &mut String, id: &str, label: &str, color: &str, points: &[(Date, u64)]) {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / points.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let _ = writeln!(
        html,
        "<svg id=\"chart-{id}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{label}\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let base = TOP + plot_h;
    let _ = writeln!(
        html,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\" stroke=\"#999\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{WIDTH}\" y2=\"{TOP}\" stroke=\"#eee\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        LEFT - 4.0,
        TOP + 10.0,
        LEFT - 4.0
    );
    for (i, (date, value)) in points.iter().enumerate() {
        let h = plot_h * (*value as f64) / (max as f64);
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let _ = writeln!(
            html,
            "<rect class=\"bar\" data-date=\"{date}\" data-value=\"{value}\" x=\"{x:.1}\" y=\"{:.1}\" \
             width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{color}\"><title>{date}: {value}</title></rect>",
            base - h
        );
    }
    let n = points.len();
    for i in [0, n / 2, n.saturating_sub(1)] {
        if let Some((date, _)) = points.get(i)
            && (i == 0 || i != n / 2 || n > 2)
        {
            let x = LEFT + slot * i as f64 + slot / 2.0;
            let _ = writeln!(
                html,
                "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - 6.0,
                date.strftime("%m-%d")
            );
        }
    }
    html.push_str("</svg>\n");
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
        let html = render(&PageData {
            group: GroupId::qq(5),
            name: None,
            days: &days,
            summary: &summary,
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
    fn names_from_outside_are_escaped() {
        let mut day = DayStats::default();
        day.violations.insert("<script>alert(1)</script>".into(), 1);
        let days = [(date(2026, 11, 22), day)];
        let summary = summarize(&days, date(2026, 11, 22), Some(date(2026, 11, 22)), None);
        let html = render(&PageData {
            group: GroupId::qq(5),
            name: Some("\"><img src=x onerror=alert(1)>"),
            days: &days,
            summary: &summary,
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("href="), "nothing links out");
    }
}
