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
//!   Like the inactivity tracker, the webhook path writes nothing: points are noted in a
//!   bounded map ([`MAX_NOTED`] members, `qunguan_engagement_noted`) and added to the store in
//!   batches every [`FLUSH_EVERY`], before every read that shows points, and at shutdown.
//!   The daily cap is applied when noting (so a spammer costs a hash lookup) and again at the
//!   write (so a restart does not reset it). A crash loses at most the last [`FLUSH_EVERY`] (30 s) of
//!   message points; check-ins and admin adjustments are durable before the answer.
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

use std::collections::HashMap;
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
use crate::service::outbox::OutboxHandle;
use crate::store::{NotedPoints, PointsWrite, Store, StoreError};

/// How often noted message points are written to the store. Each write rewrites the record
/// of every member who spoke since the last one, so a longer interval folds a member's
/// messages into one write: with 5 s, a busy instance rewrote about one record per message
/// (the soak bench's disk per event fell from 1,050 to 730 bytes without the writes at all).
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);

/// The default of `[limits] engagement_members`: the most members whose message points are
/// noted in memory at once (members who spoke today or since the last write). A new member
/// beyond it earns nothing until the next write empties the map of older days;
/// `qunguan_engagement_dropped_total` and `qunguan_memory_evictions_total{structure=
/// "engagement_noted"}` count such messages.
pub const MAX_NOTED: usize = 100_000;

/// One member's message points noted today.
#[derive(Clone, Debug)]
struct Noted {
    period: Period,
    name: String,
    /// Noted today in all (the cap applies to this).
    today: u32,
    /// Not yet written.
    unwritten: u32,
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
    noted: Mutex<HashMap<(GroupId, i64), Noted>>,
    /// The size and capacity of `noted` (`[limits] engagement_members`).
    noted_bound: Arc<Bound>,
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
        Self {
            settings,
            policies,
            store,
            clock,
            outbox,
            metrics,
            tz,
            bonuses,
            noted: Mutex::new(HashMap::new()),
            noted_bound,
            faq,
        }
    }

    /// The bounded in-memory structures: the noted message points and the keyword
    /// answers' cooldowns.
    #[must_use]
    pub fn bounds(&self) -> Vec<Arc<Bound>> {
        vec![Arc::clone(&self.noted_bound), self.faq.bound()]
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

    fn noted(&self) -> std::sync::MutexGuard<'_, HashMap<(GroupId, i64), Noted>> {
        self.noted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A message the filter let through: its points, up to the daily cap. Memory only.
    pub fn spoke(&self, group: GroupId, sender: &Sender, now: Timestamp) {
        let e = &self.settings.engagement;
        if !e.enabled || e.message_points == 0 {
            return;
        }
        let period = self.period(now);
        let mut noted = self.noted();
        let len = noted.len();
        let key = (group, sender.user_id);
        let entry = match noted.get_mut(&key) {
            Some(entry) => entry,
            None if len >= self.noted_bound.capacity() => {
                drop(noted);
                self.noted_bound.evict(1);
                self.metrics.engagement_dropped();
                return;
            }
            None => noted.entry(key).or_insert_with(|| Noted {
                period,
                name: String::new(),
                today: 0,
                unwritten: 0,
            }),
        };
        // A member speaking across midnight within one flush: the earlier day's points are
        // written at once (rare), and today's start afresh.
        let mut earlier = None;
        if entry.period.day != period.day {
            if entry.unwritten > 0 {
                earlier = Some((group, sender.user_id, entry.clone()));
            }
            entry.unwritten = 0;
            entry.period = period;
            entry.today = 0;
        }
        let earned = e
            .message_points
            .min(e.message_points_daily_cap.saturating_sub(entry.today));
        entry.today += earned;
        entry.unwritten += earned;
        if earned > 0 && entry.name != sender.name {
            sender.name.clone_into(&mut entry.name);
        }
        let size = noted.len();
        drop(noted);
        self.noted_bound.set_len(size);
        self.metrics.engagement_noted(size);
        if let Some(earlier) = earlier {
            self.write(vec![earlier]);
        }
    }

    fn write(&self, batch: Vec<(GroupId, i64, Noted)>) {
        let records: Vec<(GroupId, i64, NotedPoints)> = batch
            .into_iter()
            .map(|(group, user, n)| {
                (
                    group,
                    user,
                    NotedPoints {
                        name: n.name,
                        period: n.period,
                        points: n.unwritten,
                    },
                )
            })
            .collect();
        if let Err(e) = self
            .store
            .add_message_points(&records, self.settings.engagement.message_points_daily_cap)
        {
            tracing::warn!(error = %e, members = records.len(), "cannot write message points; they are lost");
        }
    }

    /// Writes the noted message points and forgets the members of earlier days. Called every
    /// [`FLUSH_EVERY`], before every read that shows points, and at shutdown.
    pub fn flush(&self, now: Timestamp) -> Result<(), StoreError> {
        let today = self.period(now).day;
        let batch: Vec<(GroupId, i64, NotedPoints)> = {
            let mut noted = self.noted();
            let batch = noted
                .iter_mut()
                .filter(|(_, n)| n.unwritten > 0)
                .map(|((group, user), n)| {
                    let points = std::mem::take(&mut n.unwritten);
                    (
                        *group,
                        *user,
                        NotedPoints {
                            name: n.name.clone(),
                            period: n.period,
                            points,
                        },
                    )
                })
                .collect();
            noted.retain(|_, n| n.period.day == today);
            self.noted_bound.set_len(noted.len());
            self.metrics.engagement_noted(noted.len());
            batch
        };
        self.store
            .add_message_points(&batch, self.settings.engagement.message_points_daily_cap)
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
