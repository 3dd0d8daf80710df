//! Engagement (活跃度): daily check-in (打卡), points (积分), leaderboards (周榜、月榜), keyword
//! answers (关键词回复) and member tiers with alerts — built on what the daemon already has.
//!
//! - **Days** are the group's (`[stats] timezone`): [`crate::policy::engagement::period`] turns
//!   an instant into a day, a week (Monday to Sunday) and a month.
//! - **Check-in** (`/签到`): one transaction with the event's seen-key, the member's record,
//!   the group's count of the day (the rank) and the answer ([`Store::commit_points`]); the
//!   streak and its bonuses are decided by [`crate::policy::engagement::check_in`].
//! - **Message points**: the pipeline calls [`Engagement::spoke`] for each message the filter
//!   and the flood check let through (flagged messages earn nothing, commands earn nothing).
//!   Like the inactivity tracker, the webhook path writes nothing: each member's points of
//!   the day are counted in a bounded set of 8 bytes a member (40 bits of a hash of the member,
//!   8 of the day and 16 of the points: `Today`; [`MAX_NOTED`] members,
//!   `qunguan_engagement_noted`), and the
//!   points not yet written, with the member's name, in a second bounded map
//!   ([`MAX_UNWRITTEN`] members, `engagement_unwritten`). Those are added to the store in
//!   batches every [`FLUSH_EVERY`], as soon as three quarters of [`MAX_UNWRITTEN`] members wait
//!   ([`write_early_at`]), before
//!   every read that shows points, and at shutdown (the periodic batches with the inactivity
//!   tracker's noted times: one write per member, [`Engagement::flush_with`]); so the memory a busy instance holds for
//!   them stays flat however many members speak. The daily cap is applied when noting (so a
//!   spammer costs a hash lookup) and again at the write (so a restart does not reset it). A
//!   crash loses at most the last [`FLUSH_EVERY`] (30 s) of message points; check-ins and
//!   admin adjustments are durable before the answer.
//! - **Strikes** cost `[engagement] strike_penalty` points each, taken away in the violation's
//!   own transaction ([`Engagement::strike_penalty`], [`Store::commit_violation`]): the
//!   strike and its deduction are durable together, and a redelivered violation costs
//!   nothing twice.
//! - **Admins' adjustments** (`/加分`, `/扣分`) are audit cases (measure `points`).
//! - **Opting out** (`/退出积分`) keeps the points but leaves the member off boards, ranks
//!   and alerts.
//! - [`faq`]: keyword answers; [`tiers`]: tiers and the alert to admins.
//!
//! Every message the bot sends here goes through the outbox (the send governor applies).

pub mod faq;
pub mod tiers;

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::Settings;
use crate::domain::action::{Action, OutgoingMessage};
use crate::domain::audit::{Actor, AuditEntry, Measure};
use crate::domain::bounds::Bound;
use crate::domain::clock::SharedClock;
use crate::domain::effects::StrikePenalty;
use crate::domain::engagement::{MemberPoints, Period};
use crate::domain::event::{EventKey, GroupId, GroupMessage, Sender};
use crate::domain::metrics::Metrics;
use crate::domain::rule::RuleId;
use crate::domain::sink::Outcome;
use crate::policy::engagement;
use crate::policy::group::Policies;
use crate::policy::i18n::{self, Board, CheckedIn};
use crate::service::inactivity::{Inactivity, Prehashed, member_hash};
use crate::service::outbox::OutboxHandle;
use crate::store::{NotedPoints, PointsWrite, Store, StoreError};

/// How often noted message points are written to the store. Each write rewrites the record
/// of every member who spoke since the last one, so a longer interval folds a member's
/// messages into one write: with 5 s, a busy instance rewrote about one record per message
/// (the soak bench's disk per event fell from 1,050 to 730 bytes without the writes at all).
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// The default of `[limits] engagement_members`: the most members whose message points of
/// the day are counted in memory at once (members who spoke today). A new member beyond it
/// earns nothing until the next write empties the map of older days;
/// `qunguan_engagement_dropped_total` and `qunguan_memory_evictions_total{structure=
/// "engagement_noted"}` count such messages.
pub const MAX_NOTED: usize = 100_000;

