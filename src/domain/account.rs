//! Bot accounts: which account of the instance sees a group, and which one acts there.
//!
//! One instance may serve several QQ accounts (each behind its own OneBot gateway: NapCat,
//! Lagrange …) and several Telegram bots. An [`AccountId`] names one of them by platform and
//! the account's own user id (the OneBot `self_id`, the Telegram bot id).
//!
//! A group may be kept by more than one account of the instance (two QQ accounts in one big
//! group). [`Seats`] records the accounts that have been seen in a group, in the order they
//! were first seen, with the role each holds there when it is known, and names the one that
//! acts — the group's **keeper**:
//!
//! - an account known to be owner or admin of the group wins over one that is not (only an
//!   admin can recall, mute and kick);
//! - among equals, the account seen first keeps the group, so the choice is stable and does
//!   not flip with every event.
//!
//! Invariant: a group's seats hold each account at most once and at most [`MAX_SEATS`]
//! accounts; the keeper is always one of them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::event::{Platform, Role};

/// The most accounts recorded for one group (the first ones seen are kept).
pub const MAX_SEATS: usize = 8;

/// One bot account of the instance: `qq:20001` (a OneBot `self_id`) or `tg:7012345678` (a bot
/// id, the digits before the `:` of its token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId {
    /// The platform of the account.
    pub platform: Platform,
    /// The account's own user id on that platform.
    pub id: i64,
}

impl AccountId {
    /// A QQ account (a OneBot `self_id`).
    #[must_use]
    pub const fn qq(id: i64) -> Self {
        Self {
            platform: Platform::Qq,
            id,
        }
    }

    /// A Telegram bot.
    #[must_use]
    pub const fn telegram(id: i64) -> Self {
        Self {
            platform: Platform::Telegram,
            id,
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform.prefix(), self.id)
    }
}

/// One account's place in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// The account's user id (the platform is the group's).
    pub account: i64,
    /// Its role in the group, once known.
    pub role: Option<Role>,
}

/// The accounts of the instance seen in one group, first seen first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats(Vec<Seat>);

impl Seats {
    /// Notes that `account` saw the group. Returns true when the seats changed (a new
    /// account), which is when they need to be stored. A group already holding
    /// [`MAX_SEATS`] accounts ignores a new one.
    pub fn saw(&mut self, account: i64) -> bool {
        if self.0.iter().any(|s| s.account == account) || self.0.len() >= MAX_SEATS {
            return false;
        }
        self.0.push(Seat { account, role: None });
        true
    }

    /// Records `account`'s role; returns true when it changed.
    pub fn set_role(&mut self, account: i64, role: Role) -> bool {
        match self.0.iter_mut().find(|s| s.account == account) {
            Some(seat) if seat.role != Some(role) => {
                seat.role = Some(role);
                true
            }
            _ => false,
        }
    }

    /// Forgets `account` (it left or was removed from the group); returns true when it was
    /// there.
    pub fn remove(&mut self, account: i64) -> bool {
        let before = self.0.len();
        self.0.retain(|s| s.account != account);
        self.0.len() != before
    }

    /// The account that acts in the group: the first one known to be owner or admin, else
    /// the first one seen. `None` when no account was seen.
    #[must_use]
    pub fn keeper(&self) -> Option<i64> {
        self.0
            .iter()
            .find(|s| s.role.is_some_and(Role::is_moderator))
            .or_else(|| self.0.first())
            .map(|s| s.account)
    }

    /// The seats, first seen first.
    #[must_use]
    pub fn seats(&self) -> &[Seat] {
        &self.0
    }

    /// How many accounts sit in the group.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no account was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_admin_keeps_the_group_else_the_first_seen() {
        let mut seats = Seats::default();
        assert_eq!(seats.keeper(), None);
        assert!(seats.saw(20_001));
        assert!(seats.saw(20_002));
        assert!(!seats.saw(20_001), "an account sits once");
        assert_eq!(seats.keeper(), Some(20_001), "no role known: the first seen");
        assert!(seats.set_role(20_001, Role::Member));
        assert!(seats.set_role(20_002, Role::Admin));
        assert!(!seats.set_role(20_002, Role::Admin), "unchanged");
        assert_eq!(seats.keeper(), Some(20_002), "the admin acts");
        assert!(seats.remove(20_002));
        assert_eq!(seats.keeper(), Some(20_001), "the admin left");
        assert!(
            !seats.set_role(7, Role::Admin),
            "a role of an unseen account is not kept"
        );
    }

    #[test]
    fn seats_are_bounded() {
        let mut seats = Seats::default();
        for account in 0..20 {
            seats.saw(account);
        }
        assert_eq!(seats.len(), MAX_SEATS);
        assert_eq!(AccountId::qq(20_001).to_string(), "qq:20001");
        assert_eq!(AccountId::telegram(7).to_string(), "tg:7");
    }
}
