//! Expiry: deleting what has outlived its time, in the background.
//!
//! - `seen`: keys older than `storage.seen_ttl`, a record at a time (by the time of the latest
//!   key it holds: [`super::seen`]). The sweep reads
//!   the whole tree (one sequential pass every `[storage] sweep_every`): a time-ordered
//!   index would spare the pass but cost a record per key, and sled keeps an in-memory entry
//!   per page of records, so the index grew the daemon's resident memory with the database
//!   (docs/performance.md, "Session 22: resident memory").
//! - `strikes`: records whose every strike is outside the group's window (the ladder ignores
//!   expired strikes anyway; this only reclaims space). A record changed since it was read is
//!   left alone (compare-and-swap), so a sweep never races a new strike away.
//! - `audit` and `dead`: older than `[audit] retention`. Cases of a group are in time
//!   order, so each group's range is read only up to its first young case. The audit
//!   archive's day files go whole once their day is older ([`super::archive`]). Dead letters
//!   beyond the newest `[limits] dead_letters` go too, whatever their age.
//! - receipts (`state` entries naming the bot's last welcome in a group, to delete it when
//!   the next one is posted, and a gate's question, to delete it when the gate ends): older
//!   than [`RECEIPT_TTL`], past which no platform lets a bot delete its message anyway.
//! - `sent`: the cases of the bot's messages, older than 30 days
//!   ([`super::sent::SENT_RETENTION_MS`]).
//!
//! Delivered outbox items are not swept: they are deleted when delivered.

use std::time::Duration;

use jiff::Timestamp;

use super::codec::decode;
use super::strikes::StoredStrikes;
use super::{DeadLetter, Receipt, Store, StoreError, decode_member_key, group_prefix, keys};
use crate::domain::audit::AuditEntry;
use crate::domain::event::GroupId;
use crate::domain::strike::StrikeRecord;

/// How long a receipt of the bot's last welcome is kept: Telegram lets a bot delete its own
/// messages for 48 hours.
pub const RECEIPT_TTL: Duration = Duration::from_secs(2 * 86_400);

/// What the sweep keeps.
pub struct SweepPolicy<'a> {
    /// How long seen keys are remembered.
    pub seen_ttl: Duration,
    /// How long audit cases and dead letters are kept; `None` = forever.
    pub audit_retention: Option<Duration>,
    /// The strike window of a group.
    pub strike_ttl: &'a (dyn Fn(GroupId) -> Duration + Sync),
}

/// What a sweep deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Seen keys.
    pub seen: usize,
    /// Strike records with no active strike left.
    pub strikes: usize,
    /// Audit cases (in `audit`).
    pub cases: usize,
    /// Day files of the audit archive.
    pub archive_files: usize,
    /// Dead letters.
    pub dead: usize,
    /// Receipts of welcomes.
    pub receipts: usize,
    /// Cases of the bot's sent messages.
    pub sent: usize,
}

pub(super) fn run(store: &Store, now: Timestamp, policy: &SweepPolicy<'_>) -> Result<SweepReport, StoreError> {
    let now_ms = now.as_millisecond();
    let mut report = SweepReport {
        seen: sweep_seen(store, cutoff(now_ms, policy.seen_ttl))?,
        strikes: sweep_strikes(store, now, policy.strike_ttl)?,
        receipts: sweep_receipts(store, cutoff(now_ms, RECEIPT_TTL))?,
        sent: store.sweep_sent(now_ms.saturating_sub(super::sent::SENT_RETENTION_MS))?,
        ..SweepReport::default()
    };
    if let Some(retention) = policy.audit_retention {
        let cut = cutoff(now_ms, retention);
        report.cases = sweep_audit(store, cut)?;
        report.archive_files = store.sweep_archive(cut)?;
        report.dead = sweep_dead(store, cut)?;
    }
    report.dead += store.outbox().trim_dead()?;
    Ok(report)
}

fn cutoff(now_ms: i64, age: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
}

