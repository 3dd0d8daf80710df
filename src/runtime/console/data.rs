//! What the console shows, gathered once for both the pages and the JSON API: the pages
//! render these values, the API serialises them. Reads run off the async threads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::ConsoleState;
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::event::{GroupId, Platform};
use crate::domain::locale::Locale;
use crate::domain::stats::DayStats;
use crate::policy::i18n;
use crate::policy::stats_report::{self, Summary};
use crate::store::StoreError;

/// Groups asked about at once for their name and size.
const INFO_CONCURRENCY: usize = 8;
/// How long the groups page waits for the platforms' answers about names and sizes.
const INFO_PATIENCE: Duration = Duration::from_secs(3);
/// Days of the groups page's trend line.
const TREND_DAYS: i64 = 14;
/// Cases, strikes, posts … one group page shows at most.
pub const GROUP_LIST_LIMIT: usize = 50;
/// The most cases one API call or audit page returns.
pub const MAX_CASES: usize = 500;

/// Why console data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking read did not finish.
    #[error("a console read did not finish: {0}")]
    Join(String),
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, DataError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DataError::Join(e.to_string()))?
        .map_err(DataError::from)
}

/// The platform's name in ids and JSON.
#[must_use]
pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Qq => "qq",
        Platform::Telegram => "telegram",
    }
}

/// One row of the groups page and `GET /api/v1/groups`.
#[derive(Clone, Debug, Serialize)]
pub struct GroupRow {
    /// `qq:726300112`.
    pub group: String,
    /// `qq` or `telegram`.
    pub platform: &'static str,
    /// The platform's id of the group.
    pub id: i64,
    /// The bot account that keeps it, when a message has been counted.
    pub account: Option<i64>,
    /// Its name, when the platform told it in time.
    pub name: Option<String>,
    /// Its member count, when the platform told it in time.
    pub members: Option<u64>,
    /// Messages over the last 7 days (today included).
    pub messages_7d: u64,
    /// Violations over the last 7 days.
    pub violations_7d: u64,
    /// Messages per day against the week before, in percent.
    pub trend_percent: Option<f64>,
    /// Messages per day over the last 14 days, oldest first (the trend line).
    pub daily_messages: Vec<u64>,
}

/// Every group the instance keeps: with anything stored, or configured under `[groups]`.
pub async fn groups(state: &ConsoleState) -> Result<Vec<GroupRow>, DataError> {
    let store = state.store.clone();
    let mut known = blocking(move || store.known_groups()).await?;
    for key in state.settings.groups.keys() {
        if let Ok(g) = key.parse::<GroupId>()
            && !known.contains(&g)
        {
            known.push(g);
        }
    }
    known.sort();
    let now = state.clock.now();
    let stats = Arc::clone(state.pipeline.stats());
    let store = state.store.clone();
    let today = stats.date_of(now);
    let from = today
        .checked_sub(jiff::Span::new().days(TREND_DAYS - 1))
        .unwrap_or(today);
    let groups = known.clone();
    let read = blocking(move || {
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let days = stats.days(&store, g, from, today)?;
            let first = store.stats_first_day(g)?.or_else(|| days.first().map(|(d, _)| *d));
            out.push((g, days, first));
        }
        Ok(out)
    })
    .await?;
    let infos = group_infos(state, &known).await;
    Ok(read
        .into_iter()
        .map(|(g, stored, first)| {
            let account = stored.iter().rev().find_map(|(_, d)| d.account);
            let days = crate::service::stats::every_day(from, today, stored);
            let (name, members) = infos.get(&g).cloned().unwrap_or((None, None));
            let summary = stats_report::summarize(&days, today, first, members);
            GroupRow {
                group: g.to_string(),
                platform: platform_name(g.platform),
                id: g.id,
                account,
                name,
                members,
                messages_7d: summary.messages,
                violations_7d: summary.violations,
                trend_percent: summary.trend_percent,
                daily_messages: days.iter().map(|(_, d)| d.messages).collect(),
            }
        })
        .collect())
}

/// Names and sizes of `groups` from their platforms, asked [`INFO_CONCURRENCY`] at a time
/// for at most [`INFO_PATIENCE`]; groups without an answer by then are left out.
async fn group_infos(state: &ConsoleState, groups: &[GroupId]) -> BTreeMap<GroupId, (Option<String>, Option<u64>)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(INFO_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for &g in groups {
        let (outbox, limit) = (state.pipeline.reporter().outbox, Arc::clone(&limit));
        set.spawn(async move {
            let _permit = limit.acquire().await.ok()?;
            match outbox.group_info(g).await {
                Ok(info) => Some((g, (info.name, Some(info.member_count)))),
                Err(e) => {
                    tracing::debug!(group = %g, error = %e, "console: no group info");
                    None
                }
            }
        });
    }
    let mut out = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + INFO_PATIENCE;
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, set.join_next()).await {
        if let Ok(Some((g, info))) = done {
            out.insert(g, info);
        }
    }
    set.abort_all();
    out
}

