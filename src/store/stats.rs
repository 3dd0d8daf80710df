//! Group health statistics: one record per group per day, tree `stats`.
//!
//! Key: `platform ‖ group ‖ day` (13 bytes), the day as `yyyymmdd` (u32 BE), so a group's
//! days form one prefix range in date order. The counts arrive in batches from
//! the stats service, which aggregates in memory; [`Store::merge_stats`] adds a
//! batch to what is stored. The flusher is the only writer of this tree.
//!
//! Active members: while a day may still receive messages its record keeps the set of member
//! ids seen (so counts from before a restart and after it are not added twice); a day that
//! is over keeps only their number, which bounds the tree at a small record per group-day.

use jiff::civil::Date;

use super::codec::{Record, decode, encode};
use super::{Store, StoreError, group_prefix};
use crate::domain::event::GroupId;
use crate::domain::stats::DayStats;

impl Record for DayStats {
    const WHAT: &'static str = "day of group stats";
    const VERSION: u8 = 1;
}

/// `yyyymmdd` of a date.
#[must_use]
pub fn day_number(date: Date) -> u32 {
    let year = u32::try_from(date.year()).unwrap_or(0);
    let month = u32::try_from(date.month()).unwrap_or(0);
    let day = u32::try_from(date.day()).unwrap_or(0);
    year * 10_000 + month * 100 + day
}

/// The date of a `yyyymmdd` number.
#[must_use]
pub fn day_date(n: u32) -> Option<Date> {
    let year = i16::try_from(n / 10_000).ok()?;
    let month = i8::try_from(n / 100 % 100).ok()?;
    let day = i8::try_from(n % 100).ok()?;
    Date::new(year, month, day).ok()
}

fn stats_key(group: GroupId, date: Date) -> [u8; 13] {
    let mut k = [0; 13];
    k[..9].copy_from_slice(&group_prefix(group));
    k[9..].copy_from_slice(&day_number(date).to_be_bytes());
    k
}

impl Store {
    /// Adds a batch of counts to the stored days. Days before `today` are closed: their
    /// member sets are reduced to the count.
    pub fn merge_stats(&self, batch: &[(GroupId, Date, DayStats)], today: Date) -> Result<(), StoreError> {
        let trees = self.trees()?;
        let tree = &trees.stats;
        for (group, date, delta) in batch {
            let key = stats_key(*group, *date);
            let mut day = match tree.get(key)? {
                Some(bytes) => decode::<DayStats>(&bytes)?,
                None => DayStats::default(),
            };
            day.absorb(delta);
            if *date < today {
                day.active_members = day.active_members.max(day.members.len() as u64);
                day.members.clear();
            }
            tree.insert(key, encode(&day)?)?;
        }
        Ok(())
    }

    /// A group's stored days from `from` to `to` (inclusive), in date order; days with no
    /// record are left out.
    pub fn stats_days(&self, group: GroupId, from: Date, to: Date) -> Result<Vec<(Date, DayStats)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.stats.range(stats_key(group, from)..=stats_key(group, to)) {
            let (key, value) = entry?;
            let number = key
                .get(9..13)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes);
            let Some(date) = number.and_then(day_date) else {
                return Err(StoreError::Decode {
                    what: DayStats::WHAT,
                    reason: format!("a key with no valid date ({} bytes)", key.len()),
                });
            };
            out.push((date, decode::<DayStats>(&value)?));
        }
        Ok(out)
    }

    /// Deletes every group's days before `before`; returns how many. Each group's days are
    /// in date order, so the scan reads only the old days and the first young one per group.
    pub fn sweep_stats(&self, before: Date) -> Result<usize, StoreError> {
        let trees = self.trees()?;
        let tree = &trees.stats;
        let cutoff = day_number(before).to_be_bytes();
        let mut removed = 0;
        let mut from: Vec<u8> = Vec::new();
        loop {
            let Some(entry) = tree.range(from.as_slice()..).next() else {
                break;
            };
            let (key, _) = entry?;
            let Some(prefix) = key.get(..9) else {
                // Not a key this module wrote; step over it.
                from = next_key(&key);
                continue;
            };
            if key.get(9..13).is_some_and(|day| day < cutoff.as_slice()) {
                tree.remove(&key)?;
                removed += 1;
                from = key.to_vec();
            } else {
                // This group's remaining days are young: go on with the next group.
                from = match super::keys::next_prefix(prefix) {
                    Some(p) => p,
                    None => break,
                };
            }
        }
        Ok(removed)
    }

    /// The first day a group has statistics for.
    pub fn stats_first_day(&self, group: GroupId) -> Result<Option<Date>, StoreError> {
        let Some(entry) = self.trees()?.stats.scan_prefix(group_prefix(group)).next() else {
            return Ok(None);
        };
        let (key, _) = entry?;
        Ok(key
            .get(9..13)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .and_then(day_date))
    }
}