/// The default of `[limits] engagement_unwritten`: the most members whose message points wait
/// in memory for the next write. Half of it full starts a write at once; a member beyond it
/// (the writes cannot keep up) earns nothing for that message, counted like the above under
/// `structure="engagement_unwritten"`.
///
/// 65,536 since session 32 (16,384 before): on a busy instance a batch then holds 32,768
/// members instead of 8,192, so a member who speaks every few seconds has their record
/// rewritten a quarter as often — on the shared bench 0.42 member writes per event instead of
/// 0.98, 11 % less CPU and 17 % less disk over a 1M-event soak, a flatter heap; the map's
/// high-water mark is a few MiB more, and a crash loses the points of the members noted since
/// the last batch (every 30 s at most) — of up to 32,768 members instead of 8,192
/// (docs/performance.md, "Session 32: sled's work per event").
pub const MAX_UNWRITTEN: usize = 65_536;

/// How many members waiting in the points map (of `capacity`, `[limits]
/// engagement_unwritten`) start a write before the next tick: three quarters of it.
///
/// The map is taken whole by each write and grows again from empty, and a hash table holds
/// up to 7/8 of its buckets before it doubles, so the table that holds three quarters of a
/// power-of-two bound is the one that held half of it (65,536 buckets for the default's
/// 49,152 members as for 32,768): waiting for more members costs the names of the extra
/// members, not a larger table, and folds more of each member's messages into one write.
/// Half (before session 37) started the writes sooner: the 1M soak wrote 667 bytes of disk
/// per event then, 638 now (docs/performance.md, "Session 37"). The quarter left is the
/// room for the members who speak while the writer wakes up.
#[must_use]
pub fn write_early_at(capacity: usize) -> usize {
    capacity - capacity / 4
}

/// What is noted between writes.
#[derive(Default)]
struct Noted {
    /// Each member's points of the day, by [`member_hash`]: what the daily cap is checked
    /// against. A hash collision can only make two members share one cap for a day.
    today: HashSet<Today, BuildHasherDefault<Prehashed>>,
    /// The points not yet written.
    unwritten: HashMap<(GroupId, i64), Unwritten>,
}

/// One member's message points of one day, in one word: the top 40 bits of the member's
/// [`member_hash`], the day's low 8 bits and the points (16 bits, saturating). 8 bytes a
/// member where a hash and two numbers took 16: the table of the soak bench's 60,000 members
/// (131,072 buckets) is 1.1 MiB instead of 2.1.
///
/// Equal and hashed by the member's bits alone, so the set finds a member's entry whatever
/// its day and points. What the narrow fields cost:
/// - 40 bits of hash: two of 100,000 members share one daily cap for a day with odds of
///   about 1 in 200 (64 bits took it to nothing, and no more than that is at stake).
/// - 8 bits of day: the set holds only today's entries and, until the next write, yesterday's
///   (every write drops the others), so the day's low bits tell them apart.
/// - 16 bits of points: a daily cap above 65,534 is not checked here once a member passes
///   65,535 points; the write applies it anyway ([`Store::add_message_points`]).
#[derive(Clone, Copy, Debug)]
struct Today(u64);

impl Today {
    const MEMBER: u64 = !0xFF_FFFF;

    fn new(member: u64, day: i32, points: u32) -> Self {
        let points = u64::from(points.min(u32::from(u16::MAX)));
        let day = u64::from(day.to_le_bytes()[0]);
        Self((member & Self::MEMBER) | (day << 16) | points)
    }

    fn is_day(self, day: i32) -> bool {
        (self.0 >> 16) & 0xFF == u64::from(day.to_le_bytes()[0])
    }

