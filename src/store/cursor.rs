//! Durable named positions ([`CursorStore`]) in the `state` tree: the Telegram poller's
//! `getUpdates` offset, as an `i64` in 8 big-endian bytes.

use super::codec::decode_i64;
use super::{Store, StoreError};
use crate::domain::sink::{CursorStore, Pending, Unavailable};

impl Store {
    /// The position stored as `name`, if any.
    pub fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.state(name)?
            .map(|bytes| decode_i64(&bytes, "stored position"))
            .transpose()
    }

    /// Stores `value` as `name` (on the blocking pool) and waits until it is durable.
    pub async fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.run(move |store| store.set_state(&name, &value.to_be_bytes()))
            .await?;
        self.durable().await
    }
}

impl CursorStore for Store {
    fn load_cursor(&self, name: &str) -> Result<Option<i64>, Unavailable> {
        self.cursor(name).map_err(|e| Unavailable(Box::new(e)))
    }

    fn save_cursor<'a>(&'a self, name: &'a str, value: i64) -> Pending<'a, ()> {
        Box::pin(async move { self.set_cursor(name, value).await.map_err(|e| Unavailable(Box::new(e))) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn positions_round_trip_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_path(dir.path()).expect("open");
        assert_eq!(store.cursor("telegram.offset").expect("read"), None);
        store.set_cursor("telegram.offset", 718_290_532).await.expect("save");
        assert_eq!(store.cursor("telegram.offset").expect("read"), Some(718_290_532));
        store.set_state("telegram.offset", b"bad").expect("write");
        assert!(store.cursor("telegram.offset").is_err());
    }
}
