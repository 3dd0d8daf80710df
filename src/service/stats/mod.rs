//! Group health statistics: what operators judge a group by (日均发言量, 活跃率, joins and
//! leaves, violations), counted per group per day.
//!
//! The pipeline reports each message, join, leave and violation to [`GroupStats`], which adds
//! it to an in-memory batch under one short lock (no I/O, no allocation once a group-day is
//! in the batch except for a new member id). A background task ([`GroupStats::run`]) writes
//! the batch to the store every `[stats] flush_every` and once more at shutdown. Statistics
//! are not moderation state, so this trade is deliberate: a crash loses at most the last
//! `flush_every` of counts (default one minute), and the webhook path never waits for them.
//! Readers ([`GroupStats::days`]) see the stored days plus the batch not yet written.
//!
//! The batch's member ids (for the day's active-member count) are bounded by `[limits]
//! stats_members`: when the batch holds that many, the background task is woken to write it
//! at once, and until it has, further new ids are not counted (the active-member count of
//! that minute may come out a little low; the drops are counted as evictions).
//!
//! Days begin at midnight in `[stats] timezone` (default Asia/Shanghai).
//!
//! - `policy::stats_report` — the numbers `/stats` and `qunguan stats` show, computed from stored days.
//! - `page` — the HTML page with SVG charts on the admin listener.

pub(crate) mod page;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use tokio_util::sync::CancellationToken;

use crate::config::StatsSettings;
use crate::domain::action::Action;
use crate::domain::audit::Measure;
use crate::domain::bounds::Bound;
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::domain::locale::Locale;
use crate::domain::metrics::Metrics;
use crate::domain::stats::DayStats;
use crate::policy::i18n;
use crate::policy::stats_report::{self, Summary};
use crate::service::outbox::OutboxHandle;
use crate::store::{Store, StoreError};

/// The in-memory batch and the day boundaries it was last computed for.
#[derive(Debug, Default)]
struct Batch {
    days: HashMap<(GroupId, Date), DayStats>,
    /// `[start, end)` of the current day in unix ms, and its date: most events fall inside it,
    /// so the time-zone arithmetic runs once a day, not once a message.
    current: Option<(i64, i64, Date)>,
    /// Member ids in `days`, over all group-days.
    member_ids: usize,
}

/// Counts group activity in memory and writes it to the store in batches.
#[derive(Debug)]
pub struct GroupStats {
    tz: TimeZone,
    batch: Mutex<Batch>,
    /// Held for writing while a batch moves from memory to the store, and for reading while
    /// a reader combines the two, so a reader never sees a batch twice or not at all. Message
    /// counting takes only `batch`, never this.
    moving: RwLock<()>,
    /// Member ids in the batch, and the most allowed.
    bound: Arc<Bound>,
    /// Wakes [`GroupStats::run`] to write a full batch early.
    full: tokio::sync::Notify,
}

impl GroupStats {
    /// Statistics whose days begin at midnight in `tz` (an IANA name, checked by
    /// [`crate::config::Settings::validate`]; an unknown name falls back to UTC).
    #[must_use]
    pub fn new(settings: &StatsSettings) -> Self {
        let tz = TimeZone::get(&settings.timezone).unwrap_or(TimeZone::UTC);
        Self {
            tz,
            batch: Mutex::new(Batch::default()),
            moving: RwLock::new(()),
            bound: Bound::new("stats_members", crate::config::LimitsSettings::default().stats_members),
            full: tokio::sync::Notify::new(),
        }
    }

    /// These statistics with at most `members` member ids waiting to be written.
    #[must_use]
    pub fn with_capacity(mut self, members: usize) -> Self {
        self.bound = Bound::new("stats_members", members.max(1));
        self
    }

    /// The batch's size in member ids (for `/metrics`).
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// The date of `now` in the statistics' time zone.
    #[must_use]
    pub fn date_of(&self, now: Timestamp) -> Date {
        now.to_zoned(self.tz.clone()).date()
    }

    /// Counts a message from `user`, seen by the bot account `account`.
    pub fn message(&self, group: GroupId, user: i64, account: i64, now: Timestamp) {
        let capacity = self.bound.capacity();
        let mut batch = self.lock();
        let full = batch.member_ids >= capacity;
        let day = self.day(&mut batch, group, now);
        day.messages += 1;
        day.account = Some(account);
        let added = if full {
            if !day.members.contains(&user) {
                self.bound.evict(1);
            }
            false
        } else {
            day.members.insert(user)
        };
        if added {
            batch.member_ids += 1;
            self.bound.set_len(batch.member_ids);
            if batch.member_ids >= capacity {
                self.full.notify_one();
            }
        }
    }

    /// Counts a member joining.
    pub fn joined(&self, group: GroupId, now: Timestamp) {
        self.update(group, now, |day| day.joins += 1);
    }