    fn points(self) -> u32 {
        u32::try_from(self.0 & 0xFFFF).unwrap_or(0)
    }
}

impl PartialEq for Today {
    fn eq(&self, other: &Self) -> bool {
        self.0 & Self::MEMBER == other.0 & Self::MEMBER
    }
}

impl Eq for Today {}

impl std::hash::Hash for Today {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The member's bits, moved down and mixed over the word ([`Prehashed`] keeps what it
        // is given; its table places by the low bits and tags by the top ones).
        state.write_u64((self.0 >> 24).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
}

/// One member's message points not yet written.
#[derive(Clone, Debug)]
struct Unwritten {
    period: Period,
    points: u32,
    name: Box<str>,
}

impl Unwritten {
    /// The store's record of these points of `user` in `group`.
    fn into_record(self, group: GroupId, user: i64) -> (GroupId, i64, NotedPoints) {
        (
            group,
            user,
            NotedPoints {
                name: self.name.into(),
                period: self.period,
                points: self.points,
            },
        )
    }
}

/// The engagement service of one daemon.
pub struct Engagement {
    settings: Arc<Settings>,
    policies: Policies,
    store: Store,
    clock: SharedClock,
    outbox: OutboxHandle,
    metrics: Arc<Metrics>,
    tz: TimeZone,
    bonuses: Vec<(u32, u32)>,
    noted: Mutex<Noted>,
    /// The size and capacity of `noted.today` (`[limits] engagement_members`).
    noted_bound: Arc<Bound>,
    /// The size and capacity of `noted.unwritten` (`[limits] engagement_unwritten`).
    unwritten_bound: Arc<Bound>,
    /// Wakes the writer early when [`write_early_at`] of `unwritten_bound` is used.
    flush_wanted: tokio::sync::Notify,
    /// Keyword answers and their cooldowns.
    pub faq: faq::Faq,
}

impl std::fmt::Debug for Engagement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engagement").finish_non_exhaustive()
    }
}

/// The reply quoting a command message.
fn reply_to(msg: &GroupMessage, message: OutgoingMessage) -> Action {
    Action::Send {
        group: msg.group,
        message,
        reply_to: Some(msg.message_id),
    }
}

impl Engagement {
    /// The service over `store`, counting into `metrics`; alerts go out through `outbox`.
    #[must_use]
    pub fn new(
        settings: Arc<Settings>,
        policies: Policies,
        store: Store,
        clock: SharedClock,
        outbox: OutboxHandle,
        metrics: Arc<Metrics>,
    ) -> Self {
        let tz = TimeZone::get(&settings.stats.timezone).unwrap_or(TimeZone::UTC);
        let bonuses = settings.engagement.bonuses();
        let faq = faq::Faq::new(&settings, store.clone(), Arc::clone(&metrics));
        let noted_bound = Bound::new("engagement_noted", settings.limits.engagement_members);
        let unwritten_bound = Bound::new("engagement_unwritten", settings.limits.engagement_unwritten);
        Self {
            settings,
            policies,
            store,
            clock,
            outbox,
            metrics,
            tz,
            bonuses,
            noted: Mutex::new(Noted::default()),
            noted_bound,
            unwritten_bound,
            flush_wanted: tokio::sync::Notify::new(),
            faq,
        }
    }

    /// The bounded in-memory structures: the noted message points (of the day, and not yet
    /// written) and the keyword answers' cooldowns.
    #[must_use]
    pub fn bounds(&self) -> Vec<Arc<Bound>> {
        vec![
            Arc::clone(&self.noted_bound),
            Arc::clone(&self.unwritten_bound),
            self.faq.bound(),
        ]
    }

    /// Returns when [`write_early_at`] of `[limits] engagement_unwritten` members wait for a
    /// write (the writer's cue to write before its next tick).
    pub async fn flush_wanted(&self) {
        self.flush_wanted.notified().await;
    }

