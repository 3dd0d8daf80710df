//! The rules folder: word lists, their settings, the allow list, the variants table, regex
//! detectors and the group rules, loaded as one immutable [`Rules`] value.
//!
//! Layout (the format is documented in `rules/README.md`):
//! - `*.txt` — word lists, one phrase per line; blank lines and lines starting with `#` are
//!   ignored; the file stem is the rule's name (`ads.txt` → rule `ads`);
//! - `allow.txt` — the allow list (same format): a hit lying entirely inside an allow-list
//!   hit is dropped;
//! - `rules.toml` — optional: `[rules.<name>]` settings per word list, `[[regex]]`
//!   detectors, `[normalize]` switches;
//! - `variants.toml` — optional: evasive spellings and the canonical form they stand for;
//! - `model.bin` — optional: the learned second stage (`qunguan model train` writes it),
//!   thresholds in `[model]` of `rules.toml`;
//! - `group-rules.md` — the group rules text, posted in welcomes and by `/rules`;
//!   `groups/<group>.md` — one group's own rules text instead (`groups/726300112.md`,
//!   `groups/tg:-1001234567890.md`);
//! - `schedule.toml` — scheduled posts ([`posts`]), with their rotation
//!   files in a subfolder;
//! - `replies.toml` — keyword answers ([`replies`]);
//! - `verify.toml` — the questions of the gate at the door ([`verify`]).
//!
//! A reload ([`reload`]: the file watcher, SIGHUP and the `/reload` admin command all call
//! it) builds a complete new [`Rules`] and swaps it in atomically through [`RulesHandle`];
//! messages in flight finish on the set they started with. If anything is wrong, the old
//! rules stay live and the error names the file and line.

#[cfg(test)]
mod filter_tests;
pub mod lists;
pub mod posts;
pub mod replies;
mod settings;
pub mod verify;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;

use crate::config::Settings;
use crate::domain::clock::SharedClock;
use crate::domain::event::GroupId;
use crate::domain::rule::RuleId;
use crate::policy::filter::{Filter, FilterSpec, MODEL_RULE, Phrase, RuleSettings, WordList};
use crate::policy::model::Model;
use posts::PostDef;

/// File with the group rules text, inside the rules folder.
pub const GROUP_RULES_FILE: &str = "group-rules.md";
/// Folder of per-group rules texts (`<group>.md`), inside the rules folder.
pub const GROUP_RULES_DIR: &str = "groups";
/// Per-rule settings, regex detectors and normalization switches.
pub const RULES_TOML: &str = "rules.toml";
/// The allow list.
pub const ALLOW_FILE: &str = "allow.txt";
/// The variants table.
pub const VARIANTS_FILE: &str = "variants.toml";
/// The learned model (`qunguan model train --out rules/model.bin`).
pub const MODEL_FILE: &str = "model.bin";
/// A model file larger than this is refused before it is read (the shipped one is 512 KiB).
pub const MODEL_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Everything loaded from the rules folder.
#[derive(Debug)]
pub struct Rules {
    /// The compiled message filter.
    pub filter: Filter,
    /// The group rules text (may be empty).
    pub group_rules: String,
    /// Groups with their own rules text (`groups/<group>.md`), which replaces `group_rules`
    /// for them.
    pub group_rules_by_group: HashMap<GroupId, String>,
    /// The scheduled posts of `schedule.toml`.
    pub schedule: Arc<[PostDef]>,
    /// The keyword answers of `replies.toml`.
    pub replies: Arc<[replies::ReplyDef]>,
    /// The gate's questions of `verify.toml` (empty: arithmetic questions).
    pub verify: Arc<[crate::policy::gate::Question]>,
    /// The folder it came from.
    pub dir: PathBuf,
    /// What it was loaded with; a reload uses the same.
    pub options: LoadOptions,
    /// When it was loaded (on the options' clock): a scheduled post new in this snapshot
    /// starts from here, so it never fires for a time before it existed.
    pub loaded_at: Timestamp,
}

/// What loading the rules folder takes from the configuration: the defaults of scheduled
/// posts, and the clock that stamps each snapshot's load time. A reload reuses the options of
/// the rules it replaces.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Time zone of posts without their own (`[schedule] timezone`).
    pub timezone: String,
    /// Catch-up of posts without their own (`[schedule] catch_up`).
    pub catch_up: Duration,
    /// The daemon's clock (`None`: the system clock).
    pub clock: Option<SharedClock>,
    /// Cooldown of keyword answers without their own (`[engagement] faq_cooldown`).
    pub faq_cooldown: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::from(&Settings::default())
    }
}

impl From<&Settings> for LoadOptions {
    fn from(settings: &Settings) -> Self {
        Self {
            timezone: settings.schedule.timezone.clone(),
            catch_up: settings.schedule.catch_up.get(),
            clock: None,
            faq_cooldown: settings.engagement.faq_cooldown.get(),
        }
    }
}

