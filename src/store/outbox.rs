//! The outbox tree: actions waiting to be delivered, in the order they were decided.

use serde::{Deserialize, Serialize};

use super::{StoreError, decode_json, encode_json};
use crate::action::Action;

/// Version of [`OutboxItem`]'s stored form.
const ITEM_VERSION: u8 = 1;

/// An action waiting for delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Stored-form version.
    pub v: u8,
    /// What to do.
    pub action: Action,
    /// When it was decided, unix ms.
    pub created_ms: i64,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// Do not try before this time, unix ms (backoff).
    pub not_before_ms: i64,
    /// The last delivery error, for logs and inspection.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl OutboxItem {
    /// A fresh item, due at once.
    #[must_use]
    pub fn new(action: Action, now_ms: i64) -> Self {
        Self {
            v: ITEM_VERSION,
            action,
            created_ms: now_ms,
            attempts: 0,
            not_before_ms: now_ms,
            last_error: None,
        }
    }
}

/// Outbox operations.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    pub(super) tree: &'a sled::Tree,
}

impl Outbox<'_> {
    /// Every pending item with its sequence number, oldest first.
    pub fn pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            let seq = u64::from_be_bytes(key.as_ref().try_into().map_err(|_| StoreError::Decode {
                what: "outbox key",
                reason: format!("{} bytes instead of 8", key.len()),
            })?);
            out.push((seq, decode_json(&value, "outbox item")?));
        }
        Ok(out)
    }

    /// Removes a delivered (or abandoned) item.
    pub fn remove(&self, seq: u64) -> Result<(), StoreError> {
        self.tree.remove(seq.to_be_bytes())?;
        Ok(())
    }

    /// Stores an item's new delivery state (after a failed attempt).
    pub fn update(&self, seq: u64, item: &OutboxItem) -> Result<(), StoreError> {
        self.tree.insert(seq.to_be_bytes(), encode_json(item))?;
        Ok(())
    }

    /// Number of pending items (a scan; not for hot paths).
    #[must_use]
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// True when nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
