//! Logging with `tracing`: readable lines by default, JSON with `[log] format = "json"`.
//! The level comes from `RUST_LOG` (default `info`).
//!
//! - **Readable lines** are coloured only when they go to a terminal and `NO_COLOR` is unset
//!   (<https://no-color.org>): a file, a pipe or `docker logs` gets plain text.
//! - **JSON** is one object per line whose fields keep their types ([`json`]): numbers are
//!   numbers, a list is an array, and a value that is absent (an `Option` that is `None`) is
//!   left out rather than written as `"None"`.
//!
//! For call sites this means: record numbers and `Option`s directly (`case = item.case`),
//! durations as numbers with their unit in the name (`retry_in_ms`), and a list as JSON text
//! (`matched = %json_list(&matched)`, [`crate::domain::logfield`]), never with `?` (Debug).

pub mod json;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice keeps the first one.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::JsonLines)
            .try_init(),
    };
    // Already installed (tests start several apps in one process): keep the first.
    let _ = result;
}

/// Whether readable log lines get colour codes: only on a terminal, and not when `NO_COLOR` is
/// set to anything but the empty string.
#[must_use]
pub fn use_colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(
            use_colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR does not count"
        );
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None), "a pipe or a file");
    }
}