/// One TOML rules file being parsed (`schedule.toml`, `verify.toml`, `replies.toml`): its
/// errors name the file and the line of the offending value.
struct TomlFile<'a> {
    text: &'a str,
    path: &'a Path,
}

impl<'a> TomlFile<'a> {
    fn new(text: &'a str, path: &'a Path) -> Self {
        Self { text, path }
    }

    /// The 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    /// A problem with the value at byte `offset`.
    fn error_at(&self, offset: usize, reason: String) -> RulesError {
        RulesError {
            file: self.path.to_owned(),
            line: Some(self.line_of(offset)),
            reason,
        }
    }

    /// A problem with the file as a whole.
    fn error(&self, reason: String) -> RulesError {
        RulesError {
            file: self.path.to_owned(),
            line: None,
            reason,
        }
    }

    /// The file, deserialized; a syntax or shape error names its line.
    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, RulesError> {
        toml::from_str(self.text).map_err(|e| RulesError {
            file: self.path.to_owned(),
            line: e.span().map(|s| self.line_of(s.start)),
            reason: e.message().to_owned(),
        })
    }
}

/// The live rules, swapped atomically on reload. Readers take a snapshot with `load()` and
/// use it for a whole message, so a message never sees half of a reload.
pub type RulesHandle = Arc<ArcSwap<Rules>>;

/// A problem in the rules folder, with the file and (when known) the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RulesError {
    /// The file (or folder) at fault.
    pub file: PathBuf,
    /// 1-based line number, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl RulesError {
    fn new(file: &Path, line: Option<usize>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            reason: reason.into(),
        }
    }
}

/// Loads `dir` and, if it is valid, makes it the live rule set. Returns the new set's summary.
/// On error the live rules are left untouched.
///
/// Compiling a large rule set takes a fraction of a second of CPU: call this from
/// `tokio::task::spawn_blocking` in async code.
pub fn reload(handle: &RulesHandle, dir: &Path) -> Result<String, RulesError> {
    let (options, before) = {
        let live = handle.load();
        let before: Vec<String> = live.filter.rule_names().map(str::to_owned).collect();
        (live.options.clone(), before)
    };
    let rules = Rules::load_with(dir, &options)?;
    // Applied all the same; an emptied or deleted list may be an accident (see [`lists`]).
    for warning in lists::list_warnings(dir, &before) {
        tracing::warn!("rules: {warning}");
    }
    let summary = rules.summary();
    handle.store(Arc::new(rules));
    Ok(summary)
}

impl Rules {
    /// Loads and compiles the rules folder `dir` with the default [`LoadOptions`].
    pub fn load(dir: &Path) -> Result<Self, RulesError> {
        Self::load_with(dir, &LoadOptions::default())
    }

    /// Loads and compiles the rules folder `dir`.
    pub fn load_with(dir: &Path, options: &LoadOptions) -> Result<Self, RulesError> {
        let filter = build_filter(dir, read_spec(dir, true)?)?;
        let rules_path = dir.join(GROUP_RULES_FILE);
        let group_rules = match read_text(&rules_path)? {
            Some(text) => text.trim().to_owned(),
            None => String::new(),
        };
        let group_rules_by_group = read_group_rules(&dir.join(GROUP_RULES_DIR))?;
        let schedule = read_schedule(dir, options)?;
        let replies_path = dir.join(replies::REPLIES_FILE);
        let replies = match read_text(&replies_path)? {
            Some(text) => replies::parse(&text, &replies_path, options.faq_cooldown)?,
            None => Vec::new(),
        };
        let verify_path = dir.join(verify::VERIFY_FILE);
        let verify = match read_text(&verify_path)? {
            Some(text) => verify::parse(&text, &verify_path)?,
            None => Vec::new(),
        };
        Ok(Self {
            filter,
            group_rules,
            group_rules_by_group,
            schedule: schedule.into(),
            replies: replies.into(),
            verify: verify.into(),
            dir: dir.to_owned(),
            options: options.clone(),
            loaded_at: options.clock.as_ref().map_or_else(Timestamp::now, |c| c.now()),
        })
    }

    /// The rules text of `group`: its own `groups/<group>.md` if there is one, else
    /// `group-rules.md` (either may be empty).
    #[must_use]
    pub fn rules_text(&self, group: GroupId) -> &str {
        self.group_rules_by_group
            .get(&group)
            .map_or(self.group_rules.as_str(), String::as_str)
    }

    /// A one-line description for logs (English; `check-config` uses [`Rules::summary_in`], `/reload` answers with
    /// [`Rules::counts`] in the group's language).
    #[must_use]
    pub fn summary(&self) -> String {
        self.summary_in(crate::domain::locale::Locale::En)
    }

