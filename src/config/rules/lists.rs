//! Word lists that were emptied or deleted: applied as they are, but warned about.
//!
//! An empty `ads.txt` is a valid rule that matches nothing, and a deleted one simply stops
//! being a rule — both load without error, which is right for a deliberate change and
//! silent for an accident (an editor that truncated the file, a bad `git checkout`). So every
//! load compares the folder with what was there before and says so: on a reload, against the
//! rules it replaces; at start and in `qunguan check-config`, against the lists the daemon
//! last loaded, which it records in `<storage.path>/word-lists.json` ([`RECORD_FILE`]).

use std::path::Path;

use super::{ALLOW_FILE, read_phrases};
use crate::domain::locale::Locale;
use crate::policy::i18n::{WordListWarning, word_list_warning};

/// The daemon's record of the word lists it last loaded, inside `storage.path`.
pub const RECORD_FILE: &str = "word-lists.json";

/// The word lists in `dir` (file stems of `*.txt` but the allow list), sorted.
#[must_use]
pub fn list_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt") && p.file_name().is_some_and(|n| n != ALLOW_FILE))
        .filter(|p| p.is_file())
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// What is worth a warning in `dir`'s word lists: lists with no phrase, and lists in
/// `before` that are gone (English, for the log).
#[must_use]
pub fn list_warnings(dir: &Path, before: &[String]) -> Vec<String> {
    list_warnings_in(Locale::En, dir, before)
}

/// [`list_warnings`] in `locale` (what `check-config` prints).
#[must_use]
pub fn list_warnings_in(locale: Locale, dir: &Path, before: &[String]) -> Vec<String> {
    let now = list_names(dir);
    let mut warnings = Vec::new();
    let shown_dir = dir.display().to_string();
    for name in &now {
        let file = dir.join(format!("{name}.txt"));
        if read_phrases(&file).is_ok_and(|phrases| phrases.is_empty()) {
            let file = file.display().to_string();
            warnings.push(word_list_warning(locale, WordListWarning::Empty { file: &file, name }));
        }
    }
    for name in before {
        if !now.contains(name) {
            warnings.push(word_list_warning(
                locale,
                WordListWarning::Gone { name, dir: &shown_dir },
            ));
        }
    }
    warnings
}

/// The lists recorded in `storage_dir`'s [`RECORD_FILE`] (none if there is no record).
#[must_use]
pub fn recorded(storage_dir: &Path) -> Vec<String> {
    std::fs::read(storage_dir.join(RECORD_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Records `names` as the lists the daemon loaded.
pub fn record(storage_dir: &Path, names: &[String]) -> std::io::Result<()> {
    let json = serde_json::to_vec(names).map_err(std::io::Error::other)?;
    let file = storage_dir.join(RECORD_FILE);
    let tmp = storage_dir.join(format!("{RECORD_FILE}.partial"));
    std::fs::write(&tmp, json)?;
    std::fs::rename(tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_deleted_lists_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ads.txt"), "加微信\n").expect("write");
        std::fs::write(dir.path().join("scam.txt"), "# only a comment\n\n").expect("write");
        std::fs::write(dir.path().join("allow.txt"), "").expect("write");
        let before = vec!["ads".to_owned(), "porn".to_owned(), "scam".to_owned()];
        let warnings = list_warnings(dir.path(), &before);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("scam.txt is empty"), "{warnings:?}");
        assert!(warnings[1].contains("porn.txt is gone"), "{warnings:?}");
        assert!(
            list_warnings(dir.path(), &[]).len() == 1,
            "the allow list is no word list"
        );
    }

    #[test]
    fn the_record_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(recorded(dir.path()).is_empty());
        record(dir.path(), &["ads".to_owned()]).expect("record");
        assert_eq!(recorded(dir.path()), ["ads"]);
    }
}
