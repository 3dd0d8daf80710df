//! The `members` tree: one record per member of a group qunguan has seen — their trust
//! (joined day, clean messages), when they last spoke, for inactivity (潜水) tracking, and
//! their points.
//!
//! Keys: `platform ‖ group ‖ user` (17 B) → the member's record; `platform ‖ group` (9 B) →
//! [`Tracking`], when qunguan began tracking the group. Both kinds sort by group, so one prefix
//! scan reads a group's tracking start and then its members.
//!
//! **A member's record** (schema 6) has three parts ([`Parts`]), any of which may be absent:
//! the trust record (6 bytes, binary, [`super::trust`]), the activity record
//! ([`MemberActivity`], JSON) and the points record ([`crate::domain::engagement::MemberPoints`],
//! JSON, [`super::engagement`]). Stored in that order: the trust record's 6 bytes, the
//! activity JSON, then a zero byte and the points JSON. The parts are told apart by the first
//! byte — JSON begins with `{`, the trust record with its version (1), the points part with
//! the zero byte — and the activity JSON ends at the zero byte, which stored JSON never holds
//! (a control character in a string is escaped). So a record with trust and activity only is
//! byte for byte what schema 5 wrote, and one with activity only what every schema wrote.
//! Until schema 5 the trust records had a tree of their own (`trust`), and until schema 6 the
//! points records were in `engagement`, with the same key: one more record per member each in
//! sled's bookkeeping (docs/storage.md, "Per-member records"). A record with no part is
//! deleted.
//!
//! **The join part** (schema 8): when the member last joined the group, for the welcome's
//! rejoin window ([`super::welcome`]), as [`JOIN_MARK`] and the time in unix milliseconds
//! (8 bytes, big-endian) *before* the other parts. Until schema 8 it was a record of its own
//! in the `joins` tree, with the same key: one more record per joined member in sled's
//! bookkeeping, kept for the rejoin window. The part outlives the member's stay (a member who
//! left and comes back within the window is not greeted again): a record holding only the join
//! part, or the join and points parts, is a member who left. The joins sweep
//! ([`Store::sweep_joins`]) takes the part off once it is older than the window.
//!
//! The parts keep their own writers and lifecycles: the inactivity tracker replaces the
//! activity part (and forgets it when the member leaves), the trust cache's writes replace
//! the trust part, the engagement writers (message points, check-ins, admins' changes, a
//! strike's penalty, a pardon's refund, opt-out) replace the points part, and the retention
//! sweep removes it; each keeps the other parts as stored. Every writer takes the commit lock,
//! so a read-modify-write here never races another (the batches read outside it and write by
//! compare-and-swap under it). The batches of activity records and of message points are one
//! writer ([`Store::write_members`]), which also writes the trust counts that wait in the
//! trust cache for the same members: a member with all three waiting is read and written once.
//! [`Store::remind_members`] marks the reminded members and enqueues the reminder in one
//! transaction, so a reminder is sent once per step even across a crash.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{Record, decode, encode, is_default};
use super::engagement::{NotedPoints, message_points_part};
use super::keys::{decode_group_prefix, decode_member_key, group_prefix, member_key};
use super::trust::{decode_trust, encode_trust};
use super::{Store, StoreError, abort};
use crate::domain::action::Action;
use crate::domain::activity::{MemberActivity, Since};
use crate::domain::event::GroupId;
use crate::domain::event::Role;
use crate::domain::learning::MemberTrust;

/// The stored form of a [`MemberActivity`] (version 2): short field names, a field at its
/// default left out, and the time as a day number when it is the start of a UTC day (what
/// the inactivity tracker writes: its times are kept to the day). A member who spoke, with a
/// short name, takes about 30 bytes (version 1: about 110, every field spelled out). Version
/// 1's names are read as aliases, so a database written by an older build reads as before.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct StoredActivity<'a> {
    /// `last_ms` as days since 1970-01-01 UTC, when it is a day's start.
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    day: Option<i64>,
    /// `last_ms` otherwise.
    #[serde(rename = "t", alias = "last_ms", skip_serializing_if = "Option::is_none")]
    ms: Option<i64>,
    #[serde(rename = "s", alias = "since", skip_serializing_if = "is_default")]
    since: Since,
    #[serde(rename = "n", alias = "name", skip_serializing_if = "str::is_empty")]
    name: Cow<'a, str>,
    #[serde(rename = "r", alias = "role", skip_serializing_if = "is_default")]
    role: Role,
    #[serde(rename = "k", alias = "reminded", skip_serializing_if = "is_default")]
    reminded: u32,
    #[serde(rename = "x", alias = "removing", skip_serializing_if = "is_default")]
    removing: bool,
}