    /// [`Rules::summary`] in `locale` (what `check-config` prints).
    #[must_use]
    pub fn summary_in(&self, locale: crate::domain::locale::Locale) -> String {
        let mut summary = crate::policy::i18n::rules_summary(locale, &self.counts());
        let model = self.filter.model().map(|m| {
            let (veto, act) = self.filter.thresholds();
            (m.meta().spam, m.meta().ham, veto, act)
        });
        summary.push_str(&crate::policy::i18n::model_summary(locale, model));
        summary
    }

    /// What this rule set holds, for summaries in any language.
    #[must_use]
    pub fn counts(&self) -> crate::policy::i18n::RulesCounts {
        crate::policy::i18n::RulesCounts {
            lists: self.filter.rule_names().map(str::to_owned).collect(),
            phrases: self.filter.phrase_count(),
            detectors: self.filter.detector_names().count(),
            group_rules_chars: self.group_rules.chars().count(),
            groups_with_own_rules: self.group_rules_by_group.len(),
            posts: self.schedule.len(),
            posts_enabled: self.schedule.iter().filter(|p| p.enabled).count(),
        }
    }
}

/// The filter of the rules folder `dir` without its `model.bin`: the rules alone, what
/// `qunguan model train` computes the model's flags with (a broken or stale model file must
/// not stop it from writing a new one).
pub fn filter_without_model(dir: &Path) -> Result<Filter, RulesError> {
    build_filter(dir, read_spec(dir, false)?)
}

fn build_filter(dir: &Path, spec: FilterSpec) -> Result<Filter, RulesError> {
    Filter::build(&spec).map_err(|e| RulesError {
        file: if e.file.as_os_str().is_empty() {
            dir.to_owned()
        } else {
            e.file
        },
        line: e.line,
        reason: e.reason,
    })
}

/// Reads `model.bin` (no file = no model). The error names the file and says what to do.
pub fn read_model(path: &Path) -> Result<Option<Model>, RulesError> {
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RulesError::new(path, None, e.to_string())),
    };
    if len > MODEL_MAX_BYTES {
        return Err(RulesError::new(
            path,
            None,
            format!(
                "{len} bytes is too large for a model file (at most {MODEL_MAX_BYTES}): check the path, or rebuild it with `qunguan model train`"
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| RulesError::new(path, None, e.to_string()))?;
    Model::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| RulesError::new(path, None, e.to_string()))
}

/// Reads the rules folder into a [`FilterSpec`]; `model`: read `model.bin` too.
fn read_spec(dir: &Path, model: bool) -> Result<FilterSpec, RulesError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        RulesError::new(
            dir,
            None,
            format!("cannot read the rules folder: {e} (set rules.dir to an existing folder)"),
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| RulesError::new(dir, None, e.to_string()))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "txt")
            && path.file_name().is_some_and(|n| n != ALLOW_FILE)
            && path.is_file()
        {
            paths.push(path);
        }
    }
    // Load order decides which rule is reported first when two lists hold the same phrase;
    // keep it stable.
    paths.sort();

    let toml_path = dir.join(RULES_TOML);
    let mut toml = match read_text(&toml_path)? {
        Some(src) => settings::parse_rules_toml(&toml_path, &src)?,
        None => settings::RulesToml::default(),
    };
    let mut spec = FilterSpec {
        normalize: toml.normalize,
        model_settings: toml.model.clone(),
        ..FilterSpec::default()
    };
    for path in &paths {
        let rule = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| RulesError::new(path, None, "the file name is not valid UTF-8"))?
            .to_owned();
        if RuleId::is_reserved(&rule) || rule == MODEL_RULE {
            return Err(RulesError::new(
                path,
                None,
                format!(
                    "{rule:?} is the name qunguan gives its own measures (one of {}); rename the word list",
                    RuleId::RESERVED.map(|r| r.to_string()).join(", ")
                ),
            ));
        }
        let settings = toml
            .rules
            .remove(&rule)
            .map(|(s, _)| s)
            .unwrap_or_else(RuleSettings::default);
        spec.lists.push(WordList {
            phrases: read_phrases(path)?,
            rule,
            settings,
        });
    }
    if let Some((name, (_, line))) = toml.rules.into_iter().next() {
        return Err(RulesError::new(
            &toml_path,
            Some(line),
            format!("[rules.{name}] has no word list: create {name}.txt, or fix the name"),
        ));
    }
    for (list, other, line) in &toml.alike {
        if other == list || !spec.lists.iter().any(|l| &l.rule == other) {
            return Err(RulesError::new(
                &toml_path,
                Some(*line),
                format!(
                    "[rules.{list}] alike = [{other:?}]: name another word list (a file {other}.txt beside rules.toml) whose cues say the same kind of thing"
                ),
            ));
        }
    }
    spec.regexes = toml.regexes;
    let allow_path = dir.join(ALLOW_FILE);
    if allow_path.is_file() {
        spec.allow = read_phrases(&allow_path)?;
    }
    let variants_path = dir.join(VARIANTS_FILE);
    if let Some(src) = read_text(&variants_path)? {
        spec.variants = settings::parse_variants(&variants_path, &src)?;
    }
    if model {
        spec.model = read_model(&dir.join(MODEL_FILE))?.map(Arc::new);
    }
    Ok(spec)
}

