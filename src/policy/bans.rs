//! The global ban list's pure decisions: whether a member is banned, what is done about it,
//! and the ban-list file format operators exchange.
//!
//! The service keeps one [`BanList`] in memory (the instance's own bans and every subscribed
//! list, merged) and asks it about each join, join request and message: a hash lookup, so a
//! ban list of a hundred thousand entries costs nothing per message. What to do about a
//! banned member is [`removal`]; what a new `/gban` does in the groups the member was seen
//! in is [`expel`]. Neither touches the store or the network: the service makes the result
//! durable and the outbox sends it.
//!
//! ## File format
//!
//! One ban per line, in either of two forms, which may not be mixed in one file:
//!
//! - CSV: `user,reason,at,by` — a header line with exactly these names comes first (it is
//!   written on export and skipped on import); fields holding a comma, a quote or a line
//!   break are quoted with `"` and quotes doubled (RFC 4180);
//! - JSONL: `{"user":"qq:123","reason":"…","at":"2026-12-04T20:00:00Z","by":"cli"}`.
//!
//! `user` is a platform id (`qq:123`, `tg:456`; a bare number is QQ); `at` is an RFC 3339
//! time or empty; `reason` and `by` may be empty. Blank lines and lines starting with `#`
//! are skipped. A bad line fails the whole file, naming the line, so a half-read list never
//! replaces a good one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::action::{Action, Capabilities};
use crate::domain::ban::{Ban, Origin};
use crate::domain::event::{GroupId, UserRef};

/// Every ban in force: the instance's own and the subscribed lists', merged. The own list
/// wins where both name a member (its entry is the one an operator can lift).
#[derive(Clone, Debug, Default)]
pub struct BanList {
    entries: HashMap<UserRef, Origin>,
}

impl BanList {
    /// The list of `local` bans and the `shared` lists (by subscription index).
    #[must_use]
    pub fn merged<'a>(local: impl IntoIterator<Item = &'a UserRef>, shared: &[Vec<UserRef>]) -> Self {
        let mut entries = HashMap::new();
        for (index, list) in shared.iter().enumerate() {
            for user in list {
                entries.entry(*user).or_insert(Origin::Shared(index));
            }
        }
        for user in local {
            entries.insert(*user, Origin::Local);
        }
        Self { entries }
    }

    /// Why `user` is banned, if they are.
    #[must_use]
    pub fn banned(&self, user: UserRef) -> Option<Origin> {
        self.entries.get(&user).copied()
    }

    /// How many members are banned.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Where a banned member was met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sighting {
    /// They posted this message.
    Spoke {
        /// The message.
        message_id: i64,
    },
    /// They joined.
    Joined,
    /// They asked to join; the platform's handle to answer.
    Requested {
        /// The request's handle (OneBot `flag`).
        handle: String,
    },
}

/// Whether a removal for a global ban also has the platform refuse re-joining. Only where
/// the platform can lift that refusal again, so that `/ungban` really lets the member back:
/// on Telegram the removal is a ban, lifted by [`readmit`]; on QQ it is a plain kick (OneBot
/// cannot undo `reject_add_request`), and qunguan's own list declines the member's join
/// requests and removes them if they get in anyway.
#[must_use]
pub fn keeps_out(caps: Capabilities) -> bool {
    caps.ban && caps.unban
}

/// What is done to a banned member met in `group`: a message is recalled and its author
/// removed (refused re-joining where the platform can lift that later, [`keeps_out`]); a
/// newcomer is removed the same way; a join request is declined with `reason`. Only what the
/// group's platform can do (an empty list when it can do nothing).
#[must_use]
pub fn removal(group: GroupId, user_id: i64, sighting: &Sighting, caps: Capabilities, reason: &str) -> Vec<Action> {
    let kick = caps.kick.then_some(Action::Kick {
        group,
        user_id,
        ban: keeps_out(caps),
    });
    match sighting {
        Sighting::Spoke { message_id } => caps
            .recall
            .then_some(Action::Recall {
                group,
                message_id: *message_id,
            })
            .into_iter()
            .chain(kick)
            .collect(),
        Sighting::Joined => kick.into_iter().collect(),
        Sighting::Requested { handle } if caps.join_requests => vec![Action::AnswerJoinRequest {
            group,
            user_id,
            handle: handle.clone(),
            approve: false,
            reason: reason.to_owned(),
        }],
        Sighting::Requested { .. } => Vec::new(),
    }
}

