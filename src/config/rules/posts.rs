//! `rules/schedule.toml`: the operator's scheduled posts, kept in version control.
//!
//! ```toml
//! [[post]]
//! id = "morning"                 # unique, no spaces or `/`; names the post in logs, state and /schedule list
//! groups = [726300112, "tg:-1001234567890"]
//! at = "07:30"                   # every day at 07:30, or instead:
//! # cron = "0 30 7 * * 1-5"      # 5 or 6 fields (seconds first)
//! timezone = "Asia/Shanghai"     # IANA; default from [schedule] timezone
//! text = "早上好！"               # or texts = [...] / file = "posts/morning.txt" to rotate
//! catch_up = "10m"               # missed by less than this while down → still sent;
//!                                # default from [schedule] catch_up
//! enabled = true
//!
//! [[post]]
//! id = "weekly-board"
//! groups = [726300112]
//! cron = "0 0 20 * * Sun"
//! kind = "leaderboard"           # the week's points board (周榜) instead of a text
//! ```
//!
//! Every problem is reported with the file and line of the value at fault, and the whole file is
//! refused: a half-loaded schedule would silently drop posts. A post may fire at most once a
//! minute (a group is not a ticker), and a rotation file must sit in a subfolder, since a
//! `.txt` file at the top of the rules folder is a word list.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;
use toml::Spanned;

use crate::config::rules::RulesError;
use crate::domain::duration::HumanDuration;
use crate::domain::event::GroupId;
use crate::policy::calendar::{CalendarError, Recurrence};

/// The schedule file inside the rules folder.
pub const SCHEDULE_FILE: &str = "schedule.toml";

/// Separates the entries of a rotation file (`file = "posts/x.txt"`): a line holding only `---`.
pub const ROTATION_SEPARATOR: &str = "---";

/// One scheduled post, validated.
#[derive(Clone, Debug)]
pub struct PostDef {
    /// Unique id.
    pub id: String,
    /// Where it is posted.
    pub groups: Vec<GroupId>,
    /// When.
    pub recurrence: Recurrence,
    /// What: one text, or several used in turn, one per occurrence.
    pub texts: Vec<String>,
    /// A missed occurrence later than this is skipped.
    pub catch_up: Duration,
    /// Disabled posts are kept but never fire.
    pub enabled: bool,
    /// What is posted: the texts, or a leaderboard.
    pub kind: PostKind,
}

/// What a scheduled post posts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PostKind {
    /// Its texts (`text`, `texts` or `file`).
    #[default]
    Text,
    /// The week's points leaderboard of each group (`kind = "leaderboard"`).
    Leaderboard,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    post: Vec<RawPost>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPost {
    id: Spanned<String>,
    groups: Spanned<Vec<RawGroup>>,
    at: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    text: Option<Spanned<String>>,
    texts: Option<Spanned<Vec<String>>>,
    file: Option<Spanned<String>>,
    catch_up: Option<Spanned<HumanDuration>>,
    #[serde(default = "yes")]
    enabled: bool,
    kind: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// A group as written: a number (QQ) or `"qq:…"` / `"tg:…"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawGroup {
    Number(i64),
    Text(String),
}