impl Record for StoredActivity<'_> {
    const WHAT: &'static str = "member activity";
    const VERSION: u8 = 2;
}

/// A day in milliseconds: stored times that are a multiple of it are stored as days.
const DAY_MS: i64 = 86_400_000;

/// A member's activity record as stored.
pub(super) fn encode_activity(record: &MemberActivity) -> Result<Vec<u8>, StoreError> {
    let MemberActivity {
        last_ms,
        since,
        name,
        role,
        reminded,
        removing,
    } = record;
    let (day, ms) = if last_ms.rem_euclid(DAY_MS) == 0 {
        (Some(last_ms.div_euclid(DAY_MS)), None)
    } else {
        (None, Some(*last_ms))
    };
    encode(&StoredActivity {
        day,
        ms,
        since: *since,
        name: Cow::Borrowed(name),
        role: *role,
        reminded: *reminded,
        removing: *removing,
    })
}

/// Reads a stored activity record, in either form.
pub(super) fn decode_activity(bytes: &[u8]) -> Result<MemberActivity, StoreError> {
    let StoredActivity {
        day,
        ms,
        since,
        name,
        role,
        reminded,
        removing,
    } = decode(bytes)?;
    let last_ms = match (day, ms) {
        (Some(day), _) => day.saturating_mul(DAY_MS),
        (None, Some(ms)) => ms,
        (None, None) => 0,
    };
    Ok(MemberActivity {
        last_ms,
        since,
        name: name.into_owned(),
        role,
        reminded,
        removing,
    })
}

/// The length of a member record's trust part ([`super::trust::encode_trust`]).
const TRUST_BYTES: usize = 6;

/// The byte before a member record's points part. JSON as stored never holds it (a control
/// character in a string is escaped), so the activity JSON ends where it begins.
const POINTS_MARK: u8 = 0;

/// The byte a member record's join part begins with: neither a trust record's version, nor
/// `{`, nor [`POINTS_MARK`], and never the first byte of UTF-8 text.
const JOIN_MARK: u8 = 0xff;

/// The length of the join part: [`JOIN_MARK`] and the time.
const JOIN_BYTES: usize = 9;

/// The parts of a stored member record, each absent or empty when the member has none: when
/// they last joined, the trust record, the activity record's JSON and the points record's
/// JSON ([`super::engagement`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Parts<'b> {
    /// When the member last joined, unix ms (kept for the rejoin window).
    pub(super) joined: Option<i64>,
    /// The trust record.
    pub(super) trust: Option<MemberTrust>,
    /// The activity record's JSON (empty: none).
    pub(super) activity: &'b [u8],
    /// The points record's JSON (empty: none).
    pub(super) points: &'b [u8],
}

/// Reads a stored member record's parts, in every form: the activity JSON alone (every
/// schema), the trust record alone or followed by the activity JSON (schema 5), and either
/// of those followed by the points part, or the points part alone (schema 6); any of those,
/// or nothing, after the join part (schema 8).
pub(super) fn split_member(bytes: &[u8]) -> Result<Parts<'_>, StoreError> {
    let bad = |reason: String| StoreError::Decode {
        what: "member record",
        reason,
    };
    let (joined, bytes) = split_joined(bytes).map_err(bad)?;
    if joined.is_some() && bytes.is_empty() {
        return Ok(Parts {
            joined,
            ..Parts::default()
        });
    }
    let (trust, rest) = match bytes.first() {
        Some(b'{' | &POINTS_MARK) => (None, bytes),
        Some(_) if bytes.len() >= TRUST_BYTES => {
            let (trust, rest) = bytes.split_at(TRUST_BYTES);
            (Some(decode_trust(trust)?), rest)
        }
        _ => {
            return Err(bad(format!(
                "{} bytes, neither a trust record nor activity nor points",
                bytes.len()
            )));
        }
    };
    let (activity, points) = match rest.iter().position(|b| *b == POINTS_MARK) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    if rest.len() > activity.len() && points.is_empty() {
        return Err(bad("a points mark and no points after it".into()));
    }
    if activity.first().is_some_and(|b| *b != b'{') || points.first().is_some_and(|b| *b != b'{') {
        return Err(bad("a part that is not JSON".into()));
    }
    Ok(Parts {
        joined,
        trust,
        activity,
        points,
    })
}

/// The join part at the start of a member record, if it has one, and the rest.
fn split_joined(bytes: &[u8]) -> Result<(Option<i64>, &[u8]), String> {
    if bytes.first() != Some(&JOIN_MARK) {
        return Ok((None, bytes));
    }
    let (part, rest) = bytes
        .split_at_checked(JOIN_BYTES)
        .ok_or_else(|| format!("a join mark and {} bytes instead of 8 after it", bytes.len() - 1))?;
    let mut time = [0; 8];
    time.copy_from_slice(&part[1..]);
    Ok((Some(i64::from_be_bytes(time)), rest))
}

