//! Read-only views across a group's trees for the operators' console: which groups the
//! instance keeps, a group's strike records, and audit cases newest first with a filter.

use super::codec::decode;
use super::keys::next_prefix;
use super::strikes::StoredStrikes;
use super::{Store, StoreError, decode_group_prefix, decode_member_key, group_prefix};
use crate::domain::audit::AuditEntry;
use crate::domain::event::GroupId;
use crate::domain::strike::StrikeRecord;

impl Store {
    /// Every group with anything stored: statistics, audit cases, strikes or member
    /// activity. Each tree is read one key per group (the scan jumps to the next group's
    /// prefix), so this costs a few reads per group, not per record.
    pub fn known_groups(&self) -> Result<Vec<GroupId>, StoreError> {
        let trees = self.trees()?;
        let mut groups = std::collections::BTreeSet::new();
        for tree in [&trees.stats, &trees.groups, &trees.strikes, &trees.members] {
            let mut from: Vec<u8> = Vec::new();
            loop {
                let Some(entry) = tree.range(from.as_slice()..).next() else {
                    break;
                };
                let (key, _) = entry?;
                let Some(prefix) = key.get(..9) else {
                    break;
                };
                if let Some(group) = decode_group_prefix(prefix) {
                    groups.insert(group);
                }
                match next_prefix(prefix) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
        Ok(groups.into_iter().collect())
    }

    /// The strike records of `group`'s members, at most `limit`, by member id.
    pub fn strike_records(&self, group: GroupId, limit: usize) -> Result<Vec<(i64, StrikeRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.strikes.scan_prefix(group_prefix(group)) {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            let Some((_, user)) = decode_member_key(&key) else {
                continue;
            };
            out.push((user, StrikeRecord::from(decode::<StoredStrikes>(&value)?)));
        }
        Ok(out)
    }

    /// The newest cases matching `keep`, newest first, at most `limit`: of `group`, or of
    /// every group, in `audit` and in the archive. Cases no older than `since_ms` only (cases
    /// of a group are numbered in time order, so the scan of each group stops at the first
    /// older one, and the archive's days before it are not read). Reads at most `limit`
    /// matches per group from `audit`, and about `limit` from the archive.
    pub fn recent_cases(
        &self,
        group: Option<GroupId>,
        since_ms: Option<i64>,
        limit: usize,
        keep: &dyn Fn(&AuditEntry) -> bool,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let groups = match group {
            Some(g) => vec![g],
            None => self.case_groups()?,
        };
        let mut out = Vec::new();
        for group in groups {
            let mut taken = 0;
            for entry in self.trees()?.audit.scan_prefix(group_prefix(group)).rev() {
                let (_, value) = entry?;
                let case: AuditEntry = decode(&value)?;
                if since_ms.is_some_and(|since| case.at_ms < since) {
                    break;
                }
                if keep(&case) {
                    out.push(case);
                    taken += 1;
                    if taken >= limit {
                        break;
                    }
                }
            }
        }
        // Then the archive, newest day first, up to a day past the one where `limit` matches
        // were found (a group's older cases are there; the hot copy of a case wins).
        let (mut found, mut stop_day) = (0, None);
        self.archived_rev(group, since_ms.map(super::archive::day_of), &mut |case| {
            if since_ms.is_some_and(|since| case.at_ms < since) {
                return true;
            }
            let day = super::archive::day_of(case.at_ms);
            if keep(&case) {
                out.push(case);
                found += 1;
                if found >= limit && stop_day.is_none() {
                    stop_day = Some(day);
                }
            }
            stop_day.is_none_or(|stop| day >= stop)
        })?;
        out.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then(b.case.cmp(&a.case)));
        out.truncate(limit);
        Ok(out)
    }

    /// The groups with at least one audit case (their case counter).
    fn case_groups(&self) -> Result<Vec<GroupId>, StoreError> {
        let mut out = Vec::new();
        for entry in self.trees()?.groups.iter() {
            let (key, _) = entry?;
            if let Some(group) = decode_group_prefix(&key) {
                out.push(group);
            }
        }
        Ok(out)
    }
}
