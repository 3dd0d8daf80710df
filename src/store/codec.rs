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

/// The version of a stored form, read on its own (every other field skipped unread).
#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    v: u8,
}

/// Whether a field of a stored form is at its default: such a field is left out of the
/// stored bytes (`#[serde(skip_serializing_if = "is_default")]`, with `#[serde(default)]` on
/// the form so that it reads back).
pub(super) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
///
/// The version is read first, on its own, and the record then straight from the same bytes
/// (its types ignore the unknown field `v`). A `#[serde(flatten)]` wrapper would read the
/// same form in one pass, but serde buffers a flattened value whole (every string and list
/// copied into an intermediate tree) before it builds the record: on the daemon's handled
/// path that cost more than the JSON parse itself (docs/performance.md, "Session 17: store
/// side").
pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, StoreError> {
    let version = stored_version(bytes).map_err(|reason| StoreError::Decode { what: T::WHAT, reason })?;
    if version > T::VERSION {
        return Err(StoreError::Decode {
            what: T::WHAT,
            reason: format!(
                "stored form version {version} is newer than this build's {}; upgrade qunguan",
                T::VERSION
            ),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        what: T::WHAT,
        reason: e.to_string(),
    })
}

/// The `v` of a stored form (0 when it has none): read off the front of what [`encode`]
/// writes (`{"v":N,` first), or else found by a parse that skips every other field.
fn stored_version(bytes: &[u8]) -> Result<u8, String> {
    if let Some(rest) = bytes.strip_prefix(br#"{"v":"#) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if matches!(rest.get(digits), Some(b',' | b'}'))
            && let Some(v) = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse::<u8>().ok())
        {
            return Ok(v);
        }
    }
    serde_json::from_slice::<Version>(bytes)
        .map(|found| found.v)
        .map_err(|e| e.to_string())
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
    fn the_version_is_found_wherever_it_stands_and_a_missing_one_is_zero() {
        assert_eq!(decode::<Thing>(br#"{"n":7,"v":2}"#).expect("v last"), Thing { n: 7 });
        assert_eq!(decode::<Thing>(br#"{"n":7}"#).expect("no v"), Thing { n: 7 });
        assert_eq!(
            decode::<Thing>(br#"{ "v" : 1 , "n" : 7 }"#).expect("spaced"),
            Thing { n: 7 }
        );
        assert!(
            decode::<Thing>(br#"{"v":2}"#).is_err(),
            "a missing field is still an error"
        );
        let later = decode::<Thing>(br#"{"n":1,"v":3}"#).expect_err("too new").to_string();
        assert!(later.contains("newer"), "{later}");
        let huge = decode::<Thing>(br#"{"v":300,"n":1}"#)
            .expect_err("not a version")
            .to_string();
        assert!(huge.contains("thing"), "{huge}");
        assert!(decode::<Thing>(br#"{"v":2,"n":"x"}"#).is_err());
    }

    #[test]
    fn i64_values_need_eight_bytes() {
        assert_eq!(decode_i64(&(-5i64).to_be_bytes(), "x").expect("ok"), -5);
        assert!(decode_i64(b"abc", "x").is_err());
    }
}
