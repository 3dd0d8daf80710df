//! Big-endian composite keys.
//!
//! Signed ids are stored with the sign bit flipped so byte order equals numeric order
//! (negative Telegram chat ids sort before positive QQ groups, and range scans by prefix work).

use crate::domain::event::{GroupId, Platform};

/// Encodes an `i64` so that byte order is numeric order.
#[must_use]
pub fn i64_key(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`i64_key`].
#[must_use]
pub fn i64_from_key(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// `platform ‖ group` (9 bytes): the prefix of every per-group key.
#[must_use]
pub fn group_prefix(group: GroupId) -> [u8; 9] {
    let mut k = [0; 9];
    k[0] = group.platform.tag();
    k[1..].copy_from_slice(&i64_key(group.id));
    k
}

/// `platform ‖ group ‖ user` (17 bytes).
#[must_use]
pub fn member_key(group: GroupId, user_id: i64) -> [u8; 17] {
    let mut k = [0; 17];
    k[..9].copy_from_slice(&group_prefix(group));
    k[9..].copy_from_slice(&i64_key(user_id));
    k
}

/// `platform ‖ group ‖ case number` (17 bytes): an audit case. Cases of a group sort by number.
#[must_use]
pub fn case_key(group: GroupId, case: u64) -> [u8; 17] {
    let mut k = [0; 17];
    k[..9].copy_from_slice(&group_prefix(group));
    k[9..].copy_from_slice(&case.to_be_bytes());
    k
}

/// Decodes a [`group_prefix`] (the first 9 bytes of a per-group key).
#[must_use]
pub fn decode_group_prefix(k: &[u8]) -> Option<GroupId> {
    let platform = Platform::from_tag(*k.first()?)?;
    let id = i64_from_key(k.get(1..9)?.try_into().ok()?);
    Some(GroupId { platform, id })
}

/// Decodes an 8-byte big-endian sequence number (outbox and dead-letter keys).
#[must_use]
pub fn decode_seq(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// Decodes a [`member_key`].
#[must_use]
pub fn decode_member_key(k: &[u8]) -> Option<(GroupId, i64)> {
    if k.len() != 17 {
        return None;
    }
    let platform = Platform::from_tag(k[0])?;
    let group = i64_from_key(k[1..9].try_into().ok()?);
    let user = i64_from_key(k[9..17].try_into().ok()?);
    Some((GroupId { platform, id: group }, user))
}

/// The smallest key greater than every key starting with `prefix` (the end of a prefix range
/// scan); `None` when no such key exists (the prefix is all `0xff`).
pub(super) fn next_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_prefix_skips_past_a_whole_range() {
        assert_eq!(next_prefix(&[1, 2, 3]), Some(vec![1, 2, 4]));
        assert_eq!(next_prefix(&[1, 0xff]), Some(vec![2]));
        assert_eq!(next_prefix(&[0xff, 0xff]), None);
    }

    #[test]
    fn signed_keys_sort_numerically() {
        let values = [i64::MIN, -1_001_234_567_890, -1, 0, 1, 726_300_112, i64::MAX];
        let keys: Vec<[u8; 8]> = values.iter().map(|&v| i64_key(v)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for v in values {
            assert_eq!(i64_from_key(i64_key(v)), v);
        }
    }

    #[test]
    fn member_keys_round_trip_and_group_by_prefix() {
        let g = GroupId::telegram(-100_123);
        let k = member_key(g, 42);
        assert_eq!(decode_member_key(&k), Some((g, 42)));
        assert!(k.starts_with(&group_prefix(g)));
        assert_eq!(decode_group_prefix(&k), Some(g));
    }

    #[test]
    fn cases_sort_by_group_then_number() {
        let a = GroupId::qq(5);
        let b = GroupId::qq(6);
        assert!(case_key(a, 2) < case_key(a, 10));
        assert!(case_key(a, u64::MAX) < case_key(b, 1));
        assert_eq!(decode_seq(&42u64.to_be_bytes()), Some(42));
        assert_eq!(decode_seq(b"short"), None);
    }
}
