//! Members' points and check-ins, each group's check-in count of the day, and the keyword
//! answers admins added in the group (`/问答 add`).
//!
//! | tree         | key                                      | value                                |
//! |--------------|------------------------------------------|--------------------------------------|
//! | `members`    | `platform ‖ group ‖ user` (17 B)         | the points part: [`MemberPoints`]    |
//! | `engagement` | `platform ‖ group` (9 B)                 | [`CheckinDay`]: check-ins of the day |
//! | `engagement` | `platform ‖ group ‖ 'q' ‖ number` (18 B) | [`AdminReply`]                       |
//!
//! A member's points are the third part of their record in `members` ([`super::members`]),
//! after their trust and activity parts (schema 6; until then the `engagement` tree held them
//! under the same key, one more record per member). Every writer here replaces the points
//! part and keeps the other two as stored, under the commit lock; the retention sweep removes
//! only the points part. One prefix scan of `members` reads a group's board. A check-in and an
//! admin's adjustment (with its audit case) are each one transaction with the event's seen-key
//! and the bot's answer ([`Store::commit_points`]), so a redelivered `/签到` or `/加分` changes
//! nothing. A strike's penalty is written in the violation's own transaction
//! ([`Store::commit_violation`]). Message points are noted in memory and added here in
//! batches ([`Store::add_message_points`]), capped per member and day again at the write.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::audit::GroupRecord;
use super::codec::{Record, decode, encode, is_default};
use super::keys::{case_key, decode_member_key, group_prefix, member_key};
use super::members::{Parts, join_member, split_member, stored_parts};
use super::unit::{Abort, Core, Unit};
use super::{Committed, Store, StoreError, abort, next_number};
use crate::domain::action::Action;
use crate::domain::audit::AuditEntry;
use crate::domain::effects::{Snapshot, StrikePenalty, Subject, Writes};
use crate::domain::engagement::{MemberPoints, Period};
use crate::domain::event::{EventKey, GroupId};

/// The stored form of a [`MemberPoints`] (version 2): short field names, and a field at its
/// default (0, empty, none) left out. Every member who earns points has one, rewritten by
/// each write of message points while they speak (the engagement service's, every 30 s at
/// most), so its size is most of what message points cost on disk (docs/storage.md).
/// Version 1 spelled every field out and wrote all of them (214 bytes for a member with a
/// short name in the soak stream, against 97); its names are read as aliases, so a database
/// written by an older build reads as before and each record takes the short form at its
/// next write.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct StoredPoints<'a> {
    #[serde(rename = "p", alias = "points", skip_serializing_if = "is_default")]
    points: i64,
    #[serde(rename = "n", alias = "name", skip_serializing_if = "str::is_empty")]
    name: Cow<'a, str>,
    #[serde(rename = "s", alias = "streak", skip_serializing_if = "is_default")]
    streak: u32,
    #[serde(rename = "lc", alias = "last_checkin", skip_serializing_if = "Option::is_none")]
    last_checkin: Option<i32>,
    #[serde(rename = "c", alias = "checkins", skip_serializing_if = "is_default")]
    checkins: u32,
    #[serde(rename = "md", alias = "msg_day", skip_serializing_if = "is_default")]
    msg_day: i32,
    #[serde(rename = "mp", alias = "msg_points", skip_serializing_if = "is_default")]
    msg_points: u32,
    #[serde(rename = "w", alias = "week", skip_serializing_if = "is_default")]
    week: i32,
    #[serde(rename = "wp", alias = "week_points", skip_serializing_if = "is_default")]
    week_points: i64,
    #[serde(rename = "m", alias = "month", skip_serializing_if = "is_default")]
    month: i32,
    #[serde(rename = "mo", alias = "month_points", skip_serializing_if = "is_default")]
    month_points: i64,
    #[serde(rename = "d", alias = "days", skip_serializing_if = "is_default")]
    days: u64,
    #[serde(rename = "ad", alias = "active_day", skip_serializing_if = "is_default")]
    active_day: i32,
    #[serde(rename = "o", alias = "optout", skip_serializing_if = "is_default")]
    optout: bool,
}

impl Record for StoredPoints<'_> {
    const WHAT: &'static str = "member points";
    const VERSION: u8 = 2;
}

/// A member's points record as stored.
pub(super) fn encode_points(record: &MemberPoints) -> Result<Vec<u8>, StoreError> {
    let MemberPoints {
        points,
        name,
        streak,
        last_checkin,
        checkins,
        msg_day,
        msg_points,
        week,
        week_points,
        month,
        month_points,
        days,
        active_day,
        optout,
    } = record;
    encode(&StoredPoints {
        points: *points,
        name: Cow::Borrowed(name),
        streak: *streak,
        last_checkin: *last_checkin,
        checkins: *checkins,
        msg_day: *msg_day,
        msg_points: *msg_points,
        week: *week,
        week_points: *week_points,
        month: *month,
        month_points: *month_points,
        days: *days,
        active_day: *active_day,
        optout: *optout,
    })
}

