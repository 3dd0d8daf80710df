//! Big-endian composite keys.
//!
//! Signed ids are stored with the sign bit flipped so byte order equals numeric order
//! (negative Telegram chat ids sort before positive QQ groups, and range scans by prefix work).

use crate::event::{GroupId, Platform};

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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
