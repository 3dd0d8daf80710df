//! The `seen` tree: the keys of the events that changed something, several to a record
//! (schema 7).
//!
//! Every event that changed something (a violation, a command, a join) records its 16-byte
//! [`EventKey`] here, so a redelivery changes nothing twice; the sweep forgets the keys after
//! `[storage] seen_ttl`. Until schema 7 each key was a record of its own (the key, and its
//! time as the value). sled keeps bookkeeping in memory for every page of records it holds
//! (a leaf page holds at most 16 records, whatever their size), and the seen keys were the
//! most numerous records the soak stream adds, so they now share records:
//!
//! - a record's **key** is the first event key it holds;
//! - its **value** is the time (unix ms, i64 BE) of the latest key recorded in it, then the
//!   last [`REST`] bytes of up to [`MORE`] more keys, sorted, each greater than the record's
//!   key and sharing its first [`FAMILY`] bytes (a dated key's date, to the 256 seconds), and
//!   each less than the next record's key.
//!
//! A key is found by reading the greatest record at or below it ([`Staging::floor`]):
//! either that record's key, or one of its more keys when it is of the same family. A new key
//! goes into that record while it has room; into a record of its own when it is the record's
//! greatest or of another family; otherwise the full record is split at its middle key,
//! which becomes the key of a second record. So under steady traffic a record holds
//! [`MORE`] + 1 keys of the same few seconds, and keys arriving in date order fill records
//! whole.
//!
//! A record written before schema 7 is the same thing with no more keys (a value of 8
//! bytes), so nothing is rewritten on upgrade. The sweep removes a record whole once its
//! time is older than `seen_ttl`: a key is kept until its record's latest key expires, which
//! is remembering an event a little longer, never shorter. The sweep removes by
//! compare-and-swap, so a record a unit rewrote meanwhile stays.

use sled::transaction::ConflictableTransactionError;

use super::StoreError;
use super::journal::Staging;
use crate::domain::event::EventKey;

/// How many leading bytes keys share to be held in one record: a dated key's date, to the
/// 256 seconds (3 of its 4 bytes).
pub(super) const FAMILY: usize = 3;

/// The bytes of a key a record holds for each of its more keys (what follows the family).
pub(super) const REST: usize = 16 - FAMILY;

/// The most keys a record holds besides its own key.
pub(super) const MORE: usize = 16;

/// A record's value: its time and its more keys' rests, or `None` when it is not in this
/// form (nothing this build writes; such a record counts as holding its own key only).
pub(super) fn decode(value: &[u8]) -> Option<(i64, &[u8])> {
    let (time, more) = value.split_first_chunk::<8>()?;
    (more.len() % REST == 0).then(|| (i64::from_be_bytes(*time), more))
}

/// Whether the record `record_key` → `value` holds `key`.
fn holds(record_key: &[u8], value: &[u8], key: &[u8; 16]) -> bool {
    if record_key == key {
        return true;
    }
    if record_key.len() != 16 || record_key[..FAMILY] != key[..FAMILY] {
        return false;
    }
    decode(value).is_some_and(|(_, more)| find(more, &key[FAMILY..]).is_ok())
}

/// Where `rest` is among the sorted rests `more`: `Ok(i)` when it is the `i`th, `Err(i)` where
/// it would go.
fn find(more: &[u8], rest: &[u8]) -> Result<usize, usize> {
    let n = more.len() / REST;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match more[mid * REST..(mid + 1) * REST].cmp(rest) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

fn value(at_ms: i64, rests: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + rests.len() * REST);
    out.extend_from_slice(&at_ms.to_be_bytes());
    for rest in rests {
        out.extend_from_slice(rest);
    }
    out
}