    /// Whether engagement is on.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.settings.engagement.enabled
    }

    /// The day, week and month of `now` in the group's zone.
    #[must_use]
    pub fn period(&self, now: Timestamp) -> Period {
        engagement::period(now, &self.tz)
    }

    fn locale(&self) -> crate::domain::locale::Locale {
        self.settings.messages.locale
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, Noted> {
        self.noted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A message the filter let through: its points, up to the daily cap. Memory only.
    pub fn spoke(&self, group: GroupId, sender: &Sender, now: Timestamp) {
        let e = &self.settings.engagement;
        if !e.enabled || e.message_points == 0 {
            return;
        }
        let period = self.period(now);
        let hash = member_hash(group, sender.user_id);
        let mut guard = self.noted();
        let noted = &mut *guard;
        let len = noted.today.len();
        let before = match noted.today.get(&Today::new(hash, 0, 0)) {
            Some(today) if today.is_day(period.day) => today.points(),
            Some(_) => 0,
            None if len >= self.noted_bound.capacity() => {
                drop(guard);
                self.noted_bound.evict(1);
                self.metrics.engagement_dropped();
                return;
            }
            None => 0,
        };
        let earned = e.message_points.min(e.message_points_daily_cap.saturating_sub(before));
        noted
            .today
            .replace(Today::new(hash, period.day, before.saturating_add(earned)));
        if earned == 0 {
            return;
        }
        // A member speaking across midnight within one flush: the earlier day's points are
        // written at once (rare), and today's start afresh.
        let mut earlier = None;
        let waiting = noted.unwritten.len();
        match noted.unwritten.get_mut(&(group, sender.user_id)) {
            Some(unwritten) => {
                if unwritten.period.day != period.day {
                    earlier = Some((group, sender.user_id, unwritten.clone()));
                    unwritten.period = period;
                    unwritten.points = 0;
                }
                unwritten.points += earned;
                if *unwritten.name != *sender.name {
                    unwritten.name = sender.name.as_str().into();
                }
            }
            None if waiting >= self.unwritten_bound.capacity() => {
                noted.today.replace(Today::new(hash, period.day, before));
                drop(guard);
                self.unwritten_bound.evict(1);
                self.metrics.engagement_dropped();
                self.flush_wanted.notify_one();
                return;
            }
            None => {
                noted.unwritten.insert(
                    (group, sender.user_id),
                    Unwritten {
                        period,
                        points: earned,
                        name: sender.name.as_str().into(),
                    },
                );
            }
        }
        let (size, waiting) = (noted.today.len(), noted.unwritten.len());
        drop(guard);
        self.noted_bound.set_len(size);
        self.unwritten_bound.set_len(waiting);
        self.metrics.engagement_noted(size);
        if waiting >= write_early_at(self.unwritten_bound.capacity()) {
            self.flush_wanted.notify_one();
        }
        if let Some((group, user, n)) = earlier {
            let records = [n.into_record(group, user)];
            if let Err(e) = self
                .store
                .add_message_points(&records, self.settings.engagement.message_points_daily_cap)
            {
                tracing::warn!(error = %e, "cannot write message points; they are lost");
            }
        }
    }

    /// Writes the noted message points and forgets the members of earlier days. Called every
    /// [`FLUSH_EVERY`], when [`write_early_at`] of `[limits] engagement_unwritten` members wait, before every
    /// read that shows points, and at shutdown.
    pub fn flush(&self, now: Timestamp) -> Result<(), StoreError> {
        self.flush_with(now, None)
    }

    /// [`Engagement::flush`], writing the inactivity tracker's noted message times in the same
    /// pass ([`Store::write_members`]): a member who has both waiting (a member's first
    /// message of the day) is read and written once, not once for each. The periodic flush
    /// uses it; message times written here are not written again by the tracker's own flush.
    pub fn flush_with(&self, now: Timestamp, inactivity: Option<&Inactivity>) -> Result<(), StoreError> {
        let today = self.period(now).day;
        let unwritten = {
            let mut noted = self.noted();
            // Taken whole: the map's room goes with it, so a burst does not keep it large.
            let unwritten = std::mem::take(&mut noted.unwritten);
            let before = noted.today.len();
            noted.today.retain(|t| t.is_day(today));
            if noted.today.len() < before {
                // A new day: the table shrinks to today's members (see `compact`).
                crate::domain::bounds::compact_set(&mut noted.today, 0);
            }
            self.noted_bound.set_len(noted.today.len());
            self.unwritten_bound.set_len(0);
            self.metrics.engagement_noted(noted.today.len());
            unwritten
        };
        let batch: Vec<(GroupId, i64, NotedPoints)> = unwritten
            .into_iter()
            .map(|((group, user), n)| n.into_record(group, user))
            .collect();
        let activities = inactivity.map(Inactivity::take_pending).unwrap_or_default();
        let written = self
            .store
            .write_members(&activities, &batch, self.settings.engagement.message_points_daily_cap);
        if written.is_err()
            && let Some(inactivity) = inactivity
        {
            inactivity.put_back(activities);
        }
        written
    }

    /// `/签到`: checks the sender in, once per day of the group's zone.
    pub fn check_in(&self, key: &EventKey, msg: &GroupMessage, now: Timestamp) -> Result<Outcome, StoreError> {
        let period = self.period(now);
        let (locale, points) = (self.locale(), self.settings.engagement.checkin_points);
        let sender = &msg.sender;
        let committed = self.store.commit_points(key, now, msg.group, sender.user_id, |view| {
            let mut record = view.record.unwrap_or_default();
            let Some(c) = engagement::check_in(&record, period.day, points, &self.bonuses) else {
                let text = match self.settings.engagement.checkin_again_template.as_str() {
                    "" => i18n::already_checked_in(locale, record.streak),
                    template => i18n::render_mentions(
                        template,
                        &[(sender.user_id, sender.name.as_str())],
                        &[("name", sender.name.as_str()), ("streak", &record.streak.to_string())],
                    ),
                };
                let write = PointsWrite {
                    actions: vec![reply_to(msg, text)],
                    ..PointsWrite::default()
                };
                return (write, false);
            };
            record.streak = c.streak;
            record.last_checkin = Some(period.day);
            record.checkins = record.checkins.saturating_add(1);
            record.add(i64::from(c.points) + i64::from(c.bonus), period);
            record.active_on(period.day);
            sender.name.clone_into(&mut record.name);
            let rank = if view.checkins.day == period.day {
                view.checkins.count + 1
            } else {
                1
            };
            let answer = CheckedIn {
                streak: c.streak,
                points: c.points,
                bonus: c.bonus,
                rank,
                total: record.points,
            };
            let text = match self.settings.engagement.checkin_template.as_str() {
                "" => i18n::checked_in(locale, sender.user_id, &sender.name, answer),
                template => i18n::render_mentions(
                    template,
                    &[(sender.user_id, sender.name.as_str())],
                    &[
                        ("name", sender.name.as_str()),
                        ("streak", &answer.streak.to_string()),
                        ("points", &answer.points.to_string()),
                        ("bonus", &answer.bonus.to_string()),
                        ("rank", &answer.rank.to_string()),
                        ("total", &answer.total.to_string()),
                    ],
                ),
            };
            let write = PointsWrite {
                record: Some(record),
                checkins: Some(crate::store::CheckinDay {
                    day: period.day,
                    count: rank,
                }),
                audit: None,
                actions: vec![reply_to(msg, text)],
            };
            (write, true)
        })?;
        Ok(match committed {
            Some((counted, _)) => {
                if counted {
                    self.metrics.engagement_checkin();
                }
                Outcome::Acted { actions: 1 }
            }
            None => Outcome::Duplicate,
        })
    }

    /// A member's balance and rank by balance among the members shown (`None`: opted out).
    pub fn standing(&self, group: GroupId, user_id: i64, now: Timestamp) -> Result<Option<(i64, usize)>, StoreError> {
        self.flush(now)?;
        let members = self.store.group_points(group)?;
        let mine = members.iter().find(|(u, _)| *u == user_id).map(|(_, r)| r);
        let points = match mine {
            Some(r) if r.optout => return Ok(None),
            Some(r) => r.points,
            None => 0,
        };
        let ahead = members
            .iter()
            .filter(|(u, r)| *u != user_id && !r.optout && r.points > points)
            .count();
        Ok(Some((points, ahead + 1)))
    }

    /// The answer to `/积分` about `user_id` (named `name` if known).
    pub fn points_answer(
        &self,
        group: GroupId,
        user_id: i64,
        name: &str,
        now: Timestamp,
    ) -> Result<OutgoingMessage, StoreError> {
        let standing = self.standing(group, user_id, now)?;
        let name = if name.is_empty() {
            self.store
                .member_points(group, user_id)?
                .map(|r| r.name)
                .unwrap_or_default()
        } else {
            name.to_owned()
        };
        Ok(i18n::points(
            self.locale(),
            self.settings.engagement.points_texts(),
            user_id,
            &name,
            standing,
        ))
    }

    /// A leaderboard of `group` at `now`: the week's, or the month's.
    pub fn board(&self, group: GroupId, month: bool, now: Timestamp) -> Result<OutgoingMessage, StoreError> {
        self.flush(now)?;
        let period = self.period(now);
        let mut rows: Vec<(String, i64, i64)> = self
            .store
            .group_points(group)?
            .into_iter()
            .filter(|(_, r)| !r.optout)
            .map(|(user, r)| {
                let points = if month {
                    r.points_in_month(period.month)
                } else {
                    r.points_in_week(period.week)
                };
                (r.name, user, points)
            })
            .filter(|(_, _, points)| *points > 0)
            .collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
        rows.truncate(self.settings.engagement.board_size);
        let which = if month { Board::Month } else { Board::Week };
        Ok(i18n::board(
            self.locale(),
            self.settings.engagement.board_texts(),
            which,
            &rows,
        ))
    }

    /// `/加分` and `/扣分`: changes `target`'s points by `delta`, audited, answered with the
    /// case.
    pub fn adjust(
        &self,
        key: &EventKey,
        msg: &GroupMessage,
        target: i64,
        delta: i64,
        reason: &str,
        now: Timestamp,
    ) -> Result<Outcome, StoreError> {
        self.flush(now)?;
        let period = self.period(now);
        let locale = self.locale();
        let actor = Actor::Admin {
            user_id: msg.sender.user_id,
            name: msg.sender.name.clone(),
        };
        // Kept and posted at most `[limits] excerpt_chars` long, like every stored reason.
        let reason = self.settings.limits.text().excerpt(reason);
        let reason = reason.as_str();
        let committed = self.store.commit_points(key, now, msg.group, target, |view| {
            let mut record = view.record.unwrap_or_default();
            let change = record.add(delta, period);
            let mut entry = AuditEntry::new(
                msg.group,
                now.as_millisecond(),
                target,
                actor.clone(),
                RuleId::Manual.as_str(),
                Measure::Points { delta },
            );
            entry.user_name.clone_from(&record.name);
            reason.clone_into(&mut entry.reason);
            let texts = self.settings.engagement.points_texts();
            let text = i18n::points_adjusted(locale, texts, target, change, record.points, reason, view.next_case);
            let write = PointsWrite {
                record: Some(record),
                checkins: None,
                audit: Some(entry),
                actions: vec![reply_to(msg, text)],
            };
            (write, change)
        })?;
        Ok(match committed {
            Some((change, case)) => {
                tracing::info!(group = %msg.group, user = target, delta, change, case, by = msg.sender.user_id, "points adjusted");
                Outcome::Acted { actions: 1 }
            }
            None => Outcome::Duplicate,
        })
    }

    /// What a strike costs now: `[engagement] strike_penalty` points per strike, counted in
    /// the group's day, week and month; `None` when engagement is off or strikes are free.
    /// The store takes the points away in the violation's own transaction
    /// ([`Store::commit_violation`]), so a crash cannot keep the strike and lose the deduction.
    #[must_use]
    pub fn strike_penalty(&self, now: Timestamp) -> Option<StrikePenalty> {
        let per_strike = i64::from(self.settings.engagement.strike_penalty);
        (self.enabled() && per_strike > 0).then(|| StrikePenalty {
            per_strike,
            period: self.period(now),
        })
    }

    /// How a `/notspam` that pardons case `of_case`'s strikes gives back the points they took
    /// (`None` with engagement off: nothing is given back).
    #[must_use]
    pub fn points_refund(&self, now: Timestamp, of_case: u64) -> Option<crate::store::PointsRefund> {
        self.enabled().then(|| crate::store::PointsRefund {
            period: self.period(now),
            reason: i18n::points_refund_reason(self.locale(), of_case),
        })
    }

    /// `/退出积分`: off the boards and alerts, or back on; the answer says which.
    pub fn optout(&self, key: &EventKey, msg: &GroupMessage, now: Timestamp) -> Result<Outcome, StoreError> {
        let locale = self.locale();
        let committed = self
            .store
            .commit_points(key, now, msg.group, msg.sender.user_id, |view| {
                let mut record = view.record.unwrap_or_default();
                record.optout = !record.optout;
                if record.name.is_empty() {
                    msg.sender.name.clone_into(&mut record.name);
                }
                let texts = self.settings.engagement.optout_texts();
                let text = i18n::opted_out(locale, texts, msg.sender.user_id, &msg.sender.name, record.optout);
                let write = PointsWrite {
                    record: Some(record),
                    actions: vec![reply_to(msg, text)],
                    ..PointsWrite::default()
                };
                (write, ())
            })?;
        Ok(if committed.is_some() {
            Outcome::Acted { actions: 1 }
        } else {
            Outcome::Duplicate
        })
    }

    /// The records of a group (for tiers and the console).
    pub fn records(&self, group: GroupId) -> Result<Vec<(i64, MemberPoints)>, StoreError> {
        self.store.group_points(group)
    }

    /// The time zone days are counted in.
    #[must_use]
    pub fn zone(&self) -> &TimeZone {
        &self.tz
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::ManualClock;
    use crate::domain::event::Role;

    fn service(settings: Settings, start: Timestamp) -> (tempfile::TempDir, Store, Engagement) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let settings = Arc::new(settings);
        let engagement = Engagement::new(
            Arc::clone(&settings),
            settings.policies(),
            store.clone(),
            ManualClock::new(start) as SharedClock,
            OutboxHandle::detached(store.clone()),
            Arc::new(Metrics::default()),
        );
        (dir, store, engagement)
    }

    fn sender(user_id: i64) -> Sender {
        Sender {
            user_id,
            name: format!("成员{user_id}"),
            role: Role::Member,
        }
    }

    #[test]
    fn waiting_for_three_quarters_of_the_bound_takes_no_larger_table_than_half() {
        for bound in [256, 16_384, MAX_UNWRITTEN] {
            let table = |members: usize| {
                let mut map = HashMap::new();
                for user in 0..members {
                    map.insert((GroupId::qq(1), i64::try_from(user).expect("small")), ());
                }
                map.capacity()
            };
            let early = write_early_at(bound);
            assert_eq!(table(early), table(bound / 2), "bound {bound}");
            assert!(
                table(bound) > table(early),
                "bound {bound}: the full map is a larger table"
            );
            assert!(early > bound / 2 && early < bound);
        }
    }

    #[tokio::test]
    async fn the_unwritten_points_hold_at_most_their_capacity_and_three_quarters_ask_for_a_write() {
        let mut settings = Settings::default();
        settings.limits.engagement_unwritten = 256;
        settings.engagement.message_points_daily_cap = 2;
        let start = Timestamp::from_second(1_700_000_000).expect("valid");
        let (_dir, store, engagement) = service(settings, start);
        let [noted, unwritten, _] = <[Arc<Bound>; 3]>::try_from(engagement.bounds()).expect("three bounds");
        assert_eq!(unwritten.capacity(), 256);
        let group = GroupId::qq(1);
        let asked = || {
            let wanted = engagement.flush_wanted();
            tokio::pin!(wanted);
            ready_at_once(wanted.as_mut())
        };
        for user in 0..191 {
            engagement.spoke(group, &sender(user), start);
        }
        assert!(!asked(), "fewer than three quarters wait");
        engagement.spoke(group, &sender(191), start);
        assert!(asked(), "three quarters wait: the writer is woken");
        for user in 128..300 {
            engagement.spoke(group, &sender(user), start);
        }
        // A member already waiting still earns (up to the cap); new ones beyond the bound not.
        engagement.spoke(group, &sender(0), start);
        engagement.spoke(group, &sender(0), start);
        assert_eq!(unwritten.len(), 256);
        assert_eq!(unwritten.evicted(), 300 - 256);
        assert_eq!(noted.len(), 300);
        engagement.flush(start).expect("flush");
        assert_eq!(unwritten.len(), 0);
        assert_eq!(noted.len(), 300, "today's counts stay for the cap");
        let points = |user| store.member_points(group, user).expect("read").map(|p| p.points);
        assert_eq!(points(0), Some(2), "capped at 2 a day");
        assert_eq!(points(255), Some(1));
        assert_eq!(points(256), None, "dropped: the bound was full");
        // After the write there is room again, and the dropped member's message did not count
        // against the day's cap.
        engagement.spoke(group, &sender(256), start);
        engagement.spoke(group, &sender(256), start);
        engagement.spoke(group, &sender(0), start);
        engagement.flush(start).expect("flush");
        assert_eq!(points(256), Some(2));
        assert_eq!(points(0), Some(2));
        // The next day the counts of the day before are forgotten by the write.
        let next_day = Timestamp::from_second(1_700_000_000 + 86_400).expect("valid");
        engagement.spoke(group, &sender(0), next_day);
        engagement.flush(next_day).expect("flush");
        assert_eq!(noted.len(), 1);
        assert_eq!(points(0), Some(3));
    }

    #[test]
    fn a_members_points_of_the_day_take_one_word() {
        assert_eq!(std::mem::size_of::<Today>(), 8);
        let member = member_hash(GroupId::qq(1), 42);
        let today = Today::new(member, 19_700, 17);
        assert!(today.is_day(19_700));
        assert!(!today.is_day(19_701), "yesterday's entry is told from today's");
        assert_eq!(today.points(), 17);
        assert_eq!(Today::new(member, 19_700, 1_000_000).points(), 65_535, "saturates");
        // Found by the member whatever its day and points; another member is not it.
        let mut set: HashSet<Today, BuildHasherDefault<Prehashed>> = HashSet::default();
        set.insert(today);
        assert_eq!(set.get(&Today::new(member, 0, 0)).map(|t| t.points()), Some(17));
        set.replace(Today::new(member, 19_701, 1));
        assert_eq!(set.len(), 1);
        assert!(set.get(&Today::new(member, 0, 0)).is_some_and(|t| t.is_day(19_701)));
        assert!(!set.contains(&Today::new(member_hash(GroupId::qq(1), 43), 0, 0)));
        // The table of 60,000 members: 131,072 buckets of 8 bytes.
        for user in 0..60_000 {
            set.insert(Today::new(member_hash(GroupId::qq(2), user), 19_700, 1));
        }
        assert_eq!(set.len(), 60_001, "no two of these members share 40 bits");
        assert_eq!(set.capacity(), 114_688);
    }

    /// Whether `future` is ready at its first poll.
    fn ready_at_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
        let waker = std::task::Waker::noop();
        future.poll(&mut std::task::Context::from_waker(waker)).is_ready()
    }
}