/// The smallest key after `key`.
fn next_key(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn day(messages: u64, members: &[i64], rule: Option<&str>) -> DayStats {
        DayStats {
            messages,
            members: members.iter().copied().collect(),
            violations: rule.map(|r| (r.to_owned(), 1)).into_iter().collect(),
            ..DayStats::default()
        }
    }

    #[test]
    fn batches_add_up_and_members_are_counted_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(726_300_112);
        let other = GroupId::telegram(-1_001);
        let today = date(2026, 11, 22);
        store
            .merge_stats(
                &[
                    (g, today, day(3, &[1, 2], Some("ads"))),
                    (other, today, day(9, &[5], None)),
                ],
                today,
            )
            .expect("merge");
        store
            .merge_stats(&[(g, today, day(2, &[2, 3], Some("ads")))], today)
            .expect("merge");
        let days = store.stats_days(g, date(2026, 11, 1), today).expect("read");
        assert_eq!(days.len(), 1);
        let (d, s) = &days[0];
        assert_eq!(*d, today);
        assert_eq!((s.messages, s.active_members, s.members.len()), (5, 3, 3));
        assert_eq!(s.violations["ads"], 2);
        assert_eq!(store.stats_first_day(g).expect("first"), Some(today));
    }

    #[test]
    fn a_closed_day_keeps_only_its_member_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let g = GroupId::qq(1);
        let (yesterday, today) = (date(2026, 11, 21), date(2026, 11, 22));
        store
            .merge_stats(&[(g, yesterday, day(1, &[1, 2], None))], yesterday)
            .expect("merge");
        // The last batch of yesterday arrives after midnight.
        store
            .merge_stats(&[(g, yesterday, day(1, &[2, 4], None))], today)
            .expect("merge");
        let days = store.stats_days(g, yesterday, today).expect("read");
        let s = &days[0].1;
        assert_eq!((s.messages, s.active_members), (2, 3));
        assert!(s.members.is_empty(), "closed days drop the ids");
    }

    #[test]
    fn the_sweep_deletes_old_days_of_every_group_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        let groups = [GroupId::telegram(-1_001), GroupId::qq(5), GroupId::qq(6)];
        let days = [
            date(2025, 1, 1),
            date(2026, 10, 31),
            date(2026, 11, 1),
            date(2026, 11, 22),
        ];
        let batch: Vec<_> = groups
            .iter()
            .flat_map(|&g| days.iter().map(move |&d| (g, d, day(1, &[], None))))
            .collect();
        store.merge_stats(&batch, date(2026, 11, 22)).expect("merge");
        assert_eq!(store.sweep_stats(date(2026, 11, 1)).expect("sweep"), 2 * groups.len());
        for g in groups {
            let left: Vec<Date> = store
                .stats_days(g, date(2000, 1, 1), date(2030, 1, 1))
                .expect("read")
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            assert_eq!(left, [date(2026, 11, 1), date(2026, 11, 22)], "{g}");
        }
        assert_eq!(store.sweep_stats(date(2026, 11, 1)).expect("sweep"), 0);
    }

    #[test]
    fn day_numbers_round_trip_and_sort_by_date() {
        let cases = [(date(2026, 1, 31), 20_260_131), (date(2026, 12, 1), 20_261_201)];
        for (d, n) in cases {
            assert_eq!(day_number(d), n);
            assert_eq!(day_date(n), Some(d));
        }
        assert_eq!(day_date(20_261_301), None);
    }
}