/// One audit case as the console shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CaseView {
    /// `qq:726300112:5`: the group and the case number, the id the undo endpoint takes.
    pub id: String,
    /// The group.
    pub group: String,
    /// The case number within the group.
    pub case: u64,
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// The member.
    pub user_id: i64,
    /// Their name at the time, if known.
    pub user_name: String,
    /// Who acted.
    pub actor: Actor,
    /// The rule id.
    pub rule: String,
    /// The rule's display name.
    pub rule_label: String,
    /// An admin's reason.
    pub reason: String,
    /// The matched spans.
    pub matched: Vec<String>,
    /// The start of the original message.
    pub excerpt: String,
    /// What was done.
    pub measure: Measure,
    /// What was done, in words.
    pub measure_text: String,
    /// Active strikes before and after.
    pub strikes_before: u32,
    /// Active strikes after the case.
    pub strikes_after: u32,
    /// Recorded but not sent.
    pub dry_run: bool,
    /// The case that undid this one.
    pub undone_by: Option<u64>,
    /// The case this one undid.
    pub undoes: Option<u64>,
    /// Whether Undo applies: the case gave a strike, and was not undone. (Whether the strike
    /// still counts is known only when trying.)
    pub undoable: bool,
}

impl CaseView {
    /// The view of `e`, with texts in `locale`.
    #[must_use]
    pub fn of(e: &AuditEntry, locale: Locale, filter: &crate::policy::filter::Filter) -> Self {
        let at = Timestamp::from_millisecond(e.at_ms).map_or_else(|_| e.at_ms.to_string(), |t| t.to_string());
        Self {
            id: format!("{}:{}", e.group, e.case),
            group: e.group.to_string(),
            case: e.case,
            at,
            at_ms: e.at_ms,
            user_id: e.user_id,
            user_name: e.user_name.clone(),
            actor: e.actor.clone(),
            rule: e.rule.clone(),
            rule_label: filter.display_name(&e.rule, locale),
            reason: e.reason.clone(),
            matched: e.matched.clone(),
            excerpt: e.excerpt.clone(),
            measure: e.measure,
            measure_text: i18n::measure(locale, e.measure),
            strikes_before: e.strikes_before,
            strikes_after: e.strikes_after,
            dry_run: e.dry_run,
            undone_by: e.undone_by,
            undoes: e.undoes,
            undoable: undoable(e),
        }
    }
}

/// Whether Undo applies to a case (see [`crate::service::undo`]).
#[must_use]
pub fn undoable(e: &AuditEntry) -> bool {
    e.undone_by.is_none()
        && e.undoes.is_none()
        && !matches!(e.measure, Measure::Pardon { .. })
        && e.strikes_after > e.strikes_before
}

/// Which kind of actor an audit filter asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    /// The bot.
    Auto,
    /// An admin by command.
    Admin,
    /// An operator in the console.
    Console,
}

impl ActorKind {
    /// `auto`, `admin`, `console`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "admin" => Some(Self::Admin),
            "console" => Some(Self::Console),
            _ => None,
        }
    }

    fn matches(self, actor: &Actor) -> bool {
        matches!(
            (self, actor),
            (Self::Auto, Actor::Auto) | (Self::Admin, Actor::Admin { .. }) | (Self::Console, Actor::Console { .. })
        )
    }
}