/// Reads a stored points record, in either form.
pub(super) fn decode_points(bytes: &[u8]) -> Result<MemberPoints, StoreError> {
    let StoredPoints {
        points,
        name,
        streak,
        last_checkin,
        checkins,
        msg_day,
        msg_points,
        week,
        week_points,
        month,
        month_points,
        days,
        active_day,
        optout,
    } = decode(bytes)?;
    Ok(MemberPoints {
        points,
        name: name.into_owned(),
        streak,
        last_checkin,
        checkins,
        msg_day,
        msg_points,
        week,
        week_points,
        month,
        month_points,
        days,
        active_day,
        optout,
    })
}

/// How many members checked in on `day` in a group (the rank of the next one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinDay {
    /// The day number.
    pub day: i32,
    /// Check-ins on it so far.
    pub count: u32,
}

impl Record for CheckinDay {
    const WHAT: &'static str = "check-in count";
    const VERSION: u8 = 1;
}

/// A keyword answer an admin added in the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminReply {
    /// Its number within the group (`/问答 del <number>`).
    pub number: u64,
    /// The keyword as written.
    pub keyword: String,
    /// The answer.
    pub answer: String,
    /// The admin who added it.
    pub created_by: i64,
    /// When, unix ms.
    pub created_ms: i64,
}

impl Record for AdminReply {
    const WHAT: &'static str = "keyword answer";
    const VERSION: u8 = 1;
}

/// How many days of tier counts are kept per group (for the week's trend).
pub const TIER_DAYS_KEPT: i32 = 8;

/// The tag byte after the group prefix of an [`AdminReply`] key.
const REPLY_TAG: u8 = b'q';

fn reply_key(group: GroupId, number: u64) -> [u8; 18] {
    let mut k = [0; 18];
    k[..9].copy_from_slice(&group_prefix(group));
    k[9] = REPLY_TAG;
    k[10..].copy_from_slice(&number.to_be_bytes());
    k
}

/// What a points decision sees inside its transaction.
#[derive(Clone, Debug, Default)]
pub struct PointsView {
    /// The member's record, if they have one.
    pub record: Option<MemberPoints>,
    /// The group's check-ins of the day stored last.
    pub checkins: CheckinDay,
    /// The number an audit case recorded by this commit gets.
    pub next_case: u64,
}

/// What a points decision writes.
#[derive(Clone, Debug, Default)]
pub struct PointsWrite {
    /// The member's new record (`None`: unchanged).
    pub record: Option<MemberPoints>,
    /// The group's new check-in count (`None`: unchanged).
    pub checkins: Option<CheckinDay>,
    /// An audit case (an admin's adjustment).
    pub audit: Option<AuditEntry>,
    /// What to send.
    pub actions: Vec<Action>,
}

/// One member's message points noted since the last batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotedPoints {
    /// The member's name.
    pub name: String,
    /// When they were earned.
    pub period: Period,
    /// How many.
    pub points: u32,
}

/// The points part of a member record's parts, if it has one.
fn points_of(parts: &Parts<'_>) -> Result<Option<MemberPoints>, StoreError> {
    if parts.points.is_empty() {
        return Ok(None);
    }
    decode_points(parts.points).map(Some)
}

/// The parts and points of a member record met by a scan over many members (a board, the
/// retention sweep): a record that cannot be read is logged and skipped, so one damaged
/// member never stops the scan for everyone else. `None` also for a record with no points.
fn scanned_points<'b>(key: &[u8], value: &'b [u8]) -> Option<(Parts<'b>, MemberPoints)> {
    let read = split_member(value).and_then(|parts| Ok(points_of(&parts)?.map(|points| (parts, points))));
    read.unwrap_or_else(|e| {
        let member = decode_member_key(key).map(|(group, user)| format!("{group} {user}"));
        tracing::warn!(member = member.as_deref().unwrap_or("?"), error = %e, "store: an unreadable member record is left out of the points");
        None
    })
}

/// `parts` with `record` as their points part: the member record to store.
fn with_points(parts: Parts<'_>, record: &MemberPoints) -> Result<Vec<u8>, StoreError> {
    let points = encode_points(record)?;
    // Never `None`: the points part is not empty.
    Ok(join_member(Parts {
        points: &points,
        ..parts
    })
    .unwrap_or_default())
}

/// The points part of a member record (`parts`, as stored) with `points` added, at most `cap`
/// per day in all, and the day marked active: the points JSON to store with the other parts
/// ([`Store::write_members`]).
pub(super) fn message_points_part(parts: &Parts<'_>, points: &NotedPoints, cap: u32) -> Result<Vec<u8>, StoreError> {
    let mut record = points_of(parts)?.unwrap_or_default();
    if record.msg_day != points.period.day {
        record.msg_day = points.period.day;
        record.msg_points = 0;
    }
    let room = cap.saturating_sub(record.msg_points);
    let earned = points.points.min(room);
    record.msg_points += earned;
    record.add(i64::from(earned), points.period);
    record.active_on(points.period.day);
    if !points.name.is_empty() {
        record.name.clone_from(&points.name);
    }
    encode_points(&record)
}

