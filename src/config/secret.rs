//! [`Secret`]: a token or key whose `Debug` never shows the value.

use std::fmt;

use serde::Deserialize;

/// A secret string (token, HMAC key). Its `Debug` never shows the value, so a settings dump
/// in a log cannot leak it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call sites are the few places that must send or check it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(unset)"
        } else {
            "Secret(***)"
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::config::test_support::env;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("QUNGUAN__GATEWAY__ONEBOT__ACCESS_TOKEN", "hunter2"),
                ("QUNGUAN__GATEWAY__ONEBOT__SECRET", "s3cr3t"),
            ]),
        )
        .expect("valid");
        let dump = format!("{s:?}");
        assert!(!dump.contains("hunter2") && !dump.contains("s3cr3t"), "{dump}");
    }
}