/// [`split_member`] for a writer that replaces one part of the record: a record that cannot
/// be read (damage accepted at start, a form no build wrote) is logged and treated as empty,
/// so the write replaces it instead of failing every batch that reaches it.
pub(super) fn parts_to_keep<'b>(key: &[u8; 17], bytes: &'b [u8]) -> Parts<'b> {
    split_member(bytes).unwrap_or_else(|e| {
        let member = decode_member_key(key).map(|(group, user)| format!("{group} {user}"));
        tracing::warn!(member = member.as_deref().unwrap_or("?"), error = %e, "store: an unreadable member record is replaced");
        Parts::default()
    })
}

/// Whether a stored member record says the member is in the group: it has a trust or an
/// activity part. A record with the points part alone is a member who left, whose points
/// wait for the retention sweep.
pub(super) fn is_present(bytes: &[u8]) -> bool {
    let rest = match split_joined(bytes) {
        Ok((_, rest)) => rest,
        Err(_) => bytes,
    };
    !rest.is_empty() && rest.first() != Some(&POINTS_MARK)
}

/// Whether a stored member record has a join part older than `cutoff_ms` (unix ms), read
/// without splitting the rest of the record.
pub(super) fn joined_before(bytes: &[u8], cutoff_ms: i64) -> bool {
    matches!(split_joined(bytes), Ok((Some(at), _)) if at < cutoff_ms)
}

/// [`parts_to_keep`] of a record that may be absent.
pub(super) fn stored_parts<'b>(key: &[u8; 17], bytes: Option<&'b [u8]>) -> Parts<'b> {
    bytes.map(|b| parts_to_keep(key, b)).unwrap_or_default()
}

/// A member record from its parts; `None` when all are absent: the record is deleted.
pub(super) fn join_member(parts: Parts<'_>) -> Option<Vec<u8>> {
    let Parts {
        joined,
        trust,
        activity,
        points,
    } = parts;
    if joined.is_none() && trust.is_none() && activity.is_empty() && points.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(JOIN_BYTES + TRUST_BYTES + activity.len() + 1 + points.len());
    if let Some(joined) = joined {
        out.push(JOIN_MARK);
        out.extend_from_slice(&joined.to_be_bytes());
    }
    if let Some(trust) = trust {
        out.extend_from_slice(&encode_trust(trust));
    }
    out.extend_from_slice(activity);
    if !points.is_empty() {
        out.push(POINTS_MARK);
        out.extend_from_slice(points);
    }
    Some(out)
}

/// The activity part of a stored member record, if it has one.
fn activity_of(bytes: &[u8]) -> Result<Option<MemberActivity>, StoreError> {
    let activity = split_member(bytes)?.activity;
    if activity.is_empty() {
        return Ok(None);
    }
    decode_activity(activity).map(Some)
}

/// Replaces a member record (`old`, as read under the commit lock) by `new`, removing it when
/// `new` is `None`; nothing when unchanged.
pub(super) fn put_member(
    tree: &sled::Tree,
    key: &[u8; 17],
    old: Option<&[u8]>,
    new: Option<Vec<u8>>,
) -> Result<(), sled::Error> {
    match new {
        Some(new) if old != Some(new.as_slice()) => {
            tree.insert(&key[..], new)?;
        }
        None if old.is_some() => {
            tree.remove(&key[..])?;
        }
        _ => {}
    }
    Ok(())
}

/// When qunguan began tracking a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// Unix ms of the first activity recorded in the group.
    pub since_ms: i64,
}

impl Record for Tracking {
    const WHAT: &'static str = "group tracking start";
    const VERSION: u8 = 1;
}

/// One group's tracked members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupActivity {
    /// When tracking began (unix ms), if it has.
    pub since_ms: Option<i64>,
    /// Every tracked member, by user id order.
    pub members: Vec<(i64, MemberActivity)>,
}

/// How many members one chunk of [`Store::write_members`] writes at most under the commit
/// lock.
pub(super) const MEMBERS_BATCH: usize = 64;

/// One member's share of a [`Store::write_members`] pass: a new activity record, message
/// points to add, or both.
struct Due<'a> {
    key: [u8; 17],
    group: GroupId,
    activity: Option<&'a MemberActivity>,
    points: Option<&'a NotedPoints>,
}

/// What a [`Store::write_members`] pass changes in one member's record.
#[derive(Clone, Copy)]
pub(super) struct Change<'a> {
    /// The new activity part (encoded), if any.
    pub(super) activity: Option<&'a [u8]>,
    /// Message points to add to the points part (at most `cap` per day), if any.
    pub(super) points: Option<&'a NotedPoints>,
    /// The trust part (`None`: as stored).
    pub(super) trust: Option<Option<MemberTrust>>,
    /// The daily cap of message points.
    pub(super) cap: u32,
}