/// An audit query: every field narrows it.
#[derive(Clone, Debug, Default)]
pub struct CaseQuery {
    /// Only this group.
    pub group: Option<GroupId>,
    /// Only this member.
    pub member: Option<i64>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this kind of actor.
    pub actor: Option<ActorKind>,
    /// Only cases at or after this time (unix ms).
    pub since_ms: Option<i64>,
    /// Only cases before this time (unix ms).
    pub until_ms: Option<i64>,
    /// Only cases of the filter and flood with a message (the review list).
    pub flagged: bool,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The cases matching `q`, newest first.
pub async fn cases(state: &ConsoleState, q: CaseQuery) -> Result<Vec<AuditEntry>, DataError> {
    let store = state.store.clone();
    blocking(move || {
        let keep = |e: &AuditEntry| {
            q.member.is_none_or(|m| e.user_id == m)
                && q.rule.as_deref().is_none_or(|r| e.rule == r)
                && q.actor.is_none_or(|a| a.matches(&e.actor))
                && q.until_ms.is_none_or(|u| e.at_ms < u)
                && (!q.flagged || (e.actor == Actor::Auto && !(e.excerpt.is_empty() && e.matched.is_empty())))
        };
        store.recent_cases(q.group, q.since_ms, q.limit.clamp(1, MAX_CASES), &keep)
    })
    .await
}

/// A member with strikes that count.
#[derive(Clone, Debug, Serialize)]
pub struct StrikeRow {
    /// The member.
    pub user_id: i64,
    /// Active strikes (by weight).
    pub strikes: u32,
    /// The rules behind them, newest last.
    pub rules: Vec<String>,
    /// When the newest was given, unix ms.
    pub last_ms: i64,
}

/// A silent member.
#[derive(Clone, Debug, Serialize)]
pub struct QuietRow {
    /// The member.
    pub user_id: i64,
    /// Their name when last seen.
    pub name: String,
    /// How long they have been silent.
    pub silent_secs: u64,
    /// False when they joined and never spoke.
    pub spoke: bool,
}

/// A scheduled post of the group.
#[derive(Clone, Debug, Serialize)]
pub struct PostRow {
    /// `[id]` for a post of `rules/schedule.toml`, `#3` for one added with `/schedule add`.
    pub label: String,
    /// When it is posted.
    pub when: String,
    /// The start of its text.
    pub text: String,
    /// Whether it is on.
    pub enabled: bool,
}

/// One day of a group, for the API.
#[derive(Clone, Debug, Serialize)]
pub struct DayView {
    /// The date (in `[stats] timezone`).
    pub date: String,
    /// Messages.
    pub messages: u64,
    /// Members who wrote.
    pub active_members: u64,
    /// Joins.
    pub joins: u64,
    /// Leaves.
    pub leaves: u64,
    /// Violations by rule.
    pub violations: BTreeMap<String, u64>,
    /// Measures by kind (`warn`, `mute`, `kick` …).
    pub measures: BTreeMap<String, u64>,
    /// True for today, which is not over yet.
    pub partial: bool,
}

/// Everything the group page shows.
#[derive(Clone, Debug)]
pub struct GroupDetail {
    /// The group.
    pub group: GroupId,
    /// Its name, if the platform told it.
    pub name: Option<String>,
    /// The last week.
    pub summary: Summary,
    /// Every day of the chart range, oldest first; the last is today.
    pub days: Vec<(Date, DayStats)>,
    /// Recent cases that were violations (not pardons or join answers).
    pub violations: Vec<AuditEntry>,
    /// Members with active strikes, most first.
    pub strikes: Vec<StrikeRow>,
    /// Members silent for at least `quiet_after`, longest first.
    pub quiet: Vec<QuietRow>,
    /// How many are silent that long (more than shown, maybe).
    pub quiet_total: usize,
    /// The threshold: the first `[inactivity] remind_after` step, else 7 days.
    pub quiet_after: Duration,
    /// Scheduled posts.
    pub posts: Vec<PostRow>,
    /// Member tiers now and their change over the week (empty with `[engagement]` off).
    pub tiers: Vec<(crate::domain::engagement::Tier, usize, Option<i64>)>,
}

/// Gathers the group page of `group` over `span` days up to today.
pub async fn group(state: &ConsoleState, group: GroupId, span: i64) -> Result<GroupDetail, DataError> {
    let now = state.clock.now();
    let reporter = state.pipeline.reporter();
    let (summary, name) = reporter.summary(group, now).await?;
    let stats = Arc::clone(&reporter.stats);
    let today = stats.date_of(now);
    let from = today.checked_sub(jiff::Span::new().days(span - 1)).unwrap_or(today);
    let store = state.store.clone();
    let ttl = state.pipeline.policies().group(group).strike_ttl;
    let quiet_after = state
        .settings
        .inactivity
        .remind_after
        .first()
        .map_or(Duration::from_secs(7 * 86_400), |d| d.get());
    let inactivity = Arc::clone(state.pipeline.inactivity());
    let tracking = state.settings.inactivity.enabled;
    let (days, violations, records, quiet, admin_posts) = blocking(move || {
        let days = stats.days(&store, group, from, today)?;
        let violations = store.recent_cases(Some(group), None, GROUP_LIST_LIMIT, &|e| {
            e.undoes.is_none()
                && !matches!(
                    e.measure,
                    Measure::Pardon { .. }
                        | Measure::JoinApproved
                        | Measure::JoinRejected
                        | Measure::Unmute
                        | Measure::Points { .. }
                        | Measure::GlobalUnban
                )
        })?;
        let records = store.strike_records(group, 10_000)?;
        let quiet = if tracking {
            Some(inactivity.list(group, quiet_after, now)?)
        } else {
            None
        };
        let posts = store.admin_posts_of(group)?;
        Ok((days, violations, records, quiet, posts))
    })
    .await?;
    let mut strikes: Vec<StrikeRow> = records
        .into_iter()
        .filter_map(|(user_id, record)| {
            let active: Vec<_> = record.active(now, ttl).collect();
            let count = record.count(now, ttl);
            (count > 0).then(|| StrikeRow {
                user_id,
                strikes: count,
                rules: active.iter().map(|s| s.rule.clone()).collect(),
                last_ms: active.iter().map(|s| s.at_ms).max().unwrap_or(0),
            })
        })
        .collect();
    strikes.sort_by(|a, b| b.strikes.cmp(&a.strikes).then(b.last_ms.cmp(&a.last_ms)));
    strikes.truncate(GROUP_LIST_LIMIT);
    let (quiet, quiet_total) = match quiet {
        Some(list) => (
            list.shown
                .into_iter()
                .map(|s| QuietRow {
                    user_id: s.user_id,
                    name: s.name,
                    silent_secs: s.silent_secs,
                    spoke: s.since == crate::domain::activity::Since::Spoke,
                })
                .collect(),
            list.total,
        ),
        None => (Vec::new(), 0),
    };
    let tiers = reporter.tier_rows(group, now).await.unwrap_or_default();
    let rules = state.rules.load();
    let mut posts: Vec<PostRow> = rules
        .schedule
        .iter()
        .filter(|p| p.groups.contains(&group))
        .map(|p| PostRow {
            label: format!("[{}]", p.id),
            when: p.recurrence.to_string(),
            text: crate::domain::audit::excerpt(p.texts.first().map_or("", String::as_str)),
            enabled: p.enabled,
        })
        .collect();
    posts.extend(admin_posts.into_iter().map(|p| PostRow {
        label: format!("#{}", p.number),
        when: format!("{} ({})", p.at, p.timezone),
        text: crate::domain::audit::excerpt(&p.text),
        enabled: true,
    }));
    Ok(GroupDetail {
        group,
        name,
        summary,
        days: crate::service::stats::every_day(from, today, days),
        violations,
        strikes,
        quiet,
        quiet_total,
        quiet_after,
        posts,
        tiers,
    })
}

/// One gateway on the health page.
#[derive(Clone, Debug, Serialize)]
pub struct GatewayHealth {
    /// `qq` or `telegram`.
    pub platform: &'static str,
    /// Whether it answered a probe just now.
    pub reachable: bool,
    /// The probe's error, when it did not.
    pub probe_error: Option<String>,
    /// Seconds since a delivery last worked (since start).
    pub last_ok_secs_ago: Option<u64>,
    /// The last delivery error since start, and how long ago.
    pub last_error: Option<String>,
    /// Seconds since that error.
    pub last_error_secs_ago: Option<u64>,
}

/// The health page and `/api/v1/health`… (the page only; see the module docs of `api`).
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// The gateways.
    pub gateways: Vec<GatewayHealth>,
    /// Actions stored and not yet delivered.
    pub outbox_depth: usize,
    /// Age of the oldest of them, in seconds.
    pub oldest_pending_secs: Option<u64>,
    /// Seconds since the outbox worker last went round its loop.
    pub worker_silent_secs: Option<u64>,
    /// The running version.
    pub version: &'static str,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// The live rules, in one line.
    pub rules: String,
}

