//! The rules folder: word lists and group rules, loaded as one immutable [`Rules`] value.
//!
//! Layout (see `rules/README.md`):
//! - `*.txt` — word lists, one phrase per line; blank lines and lines starting with `#` are
//!   ignored; the file stem is the rule's name (`ads.txt` → rule `ads`).
//! - `group-rules.md` — the group rules text, posted in welcomes.
//!
//! A reload builds a complete new [`Rules`] and swaps it in atomically through [`RulesHandle`];
//! if anything is wrong the old rules stay live and the error names the file and line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::filter::{Filter, WordList};

/// File with the group rules text, inside the rules folder.
pub const GROUP_RULES_FILE: &str = "group-rules.md";

/// Everything loaded from the rules folder.
#[derive(Debug)]
pub struct Rules {
    /// The compiled message filter.
    pub filter: Filter,
    /// The group rules text (may be empty).
    pub group_rules: String,
    /// The folder it came from.
    pub dir: PathBuf,
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

impl Rules {
    /// Loads and compiles the rules folder `dir`.
    pub fn load(dir: &Path) -> Result<Self, RulesError> {
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
            if path.extension().is_some_and(|e| e == "txt") && path.is_file() {
                paths.push(path);
            }
        }
        // Load order decides which rule wins when two lists hold the same phrase; keep it stable.
        paths.sort();
        let mut lists = Vec::with_capacity(paths.len());
        for path in &paths {
            lists.push(read_word_list(path)?);
        }
        let filter = Filter::build(&lists)
            .map_err(|e| RulesError::new(dir, None, format!("cannot compile the word lists: {e}")))?;
        let rules_path = dir.join(GROUP_RULES_FILE);
        let group_rules = match std::fs::read(&rules_path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|e| RulesError::new(&rules_path, None, format!("not valid UTF-8: {e}")))?
                .trim()
                .to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(RulesError::new(&rules_path, None, e.to_string())),
        };
        Ok(Self {
            filter,
            group_rules,
            dir: dir.to_owned(),
        })
    }

    /// A one-line description for logs and `check-config`.
    #[must_use]
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.filter.rule_names().collect();
        format!(
            "{} word list(s) [{}] with {} phrase(s); group rules: {}",
            names.len(),
            names.join(", "),
            self.filter.phrase_count(),
            if self.group_rules.is_empty() {
                "none".to_owned()
            } else {
                format!("{} chars", self.group_rules.chars().count())
            }
        )
    }
}

/// Reads one word list; the rule name is the file stem.
fn read_word_list(path: &Path) -> Result<WordList, RulesError> {
    let bytes = std::fs::read(path).map_err(|e| RulesError::new(path, None, e.to_string()))?;
    let rule = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| RulesError::new(path, None, "the file name is not valid UTF-8"))?
        .to_owned();
    let mut phrases = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(line)
            .map_err(|_| RulesError::new(path, Some(index + 1), "not valid UTF-8 (save the file as UTF-8)"))?;
        let phrase = line.trim_start_matches('\u{feff}').trim();
        if phrase.is_empty() || phrase.starts_with('#') {
            continue;
        }
        phrases.push(phrase.to_owned());
    }
    Ok(WordList { rule, phrases })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(&*rules.filter.first_hit("要FREE MONEY吗").expect("hit").rule, "ads");
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
}
