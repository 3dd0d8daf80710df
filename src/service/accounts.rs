//! Which bot account keeps each group, and one handling per event however many accounts see
//! it.
//!
//! [`Roster`] remembers, per group, the accounts of the instance that have delivered its
//! events ([`Seats`]), with each one's role there once it is known, and names the group's
//! keeper: the account every action for the group leaves through (the outbox asks
//! [`Roster::keeper`]). It is kept in the store (`state` tree, `seats/<group>`), so a
//! restart routes the first action of a group the way the last run did.
//!
//! [`AccountSink`] stands in front of the pipeline and keeps the roster current from the
//! events themselves:
//!
//! - every group event notes its account in the group's seats;
//! - an account that leaves a group (`group_decrease` of its own id) gives up its seat;
//! - when a group has more than one account and a platform lists several accounts, each
//!   account's role in the group is asked of its own gateway, off the webhook path, so the
//!   admin among them becomes the keeper (a question that failed is asked again on a later
//!   event, at most every ten minutes; a role once known is kept until the seat changes);
//! - an event delivered by an account that is not the group's keeper is not handled: the
//!   keeper delivers the same event, and handling it from there keeps message ids and
//!   request flags (which are per account) consistent with the account that acts on them.
//!   A button press is the exception: only the bot that posted the button receives it, so
//!   it is handled from whichever bot delivers it.
//!   Behind that, with listed OneBot accounts the webhook keys events without the account
//!   (the OneBot webhook's cross-account key), so even while the keeper changes (a role
//!   learned between two sightings) a second sighting is a duplicate.
//!
//! Bounded: at most [`MAX_GROUPS`] groups are remembered (`group_accounts` on `/metrics`);
//! a group beyond that is not recorded and its actions go through the platform's only
//! gateway, or wait as dead letters naming the group when several are configured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::domain::account::{AccountId, Seats};
use crate::domain::bounds::Bound;
use crate::domain::event::{Event, EventKind, GroupId, Role};
use crate::domain::sink::{EventSink, Outcome, Pending};
use crate::service::outbox::OutboxHandle;
use crate::store::{Store, StoreError};

/// The most groups whose accounts are remembered.
pub const MAX_GROUPS: usize = 200_000;

/// Why an event from an account that does not keep its group was not handled.
pub const NOT_THE_KEEPER: &str = "delivered by an account that does not keep the group";

/// The accounts seen in each group, and the keeper of each.
#[derive(Debug)]
pub struct Roster {
    seats: RwLock<HashMap<GroupId, Seats>>,
    bound: Arc<Bound>,
    /// Held while seats are read and written to the store (see [`keep`]).
    storing: Mutex<()>,
}

impl Default for Roster {
    fn default() -> Self {
        Self {
            seats: RwLock::default(),
            bound: Bound::new("group_accounts", MAX_GROUPS),
            storing: Mutex::new(()),
        }
    }
}