/// Reads `groups/<group>.md` files: each file's stem names its group like everywhere else
/// (`726300112`, `qq:726300112`, `tg:-1001234567890`). No folder = no per-group texts.
fn read_group_rules(folder: &Path) -> Result<HashMap<GroupId, String>, RulesError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(RulesError::new(folder, None, e.to_string())),
    };
    let mut by_group = HashMap::new();
    let mut seen: HashMap<GroupId, PathBuf> = HashMap::new();
    for entry in entries {
        let path = entry.map_err(|e| RulesError::new(folder, None, e.to_string()))?.path();
        if path.extension().is_none_or(|e| e != "md") || !path.is_file() {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let group: GroupId = stem.parse().map_err(|e: crate::domain::event::IdError| {
            let reason = e.to_string();
            RulesError::new(
                &path,
                None,
                format!(
                    "{reason}; name the file after its group, e.g. groups/726300112.md or groups/tg:-1001234567890.md"
                ),
            )
        })?;
        if let Some(other) = seen.insert(group, path.clone()) {
            return Err(RulesError::new(
                &path,
                None,
                format!("{group} already has its rules in {}", other.display()),
            ));
        }
        let text = read_text(&path)?.unwrap_or_default();
        by_group.insert(group, text.trim().to_owned());
    }
    Ok(by_group)
}

/// Reads `schedule.toml` (no file = no posts).
fn read_schedule(dir: &Path, options: &LoadOptions) -> Result<Vec<PostDef>, RulesError> {
    let path = dir.join(posts::SCHEDULE_FILE);
    match read_text(&path)? {
        Some(text) => posts::parse(&text, &path, dir, &options.timezone, options.catch_up),
        None => Ok(Vec::new()),
    }
}

/// A UTF-8 file's text, or `None` if it does not exist.
fn read_text(path: &Path) -> Result<Option<String>, RulesError> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(e) => {
                let line = settings::line_of(&String::from_utf8_lossy(e.as_bytes()), e.utf8_error().valid_up_to());
                Err(RulesError::new(
                    path,
                    Some(line),
                    "not valid UTF-8 (save the file as UTF-8)",
                ))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RulesError::new(path, None, e.to_string())),
    }
}