impl Change<'_> {
    /// The member's record as stored (`stored`) with this change. An unreadable record is
    /// replaced ([`parts_to_keep`]).
    pub(super) fn apply(&self, key: &[u8; 17], stored: Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        let stored = stored_parts(key, stored);
        let points = self
            .points
            .map(|points| message_points_part(&stored, points, self.cap))
            .transpose()?;
        Ok(join_member(Parts {
            joined: stored.joined,
            trust: self.trust.unwrap_or(stored.trust),
            activity: self.activity.unwrap_or(stored.activity),
            points: points.as_deref().unwrap_or(stored.points),
        }))
    }
}

/// `record` (as [`Change::apply`] made it) with `trust` as its trust part.
fn with_trust(record: Option<Vec<u8>>, trust: Option<MemberTrust>) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(bytes) = record else {
        return Ok(join_member(Parts {
            trust,
            ..Parts::default()
        }));
    };
    let parts = split_member(&bytes)?;
    if parts.trust == trust {
        return Ok(Some(bytes));
    }
    Ok(join_member(Parts { trust, ..parts }))
}

/// A member record a sweep read (key, value as read) and what it writes in its place (`None`:
/// the record is deleted).
pub(super) type SweptMember = (sled::IVec, sled::IVec, Option<Vec<u8>>);

impl Store {
    /// A sweep's writes of member records it read outside the commit lock: under it, each
    /// record is replaced by compare-and-swap, so one written since it was read is left for
    /// the next sweep. Returns how many were replaced.
    pub(super) fn swap_member_records(&self, what: &'static str, swept: Vec<SweptMember>) -> Result<usize, StoreError> {
        if swept.is_empty() {
            return Ok(0);
        }
        let _op = self.begin(what);
        let _log = self.lock();
        let trees = self.write_gate()?;
        let mut replaced = 0;
        for (key, value, new) in swept {
            let swapped = trees.members.compare_and_swap(key, Some(value), new);
            if self.observe(swapped.map_err(StoreError::from))?.is_ok() {
                replaced += 1;
            }
        }
        Ok(replaced)
    }

    /// Records that a member spoke or joined at `record.last_ms`: replaces their record (a new
    /// silence starts, nothing of it reminded yet) and starts the group's tracking if this is
    /// its first activity. A small write, not flushed: sled's background flush persists it.
    pub fn record_activity(&self, group: GroupId, user_id: i64, record: &MemberActivity) -> Result<(), StoreError> {
        self.record_activities(&[(group, user_id, record.clone())])
    }

    /// [`Store::record_activity`] for many members at once: [`Store::write_members`] with no
    /// message points.
    pub fn record_activities(&self, records: &[(GroupId, i64, MemberActivity)]) -> Result<(), StoreError> {
        self.write_members(records, &[], 0)
    }

    /// Writes members' new activity records ([`Store::record_activity`]) and noted message
    /// points ([`Store::add_message_points`], at most `cap` per member and day), with the
    /// trust counts that wait in the trust cache for the same members: **one read and one
    /// write per member** for all three, however many of them the member has.
    ///
    /// In key order, in chunks of at most `MEMBERS_BATCH` members: the commit lock is released
    /// between chunks, so a flush of tens of thousands of members never holds the webhook
    /// path's commits back for long, and a chunk touches a few neighbouring tree nodes and a
    /// few groups (one tracking-start check each). Each record is read and its new value
    /// computed (JSON decoded and encoded) outside the commit lock; under the lock the trust
    /// part is taken from the trust cache (there it is never older than the tree) and the
    /// record is written with a compare-and-swap against what was read, so a record that
    /// another writer changed meanwhile (a violation's penalty, a check-in) is computed again
    /// from what it holds now. One insert each, not a `sled::Batch`: a batch takes sled's
    /// process-wide write lock for all its records, stopping every other read and write
    /// meanwhile; the records need no atomicity among them.
    pub fn write_members(
        &self,
        activities: &[(GroupId, i64, MemberActivity)],
        points: &[(GroupId, i64, NotedPoints)],
        cap: u32,
    ) -> Result<(), StoreError> {
        let mut due: Vec<Due<'_>> = Vec::with_capacity(activities.len() + points.len());
        due.extend(activities.iter().map(|(group, user, activity)| Due {
            key: member_key(*group, *user),
            group: *group,
            activity: Some(activity),
            points: None,
        }));
        due.extend(points.iter().map(|(group, user, points)| Due {
            key: member_key(*group, *user),
            group: *group,
            activity: None,
            points: Some(points),
        }));
        // Stable: of two records of one kind for a member, the later given is kept.
        due.sort_by_key(|d| d.key);
        due.dedup_by(|later, kept| {
            if later.key != kept.key {
                return false;
            }
            kept.activity = later.activity.or(kept.activity);
            kept.points = later.points.or(kept.points);
            true
        });
        for chunk in due.chunks(MEMBERS_BATCH) {
            self.write_members_chunk(chunk, cap)?;
            // Between chunks, outside the commit lock: a paced writer pauses here.
            super::pace::breathe();
        }
        Ok(())
    }

