//! The services' one way to the outbox and, through it, to the platforms.
//!
//! Every service that produces actions (pipeline, commands, welcome, inactivity, scheduler,
//! `/stats`) commits them to the store inside its own transaction, then calls
//! [`OutboxHandle::publish`]: *make durable, then wake the worker*, in that order, so the worker
//! never sends what a crash could still undo — except recalls, which are idempotent: with
//! `[outbox] early_recalls` the worker is also woken before the flush and sends them at once
//! (see [`super`], "Early recalls"). The handle also answers the one read-only
//! question services ask a platform (a group's name and member count), so no service outside
//! [`super`] names a gateway client.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::domain::account::AccountId;
use crate::domain::event::{GroupId, Role};
use crate::gateway::{GatewayError, Gateways};
use crate::service::accounts::Roster;
use crate::store::{Store, StoreError};

pub use crate::gateway::GroupInfo;

/// What the services hold of the outbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OutboxHandle {
    store: Store,
    wake: Arc<Notify>,
    gateways: Gateways,
    /// Which account keeps each group: questions about a group go through it.
    roster: Arc<Roster>,
    /// Wake the worker as soon as actions are written, before their flush: it sends recalls
    /// early (`[outbox] early_recalls`).
    early: bool,
}

impl OutboxHandle {
    /// A handle over `store`'s outbox, waking the worker that waits on `wake`, asking
    /// `gateways` about groups.
    #[must_use]
    pub fn new(store: Store, wake: Arc<Notify>, gateways: Gateways) -> Self {
        Self::with_roster(store, wake, gateways, Arc::default())
    }

    /// Like [`OutboxHandle::new`], asking about a group through the account `roster` says
    /// keeps it.
    #[must_use]
    pub fn with_roster(store: Store, wake: Arc<Notify>, gateways: Gateways, roster: Arc<Roster>) -> Self {
        Self {
            store,
            wake,
            gateways,
            roster,
            early: false,
        }
    }

    /// Wakes the worker before each flush too, so it can send recalls early.
    #[must_use]
    pub fn wakes_early(mut self, early: bool) -> Self {
        self.early = early;
        self
    }

    /// Which account keeps each group.
    #[must_use]
    pub fn roster(&self) -> &Arc<Roster> {
        &self.roster
    }

    /// A handle whose wake-ups go nowhere and which knows no platform (unit tests).
    #[must_use]
    pub fn detached(store: Store) -> Self {
        Self::new(store, Arc::new(Notify::new()), Gateways::default())
    }

    /// Makes every commit so far durable, then wakes the worker to deliver what they stored.
    /// With early recalls the worker is also woken before the flush: it sends the recalls
    /// among them at once, and the rest once they are durable.
    pub async fn publish(&self) -> Result<(), StoreError> {
        if self.early {
            self.wake.notify_one();
        }
        self.store.durable().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Stores `actions` for delivery (their own transaction) and publishes them.
    pub async fn send(
        &self,
        actions: Vec<crate::domain::action::Action>,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.store.run(move |store| store.enqueue(actions, now)).await?;
        self.publish().await
    }

    /// The platforms with a configured gateway.
    #[must_use]
    pub fn platforms(&self) -> Vec<crate::domain::event::Platform> {
        self.gateways.platforms()
    }

    /// Whether `platform`'s gateway answers now (a read-only call, for the health page).
    pub async fn probe(&self, platform: crate::domain::event::Platform) -> Result<(), GatewayError> {
        self.gateways.probe(platform).await
    }

    /// Asks the platform about a group (its name and member count): a read-only query, never
    /// made on the webhook path.
    pub async fn group_info(&self, group: GroupId) -> Result<GroupInfo, GatewayError> {
        self.gateways.group_info(group, self.roster.keeper(group)).await
    }

    /// The accounts listed for `platform` (none for the single-account OneBot form).
    #[must_use]
    pub fn accounts(&self, platform: crate::domain::event::Platform) -> Vec<AccountId> {
        self.gateways.accounts(platform)
    }

    /// The role `account` holds in `group`, asked of its own gateway: a read-only query,
    /// never made on the webhook path.
    pub async fn own_role(&self, account: AccountId, group: GroupId) -> Result<Role, GatewayError> {
        self.gateways.own_role(account, group).await
    }
}