/// Reads a phrase list: one phrase per line, `#` comments, blank lines ignored.
fn read_phrases(path: &Path) -> Result<Vec<Phrase>, RulesError> {
    let bytes = std::fs::read(path).map_err(|e| RulesError::new(path, None, e.to_string()))?;
    let mut phrases = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(line)
            .map_err(|_| RulesError::new(path, Some(index + 1), "not valid UTF-8 (save the file as UTF-8)"))?;
        let phrase = line.trim_start_matches('\u{feff}').trim();
        if phrase.is_empty() || phrase.starts_with('#') {
            continue;
        }
        phrases.push(Phrase {
            text: phrase.to_owned(),
            file: path.to_owned(),
            line: index + 1,
        });
    }
    Ok(phrases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_list_named_like_a_synthetic_rule_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("flood.txt"), "刷屏\n").expect("write");
        let err = Rules::load(dir.path()).expect_err("reserved name").to_string();
        assert!(err.contains("flood.txt") && err.contains("rename"), "{err}");
    }

    #[test]
    fn loads_word_lists_and_group_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ads.txt"), "# ads\n\n加微信\n  free money  \n").expect("write");
        std::fs::write(dir.path().join("scam.txt"), "\u{feff}刷单\n").expect("write");
        std::fs::write(dir.path().join("group-rules.md"), "1. 不许打广告\n").expect("write");
        std::fs::write(dir.path().join("notes.md"), "not a list").expect("write");
        let rules = Rules::load(dir.path()).expect("loads");
        assert_eq!(rules.filter.rule_names().collect::<Vec<_>>(), ["ads", "scam"]);
        assert_eq!(rules.filter.phrase_count(), 3);
        assert_eq!(rules.group_rules, "1. 不许打广告");
        let v = rules
            .filter
            .check("要FREE MONEY吗", crate::domain::event::GroupId::qq(1))
            .expect("violation");
        assert_eq!(&*v.rule, "ads");
    }

    #[test]
    fn bad_files_are_reported_with_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bad.txt"), b"ok\n\xff\xfe\n").expect("write");
        let err = Rules::load(dir.path()).expect_err("invalid UTF-8");
        assert_eq!(err.line, Some(2));
        assert!(err.to_string().contains("bad.txt:2:"), "{err}");

        let err = Rules::load(&dir.path().join("missing")).expect_err("no folder");
        assert!(err.to_string().contains("rules folder"), "{err}");
    }

    use crate::domain::event::GroupId;
    use crate::domain::strike::Severity;
    use crate::policy::filter::{HitKind, RuleAction};

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        dir
    }

    const G1: GroupId = GroupId::qq(111);
    const G2: GroupId = GroupId::qq(222);

    #[test]
    fn rule_settings_reach_the_violation() {
        let dir = folder(&[
            ("scam.txt", "刷单\n"),
            ("porn.txt", "约炮\n"),
            (
                "rules.toml",
                "[rules.scam]\nseverity = \"max\"\naction = \"kick\"\nrecall = false\ndry_run = true\n\n[rules.porn]\nseverity = 2\naction = \"recall\"\n",
            ),
        ]);
        let rules = Rules::load(dir.path()).expect("loads");
        let v = rules.filter.check("兼职刷单", G1).expect("violation");
        assert_eq!(
            (&*v.rule, v.severity, v.action, v.recall, v.dry_run),
            ("scam", Severity::Max, RuleAction::Kick, false, true)
        );
        let v = rules.filter.check("约炮吗", G1).expect("violation");
        assert_eq!(
            (v.severity, v.action, v.recall),
            (Severity::Strikes(2), RuleAction::Recall, true)
        );
        // Both in one message: the more severe rule decides.
        assert_eq!(&*rules.filter.check("约炮 刷单", G1).expect("violation").rule, "scam");
    }

    #[test]
    fn groups_and_exclude_groups_scope_a_rule() {
        let dir = folder(&[
            ("only.txt", "只在一群\n"),
            ("except.txt", "除了二群\n"),
            (
                "rules.toml",
                "[rules.only]\ngroups = [111]\n\n[rules.except]\nexclude_groups = [\"qq:222\"]\n",
            ),
        ]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        assert!(f.check("只在一群", G1).is_some());
        assert!(f.check("只在一群", G2).is_none());
        assert!(f.check("除了二群", G1).is_some());
        assert!(f.check("除了二群", G2).is_none());
        assert!(f.check("除了二群", GroupId::telegram(-100_222)).is_some());
    }

    #[test]
    fn match_modes_and_cues() {
        let dir = folder(&[
            ("words.txt", "ass\n"),
            ("whole.txt", "hi\n"),
            ("contact.txt", "飞机\n"),
            ("money.txt", "出金\n"),
            (
                "rules.toml",
                "[rules.words]\nmatch = \"word\"\n[rules.whole]\nmatch = \"exact\"\n[rules.contact]\nmode = \"cue\"\n[rules.money]\nmode = \"cue\"\n",
            ),
        ]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        let table: &[(&str, Option<&str>)] = &[
            ("class", None),
            ("kick ass", Some("words")),
            ("a.s.s", Some("words")),
            ("HI!", Some("whole")),
            ("hi there", None),
            ("飞机", None),
            ("飞机 出金", Some("contact")),
            ("飞机 13812345678", Some("contact")),
        ];
        for (text, want) in table {
            let got = f.check(text, G1).map(|v| v.rule.to_string());
            assert_eq!(got.as_deref(), *want, "{text:?}");
        }
        let cue = f.inspect("飞机", None);
        assert_eq!(cue.hits[0].kind, HitKind::Cue);
    }

    #[test]
    fn variants_and_allow_list_apply_to_text_and_phrases() {
        let dir = folder(&[
            ("ads.txt", "加微信\n"),
            (
                "variants.toml",
                "\"微信\" = [\"V信\", \"vx\", \"薇信\"]\nqq = [\"扣扣\"]\n",
            ),
            ("allow.txt", "微信支付\n"),
            ("cues.txt", "qq\n"),
            ("rules.toml", "[rules.cues]\nmode = \"cue\"\n"),
        ]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        for text in ["加V信", "加 vx", "加薇信", "加微信"] {
            let v = f.check(text, G1).unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(&*v.hits[0].pattern, "加微信", "{text:?}");
        }
        assert!(
            f.check("vxlan 加速", G1).is_none(),
            "a glued Latin variant is not rewritten"
        );
        let report = f.inspect("扣扣 123456", None);
        assert_eq!(report.normalized, "qq123456");
        assert!(report.violation.is_some(), "the QQ detector reads the canonical form");
        assert!(f.check("用微信支付就行", G1).is_none());
    }

    #[test]
    fn regex_detectors_are_added_overridden_and_switched_off() {
        let dir = folder(&[(
            "rules.toml",
            "[[regex]]\nname = \"promo_code\"\npattern = 'code:[a-z]{4}[0-9]{4}'\nseverity = 3\n\n[[regex]]\nname = \"phone_cn\"\nstrength = \"strong\"\n\n[[regex]]\nname = \"tg_handle\"\nenabled = false\n",
        )]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        let v = f.check("use code:abcd1234 now", G1).expect("custom regex");
        assert_eq!((&*v.rule, v.severity), ("promo_code", Severity::Strikes(3)));
        assert_eq!(&*f.check("13812345678", G1).expect("now strong").rule, "phone_cn");
        assert!(!f.detector_names().any(|n| n == "tg_handle"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        /// (files, where the error must point, a word of the reason)
        type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);
        let cases: &[Case] = &[
            (
                &[("rules.toml", "[[regex]]\nname = \"x\"\n\npattern = '(unclosed'\n")],
                "rules.toml:4:",
                "does not compile",
            ),
            (
                &[("rules.toml", "[rules.ads]\nmode = \"loud\"\n")],
                "rules.toml:2:",
                "loud",
            ),
            (
                &[("rules.toml", "[rules.ads]\nseverity = 0\n")],
                "rules.toml:2:",
                "severity",
            ),
            (
                &[("rules.toml", "[rules.nope]\nmode = \"cue\"\n")],
                "rules.toml:1:",
                "nope.txt",
            ),
            (
                &[("rules.toml", "[rules.ads]\ngroups = [\"xx:1\"]\n")],
                "rules.toml:2:",
                "xx:1",
            ),
            (&[("ads.txt", "ok\n# fine\n!!!\n")], "ads.txt:3:", "punctuation"),
            (&[("variants.toml", "a = [\"b\"\n")], "variants.toml:", "variants"),
            (&[("rules.toml", "colour = 1\n")], "rules.toml:1:", "colour"),
        ];
        for (files, want_at, want_reason) in cases {
            let mut files = files.to_vec();
            if !files.iter().any(|(n, _)| *n == "ads.txt") {
                files.push(("ads.txt", "加微信\n"));
            }
            let dir = folder(&files);
            let err = Rules::load(dir.path()).expect_err("invalid");
            let msg = err.to_string();
            assert!(msg.contains(want_at) && msg.contains(want_reason), "{files:?}: {msg}");
        }
    }

    #[test]
    fn a_broken_model_file_keeps_the_old_model_and_the_error_names_the_file() {
        let dir = folder(&[("ads.txt", "加微信\n")]);
        std::fs::write(dir.path().join(MODEL_FILE), Model::zero().to_bytes()).expect("write");
        let handle: RulesHandle = Arc::new(ArcSwap::from_pointee(Rules::load(dir.path()).expect("loads")));
        assert!(handle.load().filter.model().is_some());
        assert!(
            handle.load().summary().contains("model trained on"),
            "{}",
            handle.load().summary()
        );
        let mut bytes = Model::zero().to_bytes();
        bytes[100] ^= 1;
        // A model file of format version 1 (before Latin word boundaries), checksum intact.
        let mut version_1 = Model::zero().to_bytes();
        version_1[8..12].copy_from_slice(&1u32.to_le_bytes());
        version_1[19] = 0;
        let body = version_1.len() - 8;
        let sum = crate::policy::model::format::fnv64(&version_1[..body]);
        version_1[body..].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(dir.path().join(MODEL_FILE), &version_1).expect("write");
        let err = reload(&handle, dir.path()).expect_err("a version 1 model").to_string();
        assert!(
            err.contains("model.bin") && err.contains("format version 1") && err.contains("qunguan model train"),
            "{err}"
        );
        assert!(handle.load().filter.model().is_some(), "the old model stays live");
        for broken in [bytes, b"not a model".to_vec(), Vec::new()] {
            std::fs::write(dir.path().join(MODEL_FILE), &broken).expect("write");
            let err = reload(&handle, dir.path()).expect_err("broken model");
            assert!(
                err.to_string().contains("model.bin") && err.to_string().contains("model train"),
                "{err}"
            );
            assert!(handle.load().filter.model().is_some(), "the old model stays live");
        }
        // Removing the file is not an error: the rules decide alone.
        std::fs::remove_file(dir.path().join(MODEL_FILE)).expect("rm");
        reload(&handle, dir.path()).expect("reloads");
        assert!(handle.load().filter.model().is_none());
        assert!(filter_without_model(dir.path()).expect("builds").model().is_none());
    }

    #[test]
    fn model_thresholds_and_display_names_are_read_and_checked() {
        let dir = folder(&[
            ("ads.txt", "加微信\n"),
            (
                "rules.toml",
                "[rules.ads]\ndisplay = \"广告引流\"\ndisplay_en = \"advertising\"\n[model]\nveto = 0.25\nact = 0.95\ndisplay = \"疑似\"\n",
            ),
        ]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        assert_eq!(f.thresholds(), (0.25, 0.95));
        // `cue_act` left out is `act`; written, it is the threshold for a message with a cue.
        assert_eq!((f.act_for(false), f.act_for(true)), (0.95, 0.95));
        let cue_dir = folder(&[("rules.toml", "[model]\nveto = 0.25\nact = 0.95\ncue_act = 0.5\n")]);
        let cue_filter = Rules::load(cue_dir.path()).expect("loads").filter;
        assert_eq!((cue_filter.act_for(false), cue_filter.act_for(true)), (0.95, 0.5));
        // `bare_act` left out is `act`; written, it is the threshold for a message with no hit.
        assert_eq!(f.threshold_for(false, true), 0.95);
        let bare_dir = folder(&[("rules.toml", "[model]\nveto = 0.25\nact = 0.6\nbare_act = 0.8\n")]);
        let bare_filter = Rules::load(bare_dir.path()).expect("loads").filter;
        assert_eq!(
            [(false, false), (false, true), (true, false)].map(|(cue, bare)| bare_filter.threshold_for(cue, bare)),
            [0.6, 0.8, 0.6]
        );
        use crate::domain::locale::Locale;
        assert_eq!(f.display_name("ads", Locale::ZhCn), "广告引流");
        assert_eq!(f.display_name("ads", Locale::En), "advertising");
        assert_eq!(f.display_name("model", Locale::En), "疑似");
        // `model_veto = false`: the model scores the message but never overrules the hit.
        let dir = folder(&[
            ("ads.txt", "加微信\n"),
            ("rules.toml", "[rules.ads]\nmodel_veto = false\n"),
        ]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        let report = f.inspect("加微信", None);
        assert_eq!(report.table_reason, Some(crate::policy::filter::Reason::Firm));
        // `backwards = true`: hard phrases of 3+ Chinese characters also match reversed; a list
        // without it, or a cue list, does not.
        for (toml, reversed) in [
            ("[rules.ads]\nbackwards = true\n", true),
            ("[rules.ads]\n", false),
            ("[rules.ads]\nmode = \"cue\"\nbackwards = true\n", false),
        ] {
            let dir = folder(&[("ads.txt", "代开发票\n"), ("rules.toml", toml)]);
            let f = Rules::load(dir.path()).expect("loads").filter;
            assert_eq!(!f.inspect("票发开代", None).hits.is_empty(), reversed, "{toml}");
            assert!(!f.inspect("代开发票", None).hits.is_empty(), "{toml}");
        }
        // `backwards_pairs`: a two-character hard phrase also matches reversed where it is
        // aimed at someone. Left out, it follows `model_veto = false` (as before the key
        // existed); written, it holds on a list the model may overrule too.
        for (toml, pair) in [
            ("[rules.ads]\nbackwards = true\nbackwards_pairs = true\n", true),
            ("[rules.ads]\nbackwards = true\n", false),
            ("[rules.ads]\nbackwards = true\nmodel_veto = false\n", true),
            (
                "[rules.ads]\nbackwards = true\nmodel_veto = false\nbackwards_pairs = false\n",
                false,
            ),
            (
                "[rules.ads]\nmode = \"cue\"\nbackwards = true\nbackwards_pairs = true\n",
                false,
            ),
        ] {
            let dir = folder(&[("ads.txt", "冰毒\n"), ("rules.toml", toml)]);
            let f = Rules::load(dir.path()).expect("loads").filter;
            assert_eq!(!f.inspect("你毒冰", None).hits.is_empty(), pair, "{toml}");
            assert!(f.inspect("毒冰了", None).hits.is_empty(), "{toml}");
        }
        // `alike`: cues of lists that say the same kind of thing are not cues of two rules,
        // whichever table names the other, and through a list both are alike with; a list not
        // named still pairs with them.
        for (toml, pairs) in [
            ("", [true, true, true]),
            ("[rules.ask]\nalike = [\"chat\"]\n", [false, true, true]),
            ("[rules.chat]\nalike = [\"ask\"]\n", [false, true, true]),
            ("[rules.ask]\nalike = [\"chat\", \"pay\"]\n", [false, false, true]),
            (
                "[rules.ask]\nalike = [\"chat\"]\n[rules.pay]\nalike = [\"chat\"]\n",
                [false, false, true],
            ),
        ] {
            let mut toml = toml.to_owned();
            for list in ["ask", "chat", "pay", "sell"] {
                if !toml.contains(&format!("[rules.{list}]")) {
                    toml.push_str(&format!("[rules.{list}]\n"));
                }
                toml = toml.replace(
                    &format!("[rules.{list}]\n"),
                    &format!("[rules.{list}]\nmode = \"cue\"\n"),
                );
            }
            let dir = folder(&[
                ("ask.txt", "加我\n"),
                ("chat.txt", "私聊\n"),
                ("pay.txt", "转账\n"),
                ("sell.txt", "便宜出\n"),
                ("rules.toml", &toml),
            ]);
            let f = Rules::load(dir.path()).expect("loads").filter;
            for (text, pair) in [
                ("要的私聊或者加我", pairs[0]),
                ("私聊我，转账就行", pairs[1]),
                ("便宜出，要的加我", pairs[2]),
            ] {
                let two = f.inspect(text, None).table_reason == Some(crate::policy::filter::Reason::TwoCues);
                assert_eq!(two, pair, "{toml} {text}");
            }
        }
        // `match = "disguised"`: a plain spelling does not count, a disguised one does.
        let dir = folder(&[
            ("rude.txt", "fuck\n"),
            ("rules.toml", "[rules.rude]\nmatch = \"disguised\"\n"),
        ]);
        let f = Rules::load(dir.path()).expect("loads").filter;
        for (text, hit) in [
            ("fuck this", false),
            ("FUCK", false),
            ("f u c k", true),
            ("fuuuck", true),
        ] {
            assert_eq!(!f.inspect(text, None).hits.is_empty(), hit, "{text}");
        }
        type Case = (&'static str, &'static str, &'static str);
        let cases: &[Case] = &[
            ("[model]\nveto = 1.5\n", "rules.toml:2:", "between 0 and 1"),
            ("[model]\nveto = 0.8\nact = 0.5\n", "rules.toml:2:", "above act"),
            ("[model]\nveto = 0.4\ncue_act = 0.3\n", "rules.toml:3:", "below veto"),
            ("[model]\ncue_act = 2\n", "rules.toml:2:", "between 0 and 1"),
            ("[model]\nact = 0.6\nbare_act = 0.5\n", "rules.toml:3:", "below act"),
            ("[model]\nbare_act = 1.2\n", "rules.toml:2:", "between 0 and 1"),
            ("[model]\nthreshold = 0.5\n", "rules.toml:", "threshold"),
            ("[rules.ads]\ndisplay = \"  \"\n", "rules.toml:2:", "display"),
            ("[rules.ads]\nmodel_veto = \"no\"\n", "rules.toml:2:", "bool"),
            ("[rules.ads]\nbackwards = 1\n", "rules.toml:2:", "bool"),
            ("[rules.ads]\nbackwards_pairs = 1\n", "rules.toml:2:", "bool"),
            (
                "[rules.ads]\nbackwards_pairs = true\n",
                "rules.toml:2:",
                "needs backwards = true",
            ),
            ("[rules.ads]\nalike = \"contact\"\n", "rules.toml:2:", "sequence"),
            (
                "[rules.ads]\nalike = [\"contact\"]\n",
                "rules.toml:2:",
                "name another word list",
            ),
            (
                "[rules.ads]\nalike = [\"ads\"]\n",
                "rules.toml:2:",
                "name another word list",
            ),
        ];
        for (toml, at, reason) in cases {
            let dir = folder(&[("ads.txt", "加微信\n"), ("rules.toml", toml)]);
            let err = Rules::load(dir.path()).expect_err("invalid").to_string();
            assert!(err.contains(at) && err.contains(reason), "{toml}: {err}");
        }
        let dir = folder(&[("model.txt", "x\n")]);
        let err = Rules::load(dir.path()).expect_err("reserved").to_string();
        assert!(err.contains("model.txt") && err.contains("rename"), "{err}");
    }

    #[test]
    fn reload_swaps_good_rules_and_keeps_the_old_ones_on_error() {
        let dir = folder(&[("ads.txt", "加微信\n")]);
        let handle: RulesHandle = Arc::new(ArcSwap::from_pointee(Rules::load(dir.path()).expect("loads")));
        std::fs::write(dir.path().join("ads.txt"), "免费领取\n").expect("write");
        let summary = reload(&handle, dir.path()).expect("reloads");
        assert!(summary.contains("1 phrase"), "{summary}");
        assert!(handle.load().filter.check("免费领取", G1).is_some());
        std::fs::write(dir.path().join("rules.toml"), "[rules.ads]\nmode = 5\n").expect("write");
        let err = reload(&handle, dir.path()).expect_err("bad file");
        assert!(err.to_string().contains("rules.toml:2:"), "{err}");
        assert!(
            handle.load().filter.check("免费领取", G1).is_some(),
            "old rules stay live"
        );
    }
}