    /// Counts a member leaving (or being removed).
    pub fn left(&self, group: GroupId, now: Timestamp) {
        self.update(group, now, |day| day.leaves += 1);
    }

    /// Counts a violation of `rule` and, unless it was only observed (dry run), the measure
    /// taken (`warn`, `mute`, `kick` …).
    pub fn violation(&self, group: GroupId, rule: &str, measure: Option<&str>, now: Timestamp) {
        self.update(group, now, |day| {
            bump(&mut day.violations, rule);
            if let Some(measure) = measure {
                bump(&mut day.actions, measure);
            }
        });
    }

    /// Counts a measure an admin took by command (`mute`, `unmute`, `kick`).
    pub fn action(&self, group: GroupId, measure: &str, now: Timestamp) {
        self.update(group, now, |day| bump(&mut day.actions, measure));
    }

    fn update(&self, group: GroupId, now: Timestamp, f: impl FnOnce(&mut DayStats)) {
        let mut batch = self.lock();
        f(self.day(&mut batch, group, now));
    }

    /// The batch's entry of `group` on the day of `now`.
    fn day<'b>(&self, batch: &'b mut Batch, group: GroupId, now: Timestamp) -> &'b mut DayStats {
        let now_ms = now.as_millisecond();
        let date = match batch.current {
            Some((start, end, date)) if (start..end).contains(&now_ms) => date,
            _ => {
                let (start, end, date) = self.day_bounds(now);
                batch.current = Some((start, end, date));
                date
            }
        };
        batch.days.entry((group, date)).or_default()
    }

    /// `[start, end)` in unix ms of the day containing `now`, and its date.
    fn day_bounds(&self, now: Timestamp) -> (i64, i64, Date) {
        let zoned = now.to_zoned(self.tz.clone());
        let date = zoned.date();
        let start = zoned
            .start_of_day()
            .map_or(now.as_millisecond(), |z| z.timestamp().as_millisecond());
        let end = date
            .tomorrow()
            .ok()
            .and_then(|d| d.to_zoned(self.tz.clone()).ok())
            .map_or(start, |z| z.timestamp().as_millisecond());
        (start, end, date)
    }

    fn lock(&self) -> MutexGuard<'_, Batch> {
        self.batch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the batch to the store. On failure the batch is kept for the next try.
    pub fn flush(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        let _moving = self.moving.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let days = {
            let mut batch = self.lock();
            batch.member_ids = 0;
            self.bound.set_len(0);
            std::mem::take(&mut batch.days)
        };
        if days.is_empty() {
            return Ok(());
        }
        let batch: Vec<(GroupId, Date, DayStats)> = days.into_iter().map(|((g, d), s)| (g, d, s)).collect();
        match store.merge_stats(&batch, self.date_of(now)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut pending = self.lock();
                for (group, date, day) in batch {
                    pending.days.entry((group, date)).or_default().absorb(&day);
                }
                pending.member_ids = pending.days.values().map(|d| d.members.len()).sum();
                self.bound.set_len(pending.member_ids);
                Err(e)
            }
        }
    }

    /// A group's days from `from` to `to` (inclusive), stored and not yet written, in date
    /// order; days with nothing counted are left out.
    pub fn days(
        &self,
        store: &Store,
        group: GroupId,
        from: Date,
        to: Date,
    ) -> Result<Vec<(Date, DayStats)>, StoreError> {
        let _moving = self.moving.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut days: std::collections::BTreeMap<Date, DayStats> =
            store.stats_days(group, from, to)?.into_iter().collect();
        let batch = self.lock();
        for ((g, date), pending) in &batch.days {
            if *g == group && (from..=to).contains(date) {
                days.entry(*date).or_default().absorb(pending);
            }
        }
        Ok(days.into_iter().filter(|(_, d)| !d.is_empty()).collect())
    }

    /// Writes the batch every `every` until `cancel` fires, then once more. Once a day (and
    /// at the first write) deletes the days older than `retention` (`None`: keep all).
    pub async fn run(
        self: Arc<Self>,
        store: Store,
        clock: SharedClock,
        metrics: Arc<Metrics>,
        every: Duration,
        retention: Option<Duration>,
        cancel: CancellationToken,
    ) {
        let mut swept: Option<Date> = None;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            let stop = tokio::select! {
                () = cancel.cancelled() => true,
                _ = ticks.tick() => false,
                () = self.full.notified() => false,
            };
            let (stats, store, now) = (Arc::clone(&self), store.clone(), clock.now());
            let today = self.date_of(now);
            // A retention reaching past the calendar's start deletes nothing.
            let sweep = retention.filter(|_| swept != Some(today)).and_then(|keep| {
                swept = Some(today);
                let days = i64::try_from(keep.as_secs() / 86_400)
                    .unwrap_or(i64::MAX)
                    .clamp(1, 3_650_000);
                today.checked_sub(jiff::Span::new().days(days)).ok()
            });
            let flushed = tokio::task::spawn_blocking(move || {
                if let Some(before) = sweep {
                    match store.sweep_stats(before) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(days = n, %before, "old group statistics deleted"),
                        Err(e) => tracing::error!(error = %e, "cannot delete old group statistics"),
                    }
                }
                stats.flush(&store, now)
            })
            .await;
            match flushed {
                Ok(Ok(())) => metrics.stats_flush(true),
                Ok(Err(e)) => {
                    metrics.stats_flush(false);
                    tracing::error!(error = %e, "cannot write the group statistics; kept for the next try");
                }
                Err(e) => {
                    metrics.stats_flush(false);
                    tracing::error!(error = %e, "the statistics flush task failed");
                }
            }
            if stop {
                break;
            }
        }
    }
}

