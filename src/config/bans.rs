//! `[bans]`: the instance-wide ban list's shared lists and the Telegram CAS lookup.
//!
//! The instance's own bans need no settings (`/gban`, `qunguan bans`); this section adds
//! what comes from outside: ban-list files or URLs other operators publish (see
//! `policy::bans` for the format), and the Combot Anti-Spam database for new Telegram members.

use serde::Deserialize;

use super::{ConfigIssue, Settings};
use crate::domain::duration::HumanDuration;

/// `[bans]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BansSettings {
    /// Shared ban lists: file paths or `https://` URLs (CSV or JSONL), read at start and every
    /// `refresh`. A list that cannot be read or has a bad line keeps its previous version.
    pub subscribe: Vec<String>,
    /// How often the shared lists are read again.
    pub refresh: HumanDuration,
    /// The most entries one list (own or shared) may hold; a longer shared list is refused.
    pub max_entries: usize,
    /// Look up new Telegram members in CAS (cas.chat) and remove those it lists.
    #[serde(deserialize_with = "super::strict::bool")]
    pub cas: bool,
    /// The CAS API root; the lookup is `<cas_api>/check?user_id=<id>`.
    pub cas_api: String,
    /// How long a CAS lookup may take; a slower one lets the member in (and says so in the log).
    pub cas_timeout: HumanDuration,
    /// How many CAS answers are remembered.
    pub cas_cache: usize,
    /// How long a CAS answer is remembered.
    pub cas_ttl: HumanDuration,
}

impl Default for BansSettings {
    fn default() -> Self {
        Self {
            subscribe: Vec::new(),
            refresh: HumanDuration::from_secs(3_600),
            max_entries: 100_000,
            cas: false,
            cas_api: "https://api.cas.chat".into(),
            cas_timeout: HumanDuration::from_secs(3),
            cas_cache: 10_000,
            cas_ttl: HumanDuration::from_secs(3_600),
        }
    }
}

/// Where a shared list is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// A local file.
    File(std::path::PathBuf),
    /// An `https://` URL (or `http://` on the loopback address, for a local mirror).
    Url(String),
}

impl Subscription {
    /// Reads a `[bans] subscribe` entry: a URL when it has a scheme, else a path.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("is empty; give a file path or an https:// URL".into());
        }
        if let Some(rest) = entry.strip_prefix("https://") {
            if rest.trim_end_matches('/').is_empty() {
                return Err(format!("{entry:?} has no host"));
            }
            return Ok(Self::Url(entry.to_owned()));
        }
        if let Some(rest) = entry.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or_default();
            if matches!(host, "127.0.0.1" | "localhost") || rest.starts_with("[::1]") {
                return Ok(Self::Url(entry.to_owned()));
            }
            return Err(format!(
                "{entry:?}: a shared list is fetched over https:// (http:// only from 127.0.0.1 or localhost)"
            ));
        }
        if entry.contains("://") {
            return Err(format!("{entry:?}: use a file path or an https:// URL"));
        }
        Ok(Self::File(entry.into()))
    }
}

impl std::fmt::Display for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

impl BansSettings {
    /// The subscriptions, in configuration order (entries that do not parse are left out;
    /// validation refuses them first).
    #[must_use]
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.subscribe
            .iter()
            .filter_map(|s| Subscription::parse(s).ok())
            .collect()
    }
}

impl Settings {
    /// The problems of `[bans]`.
    pub(super) fn bans_issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                key: key.to_owned(),
                reason,
            });
        };
        let bans = &self.bans;
        for (i, entry) in bans.subscribe.iter().enumerate() {
            if let Err(reason) = Subscription::parse(entry) {
                issue(&format!("bans.subscribe[{i}]"), reason);
            }
        }
        if !bans.subscribe.is_empty() && bans.refresh.as_secs() < 60 {
            issue("bans.refresh", format!("\"{}\" is shorter than 1m", bans.refresh));
        }
        if bans.max_entries == 0 || bans.max_entries > 10_000_000 {
            issue(
                "bans.max_entries",
                format!("{} is not between 1 and 10000000", bans.max_entries),
            );
        }
        if let Err(e) = super::validate::check_http_url(&bans.cas_api) {
            issue("bans.cas_api", e.to_string());
        }
        if bans.cas_timeout.as_secs() == 0 || bans.cas_timeout.as_secs() > 30 {
            issue(
                "bans.cas_timeout",
                format!("\"{}\" is not between 1s and 30s", bans.cas_timeout),
            );
        }
        if bans.cas_cache == 0 || bans.cas_cache > 1_000_000 {
            issue(
                "bans.cas_cache",
                format!("{} is not between 1 and 1000000", bans.cas_cache),
            );
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_files_or_https_urls() {
        assert_eq!(
            Subscription::parse("/etc/qunguan/bans.csv"),
            Ok(Subscription::File("/etc/qunguan/bans.csv".into()))
        );
        assert!(matches!(
            Subscription::parse("https://example.org/bans.jsonl"),
            Ok(Subscription::Url(_))
        ));
        assert!(matches!(
            Subscription::parse("http://127.0.0.1:8080/bans.csv"),
            Ok(Subscription::Url(_))
        ));
        let e = Subscription::parse("http://example.org/bans.csv").expect_err("plain http");
        assert!(e.contains("https://"), "{e}");
        assert!(Subscription::parse("ftp://example.org/x").is_err());
        assert!(Subscription::parse(" ").is_err());
    }

    #[test]
    fn bad_keys_are_named() {
        let mut settings = Settings::default();
        settings.bans.subscribe = vec!["http://example.org/x".into()];
        settings.bans.cas_api = "cas.chat".into();
        settings.bans.cas_timeout = HumanDuration::from_secs(0);
        let keys: Vec<String> = settings.bans_issues().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["bans.subscribe[0]", "bans.cas_api", "bans.cas_timeout"]);
    }
}