impl Roster {
    /// The roster stored in `store` (blocking: reads every group's seats).
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let roster = Self::default();
        {
            let mut seats = roster.write();
            for (group, stored) in store.group_seats()? {
                if seats.len() < MAX_GROUPS {
                    seats.insert(group, stored);
                }
            }
            roster.bound.set_len(seats.len());
        }
        Ok(roster)
    }

    /// Its size, for `/metrics`.
    #[must_use]
    pub fn bound(&self) -> Arc<Bound> {
        Arc::clone(&self.bound)
    }

    /// The account every action for `group` leaves through, when one was seen there.
    #[must_use]
    pub fn keeper(&self, group: GroupId) -> Option<AccountId> {
        self.read().get(&group).and_then(Seats::keeper).map(|id| AccountId {
            platform: group.platform,
            id,
        })
    }

    /// `group`'s seats.
    #[must_use]
    pub fn seats(&self, group: GroupId) -> Option<Seats> {
        self.read().get(&group).cloned()
    }

    /// Every group's seats, by group (for `/metrics`, `/readyz` and the stats page).
    #[must_use]
    pub fn snapshot(&self) -> Vec<(GroupId, Seats)> {
        let mut all: Vec<_> = self.read().iter().map(|(g, s)| (*g, s.clone())).collect();
        all.sort_by_key(|(g, _)| *g);
        all
    }

    /// `qunguan_group_account` for `/metrics`: one series per group and account seen there,
    /// 1 for the keeper and 0 for the others, with the account's role (`unknown` until
    /// asked).
    #[must_use]
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(
            "# HELP qunguan_group_account Bot accounts seen in each group: 1 = the keeper (actions leave through it), 0 = another account there.\n\
             # TYPE qunguan_group_account gauge\n",
        );
        for (group, seats) in self.snapshot() {
            let keeper = seats.keeper();
            for seat in seats.seats() {
                let account = AccountId {
                    platform: group.platform,
                    id: seat.account,
                };
                let _ = writeln!(
                    out,
                    "qunguan_group_account{{group=\"{group}\",account=\"{account}\",role=\"{}\"}} {}",
                    seat.role.map_or("unknown", Role::as_str),
                    u8::from(keeper == Some(seat.account)),
                );
            }
        }
        out
    }

    /// `/readyz`'s lines: the account that keeps each group, the others seen there, at most
    /// `limit` groups (then how many more).
    #[must_use]
    pub fn readyz_lines(&self, limit: usize) -> Vec<String> {
        let all = self.snapshot();
        let mut lines: Vec<String> = all
            .iter()
            .take(limit)
            .map(|(group, seats)| {
                let keeper = seats.keeper();
                let describe = |seat: &crate::domain::account::Seat| {
                    let account = AccountId {
                        platform: group.platform,
                        id: seat.account,
                    };
                    format!("{account} ({})", seat.role.map_or("role unknown", Role::as_str))
                };
                let others: Vec<String> = seats
                    .seats()
                    .iter()
                    .filter(|s| Some(s.account) != keeper)
                    .map(describe)
                    .collect();
                let kept = seats
                    .seats()
                    .iter()
                    .find(|s| Some(s.account) == keeper)
                    .map_or_else(|| "none".to_owned(), describe);
                if others.is_empty() {
                    format!("group {group}: account {kept}")
                } else {
                    format!("group {group}: account {kept}; also seen: {}", others.join(", "))
                }
            })
            .collect();
        if all.len() > limit {
            lines.push(format!(
                "groups: {} more (see qunguan_group_account on /metrics)",
                all.len() - limit
            ));
        }
        lines
    }

    /// `group`'s seats when more than one account sits there and a role is not known yet.
    fn unsettled(&self, group: GroupId) -> Option<Seats> {
        self.read()
            .get(&group)
            .filter(|s| s.len() >= 2 && s.seats().iter().any(|seat| seat.role.is_none()))
            .cloned()
    }

    /// Notes that `account` saw `group`; the new seats when they changed (to be stored).
    fn saw(&self, group: GroupId, account: i64) -> Option<Seats> {
        if self
            .read()
            .get(&group)
            .is_some_and(|s| s.seats().iter().any(|seat| seat.account == account))
        {
            return None;
        }
        let mut all = self.write();
        if !all.contains_key(&group) && all.len() >= MAX_GROUPS {
            self.bound.evict(1);
            return None;
        }
        let seats = all.entry(group).or_default();
        let changed = seats.saw(account).then(|| seats.clone());
        self.bound.set_len(all.len());
        changed
    }

    /// Records `account`'s role in `group`; the new seats when they changed.
    fn set_role(&self, group: GroupId, account: i64, role: Role) -> Option<Seats> {
        let mut all = self.write();
        let seats = all.get_mut(&group)?;
        seats.set_role(account, role).then(|| seats.clone())
    }

    /// `account` left `group`; the new seats when it had one.
    fn left(&self, group: GroupId, account: i64) -> Option<Seats> {
        let mut all = self.write();
        let seats = all.get_mut(&group)?;
        seats.remove(account).then(|| seats.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<GroupId, Seats>> {
        self.seats.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<GroupId, Seats>> {
        self.seats.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sink in front of the pipeline that keeps the [`Roster`] and hands on only the
/// keeper's sightings (see the module docs).
#[derive(Debug)]
pub struct AccountSink {
    inner: Arc<dyn EventSink>,
    roster: Arc<Roster>,
    store: Store,
    outbox: OutboxHandle,
    /// When each account's role in a group was last asked: a question that failed (the
    /// gateway down) is asked again on a later event, at most every [`ASK_AGAIN`]. At most
    /// [`MAX_ASKED`] entries (then it starts over, which only allows an early repeat).
    asked: Mutex<HashMap<(GroupId, i64), Instant>>,
}

/// How long before an account's role that is still unknown is asked again.
const ASK_AGAIN: Duration = Duration::from_secs(600);
/// The most questions remembered.
const MAX_ASKED: usize = 10_000;

impl AccountSink {
    /// A sink handing events on to `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn EventSink>, roster: Arc<Roster>, store: Store, outbox: OutboxHandle) -> Self {
        Self {
            inner,
            roster,
            store,
            outbox,
            asked: Mutex::default(),
        }
    }

    /// Stores `group`'s seats (see [`keep`]).
    async fn keep(&self, group: GroupId) {
        keep(&self.store, &self.roster, group).await;
    }

    /// Asks, off the webhook path, the roles of `group`'s accounts whose role is not known
    /// (and was not asked within [`ASK_AGAIN`]), when the platform lists several accounts
    /// (with one there is no choice to make).
    fn learn_roles(&self, group: GroupId, seats: &Seats) {
        if seats.len() < 2 || self.outbox.accounts(group.platform).len() < 2 {
            return;
        }
        let now = Instant::now();
        let due: Vec<i64> = {
            let mut asked = self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if asked.len() >= MAX_ASKED {
                asked.clear();
            }
            seats
                .seats()
                .iter()
                .filter(|s| s.role.is_none())
                .map(|s| s.account)
                .filter(|&account| {
                    let recent = asked
                        .get(&(group, account))
                        .is_some_and(|at| now.duration_since(*at) < ASK_AGAIN);
                    if !recent {
                        asked.insert((group, account), now);
                    }
                    !recent
                })
                .collect()
        };
        for account in due {
            let account = AccountId {
                platform: group.platform,
                id: account,
            };
            let (outbox, roster, store) = (self.outbox.clone(), Arc::clone(&self.roster), self.store.clone());
            tokio::spawn(async move {
                match outbox.own_role(account, group).await {
                    Ok(role) => {
                        if let Some(seats) = roster.set_role(group, account.id, role) {
                            tracing::info!(%group, %account, role = role.as_str(), keeper = ?seats.keeper(), "learned an account's role in a group");
                            keep(&store, &roster, group).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%group, %account, error = %e, "cannot learn the account's role in the group; the account seen first keeps it");
                    }
                }
            });
        }
    }

    async fn handle(&self, event: &Event) -> Result<Outcome, crate::domain::sink::Unavailable> {
        let Some(group) = group_of(event) else {
            return self.inner.handle(event).await;
        };
        let account = event.self_id;
        if let EventKind::MemberLeft(left) = &event.kind
            && left.user_id == account
        {
            if self.roster.left(group, account).is_some() {
                tracing::info!(%group, account, "the account left the group");
                self.keep(group).await;
            }
            return self.inner.handle(event).await;
        }
        let changed = self.roster.saw(group, account);
        if changed.is_some() {
            self.keep(group).await;
        }
        if let Some(seats) = changed.or_else(|| self.roster.unsettled(group)) {
            self.learn_roles(group, &seats);
        }
        match self.roster.keeper(group) {
            // A button press reaches only the bot whose message carries the button, so no
            // other account delivers it: it is handled whichever bot brings it (the keeper
            // may have changed since the button was posted), and what it causes leaves
            // through the keeper like every action.
            Some(keeper) if keeper.id != account && !matches!(event.kind, EventKind::ButtonPressed(_)) => {
                Ok(Outcome::Ignored(NOT_THE_KEEPER))
            }
            _ => self.inner.handle(event).await,
        }
    }
}

impl EventSink for AccountSink {
    fn handle<'a>(&'a self, event: &'a Event) -> Pending<'a, Outcome> {
        Box::pin(AccountSink::handle(self, event))
    }

    fn skipped(&self, what: &str, why: &str) {
        self.inner.skipped(what, why);
    }
}

/// Stores `group`'s seats as the roster holds them when the write runs: reading and writing
/// happen under one lock, so each write stores the seats of its moment and the last write
/// leaves the newest state, even when a role learned in the background races a new seat. The seats are a
/// routing hint, written on their own (not with any event): lost in a crash, they are
/// learned again from the group's next events.
async fn keep(store: &Store, roster: &Arc<Roster>, group: GroupId) {
    let roster = Arc::clone(roster);
    let stored = store
        .run(move |s| {
            let _storing = roster.storing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match roster.seats(group) {
                Some(seats) => s.set_group_seats(group, &seats),
                None => Ok(()),
            }
        })
        .await;
    if let Err(e) = stored {
        tracing::warn!(%group, error = %e, "cannot store which accounts keep the group");
    }
}

/// The group an event is about.
fn group_of(event: &Event) -> Option<GroupId> {
    match &event.kind {
        EventKind::GroupMessage(m) => Some(m.group),
        EventKind::MemberJoined(j) => Some(j.group),
        EventKind::MemberLeft(l) => Some(l.group),
        EventKind::JoinRequest(r) => Some(r.group),
        EventKind::ButtonPressed(p) => Some(p.group),
        // A private message is about no group (a gate answered by private message finds its
        // group itself; the unmute leaves through that group's keeper).
        EventKind::PrivateMessage(_) | EventKind::Other(_) => None,
    }
}