/// The label a moderation measure is counted under.
#[must_use]
pub fn measure_name(measure: Measure) -> &'static str {
    match measure {
        Measure::Warn => "warn",
        Measure::Mute { .. } => "mute",
        Measure::Kick => "kick",
        Measure::Ban => "ban",
        Measure::Recall => "recall",
        Measure::Unmute => "unmute",
        Measure::Pardon { .. } => "pardon",
        Measure::JoinApproved => "join_approved",
        Measure::JoinRejected => "join_rejected",
        Measure::Labeled { spam: true } => "label_spam",
        Measure::Labeled { spam: false } => "label_ham",
        Measure::Points { .. } => "points",
        Measure::GlobalBan => "global_ban",
        Measure::GlobalUnban => "global_unban",
    }
}

/// Answers `/stats` off the webhook path: the command only records the event; this asks the
/// platform for the member count (bounded by the gateway's timeout), computes the report and
/// puts the answer in the outbox like any other message.
#[derive(Clone, Debug)]
pub struct Reporter {
    /// The counts.
    pub stats: Arc<GroupStats>,
    /// Stored days, and the outbox the answer goes to.
    pub store: Store,
    /// Where the answer goes, and who asks the platform for the member count.
    pub outbox: OutboxHandle,
    /// The answer's language.
    pub locale: Locale,
    /// Where the member tiers come from (with `[engagement]` on).
    pub tiers: Option<(
        Arc<crate::service::engagement::Engagement>,
        Arc<crate::service::inactivity::Inactivity>,
    )>,
}

impl Reporter {
    /// The last week's summary of `group` as of `now`, with the member count from the
    /// platform (left out, with a log line, when the platform cannot say).
    pub async fn summary(&self, group: GroupId, now: Timestamp) -> Result<(Summary, Option<String>), StoreError> {
        let info = match self.outbox.group_info(group).await {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::warn!(%group, error = %e, "cannot ask the platform for the member count");
                None
            }
        };
        let (stats, store) = (Arc::clone(&self.stats), self.store.clone());
        let today = stats.date_of(now);
        let from = today.checked_sub(jiff::Span::new().days(13)).unwrap_or(today);
        let read = tokio::task::spawn_blocking(move || {
            let days = stats.days(&store, group, from, today)?;
            let first = store.stats_first_day(group)?;
            Ok::<_, StoreError>((days, first))
        })
        .await
        .map_err(|e| StoreError::Join(format!("the stats task: {e}")))??;
        let (days, first) = read;
        // Counts not yet written have no stored first day.
        let first = first.or_else(|| days.first().map(|(d, _)| *d));
        let members = info.as_ref().map(|i| i.member_count);
        Ok((
            stats_report::summarize(&days, today, first, members),
            info.and_then(|i| i.name),
        ))
    }

    /// The member tiers line (counts and trend), if engagement is on and they can be read.
    pub async fn tiers_line(&self, group: GroupId, now: Timestamp) -> Option<String> {
        let rows = self.tier_rows(group, now).await?;
        let (engagement, _) = self.tiers.as_ref()?;
        Some(engagement.tiers_text(&rows))
    }

    /// Each member tier's count and its change over the week, if engagement is on and they
    /// can be read.
    pub async fn tier_rows(
        &self,
        group: GroupId,
        now: Timestamp,
    ) -> Option<Vec<(crate::domain::engagement::Tier, usize, Option<i64>)>> {
        let (engagement, inactivity) = self.tiers.clone()?;
        let rows = tokio::task::spawn_blocking(move || engagement.tier_rows(&inactivity, group, now)).await;
        match rows {
            Ok(Ok(rows)) => Some(rows),
            Ok(Err(e)) => {
                tracing::warn!(%group, error = %e, "cannot read the member tiers");
                None
            }
            Err(e) => {
                tracing::warn!(%group, error = %e, "the member tiers task failed");
                None
            }
        }
    }

    /// Computes the report of `group` and posts it as a reply to `message_id`, in the
    /// background.
    pub fn answer_later(&self, group: GroupId, message_id: i64, now: Timestamp) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut text = match this.summary(group, now).await {
                Ok((summary, _)) => i18n::stats_summary(this.locale, &summary),
                Err(e) => {
                    tracing::error!(%group, error = %e, "cannot read the group statistics");
                    return;
                }
            };
            if let Some(line) = this.tiers_line(group, now).await {
                text.push_text(format!("\n{line}"));
            }
            let action = Action::Send {
                group,
                message: text,
                reply_to: Some(message_id),
            };
            if let Err(e) = this.outbox.send(vec![action], now).await {
                tracing::error!(%group, error = %e, "cannot store the /stats answer");
            }
        });
    }
}

