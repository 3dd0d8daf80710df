//! `rules/replies.toml`: keyword answers (关键词回复) to the questions every newcomer asks.
//!
//! ```toml
//! [[reply]]
//! id = "join"                          # optional; default: its place in the file
//! keywords = ["怎么进群", "如何加入"]   # any of them, matched on the normalized text
//! answer = "先看群公告，再按公告里的步骤来。"
//! groups = [726300112, "tg:-1001234567890"]   # optional; default: every group
//! cooldown = "60s"                     # optional; default [engagement] faq_cooldown
//! ```
//!
//! Keywords are matched like the filter's phrases: on the compact normalized text, so
//! `怎么 进群`, full-width `ＱＱ` and traditional characters still match. They are normalized
//! once here, at load. Every problem names the file and line and refuses the whole file.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::rules::RulesError;
use crate::domain::duration::HumanDuration;
use crate::domain::event::GroupId;
use crate::policy::normalize::{NormalizeOptions, Normalizer};

/// The keyword answers file inside the rules folder.
pub const REPLIES_FILE: &str = "replies.toml";

/// The most entries the file may hold.
pub const MAX_REPLIES: usize = 500;

/// One keyword answer, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyDef {
    /// Its `id` if given, else its place in the file (1-based): its name in `/问答 list` (`[3]`).
    pub id: String,
    /// The keywords as written.
    pub keywords: Vec<String>,
    /// The keywords in compact normalized form (what is matched).
    pub compact: Vec<String>,
    /// The answer.
    pub answer: String,
    /// Where it applies (empty: every group).
    pub groups: Vec<GroupId>,
    /// At most one answer per this time per group.
    pub cooldown: Duration,
}

impl ReplyDef {
    /// Whether it applies in `group`.
    #[must_use]
    pub fn applies_to(&self, group: GroupId) -> bool {
        self.groups.is_empty() || self.groups.contains(&group)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    reply: Vec<Spanned<RawReply>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    id: Option<String>,
    keywords: Vec<String>,
    answer: String,
    #[serde(default)]
    groups: Vec<RawGroup>,
    cooldown: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawGroup {
    Number(i64),
    Text(String),
}

/// The compact normalized form of a keyword, as messages are matched.
#[must_use]
pub fn compact_keyword(normalizer: &Normalizer, keyword: &str) -> String {
    normalizer.compact(keyword)
}

/// Parses `rules/replies.toml` text; entries without `cooldown` get `default_cooldown`.
pub fn parse(text: &str, path: &Path, default_cooldown: Duration) -> Result<Vec<ReplyDef>, RulesError> {
    let file = super::TomlFile::new(text, path);
    let err = |offset: usize, reason: String| file.error_at(offset, reason);
    let raw: RawFile = file.parse()?;
    if raw.reply.len() > MAX_REPLIES {
        return Err(file.error(format!("{} entries; at most {MAX_REPLIES}", raw.reply.len())));
    }
    let normalizer = Normalizer::new(NormalizeOptions::default());
    let mut out = Vec::with_capacity(raw.reply.len());
    for (i, entry) in raw.reply.into_iter().enumerate() {
        let at = entry.span().start;
        let r = entry.into_inner();
        let keywords: Vec<String> = r.keywords.into_iter().filter(|k| !k.trim().is_empty()).collect();
        let compact: Vec<String> = keywords.iter().map(|k| compact_keyword(&normalizer, k)).collect();
        if compact.is_empty() || compact.iter().any(String::is_empty) {
            return Err(err(
                at,
                "`keywords` must hold at least one keyword with letters or digits".into(),
            ));
        }
        if r.answer.trim().is_empty() {
            return Err(err(at, "`answer` is empty".into()));
        }
        let mut groups = Vec::new();
        for g in r.groups {
            groups.push(match g {
                RawGroup::Number(n) => GroupId::qq(n),
                RawGroup::Text(t) => t
                    .parse()
                    .map_err(|e: crate::domain::event::IdError| err(at, e.to_string()))?,
            });
        }
        out.push(ReplyDef {
            id: r
                .id
                .filter(|id| !id.trim().is_empty())
                .unwrap_or_else(|| (i + 1).to_string()),
            keywords,
            compact,
            answer: r.answer.trim().to_owned(),
            groups,
            cooldown: r.cooldown.map_or(default_cooldown, HumanDuration::get),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_normalized_once_and_problems_name_the_line() {
        let text = "[[reply]]\nkeywords = [\"怎么 进群\", \"ＱＱ群\"]\nanswer = \"看公告\"\n\n[[reply]]\nkeywords = [\"规则\"]\nanswer = \"/rules\"\ngroups = [1, \"tg:-100\"]\ncooldown = \"5m\"\n";
        let replies = parse(text, Path::new("replies.toml"), Duration::from_secs(60)).expect("valid");
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].compact[0], "怎么进群");
        assert_eq!(replies[0].compact[1], "qq群");
        assert_eq!(replies[0].cooldown, Duration::from_secs(60));
        assert_eq!(replies[1].cooldown, Duration::from_secs(300));
        assert!(replies[1].applies_to(GroupId::qq(1)) && !replies[1].applies_to(GroupId::qq(2)));
        let bad = "[[reply]]\nkeywords = [\"x\"]\nanswer = \"y\"\n\n[[reply]]\nkeywords = []\nanswer = \"z\"\n";
        let e = parse(bad, Path::new("replies.toml"), Duration::from_secs(60)).expect_err("empty keywords");
        assert_eq!(e.line, Some(5), "{e}");
        let typo = "[[reply]]\nkeyword = [\"x\"]\nanswer = \"y\"\n";
        let e = parse(typo, Path::new("replies.toml"), Duration::from_secs(60)).expect_err("unknown key");
        assert_eq!(e.line, Some(2), "{e}");
    }
}