/// What a new ban of `user` does in the groups they were `seen` in: one removal (refusing
/// re-joining where the platform can lift it later, [`keeps_out`]) per group of the member's
/// platform that can remove members, each group once.
#[must_use]
pub fn expel(user: UserRef, seen: &[GroupId]) -> Vec<Action> {
    groups_of(user, seen, |caps| caps.kick)
        .into_iter()
        .map(|group| Action::Kick {
            group,
            user_id: user.id,
            ban: keeps_out(Capabilities::of(group)),
        })
        .collect()
}

/// What lifting the ban of `user` does in the groups they were `seen` in: the platform's
/// refusal of re-joining, left by [`expel`] or [`removal`], is lifted in each group of the
/// member's platform that keeps one, each group once (nothing on QQ, where none is left).
#[must_use]
pub fn readmit(user: UserRef, seen: &[GroupId]) -> Vec<Action> {
    groups_of(user, seen, keeps_out)
        .into_iter()
        .map(|group| Action::Unban {
            group,
            user_id: user.id,
        })
        .collect()
}

/// The groups of `seen` on `user`'s platform whose capabilities pass `can`, sorted, each once.
fn groups_of(user: UserRef, seen: &[GroupId], can: impl Fn(Capabilities) -> bool) -> Vec<GroupId> {
    let mut groups: Vec<GroupId> = seen
        .iter()
        .copied()
        .filter(|g| g.platform == user.platform && can(Capabilities::of(*g)))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// A ban-list file's form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(format!("unknown ban-list format {other:?}; use csv or jsonl")),
        }
    }
}

/// The CSV header, written first on export.
pub const CSV_HEADER: &str = "user,reason,at,by";

/// Why a ban-list file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ListError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// One line of the JSONL form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    user: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    by: String,
}

/// Reads a ban-list file of at most `max` entries; the form is told by the first line that
/// is not blank or a comment (`{` starts JSONL, else CSV, whose first line must be the
/// header). A member listed twice keeps the last entry.
pub fn parse(text: &str, max: usize) -> Result<Vec<Ban>, ListError> {
    let mut out: Vec<Ban> = Vec::new();
    let mut index: HashMap<UserRef, usize> = HashMap::new();
    let mut format = None;
    for (n, line) in logical_lines(text) {
        let bad = |reason: String| ListError { line: n, reason };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let form = match format {
            Some(form) => form,
            None => {
                let form = if trimmed.starts_with('{') {
                    Format::Jsonl
                } else {
                    Format::Csv
                };
                format = Some(form);
                if form == Format::Csv {
                    if trimmed != CSV_HEADER {
                        return Err(bad(format!(
                            "a CSV ban list starts with the header {CSV_HEADER:?} (a JSONL list with {{)"
                        )));
                    }
                    continue;
                }
                form
            }
        };
        let fields = match form {
            Format::Jsonl => {
                let parsed: Line =
                    serde_json::from_str(trimmed).map_err(|e| bad(format!("not a JSON ban entry: {e}")))?;
                [parsed.user, parsed.reason, parsed.at, parsed.by]
            }
            Format::Csv => {
                let fields = csv_fields(&line).map_err(bad)?;
                let [user, reason, at, by]: [String; 4] = fields
                    .try_into()
                    .map_err(|f: Vec<String>| bad(format!("{} fields; a line has 4: {CSV_HEADER}", f.len())))?;
                [user, reason, at, by]
            }
        };
        let ban = entry(fields).map_err(bad)?;
        match index.get(&ban.user) {
            Some(&i) => out[i] = ban,
            None => {
                if out.len() >= max {
                    return Err(bad(format!("more than {max} bans (`[bans] max_entries`)")));
                }
                index.insert(ban.user, out.len());
                out.push(ban);
            }
        }
    }
    Ok(out)
}

