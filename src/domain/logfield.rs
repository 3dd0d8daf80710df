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

/// What a caught panic said (its `&str` or `String` payload), for a log line or an error:
/// `"(no message)"` when the payload is neither.
#[must_use]
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