/// Records `key` as seen at `now_ms` inside a unit; false when it already was (a
/// redelivery). With `legacy`, a key an older build recorded for the same event in its
/// undated form counts too ([`super::LEGACY_SEEN_KEY`]).
pub(super) fn record(
    seen: &Staging<'_>,
    legacy: Option<&sled::Tree>,
    key: &EventKey,
    now_ms: i64,
) -> Result<bool, ConflictableTransactionError<StoreError>> {
    let key = &key.0;
    let floor = seen.floor(key)?;
    if let Some((record_key, value)) = &floor
        && holds(record_key, value, key)
    {
        return Ok(false);
    }
    if let Some(tree) = legacy
        && tree.scan_prefix(&key[4..]).next().transpose()?.is_some()
    {
        return Ok(false);
    }
    // The record below, when the key may join it: of its family and in this form.
    let family = floor.as_ref().and_then(|(record_key, value)| {
        if record_key.len() != 16 || record_key[..FAMILY] != key[..FAMILY] {
            return None;
        }
        decode(value).map(|(at, more)| (record_key, at, more))
    });
    let Some((record_key, at_ms, more)) = family else {
        seen.insert(key, &now_ms.to_be_bytes())?;
        return Ok(true);
    };
    let rest = &key[FAMILY..];
    let at_ms = at_ms.max(now_ms);
    let mut rests: Vec<&[u8]> = more.chunks_exact(REST).collect();
    let at = find(more, rest).unwrap_or_else(|i| i);
    if rests.len() < MORE {
        rests.insert(at, rest);
        seen.insert(record_key, value(at_ms, &rests))?;
    } else if at == rests.len() {
        // The greatest of the full record: a record of its own (in date order, records fill).
        seen.insert(key, &now_ms.to_be_bytes())?;
    } else {
        rests.insert(at, rest);
        let middle = rests.len() / 2;
        let mut second_key = [0; 16];
        second_key[..FAMILY].copy_from_slice(&key[..FAMILY]);
        second_key[FAMILY..].copy_from_slice(rests[middle]);
        seen.insert(&second_key, value(at_ms, &rests[middle + 1..]))?;
        seen.insert(record_key, value(at_ms, &rests[..middle]))?;
    }
    Ok(true)
}

/// When a record's latest key was recorded, or `None` when its value is not a seen record
/// (the sweep leaves it alone).
pub(super) fn recorded_at(value: &[u8]) -> Option<i64> {
    decode(value).map(|(at, _)| at)
}

/// The time of the record holding `key` in `tree`, if any holds it.
#[cfg(test)]
pub(super) fn seen_at(tree: &sled::Tree, key: &[u8; 16]) -> Result<Option<i64>, StoreError> {
    let Some((record_key, value)) = tree.range(..=&key[..]).next_back().transpose()? else {
        return Ok(None);
    };
    Ok(if holds(&record_key, &value, key) {
        recorded_at(&value)
    } else {
        None
    })
}

/// How many keys the record's value holds besides its own key (for tests and size
/// accounting).
#[cfg(test)]
pub(super) fn more_keys(value: &[u8]) -> usize {
    decode(value).map_or(0, |(_, more)| more.len() / REST)
}

#[cfg(test)]
mod tests {
    use sled::IVec;

    use super::*;

    fn db() -> sled::Db {
        sled::Config::new().temporary(true).open().expect("db")
    }

    /// Records `keys` one unit each, as the store does; returns which were new.
    fn record_all(db: &sled::Db, tree: &sled::Tree, keys: &[EventKey], now_ms: i64) -> Vec<bool> {
        keys.iter()
            .map(|key| {
                let staging = Staging::new("seen", tree, db);
                let new = record(&staging, None, key, now_ms).expect("record");
                let mut writes = Vec::new();
                staging.drain_into(&mut writes);
                for w in writes {
                    match w.value {
                        Some(v) => tree.insert(w.key, v).expect("insert"),
                        None => tree.remove(w.key).expect("remove"),
                    };
                }
                new
            })
            .collect()
    }

    #[test]
    fn many_keys_of_a_few_seconds_share_records_and_each_is_found_again() {
        let db = db();
        let tree = db.open_tree("seen").expect("tree");
        // 2,000 events over 600 seconds, in arrival order (dates rising, digests random).
        let keys: Vec<EventKey> = (0..2_000_i64)
            .map(|i| EventKey::dated(1_700_000_000 + i * 3 / 10, &format!("event {i}")))
            .collect();
        assert!(record_all(&db, &tree, &keys, 1_000).iter().all(|&new| new));
        // Each recorded once; a second time is a redelivery.
        assert!(record_all(&db, &tree, &keys, 2_000).iter().all(|&new| !new));
        for key in &keys {
            assert_eq!(seen_at(&tree, &key.0).expect("read"), Some(1_000), "{key:?}");
        }
        let records = tree.len();
        let held: usize = tree.iter().map(|e| 1 + more_keys(&e.expect("entry").1)).sum();
        assert_eq!(held, keys.len());
        assert!(records * 8 < keys.len(), "{records} records for {} keys", keys.len());
        // Every record's more keys are sorted, above its key, below the next record's key and
        // of its family.
        let entries: Vec<(IVec, IVec)> = tree.iter().map(|e| e.expect("entry")).collect();
        for (i, (key, value)) in entries.iter().enumerate() {
            let (_, more) = decode(value).expect("a seen record");
            assert!(more.len() / REST <= MORE);
            let mut last = key[FAMILY..].to_vec();
            for rest in more.chunks_exact(REST) {
                assert!(rest > &last[..], "sorted, above the record's key");
                last = rest.to_vec();
            }
            if let Some((next, _)) = entries.get(i + 1) {
                let mut full = key[..FAMILY].to_vec();
                full.extend_from_slice(&last);
                assert!(full < next.to_vec(), "below the next record's key");
            }
        }
        // Keys never recorded are not found, whichever record they fall on.
        for i in 0..500_i64 {
            let other = EventKey::dated(1_700_000_000 + i, &format!("other {i}"));
            assert_eq!(seen_at(&tree, &other.0).expect("read"), None);
        }
    }

