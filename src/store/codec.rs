//! Stored values: JSON with a version field `v`, checked on every read.
//!
//! The version belongs to the store, not to the value: [`encode`] writes the value's fields
//! with `"v": VERSION` beside them, [`decode`] reads and checks it, and the types themselves
//! (many of them domain types, such as an audit case) carry no version field.
//!
//! JSON keeps the values debuggable and lets a newer build add fields with `#[serde(default)]`
//! without a migration; the version tells a build that a value was written in a form it does
//! not know (a newer qunguan, or a missed migration), so it refuses instead of misreading it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A value stored as versioned JSON.
pub trait Record: Serialize + DeserializeOwned {
    /// What it is, for error messages.
    const WHAT: &'static str;
    /// The newest version of its stored form this build reads and writes.
    const VERSION: u8;
}

/// The stored form: the record's fields with the version beside them.
#[derive(Serialize)]
struct Out<'a, T> {
    v: u8,
    #[serde(flatten)]
    value: &'a T,
}

#[derive(Deserialize)]
struct In<T> {
    #[serde(default)]
    v: u8,
    #[serde(flatten)]
    value: T,
}

/// Encodes a record.
///
/// # Errors
/// [`StoreError::Encode`] when the value cannot be serialised (a map with non-string keys, a
/// non-finite float): never swallowed into an empty record.
pub fn encode<T: Record>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Out { v: T::VERSION, value }).map_err(|e| StoreError::Encode {
        what: T::WHAT,
        reason: e.to_string(),
    })
}

/// Decodes a record and checks its version.
pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, StoreError> {
    let stored: In<T> = serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        what: T::WHAT,
        reason: e.to_string(),
    })?;
    if stored.v > T::VERSION {
        return Err(StoreError::Decode {
            what: T::WHAT,
            reason: format!(
                "stored form version {} is newer than this build's {}; upgrade qunguan",
                stored.v,
                T::VERSION
            ),
        });
    }
    Ok(stored.value)
}

/// Reads an `i64` stored as 8 big-endian bytes.
pub fn decode_i64(bytes: &[u8], what: &'static str) -> Result<i64, StoreError> {
    let raw: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Decode {
        what,
        reason: format!("{} bytes instead of 8", bytes.len()),
    })?;
    Ok(i64::from_be_bytes(raw))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Thing {
        n: u32,
    }

    impl Record for Thing {
        const WHAT: &'static str = "thing";
        const VERSION: u8 = 2;
    }

    #[test]
    fn records_round_trip_and_newer_versions_are_refused() {
        let thing = Thing { n: 7 };
        let bytes = encode(&thing).expect("encodes");
        assert_eq!(std::str::from_utf8(&bytes).expect("utf-8"), r#"{"v":2,"n":7}"#);
        assert_eq!(decode::<Thing>(&bytes).expect("decodes"), thing);
        let newer = br#"{"v":3,"n":1}"#;
        let err = decode::<Thing>(newer).expect_err("too new").to_string();
        assert!(err.contains("newer") && err.contains("thing"), "{err}");
        let garbage = decode::<Thing>(b"\x01\x02").expect_err("not JSON").to_string();
        assert!(garbage.contains("thing"), "{garbage}");
    }

    #[test]
    fn i64_values_need_eight_bytes() {
        assert_eq!(decode_i64(&(-5i64).to_be_bytes(), "x").expect("ok"), -5);
        assert!(decode_i64(b"abc", "x").is_err());
    }
}