/// A ban from its four fields.
fn entry([user, reason, at, by]: [String; 4]) -> Result<Ban, String> {
    let user: UserRef = user.trim().parse().map_err(|e| format!("{e}"))?;
    let at_ms = match at.trim() {
        "" => 0,
        at => at
            .parse::<jiff::Timestamp>()
            .map_err(|e| format!("`at` {at:?} is not an RFC 3339 time: {e}"))?
            .as_millisecond(),
    };
    Ok(Ban {
        user,
        reason,
        at_ms,
        by,
    })
}

/// Writes `bans` in `format` (CSV with its header), one line each, newline-terminated.
#[must_use]
pub fn render(bans: &[Ban], format: Format) -> String {
    let mut out = String::new();
    if format == Format::Csv {
        out.push_str(CSV_HEADER);
        out.push('\n');
    }
    for ban in bans {
        let at = if ban.at_ms == 0 {
            String::new()
        } else {
            jiff::Timestamp::from_millisecond(ban.at_ms).map_or_else(|_| String::new(), |t| t.to_string())
        };
        match format {
            Format::Csv => {
                let fields = [ban.user.to_string(), csv_quote(&ban.reason), at, csv_quote(&ban.by)];
                out.push_str(&fields.join(","));
            }
            Format::Jsonl => {
                let line = Line {
                    user: ban.user.to_string(),
                    reason: ban.reason.clone(),
                    at,
                    by: ban.by.clone(),
                };
                // A struct of strings always serialises.
                out.push_str(&serde_json::to_string(&line).unwrap_or_default());
            }
        }
        out.push('\n');
    }
    out
}