/// Parses `rules/schedule.toml` text. `rules_dir` resolves `file = …` paths; `default_zone`
/// and `default_catch_up` apply to posts without a `timezone` or `catch_up`.
pub fn parse(
    text: &str,
    path: &Path,
    rules_dir: &Path,
    default_zone: &str,
    default_catch_up: Duration,
) -> Result<Vec<PostDef>, RulesError> {
    let file = super::TomlFile::new(text, path);
    let err = |offset: usize, reason: String| file.error_at(offset, reason);
    let raw: RawFile = file.parse()?;
    let mut posts: Vec<PostDef> = Vec::with_capacity(raw.post.len());
    for p in raw.post {
        let id_at = p.id.span().start;
        let id = p.id.into_inner();
        // `/` is kept for the ids of posts added with `/schedule add` (`qq:726300112/3`).
        if id.trim().is_empty() || id.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(err(
                id_at,
                format!("post id {id:?} must be non-empty, without spaces or '/'"),
            ));
        }
        if posts.iter().any(|q| q.id == id) {
            return Err(err(id_at, format!("duplicate post id {id:?}")));
        }
        let groups_at = p.groups.span().start;
        let mut groups = Vec::new();
        for g in p.groups.into_inner() {
            let group = match g {
                RawGroup::Number(n) => GroupId::qq(n),
                RawGroup::Text(s) => s
                    .parse()
                    .map_err(|e: crate::domain::event::IdError| err(groups_at, e.to_string()))?,
            };
            groups.push(group);
        }
        if groups.is_empty() {
            return Err(err(groups_at, format!("post {id:?} has no groups")));
        }
        let (zone, zone_at) = match &p.timezone {
            Some(z) => (z.get_ref().as_str(), z.span().start),
            None => (default_zone, id_at),
        };
        // Checked first so a bad zone is reported at its own line, not at `at`/`cron`.
        if jiff::tz::TimeZone::get(zone).is_err() {
            return Err(err(zone_at, CalendarError::Zone(zone.to_owned()).to_string()));
        }
        let calendar = |r: Result<Recurrence, CalendarError>, at: usize| r.map_err(|e| err(at, e.to_string()));
        let recurrence = match (&p.at, &p.cron) {
            (Some(at), None) => calendar(Recurrence::daily(at.get_ref(), zone), at.span().start)?,
            (None, Some(cron)) => {
                let r = calendar(Recurrence::cron(cron.get_ref(), zone), cron.span().start)?;
                check_interval(&r).map_err(|problem| err(cron.span().start, problem.to_string()))?;
                r
            }
            _ => return Err(err(id_at, format!("post {id:?} needs exactly one of `at` or `cron`"))),
        };
        let kind = match &p.kind {
            None => PostKind::Text,
            Some(k) if k.get_ref() == "text" => PostKind::Text,
            Some(k) if k.get_ref() == "leaderboard" => PostKind::Leaderboard,
            Some(k) => {
                return Err(err(
                    k.span().start,
                    format!(
                        "post {id:?}: kind {:?} is not one of \"text\", \"leaderboard\"",
                        k.get_ref()
                    ),
                ));
            }
        };
        let texts = match (p.text, p.texts, p.file) {
            (None, None, None) if kind == PostKind::Leaderboard => Vec::new(),
            _ if kind == PostKind::Leaderboard => {
                return Err(err(
                    id_at,
                    format!("post {id:?} is a leaderboard: it takes no `text`, `texts` or `file`"),
                ));
            }
            (Some(t), None, None) => vec![non_empty(t, &err)?],
            (None, Some(ts), None) => {
                let at = ts.span().start;
                let ts: Vec<String> = ts.into_inner().into_iter().filter(|t| !t.trim().is_empty()).collect();
                if ts.is_empty() {
                    return Err(err(at, format!("post {id:?}: `texts` is empty")));
                }
                ts
            }
            (None, None, Some(f)) => {
                read_rotation(rules_dir, f.get_ref()).map_err(|problem| err(f.span().start, problem.to_string()))?
            }
            _ => {
                return Err(err(
                    id_at,
                    format!("post {id:?} needs exactly one of `text`, `texts` or `file`"),
                ));
            }
        };
        let catch_up = p.catch_up.map_or(default_catch_up, |c| c.into_inner().get());
        posts.push(PostDef {
            id,
            groups,
            recurrence,
            texts,
            catch_up,
            enabled: p.enabled,
            kind,
        });
    }
    Ok(posts)
}

/// A cron pattern that fires more often than once a minute, as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} fires more often than once a minute; a scheduled post may fire at most once a minute")]
struct TooFrequent(String);

/// Refuses a pattern that fires more often than once a minute (looked at over
/// its next occurrences from a fixed instant, which catches `* * * * * *` and `*/10 * …`).
fn check_interval(recurrence: &Recurrence) -> Result<(), TooFrequent> {
    let Some(mut previous) = recurrence.next_after(Timestamp::UNIX_EPOCH) else {
        return Ok(());
    };
    for _ in 0..16 {
        let Some(next) = recurrence.next_after(previous) else {
            return Ok(());
        };
        if next.as_second() - previous.as_second() < 60 {
            return Err(TooFrequent(recurrence.to_string()));
        }
        previous = next;
    }
    Ok(())
}

fn non_empty(t: Spanned<String>, err: &impl Fn(usize, String) -> RulesError) -> Result<String, RulesError> {
    let at = t.span().start;
    let t = t.into_inner();
    if t.trim().is_empty() {
        Err(err(at, "`text` is empty".into()))
    } else {
        Ok(t)
    }
}

/// Why a rotation file (`file = "posts/x.txt"`) cannot be used.
#[derive(Debug, thiserror::Error)]
enum RotationError {
    /// Absolute, or climbing out with `..`.
    #[error("file {0:?} must be a path inside the rules folder")]
    Outside(String),
    /// At the top of the rules folder, where a `.txt` file is a word list.
    #[error("file {0:?} would also be loaded as a word list; put rotation files in a subfolder, e.g. \"posts/{0}\"")]
    WordList(String),
    /// Not readable.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing but separators and blank lines.
    #[error("{} holds no posts", .0.display())]
    Empty(std::path::PathBuf),
}