/// Inside a violation's unit of work: takes `penalty` for the strikes `writes` adds to the
/// subject member (read from its audit case, `strikes_after - strikes_before`; nothing for a
/// dry run, no case or no new strike, and no record is created for a member who has none).
/// Returns the change made to the balance (0 or negative), which the case records as its
/// `points` (what a `/notspam` gives back). See [`Store::commit_violation`].
pub(super) fn deduct_for_strikes(
    unit: &Core<'_>,
    subject: Subject,
    penalty: Option<StrikePenalty>,
    writes: &mut Writes,
) -> Result<i64, Abort> {
    let change = deduct(unit, subject, penalty, writes)?;
    if change != 0
        && let Some(entry) = writes.audit.as_mut()
    {
        entry.points = change;
    }
    Ok(change)
}

fn deduct(unit: &Core<'_>, subject: Subject, penalty: Option<StrikePenalty>, writes: &Writes) -> Result<i64, Abort> {
    let added = writes
        .audit
        .as_ref()
        .filter(|entry| !entry.dry_run)
        .map_or(0, |entry| entry.strikes_after.saturating_sub(entry.strikes_before));
    let (Some(penalty), Some(user)) = (penalty, subject.user) else {
        return Ok(0);
    };
    let member = member_key(subject.group, user);
    if added == 0 {
        return Ok(0);
    }
    let Some(bytes) = unit.members.get(member)? else {
        return Ok(0);
    };
    // An unreadable record (logged) has no points to take: the violation is recorded all the
    // same.
    let parts = super::members::parts_to_keep(&member, &bytes);
    let Some(mut record) = points_of(&parts).map_err(abort)? else {
        return Ok(0);
    };
    let change = record.add(-penalty.per_strike.saturating_mul(i64::from(added)), penalty.period);
    if change != 0 {
        unit.members
            .insert(&member, with_points(parts, &record).map_err(abort)?)?;
    }
    Ok(change)
}

/// The points a `/notspam` pardon gives back, and the reason its own case records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointsRefund {
    /// The day, week and month the points count for (the boards' tallies).
    pub period: Period,
    /// The reason of the refund's case (`/notspam` of case #N).
    pub reason: String,
}

/// Inside a pardon's unit of work, after its case `pardon_case` was written: gives the
/// subject member back the `points` the pardon's case records (what the pardoned strikes
/// took; nothing for a dry run, no case, no points, or a member with no record), and records
/// that as a case of its own (`Measure::Points`, the admin as actor, `refund.reason`), the
/// next number after the pardon's, as `/加分` would. Returns that case's number and the change.
pub(super) fn refund_for_pardon(
    unit: &Unit<'_>,
    subject: Subject,
    refund: Option<&PointsRefund>,
    pardon: Option<&AuditEntry>,
    pardon_case: Option<u64>,
) -> Result<Option<(u64, i64)>, Abort> {
    let (Some(refund), Some(user), Some(pardon), Some(pardon_case)) = (refund, subject.user, pardon, pardon_case)
    else {
        return Ok(None);
    };
    if pardon.dry_run || pardon.points <= 0 {
        return Ok(None);
    }
    let member = member_key(subject.group, user);
    let Some(bytes) = unit.members.get(member)? else {
        return Ok(None);
    };
    let parts = super::members::parts_to_keep(&member, &bytes);
    let Some(mut record) = points_of(&parts).map_err(abort)? else {
        return Ok(None);
    };
    let change = record.add(pardon.points, refund.period);
    if change == 0 {
        return Ok(None);
    }
    unit.members
        .insert(&member, with_points(parts, &record).map_err(abort)?)?;
    let case = pardon_case + 1;
    let mut entry = AuditEntry::new(
        subject.group,
        pardon.at_ms,
        user,
        pardon.actor.clone(),
        pardon.rule.clone(),
        crate::domain::audit::Measure::Points { delta: change },
    );
    entry.case = case;
    entry.user_name.clone_from(&pardon.user_name);
    entry.reason.clone_from(&refund.reason);
    entry.strikes_before = pardon.strikes_after;
    entry.strikes_after = pardon.strikes_after;
    let prefix = group_prefix(subject.group);
    unit.audit
        .insert(&case_key(subject.group, case), encode(&entry).map_err(abort)?)?;
    unit.groups
        .insert(&prefix, encode(&GroupRecord { last_case: case }).map_err(abort)?)?;
    Ok(Some((case, change)))
}

impl Store {
    /// A member's record.
    pub fn member_points(&self, group: GroupId, user_id: i64) -> Result<Option<MemberPoints>, StoreError> {
        match self.trees()?.members.get(member_key(group, user_id))? {
            Some(bytes) => points_of(&split_member(&bytes)?),
            None => Ok(None),
        }
    }