/// Every date from `from` to `to`, with the stored day or zeros.
pub fn every_day(from: Date, to: Date, stored: Vec<(Date, DayStats)>) -> Vec<(Date, DayStats)> {
    let mut stored = stored.into_iter().peekable();
    let mut out = Vec::new();
    let mut date = from;
    while date <= to {
        let day = match stored.peek() {
            Some((d, _)) if *d == date => stored.next().map(|(_, s)| s).unwrap_or_default(),
            _ => DayStats::default(),
        };
        out.push((date, day));
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    out
}

fn bump(map: &mut std::collections::BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn stats(tz: &str) -> GroupStats {
        GroupStats::new(&StatsSettings {
            timezone: tz.into(),
            ..StatsSettings::default()
        })
    }

    #[test]
    fn days_begin_at_local_midnight() {
        let s = stats("Asia/Shanghai");
        let g = GroupId::qq(1);
        // 2026-11-21 15:59:59Z is 23:59:59 in Shanghai; one second later is the next day.
        let before = Timestamp::from_second(1_795_276_799).expect("ts");
        let after = Timestamp::from_second(1_795_276_800).expect("ts");
        s.message(g, 7, 99, before);
        s.message(g, 7, 99, after);
        s.message(g, 8, 99, after);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let days = s.days(&store, g, date(2026, 11, 1), date(2026, 11, 30)).expect("days");
        let summary: Vec<(Date, u64, usize)> = days.iter().map(|(d, s)| (*d, s.messages, s.members.len())).collect();
        assert_eq!(summary, [(date(2026, 11, 21), 1, 1), (date(2026, 11, 22), 2, 2)]);
    }

    #[test]
    fn flushed_and_pending_counts_add_up() {
        let s = stats("UTC");
        let g = GroupId::qq(1);
        let now = Timestamp::from_second(1_795_305_600).expect("ts");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        s.message(g, 1, 99, now);
        s.violation(g, "ads", Some("warn"), now);
        s.flush(&store, now).expect("flush");
        s.message(g, 1, 99, now);
        s.message(g, 2, 99, now);
        s.joined(g, now);
        s.violation(g, "ads", None, now);
        let days = s.days(&store, g, date(2026, 11, 22), date(2026, 11, 22)).expect("days");
        let day = &days[0].1;
        assert_eq!((day.messages, day.active_members, day.joins), (3, 2, 1));
        assert_eq!((day.violations["ads"], day.actions["warn"]), (2, 1));
        s.flush(&store, now).expect("flush");
        assert_eq!(
            s.days(&store, g, date(2026, 11, 22), date(2026, 11, 22)).expect("days")[0].1,
            *day
        );
    }

    #[test]
    fn the_batch_holds_at_most_its_member_ids_and_messages_are_still_counted() {
        let s = stats("UTC").with_capacity(100);
        let bound = s.bound();
        let g = GroupId::qq(1);
        let now = Timestamp::from_second(1_795_305_600).expect("ts");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        for user in 0..150 {
            s.message(g, user, 99, now);
        }
        s.message(g, 3, 99, now);
        assert_eq!((bound.len(), bound.evicted()), (100, 50));
        let day = &s.days(&store, g, date(2026, 11, 22), date(2026, 11, 22)).expect("days")[0].1;
        assert_eq!((day.messages, day.members.len()), (151, 100));
        // Written, the batch starts empty: new members are counted again.
        s.flush(&store, now).expect("flush");
        assert_eq!(bound.len(), 0);
        for user in 100..150 {
            s.message(g, user, 99, now);
        }
        assert_eq!((bound.len(), bound.evicted()), (50, 50));
        let day = &s.days(&store, g, date(2026, 11, 22), date(2026, 11, 22)).expect("days")[0].1;
        assert_eq!((day.messages, day.active_members), (201, 150));
    }
}