    #[test]
    fn a_key_joins_the_record_below_it_only_within_its_family() {
        let db = db();
        let tree = db.open_tree("seen").expect("tree");
        let early = EventKey::dated(1_700_000_000, "a");
        // 256 seconds later: another family, so a record of its own.
        let late = EventKey::dated(1_700_000_256, "b");
        assert_eq!(record_all(&db, &tree, &[early, late], 5), [true, true]);
        assert_eq!(tree.len(), 2);
        assert_eq!(seen_at(&tree, &early.0).expect("read"), Some(5));
        assert_eq!(seen_at(&tree, &late.0).expect("read"), Some(5));
    }

    #[test]
    fn a_record_written_before_schema_7_is_found_and_takes_more_keys() {
        let db = db();
        let tree = db.open_tree("seen").expect("tree");
        // What schema 4–6 wrote: the key, its time.
        let mut old = EventKey::dated(1_700_000_000, "old").0;
        old[FAMILY..].fill(0); // below any other key of its family
        tree.insert(old, &7_i64.to_be_bytes()).expect("insert");
        assert_eq!(seen_at(&tree, &old).expect("read"), Some(7));
        let new = EventKey::dated(1_700_000_001, "new");
        assert_eq!(record_all(&db, &tree, &[EventKey(old), new], 9), [false, true]);
        assert_eq!(tree.len(), 1, "the new key joined the old record");
        assert_eq!(seen_at(&tree, &old).expect("read"), Some(9));
        assert_eq!(seen_at(&tree, &new.0).expect("read"), Some(9));
    }

    #[test]
    fn a_value_of_another_form_holds_its_own_key_only() {
        let db = db();
        let tree = db.open_tree("seen").expect("tree");
        let mut odd = EventKey::dated(1_700_000_000, "odd").0;
        odd[FAMILY..].fill(0);
        tree.insert(odd, b"not a time").expect("insert");
        let new = EventKey::dated(1_700_000_001, "new");
        assert_eq!(record_all(&db, &tree, &[EventKey(odd), new], 9), [false, true]);
        assert_eq!(tree.len(), 2);
        assert_eq!(tree.get(odd).expect("read").as_deref(), Some(&b"not a time"[..]));
        assert_eq!(recorded_at(b"not a time"), None);
    }

    #[test]
    fn the_floor_sees_the_units_own_writes_and_removals() {
        let db = db();
        let tree = db.open_tree("seen").expect("tree");
        for k in [10_u8, 20, 30] {
            tree.insert([k], &[k]).expect("insert");
        }
        let staging = Staging::new("seen", &tree, &db);
        staging.remove(&[20_u8]).expect("remove");
        assert_eq!(
            staging.floor(&[25]).expect("floor").map(|(k, _)| k.to_vec()),
            Some(vec![10])
        );
        staging.insert(&[22_u8], vec![1]).expect("insert");
        assert_eq!(
            staging.floor(&[25]).expect("floor").map(|(k, _)| k.to_vec()),
            Some(vec![22])
        );
        staging.insert(&[30_u8], vec![2]).expect("insert");
        let floor = staging.floor(&[35]).expect("floor");
        assert_eq!(floor.map(|(k, v)| (k.to_vec(), v.to_vec())), Some((vec![30], vec![2])));
        assert_eq!(staging.floor(&[5]).expect("floor"), None);
    }
}