/// Probes the gateways and reads the outbox.
pub async fn health(state: &ConsoleState) -> Result<Health, DataError> {
    let outbox = state.pipeline.reporter().outbox;
    let mut gateways = Vec::new();
    for platform in outbox.platforms() {
        let probe = outbox.probe(platform).await;
        let seen = state.metrics.gateway_seen(platform);
        gateways.push(GatewayHealth {
            platform: platform_name(platform),
            reachable: probe.is_ok(),
            probe_error: probe.err().map(|e| e.to_string()),
            last_ok_secs_ago: seen.last_ok.map(|t| t.elapsed().as_secs()),
            last_error_secs_ago: seen.last_error.as_ref().map(|(t, _)| t.elapsed().as_secs()),
            last_error: seen.last_error.map(|(_, e)| e),
        });
    }
    let store = state.store.clone();
    let now_ms = state.clock.now().as_millisecond();
    let (depth, oldest) = blocking(move || {
        let outbox = store.outbox();
        Ok((outbox.len(), outbox.oldest_created_ms()?))
    })
    .await?;
    Ok(Health {
        gateways,
        outbox_depth: depth,
        oldest_pending_secs: oldest.map(|at| u64::try_from(now_ms.saturating_sub(at) / 1000).unwrap_or(0)),
        worker_silent_secs: state.metrics.worker_silent_for().map(|d| d.as_secs()),
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
        rules: state.rules.load().summary(),
    })
}