    /// One chunk of [`Store::write_members`].
    fn write_members_chunk(&self, due: &[Due<'_>], cap: u32) -> Result<(), StoreError> {
        if due.is_empty() {
            return Ok(());
        }
        let _op = self.begin("member write");
        let read_in = self.generation();
        let read = self.trees()?;
        let mut groups: Vec<(GroupId, i64)> = Vec::new();
        let mut planned = Vec::with_capacity(due.len());
        for d in due {
            let activity = d.activity.map(encode_activity).transpose()?;
            if let Some(record) = d.activity {
                match groups.iter_mut().find(|(g, _)| *g == d.group) {
                    Some((_, first)) => *first = (*first).min(record.last_ms),
                    None => groups.push((d.group, record.last_ms)),
                }
            }
            let old = self.observe(read.members.get(d.key).map_err(StoreError::from))?;
            planned.push((d, activity, old));
        }
        let mut computed = Vec::with_capacity(planned.len());
        for (d, activity, old) in &planned {
            let change = Change {
                activity: activity.as_deref(),
                points: d.points,
                trust: None,
                cap,
            };
            computed.push(change.apply(&d.key, old.as_deref())?);
        }
        // Not held while waiting for the commit lock: a compaction holding it waits for every
        // holder of the handle before it closes the database for its copier.
        drop(read);
        let _log = self.lock();
        let trees = self.write_gate()?;
        let members = &trees.members;
        // Reopened meanwhile: what was read belongs to the old database. (A compaction's copy
        // holds what was read: no new generation.)
        let stale = self.generation() != read_in;
        for (group, since_ms) in groups {
            let start = encode(&Tracking { since_ms })?;
            // Only the first write of a group succeeds; a failed swap is the normal case.
            let swapped = members.compare_and_swap(group_prefix(group), None::<&[u8]>, Some(start));
            let _ = self.observe(swapped.map_err(StoreError::from))?;
        }
        let generation = self.generation();
        let known = self.inner.trust.known(generation, planned.iter().map(|p| p.0.key));
        let mut counted = Vec::new();
        for (((d, activity, old), new), cached) in planned.into_iter().zip(computed).zip(known) {
            let change = Change {
                activity: activity.as_deref(),
                points: d.points,
                trust: cached,
                cap,
            };
            if let Some(Some(trust)) = cached {
                counted.push((d.key, trust));
            }
            let (expected, value) = match (stale, cached) {
                (true, _) => (None, change.apply(&d.key, None)?),
                (false, Some(trust)) => (old, with_trust(new, trust)?),
                (false, None) => (old, new),
            };
            self.swap_member(members, &d.key, change, expected, value)?;
        }
        self.inner.trust.written(generation, &counted);
        Ok(())
    }

    /// Stores `value` (computed from `expected`, what was read) as `key`'s member record, if
    /// the record still is `expected`; otherwise applies `change` to what it holds now (so a
    /// part another writer changed meanwhile is kept, and points are added to what is there).
    /// One traversal of the tree when nothing changed meanwhile; nothing when `value` is what
    /// is stored. The caller holds the commit lock.
    pub(super) fn swap_member(
        &self,
        tree: &sled::Tree,
        key: &[u8; 17],
        change: Change<'_>,
        mut expected: Option<sled::IVec>,
        mut value: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        loop {
            if expected.as_deref() == value.as_deref() {
                return Ok(());
            }
            let swapped = tree.compare_and_swap(&key[..], expected.as_ref(), value.as_deref());
            match self.observe(swapped.map_err(StoreError::from))? {
                Ok(()) => return Ok(()),
                Err(conflict) => {
                    value = change.apply(key, conflict.current.as_deref())?;
                    expected = conflict.current;
                }
            }
        }
    }

    /// Forgets the activity of a member who left the group (their trust part, if any, is
    /// the trust cache's to forget: [`Store::forget_trust`]; their points part stays, for
    /// the retention sweep: a member who comes back keeps their points).
    pub fn forget_member(&self, group: GroupId, user_id: i64) -> Result<(), StoreError> {
        let _log = self.lock();
        let trees = self.write_gate()?;
        let key = member_key(group, user_id);
        let Some(old) = trees.members.get(key)? else {
            return Ok(());
        };
        let parts = Parts {
            activity: &[],
            ..parts_to_keep(&key, &old)
        };
        put_member(&trees.members, &key, Some(&old), join_member(parts))?;
        Ok(())
    }

    /// One member's last recorded activity.
    pub fn member_activity(&self, group: GroupId, user_id: i64) -> Result<Option<MemberActivity>, StoreError> {
        match self.trees()?.members.get(member_key(group, user_id))? {
            Some(bytes) => activity_of(&bytes),
            None => Ok(None),
        }
    }

    /// The tracked members of one group.
    pub fn group_activity(&self, group: GroupId) -> Result<GroupActivity, StoreError> {
        let mut out = GroupActivity::default();
        for entry in self.trees()?.members.scan_prefix(group_prefix(group)) {
            let (key, value) = entry?;
            if key.len() == 9 {
                out.since_ms = Some(decode::<Tracking>(&value)?.since_ms);
            } else if let Some((_, user)) = decode_member_key(&key)
                && let Some(activity) = activity_of(&value)?
            {
                out.members.push((user, activity));
            }
        }
        Ok(out)
    }

    /// Every group with tracked activity.
    pub fn tracked_groups(&self) -> Result<Vec<GroupId>, StoreError> {
        let mut groups = Vec::new();
        for key in self.trees()?.members.iter().keys() {
            let key = key?;
            if key.len() == 9
                && let Some(group) = decode_group_prefix(&key)
            {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    /// Marks `users` of `group` as reminded of step `step` (1-based) and enqueues the reminder
    /// in one transaction — but only the members still silent since `last_ms` as given and not
    /// yet reminded of that step (someone may have spoken since the caller read the records).
    /// `actions` is called with those members (at least one) and returns what to send. Returns
    /// how many members were reminded.
    pub fn remind_members(
        &self,
        group: GroupId,
        users: &[(i64, i64)],
        step: u32,
        actions: impl Fn(&[(i64, MemberActivity)]) -> Vec<Action>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let reminded = self.unit(None, now, |unit| {
            let mut due = Vec::new();
            for &(user, last_ms) in users {
                let key = member_key(group, user);
                let Some(bytes) = unit.members.get(key)? else { continue };
                let parts = split_member(&bytes).map_err(abort)?;
                if parts.activity.is_empty() {
                    continue;
                }
                let mut record = decode_activity(parts.activity).map_err(abort)?;
                if record.last_ms != last_ms || record.reminded >= step {
                    continue;
                }
                record.reminded = step;
                let activity = encode_activity(&record).map_err(abort)?;
                if let Some(value) = join_member(Parts {
                    activity: &activity,
                    ..parts
                }) {
                    unit.members.insert(&key, value)?;
                }
                due.push((user, record));
            }
            if !due.is_empty() {
                unit.stage(actions(&due), None)?;
            }
            Ok(due.len())
        })?;
        Ok(reminded.unwrap_or(0))
    }

    /// Marks a member's removal as enqueued, if they are still silent since `last_ms`.
    /// Returns whether the mark was made.
    pub fn mark_removing(&self, group: GroupId, user_id: i64, last_ms: i64) -> Result<bool, StoreError> {
        let _log = self.lock();
        let trees = self.write_gate()?;
        let members = &trees.members;
        let key = member_key(group, user_id);
        let Some(bytes) = members.get(key)? else {
            return Ok(false);
        };
        let parts = split_member(&bytes)?;
        if parts.activity.is_empty() {
            return Ok(false);
        }
        let mut record = decode_activity(parts.activity)?;
        if record.last_ms != last_ms || record.removing {
            return Ok(false);
        }
        record.removing = true;
        let activity = encode_activity(&record)?;
        let parts = Parts {
            activity: &activity,
            ..parts
        };
        put_member(members, &key, Some(&bytes), join_member(parts))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_is_stored_short_with_days_and_both_forms_read_back() {
        let spoke = MemberActivity::new(20_062 * DAY_MS, Since::Spoke, "u1", Role::Member);
        let bytes = encode_activity(&spoke).expect("encodes");
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf-8"),
            r#"{"v":2,"d":20062,"n":"u1"}"#
        );
        assert_eq!(decode_activity(&bytes).expect("decodes"), spoke);
        let every = MemberActivity {
            last_ms: 1_733_270_400_123,
            since: Since::Joined,
            name: "小李".into(),
            role: Role::Admin,
            reminded: 2,
            removing: true,
        };
        let bytes = encode_activity(&every).expect("encodes");
        assert_eq!(
            std::str::from_utf8(&bytes).expect("utf-8"),
            r#"{"v":2,"t":1733270400123,"s":"joined","n":"小李","r":"admin","k":2,"x":true}"#
        );
        assert_eq!(decode_activity(&bytes).expect("decodes"), every);
        let before_1970 = MemberActivity::new(-3 * DAY_MS, Since::Spoke, "", Role::Owner);
        let bytes = encode_activity(&before_1970).expect("encodes");
        assert_eq!(decode_activity(&bytes).expect("decodes"), before_1970);
        // Version 1, as builds before the short form wrote it.
        let old = r#"{"v":1,"last_ms":1733270400123,"since":"joined","name":"小李","role":"admin","reminded":2,"removing":true}"#.as_bytes();
        assert_eq!(decode_activity(old).expect("version 1 reads"), every);
        let old = br#"{"v":1,"last_ms":1733270400000,"since":"spoke","name":"u1","role":"member","reminded":0}"#;
        let read = decode_activity(old).expect("version 1 without `removing` reads");
        assert_eq!(
            read,
            MemberActivity::new(1_733_270_400_000, Since::Spoke, "u1", Role::Member)
        );
        assert!(decode_activity(br#"{"v":3,"d":1}"#).is_err(), "a newer form is refused");
    }

    #[test]
    fn a_member_record_holds_trust_activity_or_both_and_reads_every_form() {
        let trust = MemberTrust {
            joined_day: 20_048,
            clean: 2,
        };
        let activity =
            encode_activity(&MemberActivity::new(20_062 * DAY_MS, Since::Spoke, "u1", Role::Member)).expect("encodes");
        let parts = |trust, activity, points| Parts {
            joined: None,
            trust,
            activity,
            points,
        };
        // Both: the trust record's 6 bytes, then the activity JSON.
        let both = join_member(parts(Some(trust), &activity, &[])).expect("a record");
        assert_eq!(&both[..6], &[1, 0, 0, 0x4e, 0x50, 2]);
        assert_eq!(&both[6..], br#"{"v":2,"d":20062,"n":"u1"}"#);
        assert_eq!(split_member(&both).expect("reads"), parts(Some(trust), &activity, &[]));
        // Trust alone: byte for byte what the `trust` tree held until schema 5.
        let alone = join_member(parts(Some(trust), &[], &[])).expect("a record");
        assert_eq!(alone, encode_trust(trust));
        assert_eq!(split_member(&alone).expect("reads"), parts(Some(trust), &[], &[]));
        assert_eq!(activity_of(&alone).expect("reads"), None);
        // Activity alone: the JSON as every schema stored it, version 1 included.
        assert_eq!(join_member(parts(None, &activity, &[])), Some(activity.clone()));
        assert_eq!(split_member(&activity).expect("reads"), parts(None, &activity, &[]));
        let v1 = br#"{"v":1,"last_ms":1733270400000,"since":"spoke","name":"u1","role":"member","reminded":0}"#;
        assert_eq!(
            activity_of(v1).expect("reads"),
            Some(MemberActivity::new(1_733_270_400_000, Since::Spoke, "u1", Role::Member))
        );
        let mut v1_with_trust = encode_trust(trust).to_vec();
        v1_with_trust.extend_from_slice(v1);
        assert_eq!(
            activity_of(&v1_with_trust).expect("reads").map(|a| a.last_ms),
            Some(1_733_270_400_000)
        );
        // Schema 6: the points part last, after a zero byte, with any of the others or alone.
        let points = br#"{"v":2,"p":5,"n":"u1"}"#;
        let all = join_member(parts(Some(trust), &activity, points)).expect("a record");
        assert_eq!(&all[..6], &both[..6]);
        assert_eq!(&all[6..6 + activity.len()], &activity[..]);
        assert_eq!(all[6 + activity.len()], 0);
        assert_eq!(&all[7 + activity.len()..], points);
        assert_eq!(
            split_member(&all).expect("reads"),
            parts(Some(trust), &activity, points)
        );
        for (trust, activity) in [(Some(trust), &[][..]), (None, &activity[..]), (None, &[][..])] {
            let record = join_member(parts(trust, activity, points)).expect("a record");
            assert_eq!(split_member(&record).expect("reads"), parts(trust, activity, points));
        }
        assert_eq!(
            join_member(parts(None, &[], points)).expect("a record")[0],
            0,
            "points alone begin with the zero byte"
        );
        // A name with a zero character is escaped in the JSON, never the raw byte.
        let named = MemberActivity::new(0, Since::Spoke, "a\0b", Role::Member);
        let named = encode_activity(&named).expect("encodes");
        assert!(!named.contains(&0));
        // Neither: nothing to store.
        assert_eq!(join_member(parts(None, &[], &[])), None);
        // What no build wrote is refused, not misread.
        assert!(split_member(&[]).is_err());
        assert!(split_member(&[1, 0, 0]).is_err(), "a cut trust record");
        assert!(split_member(&[2, 0, 0, 0, 0, 0]).is_err(), "a newer trust form");
        assert!(
            activity_of(&[1, 0, 0, 0, 0, 0, b'x']).is_err(),
            "trust and no JSON after it"
        );
        assert!(split_member(&[0]).is_err(), "a points mark and no points");
        assert!(split_member(b"{}\0x").is_err(), "points that are not JSON");
    }

    #[test]
    fn the_join_part_comes_first_and_keeps_every_other_form_readable() {
        let trust = MemberTrust {
            joined_day: 20_048,
            clean: 2,
        };
        let activity =
            encode_activity(&MemberActivity::new(20_062 * DAY_MS, Since::Spoke, "u1", Role::Member)).expect("encodes");
        let points = br#"{"v":2,"p":5,"n":"u1"}"#;
        let joined = 1_733_270_400_123_i64;
        let mut expected_head = vec![0xff];
        expected_head.extend_from_slice(&joined.to_be_bytes());
        for trust in [None, Some(trust)] {
            for activity in [&[][..], &activity[..]] {
                for points in [&[][..], &points[..]] {
                    let parts = Parts {
                        joined: Some(joined),
                        trust,
                        activity,
                        points,
                    };
                    let record = join_member(parts).expect("a record");
                    assert_eq!(&record[..9], &expected_head[..], "the join part first");
                    assert_eq!(split_member(&record).expect("reads"), parts);
                    // The rest is byte for byte the record without the join part.
                    assert_eq!(
                        join_member(Parts { joined: None, ..parts }).unwrap_or_default(),
                        record[9..].to_vec()
                    );
                    // In the group while it has a trust or an activity part, whatever the join
                    // part says.
                    assert_eq!(is_present(&record), trust.is_some() || !activity.is_empty());
                    assert!(joined_before(&record, joined + 1));
                    assert!(!joined_before(&record, joined));
                }
            }
        }
        // A record without the part was never joined before anything.
        assert!(!joined_before(&encode_trust(trust), i64::MAX));
        // A cut join part is refused, not misread.
        assert!(split_member(&expected_head[..5]).is_err());
        assert!(split_member(&[0xff]).is_err());
    }

    #[test]
    fn one_pass_writes_activity_points_and_the_waiting_trust_count_of_a_member_together() {
        use crate::domain::engagement::Period;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let group = GroupId::qq(1);
        let day = 20_062;
        let at_ms = day * DAY_MS + 5_000;
        // Member 7 has all three waiting; member 8 points only; member 9 activity only.
        let counted = store.trust_message(group, 7, at_ms, true, 3).expect("counted");
        let spoke = |name: &str| MemberActivity::new(day * DAY_MS, Since::Spoke, name, Role::Member);
        let noted = |points| NotedPoints {
            name: "n".into(),
            period: Period {
                day: i32::try_from(day).expect("fits"),
                week: 1,
                month: 1,
            },
            points,
        };
        let activities = [(group, 9, spoke("c")), (group, 7, spoke("a"))];
        let points = [(group, 8, noted(2)), (group, 7, noted(3))];
        store.write_members(&activities, &points, 20).expect("written");
        let trees = store.trees().expect("open");
        let record = trees
            .members
            .get(member_key(group, 7))
            .expect("read")
            .expect("a record");
        let parts = split_member(&record).expect("reads");
        assert_eq!(parts.trust, Some(counted), "the waiting count, in the same write");
        assert_eq!(decode_activity(parts.activity).expect("activity"), spoke("a"));
        assert_eq!(store.member_points(group, 7).expect("read").map(|p| p.points), Some(3));
        assert_eq!(store.write_pending_trust().expect("batch"), 0, "nothing left to write");
        assert_eq!(store.member_points(group, 8).expect("read").map(|p| p.points), Some(2));
        assert_eq!(store.member_activity(group, 8).expect("read"), None);
        assert_eq!(store.member_activity(group, 9).expect("read"), Some(spoke("c")));
        assert_eq!(store.member_points(group, 9).expect("read"), None);
        assert_eq!(
            store.group_activity(group).expect("read").since_ms,
            Some(day * DAY_MS),
            "the group's tracking starts with its first activity"
        );
        // Points add to what is stored and keep the other parts; the daily cap holds.
        store.write_members(&[], &[(group, 7, noted(30))], 20).expect("written");
        let after = store.member_points(group, 7).expect("read").expect("a record");
        assert_eq!((after.points, after.msg_points), (20, 20));
        assert_eq!(store.member_activity(group, 7).expect("read"), Some(spoke("a")));
        assert_eq!(store.trust(group, 7).expect("read"), Some(counted));
    }
}
