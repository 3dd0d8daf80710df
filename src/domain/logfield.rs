//! Values written into log fields so that JSON logs keep their types (see
//! `runtime::telemetry`): numbers and `Option`s go in directly, a list as JSON text.

use serde::Serialize;

/// A list as JSON text, for a log field: `matched = %json_list(&matched)` is an array in JSON
/// logs and readable JSON text in the others.
#[must_use]
pub fn json_list<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// A duration as whole milliseconds, for a `…_ms` log field.
#[must_use]
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