    /// Every member record of a group, by user id.
    pub fn group_points(&self, group: GroupId) -> Result<Vec<(i64, MemberPoints)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.members.scan_prefix(group_prefix(group)) {
            let (key, value) = entry?;
            if key.len() == 17
                && let Some((_, user)) = decode_member_key(&key)
                && let Some((_, record)) = scanned_points(&key, &value)
            {
                out.push((user, record));
            }
        }
        Ok(out)
    }

    /// Records event `key` with a change to one member's points, decided by `decide` from
    /// what is stored, in one transaction (see [`PointsWrite`]). `None`: the event was already
    /// recorded, nothing changed.
    pub fn commit_points<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        group: GroupId,
        user_id: i64,
        decide: impl Fn(PointsView) -> (PointsWrite, R),
    ) -> Result<Option<(R, Option<u64>)>, StoreError> {
        let member = member_key(group, user_id);
        let prefix = group_prefix(group);
        self.unit(Some(key), now, |unit| {
            let stored = unit.members.get(member)?;
            let parts = stored_parts(&member, stored.as_deref());
            let record = points_of(&parts).map_err(abort)?;
            let checkins = match unit.engagement.get(prefix)? {
                Some(bytes) => decode::<CheckinDay>(&bytes).map_err(abort)?,
                None => CheckinDay::default(),
            };
            let group_record = match unit.groups.get(prefix)? {
                Some(bytes) => decode::<GroupRecord>(&bytes).map_err(abort)?,
                None => GroupRecord::default(),
            };
            let next_case = group_record.last_case + 1;
            let (write, value) = decide(PointsView {
                record,
                checkins,
                next_case,
            });
            if let Some(record) = &write.record {
                unit.members
                    .insert(&member, with_points(parts, record).map_err(abort)?)?;
            }
            if let Some(day) = &write.checkins {
                unit.engagement.insert(&prefix, encode(day).map_err(abort)?)?;
            }
            let case = match write.audit {
                Some(mut entry) => {
                    entry.case = next_case;
                    entry.group = group;
                    unit.audit
                        .insert(&case_key(group, next_case), encode(&entry).map_err(abort)?)?;
                    let record = GroupRecord { last_case: next_case };
                    unit.groups.insert(&prefix, encode(&record).map_err(abort)?)?;
                    Some(next_case)
                }
                None => None,
            };
            unit.stage(write.actions, case)?;
            Ok((value, case))
        })
    }

    /// [`Store::commit`] for a violation, with its point deduction in the same transaction:
    /// the value handed back is the decision's and the change made to the member's balance
    /// (0 or negative).
    ///
    /// # Invariant
    ///
    /// A violation's strikes, audit case, outbox items *and* its `[engagement] strike_penalty`
    /// are one sled transaction, keyed by the violation's event. So there is no moment at
    /// which the strike is durable and the deduction is not: a crash before the commit loses
    /// both (the redelivered event decides again), a crash after it loses neither, and a
    /// redelivery finds the seen-key and deducts nothing twice. (The deduction used to be a
    /// second transaction after the commit, and a crash in between lost it for good.)
    ///
    /// The transaction names only the six trees these writes touch (`Store::core_unit`):
    /// `seen`, `strikes`, `audit`, `groups` (the case counter), `members` (the member's
    /// points part) and `outbox`. The number of new strikes is read from the audit case the
    /// decision records (`strikes_after - strikes_before`): no case, a dry run or no new strike
    /// deducts nothing, and a member with no record (who never earned a point) gets none
    /// created.
    pub fn commit_violation<R>(
        &self,
        key: &EventKey,
        now: Timestamp,
        subject: Subject,
        penalty: Option<StrikePenalty>,
        decide: impl Fn(Snapshot) -> (Writes, R),
    ) -> Result<Option<Committed<(R, i64)>>, StoreError> {
        let decide = |core: &mut Core<'_>, snapshot| {
            let (mut writes, value) = decide(snapshot);
            let change = deduct_for_strikes(core, subject, penalty, &mut writes)?;
            Ok((writes, (value, change)))
        };
        self.core_unit(key, now, |core| {
            super::record_decision(core, Some(subject), &decide, &|_, _, _, _| Ok(()))
        })
    }

    /// Adds noted message points, at most `cap` per member and day in all (what was stored for
    /// the day counts), and marks the day active: [`Store::write_members`] with no activity
    /// records. In key order, in chunks under the commit lock; each record is read and
    /// computed outside it and written under it with one compare-and-swap (no sled batch).
    ///
    /// One sled batch keeps every node it replaces alive until it ends (sled frees them when
    /// the batch's epoch guard drops) and holds every other reader and writer of the database
    /// back meanwhile (sled's process-wide write lock): a single batch of the tens of
    /// thousands of members a busy instance notes in a few seconds took the daemon's resident
    /// memory from 66 to 235 MiB in the soak bench, and batches of 256 made the webhook
    /// path's latency tail (docs/performance.md, "Session 16: store side"). Key order makes
    /// consecutive records share their tree node.
    pub fn add_message_points(&self, noted: &[(GroupId, i64, NotedPoints)], cap: u32) -> Result<(), StoreError> {
        self.write_members(&[], noted, cap)
    }

    /// The tier counts kept for `group`: (day, counts in tier order), oldest first.
    pub fn tier_history(&self, group: GroupId) -> Result<Vec<(i32, [usize; 4])>, StoreError> {
        match self
            .trees()?
            .state
            .get(format!("engagement.tiers/{group}").as_bytes())?
        {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Decode {
                what: "tier history",
                reason: e.to_string(),
            }),
            None => Ok(Vec::new()),
        }
    }

    /// Keeps `counts` as `group`'s tiers of `day`, with the [`TIER_DAYS_KEPT`] days before it.
    pub fn keep_tiers(&self, group: GroupId, day: i32, counts: [usize; 4]) -> Result<(), StoreError> {
        let mut kept = self.tier_history(group)?;
        kept.retain(|(d, _)| *d != day && *d > day - TIER_DAYS_KEPT);
        kept.push((day, counts));
        kept.sort_by_key(|(d, _)| *d);
        let bytes = serde_json::to_vec(&kept).map_err(|e| StoreError::Encode {
            what: "tier history",
            reason: e.to_string(),
        })?;
        self.set_state(&format!("engagement.tiers/{group}"), &bytes)
    }

    /// Enqueues the tier alert `action` for `group` unless one was sent on `day`, and records
    /// the day, in one transaction. Returns whether it was enqueued.
    pub fn commit_alert(&self, group: GroupId, day: i32, action: Action, now: Timestamp) -> Result<bool, StoreError> {
        let name = format!("engagement.alert/{group}");
        let sent = self.unit(None, now, |unit| {
            if let Some(bytes) = unit.state.get(name.as_bytes())?
                && super::codec::decode_i64(&bytes, "tier alert day").map_err(abort)? >= i64::from(day)
            {
                return Ok(false);
            }
            unit.state.insert(name.as_bytes(), &i64::from(day).to_be_bytes())?;
            unit.stage([action.clone()], None)?;
            Ok(true)
        })?;
        Ok(sent.unwrap_or(false))
    }

    /// Deletes the points of members whose last message or check-in was before day `before`
    /// (the points part of their record; the trust and activity parts stay). Returns how
    /// many.
    pub fn sweep_points(&self, before: i32) -> Result<usize, StoreError> {
        let mut stale = Vec::new();
        for entry in self.trees()?.members.iter() {
            let (key, value) = entry?;
            if key.len() != 17 {
                continue;
            }
            let Some((parts, record)) = scanned_points(&key, &value) else {
                continue;
            };
            let last = record.active_day.max(record.last_checkin.unwrap_or(i32::MIN));
            if last < before {
                let kept = join_member(Parts { points: &[], ..parts });
                stale.push((key, value, kept));
            }
        }
        // A record changed since it was read (the member came back, or another part was
        // written) is left alone until the next sweep.
        self.swap_member_records("engagement sweep", stale)
    }

    /// The keyword answers admins added in `group`, by number.
    pub fn admin_replies(&self, group: GroupId) -> Result<Vec<AdminReply>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.engagement.scan_prefix(group_prefix(group)) {
            let (key, value) = entry?;
            if key.len() == 18 && key[9] == REPLY_TAG {
                out.push(decode(&value)?);
            }
        }
        Ok(out)
    }

    /// Every group's admin-added keyword answers.
    pub fn all_admin_replies(&self) -> Result<Vec<(GroupId, AdminReply)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.engagement.iter() {
            let (key, value) = entry?;
            if key.len() == 18
                && key[9] == REPLY_TAG
                && let Some(group) = super::keys::decode_group_prefix(&key)
            {
                out.push((group, decode(&value)?));
            }
        }
        Ok(out)
    }

    /// Adds a keyword answer for the command event `key` (its number is the group's next),
    /// with the answer `reply(number)`. `None`: the event was already recorded.
    pub fn commit_reply_add(
        &self,
        key: &EventKey,
        now: Timestamp,
        group: GroupId,
        reply: &AdminReply,
        answer: impl Fn(u64) -> Action,
    ) -> Result<Option<u64>, StoreError> {
        let counter = format!("faq.last/{group}");
        let now_ms = now.as_millisecond();
        self.unit(Some(key), now, |unit| {
            let number = next_number(unit.state, counter.as_bytes(), "keyword answer counter")?;
            let stored = AdminReply {
                number,
                created_ms: now_ms,
                ..reply.clone()
            };
            unit.engagement
                .insert(&reply_key(group, number), encode(&stored).map_err(abort)?)?;
            unit.stage([answer(number)], None)?;
            Ok(number)
        })
    }

    /// Deletes keyword answer `number` of `group` for the command event `key`, with the answer
    /// `reply(deleted)`. `None`: the event was already recorded.
    pub fn commit_reply_del(
        &self,
        key: &EventKey,
        now: Timestamp,
        group: GroupId,
        number: u64,
        reply: impl Fn(bool) -> Action,
    ) -> Result<Option<bool>, StoreError> {
        let entry = reply_key(group, number);
        self.unit(Some(key), now, |unit| {
            let deleted = unit.engagement.remove(&entry)?.is_some();
            unit.stage([reply(deleted)], None)?;
            Ok(deleted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(day: i32) -> Period {
        Period { day, week: 1, month: 1 }
    }

    #[test]
    fn points_are_stored_short_and_both_forms_read_back() {
        let earned = MemberPoints {
            points: 5,
            name: "u1".into(),
            msg_day: 20_062,
            msg_points: 5,
            week: 2_866,
            week_points: 5,
            month: 659,
            month_points: 5,
            days: 1,
            active_day: 20_062,
            ..MemberPoints::default()
        };
        let bytes = encode_points(&earned).expect("encodes");
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf-8"),
            r#"{"v":2,"p":5,"n":"u1","md":20062,"mp":5,"w":2866,"wp":5,"m":659,"mo":5,"d":1,"ad":20062}"#
        );
        assert_eq!(decode_points(&bytes).expect("decodes"), earned);
        let every = MemberPoints {
            points: 42,
            name: "小\"王\"".into(),
            streak: 3,
            last_checkin: Some(-1),
            checkins: 9,
            msg_day: 20_061,
            msg_points: 4,
            week: 2_865,
            week_points: 12,
            month: 660,
            month_points: 30,
            days: u64::MAX,
            active_day: 20_061,
            optout: true,
        };
        let bytes = encode_points(&every).expect("encodes");
        assert_eq!(decode_points(&bytes).expect("decodes"), every);
        assert_eq!(
            decode_points(br#"{"v":2}"#).expect("all defaults"),
            MemberPoints::default()
        );
        // Version 1, as builds before the short form wrote it.
        let old = r#"{"v":1,"points":42,"name":"小\"王\"","streak":3,"last_checkin":-1,"checkins":9,"msg_day":20061,"msg_points":4,"week":2865,"week_points":12,"month":660,"month_points":30,"days":18446744073709551615,"active_day":20061,"optout":true}"#.as_bytes();
        assert_eq!(decode_points(old).expect("version 1 reads"), every);
        let none = br#"{"v":1,"points":0,"name":"","streak":0,"last_checkin":null,"checkins":0,"msg_day":0,"msg_points":0,"week":0,"week_points":0,"month":0,"month_points":0,"days":0,"active_day":0,"optout":false}"#;
        assert_eq!(decode_points(none).expect("version 1 reads"), MemberPoints::default());
        assert!(decode_points(br#"{"v":3,"p":1}"#).is_err(), "a newer form is refused");
    }

    /// Scans over many members' points (a board, the retention sweep) skip a member record
    /// that cannot be read instead of failing for every member.
    #[test]
    fn a_damaged_member_record_stops_neither_the_sweep_nor_its_groups_board() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let noted = |name: &str| NotedPoints {
            name: name.into(),
            period: period(3),
            points: 2,
        };
        store
            .add_message_points(&[(GroupId::qq(1), 7, noted("u")), (GroupId::qq(2), 9, noted("v"))], 5)
            .expect("points");
        store
            .trees()
            .expect("open")
            .members
            .insert(member_key(GroupId::qq(2), 8), &[7u8, 0, 0, 0, 0, 0][..])
            .expect("insert");
        let board = store.group_points(GroupId::qq(2)).expect("the board reads");
        assert_eq!(board.iter().map(|(user, _)| *user).collect::<Vec<_>>(), vec![9]);
        assert_eq!(store.sweep_points(4).expect("the sweep runs"), 2, "both stale records");
    }

    #[test]
    fn points_computed_from_a_record_changed_meanwhile_are_added_to_what_it_holds_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let key = member_key(GroupId::qq(1), 7);
        let noted = NotedPoints {
            name: "小王".into(),
            period: period(3),
            points: 2,
        };
        // Read when the member had no record; a check-in wrote one (10 points) before the
        // write: the swap finds it and adds to it instead of overwriting it.
        let change = super::super::members::Change {
            activity: None,
            points: Some(&noted),
            trust: None,
            cap: 5,
        };
        let stale = change.apply(&key, None).expect("computed");
        let checked_in = MemberPoints {
            points: 10,
            ..MemberPoints::default()
        };
        let trees = store.trees().expect("open");
        let stored = with_points(Parts::default(), &checked_in).expect("encoded");
        trees.members.insert(key, stored).expect("written");
        store
            .swap_member(&trees.members, &key, change, None, stale)
            .expect("swapped");
        let record = store.member_points(GroupId::qq(1), 7).expect("read").expect("a record");
        assert_eq!((record.points, record.msg_points, record.msg_day), (12, 2, 3));
        assert_eq!(record.name, "小王");
    }

    #[test]
    fn message_points_are_capped_per_day_at_the_write_and_replies_are_apart_from_members() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let group = GroupId::qq(1);
        let noted = |points, day| {
            vec![(
                group,
                7,
                NotedPoints {
                    name: "小王".into(),
                    period: period(day),
                    points,
                },
            )]
        };
        store.add_message_points(&noted(3, 10), 5).expect("add");
        store.add_message_points(&noted(4, 10), 5).expect("add");
        let record = store.member_points(group, 7).expect("read").expect("record");
        assert_eq!((record.points, record.msg_points), (5, 5), "capped at 5 a day");
        store.add_message_points(&noted(4, 11), 5).expect("add");
        let record = store.member_points(group, 7).expect("read").expect("record");
        assert_eq!((record.points, record.msg_points, record.active_days(11, 7)), (9, 4, 2));

        let reply = AdminReply {
            number: 0,
            keyword: "怎么进群".into(),
            answer: "看群公告".into(),
            created_by: 1,
            created_ms: 0,
        };
        let key = EventKey::derive("t/1");
        let now = Timestamp::from_second(1_700_000_000).expect("valid");
        let send = |_| Action::Send {
            group,
            message: crate::domain::action::OutgoingMessage::text("ok"),
            reply_to: None,
        };
        assert_eq!(
            store.commit_reply_add(&key, now, group, &reply, send).expect("add"),
            Some(1)
        );
        assert_eq!(
            store.commit_reply_add(&key, now, group, &reply, send).expect("again"),
            None
        );
        assert_eq!(store.admin_replies(group).expect("read").len(), 1);
        assert_eq!(
            store.group_points(group).expect("read").len(),
            1,
            "the reply is not a member"
        );
        // Retention: the record (last active on day 11) goes once day 12 is the cut-off; the
        // keyword answer stays.
        assert_eq!(store.sweep_points(11).expect("sweep"), 0);
        assert_eq!(store.sweep_points(12).expect("sweep"), 1);
        assert!(store.group_points(group).expect("read").is_empty());
        assert_eq!(store.admin_replies(group).expect("read").len(), 1);
    }

    #[test]
    fn message_points_of_more_members_than_one_batch_are_all_written_and_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let members = i64::try_from(2 * super::super::members::MEMBERS_BATCH + 7).expect("fits");
        // Two groups, users interleaved and out of key order (as a hash map hands them over).
        let noted: Vec<_> = (0..members)
            .rev()
            .map(|user| {
                let group = GroupId::qq(1 + user % 2);
                let points = NotedPoints {
                    name: format!("u{user}"),
                    period: period(10),
                    points: 1 + u32::try_from(user % 4).expect("small"),
                };
                (group, user, points)
            })
            .collect();
        store.add_message_points(&noted, 3).expect("add");
        store.add_message_points(&noted, 3).expect("add again");
        for user in 0..members {
            let group = GroupId::qq(1 + user % 2);
            let record = store.member_points(group, user).expect("read").expect("a record each");
            let once = 1 + user % 4;
            assert_eq!(
                record.points,
                (2 * once).min(3),
                "user {user}: capped at 3 a day over both writes"
            );
            assert_eq!(record.name, format!("u{user}"));
        }
    }

    /// The deduction is part of the violation's transaction: when `commit_violation` returns,
    /// the points are already gone (nothing else runs after the commit that could be lost to
    /// a crash), a redelivery takes nothing twice, and a dry run takes nothing.
    #[test]
    fn a_violation_and_its_point_deduction_are_one_commit() {
        use crate::domain::audit::{Actor, Measure};
        use crate::domain::effects::StrikeWrite;
        use crate::domain::strike::{Strike, StrikeRecord};

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let (group, user) = (GroupId::qq(1), 7);
        let earned = vec![(
            group,
            user,
            NotedPoints {
                name: "小王".into(),
                period: period(10),
                points: 50,
            },
        )];
        store.add_message_points(&earned, 100).expect("earn");
        let now = Timestamp::from_second(1_700_000_000).expect("valid");
        let penalty = StrikePenalty {
            per_strike: 15,
            period: period(10),
        };
        let subject = Subject {
            group,
            user: Some(user),
        };
        let violate = |key: &str, dry_run: bool| {
            store.commit_violation(&EventKey::derive(key), now, subject, Some(penalty), |snapshot| {
                let before = snapshot.record.as_ref().map_or(0, |r| r.strikes.len());
                let mut record = snapshot.record.unwrap_or_else(StrikeRecord::default);
                record.strikes.push(Strike {
                    at_ms: now.as_millisecond(),
                    weight: 1,
                    rule: "ads".into(),
                });
                let mut entry = AuditEntry::new(group, now.as_millisecond(), user, Actor::Auto, "ads", Measure::Warn);
                entry.strikes_before = u32::try_from(before).expect("few");
                entry.strikes_after = entry.strikes_before + 1;
                entry.dry_run = dry_run;
                let strikes = if dry_run {
                    StrikeWrite::Keep
                } else {
                    StrikeWrite::Put(record)
                };
                let writes = Writes {
                    strikes,
                    actions: Vec::new(),
                    audit: Some(entry),
                };
                (writes, ())
            })
        };
        let points = || store.member_points(group, user).expect("read").expect("record").points;

        let first = violate("v/1", false).expect("commit").expect("new event");
        assert_eq!(first.value.1, -15, "the commit reports the deduction it made");
        assert_eq!(points(), 35, "durable with the strike, no second step");
        assert!(violate("v/1", false).expect("again").is_none(), "a redelivery");
        assert_eq!(points(), 35, "a redelivery takes nothing twice");
        let dry = violate("v/2", true).expect("commit").expect("new event");
        assert_eq!((dry.value.1, points()), (0, 35), "a dry run takes nothing");
        let second = violate("v/3", false).expect("commit").expect("new event");
        assert_eq!((second.value.1, points()), (-15, 20));
        let stranger = Subject { group, user: Some(8) };
        let none = store
            .commit_violation(&EventKey::derive("v/4"), now, stranger, Some(penalty), |_| {
                let mut entry = AuditEntry::new(group, now.as_millisecond(), 8, Actor::Auto, "ads", Measure::Warn);
                entry.strikes_after = 1;
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: Vec::new(),
                    audit: Some(entry),
                };
                (writes, ())
            })
            .expect("commit")
            .expect("new event");
        assert_eq!(none.value.1, 0);
        assert!(
            store.member_points(group, 8).expect("read").is_none(),
            "no record is created"
        );
    }

    /// A member record no build can read (schema 6: the points share it with the trust and
    /// activity parts) takes no points and stops no violation from being recorded.
    #[test]
    fn a_violation_against_an_unreadable_member_record_is_recorded_without_a_deduction() {
        use crate::domain::audit::{Actor, Measure};
        use crate::domain::effects::StrikeWrite;

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let (group, user) = (GroupId::qq(1), 7);
        let damaged = [7u8, 0, 0, 0, 0, 0];
        let trees = store.trees().expect("open");
        trees
            .members
            .insert(member_key(group, user), &damaged[..])
            .expect("insert");
        let now = Timestamp::from_second(1_700_000_000).expect("valid");
        let penalty = StrikePenalty {
            per_strike: 15,
            period: period(10),
        };
        let subject = Subject {
            group,
            user: Some(user),
        };
        let committed = store
            .commit_violation(&EventKey::derive("v/1"), now, subject, Some(penalty), |_| {
                let mut entry = AuditEntry::new(group, now.as_millisecond(), user, Actor::Auto, "ads", Measure::Warn);
                entry.strikes_after = 1;
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: Vec::new(),
                    audit: Some(entry),
                };
                (writes, ())
            })
            .expect("recorded")
            .expect("new event");
        assert_eq!((committed.case, committed.value.1), (Some(1), 0));
        let stored = trees.members.get(member_key(group, user)).expect("read");
        assert_eq!(stored.as_deref(), Some(&damaged[..]), "left for the next write");
    }

    /// A pardon gives back the points its case records, in its own transaction, as a case of
    /// its own right after the pardon's; a redelivery, a dry run, a pardon that records no
    /// points and a member with no record give nothing.
    #[test]
    fn a_pardon_gives_back_what_the_strike_took_as_a_case_of_its_own() {
        use crate::domain::audit::{Actor, Measure};
        use crate::domain::effects::StrikeWrite;

        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("store");
        let (group, user) = (GroupId::qq(1), 7);
        let earned = vec![(
            group,
            user,
            NotedPoints {
                name: "小王".into(),
                period: period(10),
                points: 50,
            },
        )];
        store.add_message_points(&earned, 100).expect("earn");
        let now = Timestamp::from_second(1_700_000_000).expect("valid");
        let penalty = StrikePenalty {
            per_strike: 15,
            period: period(10),
        };
        let subject = |user| Subject {
            group,
            user: Some(user),
        };
        let struck = store
            .commit_violation(&EventKey::derive("v/1"), now, subject(user), Some(penalty), |_| {
                let mut entry = AuditEntry::new(group, now.as_millisecond(), user, Actor::Auto, "ads", Measure::Warn);
                entry.strikes_after = 1;
                let writes = Writes {
                    strikes: StrikeWrite::Keep,
                    actions: Vec::new(),
                    audit: Some(entry),
                };
                (writes, ())
            })
            .expect("commit")
            .expect("new event");
        assert_eq!(struck.case, Some(1));
        let case = store.case(group, 1).expect("read").expect("case #1");
        assert_eq!(case.points, -15, "the strike's case records what it took");

        let refund = PointsRefund {
            period: period(10),
            reason: "误判退还：案件 #1 的警告扣除的积分".into(),
        };
        let by = Actor::Admin {
            user_id: 10,
            name: "管理员".into(),
        };
        let pardon = |key: &str, who: i64, points: i64, dry_run: bool| {
            store
                .commit_labelled(
                    &EventKey::derive(key),
                    now,
                    subject(who),
                    &[],
                    None,
                    Some(&refund),
                    |_, _, _| {
                        let mut entry = AuditEntry::new(
                            group,
                            now.as_millisecond(),
                            who,
                            by.clone(),
                            "manual",
                            Measure::Pardon { removed: 1 },
                        );
                        entry.strikes_before = 1;
                        entry.points = points;
                        entry.dry_run = dry_run;
                        let writes = Writes {
                            strikes: StrikeWrite::Keep,
                            actions: Vec::new(),
                            audit: Some(entry),
                        };
                        (writes, None, ())
                    },
                )
                .expect("commit")
        };
        let balance = || store.member_points(group, user).expect("read").expect("record").points;
        assert_eq!(balance(), 35);

        let done = pardon("p/1", user, 15, false).expect("new event");
        assert_eq!((done.case, done.value.refund), (Some(2), Some((3, 15))));
        assert_eq!(balance(), 50, "given back in the pardon's own transaction");
        let given = store.case(group, 3).expect("read").expect("case #3");
        assert_eq!(given.measure, Measure::Points { delta: 15 });
        assert_eq!(
            (given.user_id, &given.actor, given.reason.as_str()),
            (user, &by, refund.reason.as_str())
        );
        assert_eq!(store.cases(Some(group), None).expect("cases").len(), 3);

        assert!(pardon("p/1", user, 15, false).is_none(), "a redelivery");
        assert_eq!(balance(), 50, "a redelivery gives nothing twice");
        let dry = pardon("p/2", user, 15, true).expect("new event");
        assert_eq!((dry.value.refund, balance()), (None, 50), "a dry run gives nothing");
        let nothing = pardon("p/3", user, 0, false).expect("new event");
        assert_eq!((nothing.value.refund, balance()), (None, 50), "no points recorded");
        let stranger = pardon("p/4", 8, 15, false).expect("new event");
        assert_eq!(stranger.value.refund, None);
        assert!(
            store.member_points(group, 8).expect("read").is_none(),
            "no record is created"
        );
        // The refund's case took its number: the next case follows it.
        let next = pardon("p/5", user, 0, false).expect("new event");
        assert_eq!(next.case, Some(7));
    }
}