/// Reads a rotation file: entries separated by lines holding only `---`.
fn read_rotation(rules_dir: &Path, file: &str) -> Result<Vec<String>, RotationError> {
    let relative = Path::new(file);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(RotationError::Outside(file.to_owned()));
    }
    if relative.components().count() == 1 && relative.extension().is_some_and(|e| e == "txt") {
        return Err(RotationError::WordList(file.to_owned()));
    }
    let path = rules_dir.join(relative);
    let text = std::fs::read_to_string(&path).map_err(|source| RotationError::Read {
        path: path.clone(),
        source,
    })?;
    let mut entries = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim() == ROTATION_SEPARATOR {
            entries.push(std::mem::take(&mut current));
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    entries.push(current);
    let entries: Vec<String> = entries
        .into_iter()
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(RotationError::Empty(path));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_CATCH_UP: Duration = Duration::from_secs(600);

    fn parse_str(text: &str) -> Result<Vec<PostDef>, RulesError> {
        parse(
            text,
            Path::new("rules/schedule.toml"),
            Path::new("/nonexistent"),
            "Asia/Shanghai",
            DEFAULT_CATCH_UP,
        )
    }

    #[test]
    fn a_full_file_parses() {
        let posts = parse_str(
            r#"
            [[post]]
            id = "morning"
            groups = [726300112, "tg:-1001234567890"]
            at = "07:30"
            text = "早上好！"

            [[post]]
            id = "night"
            groups = ["qq:1"]
            cron = "0 0 21 * * 1-5"
            timezone = "Europe/Berlin"
            texts = ["晚安", "", "好梦"]
            catch_up = "30m"
            enabled = false
            "#,
        )
        .expect("valid");
        assert_eq!(posts.len(), 2);
        assert_eq!(
            posts[0].groups,
            [GroupId::qq(726_300_112), GroupId::telegram(-1_001_234_567_890)]
        );
        assert_eq!(posts[0].recurrence.zone_name(), "Asia/Shanghai", "the default zone");
        assert_eq!(posts[0].catch_up, DEFAULT_CATCH_UP, "the default catch-up");
        assert_eq!(posts[1].texts, ["晚安", "好梦"], "empty entries are dropped");
        assert_eq!(posts[1].catch_up, Duration::from_secs(1800));
        assert!(!posts[1].enabled);
    }

    #[test]
    fn errors_name_the_line_of_the_bad_value() {
        let cases = [
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"7.30\"\ntext = \"x\"\n",
                4,
                "invalid time",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"07:30\"\ntimezone = \"Asia/Shangai\"\ntext = \"x\"\n",
                5,
                "unknown time zone",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\ncron = \"99 * * * *\"\ntext = \"x\"\n",
                4,
                "invalid cron",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [\"wx:1\"]\nat = \"07:30\"\ntext = \"x\"\n",
                3,
                "unknown platform",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"07:30\"\ncron = \"* * * * *\"\ntext = \"x\"\n",
                2,
                "exactly one of `at` or `cron`",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"07:30\"\n",
                2,
                "exactly one of `text`",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"07:30\"\ntext = \"x\"\ncolour = 1\n",
                6,
                "unknown field",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"07:30\"\ntext = \"x\"\n[[post]]\nid = \"a\"\ngroups = [1]\nat = \"08:00\"\ntext = \"y\"\n",
                7,
                "duplicate",
            ),
            (
                "[[post]]\nid = \"a/b\"\ngroups = [1]\nat = \"07:30\"\ntext = \"x\"\n",
                2,
                "without spaces or '/'",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\ncron = \"*/30 * * * * *\"\ntext = \"x\"\n",
                4,
                "at most once a minute",
            ),
            (
                "[[post]]\nid = \"a\"\ngroups = [1]\nat = \"07:30\"\nfile = \"morning.txt\"\n",
                5,
                "word list",
            ),
            ("[[post]\n", 1, ""),
        ];
        for (text, line, needle) in cases {
            let e = parse_str(text).expect_err(text);
            assert_eq!(e.line, Some(line), "{text}\n{e}");
            assert!(e.reason.contains(needle), "{e}");
            assert!(
                e.to_string().starts_with(&format!("rules/schedule.toml:{line}:")),
                "{e}"
            );
        }
    }

    #[test]
    fn rotation_files_split_on_separator_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("posts")).expect("mkdir");
        std::fs::write(dir.path().join("posts/m.txt"), "第一期\n第二行\n---\n第二期\n---\n\n").expect("write");
        let text = "[[post]]\nid = \"m\"\ngroups = [1]\nat = \"07:30\"\nfile = \"posts/m.txt\"\n";
        let posts = parse(text, Path::new("schedule.toml"), dir.path(), "UTC", DEFAULT_CATCH_UP).expect("valid");
        assert_eq!(posts[0].texts, ["第一期\n第二行", "第二期"]);

        let outside = "[[post]]\nid = \"m\"\ngroups = [1]\nat = \"07:30\"\nfile = \"../secret.txt\"\n";
        assert!(parse(outside, Path::new("schedule.toml"), dir.path(), "UTC", DEFAULT_CATCH_UP).is_err());
    }
}
