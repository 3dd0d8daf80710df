//! Events given up after failing again and again (poison events), kept for inspection: the
//! newest [`KEPT`] in the `state` tree under `runtime.skipped`, as one JSON list.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The `state` name of the list.
pub const STATE_NAME: &str = "runtime.skipped";
/// How many skipped events are kept; older ones drop off.
pub const KEPT: usize = 100;

/// One skipped event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// When it was skipped, unix ms.
    pub at_ms: i64,
    /// Its idempotency key, hex.
    pub key: String,
    /// What kind of event it was.
    pub kind: String,
    /// The last failure.
    pub reason: String,
}

impl Store {
    /// Adds `entry` to the kept list of skipped events (the newest [`KEPT`]).
    pub fn record_skipped(&self, entry: Skipped) -> Result<(), StoreError> {
        let mut list = self.skipped()?;
        list.push(entry);
        let excess = list.len().saturating_sub(KEPT);
        list.drain(..excess);
        let bytes = serde_json::to_vec(&list).map_err(|e| StoreError::Encode {
            what: "skipped events",
            reason: e.to_string(),
        })?;
        self.set_state(STATE_NAME, &bytes)
    }

    /// The kept skipped events, oldest first.
    pub fn skipped(&self) -> Result<Vec<Skipped>, StoreError> {
        match self.state(STATE_NAME)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Decode {
                what: "skipped events",
                reason: e.to_string(),
            }),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        for i in 0..(KEPT as i64 + 5) {
            store
                .record_skipped(Skipped {
                    at_ms: i,
                    key: format!("{i:032x}"),
                    kind: "message".into(),
                    reason: "panicked".into(),
                })
                .expect("record");
        }
        let kept = store.skipped().expect("read");
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].at_ms, 5);
    }
}