fn sweep_seen(store: &Store, cutoff_ms: i64) -> Result<usize, StoreError> {
    let inner = store.trees()?;
    let mut removed = 0;
    // Every key recorded before the migration to dated keys expires in this pass: none of
    // the undated form can be left after it (`LEGACY_SEEN_KEY`).
    let legacy_since = inner.legacy_seen_since.load(std::sync::atomic::Ordering::Relaxed);
    let retire_legacy = legacy_since != i64::MIN && legacy_since < cutoff_ms;
    for entry in inner.seen.iter() {
        let (key, value) = entry?;
        // A value that is not a time is left alone: nothing this build writes, and nothing the
        // sweep can judge.
        let Some(at_ms) = super::seen::recorded_at(&value) else {
            continue;
        };
        // A record goes whole, once its latest key is old enough; only if unchanged since
        // read (a unit may have added a key to it meanwhile: it stays).
        if at_ms < cutoff_ms
            && inner
                .seen
                .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)?
                .is_ok()
        {
            removed += 1;
        }
    }
    if retire_legacy {
        inner.meta.remove(super::LEGACY_SEEN_KEY)?;
        inner
            .legacy_seen_since
            .store(i64::MIN, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("seen keys: every key recorded before the migration to dated keys has expired");
    }
    Ok(removed)
}

fn sweep_receipts(store: &Store, cutoff_ms: i64) -> Result<usize, StoreError> {
    let trees = store.trees()?;
    let tree = &trees.state;
    let mut removed = 0;
    let welcomes = tree.scan_prefix(super::welcome::RECEIPT_PREFIX.as_bytes());
    let questions = tree.scan_prefix(super::gate::QUESTION_RECEIPT_PREFIX.as_bytes());
    for entry in welcomes.chain(questions) {
        let (key, value) = entry?;
        let stale = decode::<Receipt>(&value).map_or(true, |r| r.sent_ms < cutoff_ms);
        // Only if unchanged since read: a welcome delivered meanwhile keeps its receipt.
        if stale
            && tree
                .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)?
                .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

fn sweep_strikes(
    store: &Store,
    now: Timestamp,
    ttl: &(dyn Fn(GroupId) -> Duration + Sync),
) -> Result<usize, StoreError> {
    let trees = store.trees()?;
    let tree = &trees.strikes;
    let mut removed = 0;
    for entry in tree.iter() {
        let (key, value) = entry?;
        let Some((group, _)) = decode_member_key(&key) else {
            continue;
        };
        let record = StrikeRecord::from(decode::<StoredStrikes>(&value)?);
        if record.count(now, ttl(group)) == 0 {
            // Only if unchanged since read: a strike given meanwhile keeps the record.
            if tree
                .compare_and_swap(&key, Some(&value), None as Option<&[u8]>)?
                .is_ok()
            {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn sweep_audit(store: &Store, cutoff_ms: i64) -> Result<usize, StoreError> {
    let trees = store.trees()?;
    let tree = &trees.audit;
    let mut removed = 0;
    let mut from: Vec<u8> = Vec::new();
    loop {
        let Some(entry) = tree.range(from.as_slice()..).next() else {
            break;
        };
        let (key, _) = entry?;
        let Some(group) = keys::decode_group_prefix(&key) else {
            break;
        };
        let prefix = group_prefix(group);
        for entry in tree.scan_prefix(prefix) {
            let (key, value) = entry?;
            if decode::<AuditEntry>(&value)?.at_ms >= cutoff_ms {
                break;
            }
            tree.remove(&key)?;
            removed += 1;
        }
        // Continue after this group's range.
        match keys::next_prefix(&prefix) {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(removed)
}

fn sweep_dead(store: &Store, cutoff_ms: i64) -> Result<usize, StoreError> {
    let trees = store.trees()?;
    let tree = &trees.dead;
    let mut removed = 0;
    for entry in tree.iter() {
        let (key, value) = entry?;
        // Dead letters are keyed by outbox sequence, which follows decision time closely;
        // stop at the first young one.
        if decode::<DeadLetter>(&value)?.dead_ms >= cutoff_ms {
            break;
        }
        if tree.remove(&key)?.is_some() {
            trees.dead_removed(1);
            removed += 1;
        }
    }
    Ok(removed)
}

/// Reads the time a seen key was recorded.
#[cfg(test)]
pub(super) fn seen_at(store: &Store, key: &[u8; 16]) -> Result<Option<i64>, StoreError> {
    super::seen::seen_at(&store.trees()?.seen, key)
}