/// Quotes a CSV field when it needs it.
fn csv_quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The file's lines with their 1-based numbers, a quoted CSV field's line breaks kept inside
/// its line (numbered by where it starts).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    let mut quoted = false;
    for (i, line) in text.split('\n').enumerate() {
        if current.is_empty() && !quoted {
            start = i + 1;
        } else {
            current.push('\n');
        }
        current.push_str(line.strip_suffix('\r').unwrap_or(line));
        // JSON lines never continue; only an odd number of quotes opens a CSV field.
        if !line.trim_start().starts_with('{') {
            quoted ^= line.matches('"').count() % 2 == 1;
        }
        if !quoted {
            out.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

/// Splits one CSV line into its fields (RFC 4180 quoting).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (in_quotes, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => in_quotes = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() && !was_quoted => {
                in_quotes = true;
                was_quoted = true;
            }
            (false, '"') => return Err("a quote inside an unquoted field; quote the field and double the quote".into()),
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) if was_quoted => return Err(format!("{c:?} after a closing quote")),
            (false, c) => field.push(c),
        }
    }
    if in_quotes {
        return Err("a quoted field is not closed".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserRef {
        s.parse().expect("user")
    }

    fn ban(s: &str, reason: &str, at_ms: i64) -> Ban {
        Ban {
            user: user(s),
            reason: reason.into(),
            at_ms,
            by: "qq:1".into(),
        }
    }

    #[test]
    fn both_formats_round_trip_with_awkward_reasons() {
        let bans = vec![
            ban("qq:123", "广告, 刷屏 \"加微信\"", 1_764_878_400_000),
            ban("tg:-5", "line\nbreak", 0),
            ban("qq:7", "", 0),
        ];
        for format in [Format::Csv, Format::Jsonl] {
            let text = render(&bans, format);
            assert_eq!(parse(&text, 10), Ok(bans.clone()), "{format:?}:\n{text}");
        }
    }

    #[test]
    fn a_bad_line_is_named_and_fails_the_file() {
        let csv = "# shared list\nuser,reason,at,by\nqq:1,spam,,x\nwx:2,spam,,x\n";
        let e = parse(csv, 10).expect_err("bad platform");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.reason.contains("wx"), "{e}");
        let e = parse("qq:1,spam,,x\n", 10).expect_err("no header");
        assert_eq!(e.line, 1);
        let e = parse("user,reason,at,by\nqq:1,spam\n", 10).expect_err("two fields");
        assert!(e.reason.contains("2 fields"), "{e}");
        let e = parse("{\"user\":\"qq:1\"}\n{\"user\":\"qq:2\",\"at\":\"yesterday\"}\n", 10).expect_err("at");
        assert_eq!(e.line, 2);
        let e = parse("{\"user\":\"qq:1\"}\n{\"user\":\"qq:2\"}\n{\"user\":\"qq:3\"}\n", 2).expect_err("max");
        assert_eq!(e.line, 3);
        assert_eq!(
            parse("{\"user\":\"qq:1\"}\n{\"user\":\"qq:1\",\"reason\":\"b\"}\n", 1).map(|b| b.len()),
            Ok(1)
        );
    }

    #[test]
    fn the_own_list_wins_and_lookups_are_per_platform() {
        let list = BanList::merged(&[user("qq:1")], &[vec![user("qq:1"), user("tg:1")]]);
        assert_eq!(list.banned(user("qq:1")), Some(Origin::Local));
        assert_eq!(list.banned(user("tg:1")), Some(Origin::Shared(0)));
        assert_eq!(list.banned(user("tg:2")), None);
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn expel_kicks_once_per_group_of_the_members_platform() {
        let groups = [GroupId::qq(2), GroupId::qq(1), GroupId::qq(2), GroupId::telegram(-100)];
        let actions = expel(user("qq:9"), &groups);
        let kicked: Vec<GroupId> = actions.iter().map(Action::group).collect();
        assert_eq!(kicked, [GroupId::qq(1), GroupId::qq(2)]);
        // QQ cannot lift a refusal of re-joining, so none is left: qunguan's list keeps them out.
        assert!(actions.iter().all(|a| matches!(
            a,
            Action::Kick {
                user_id: 9,
                ban: false,
                ..
            }
        )));
        assert!(readmit(user("qq:9"), &groups).is_empty(), "nothing to lift on QQ");
    }

    #[test]
    fn on_telegram_the_ban_is_kept_by_the_platform_and_lifted_by_readmit() {
        let groups = [
            GroupId::telegram(-1_002),
            GroupId::telegram(-1_001),
            GroupId::qq(1),
            GroupId::telegram(-1_002),
        ];
        let kicks = expel(user("tg:9"), &groups);
        assert_eq!(
            kicks,
            [-1_002, -1_001].map(|chat| Action::Kick {
                group: GroupId::telegram(chat),
                user_id: 9,
                ban: true
            })
        );
        assert_eq!(
            readmit(user("tg:9"), &groups),
            [-1_002, -1_001].map(|chat| Action::Unban {
                group: GroupId::telegram(chat),
                user_id: 9
            })
        );
    }

    #[test]
    fn a_banned_speaker_loses_the_message_and_the_seat() {
        let group = GroupId::qq(1);
        let caps = Capabilities::of(group);
        let actions = removal(group, 9, &Sighting::Spoke { message_id: 5 }, caps, "");
        assert_eq!(
            actions,
            [
                Action::Recall { group, message_id: 5 },
                Action::Kick {
                    group,
                    user_id: 9,
                    ban: false
                }
            ]
        );
        let declined = removal(group, 9, &Sighting::Requested { handle: "f".into() }, caps, "banned");
        assert!(matches!(
            &declined[..],
            [Action::AnswerJoinRequest { approve: false, .. }]
        ));
    }
}
