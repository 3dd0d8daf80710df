//! `rules/verify.toml`: the questions the gate at the door (入群验证) asks newcomers.
//!
//! ```toml
//! [[question]]
//! question = "本群讨论的是哪门编程语言？"
//! answers = ["Rust", "锈"]
//! ```
//!
//! Answers are normalized once here, at load, into the compact form messages are compared in
//! (like the filter's phrases: case, width, traditional characters, spaces and punctuation
//! folded away), so `ＲＵＳＴ` and `r u s t` pass for `Rust`. An answer must be the whole
//! message. No file, or a file without questions, asks arithmetic questions. Every problem
//! names the file and line and refuses the whole file (the old questions stay live).

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::config::rules::RulesError;
use crate::policy::gate::Question;
use crate::policy::normalize::{NormalizeOptions, Normalizer};

/// The questions file inside the rules folder.
pub const VERIFY_FILE: &str = "verify.toml";

/// The most questions the file may hold.
pub const MAX_QUESTIONS: usize = 1_000;

/// The longest question, in characters (it is posted in the group).
pub const MAX_QUESTION_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    question: Vec<Spanned<RawQuestion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    question: String,
    answers: Vec<String>,
}

/// Parses `rules/verify.toml` text.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Question>, RulesError> {
    let file = super::TomlFile::new(text, path);
    let err = |offset: usize, reason: String| file.error_at(offset, reason);
    let raw: RawFile = file.parse()?;
    if raw.question.len() > MAX_QUESTIONS {
        return Err(file.error(format!("{} questions; at most {MAX_QUESTIONS}", raw.question.len())));
    }
    let normalizer = Normalizer::new(NormalizeOptions::default());
    let mut out = Vec::with_capacity(raw.question.len());
    for entry in raw.question {
        let at = entry.span().start;
        let q = entry.into_inner();
        let chars = q.question.trim().chars().count();
        if chars == 0 || chars > MAX_QUESTION_CHARS {
            return Err(err(
                at,
                format!("`question` must hold 1 to {MAX_QUESTION_CHARS} characters"),
            ));
        }
        if let Some(bad) = q.answers.iter().find(|a| normalizer.compact(a).is_empty()) {
            return Err(err(
                at,
                format!("answer {bad:?} has no letters or digits, so no message could match it"),
            ));
        }
        let question = Question::new(&normalizer, &q.question, &q.answers)
            .ok_or_else(|| err(at, "`answers` must hold at least one answer".into()))?;
        out.push(question);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_normalized_once_and_problems_name_the_line() {
        let text = "[[question]]\nquestion = \"本群讨论什么？\"\nanswers = [\"Rust\", \"锈 语言\"]\n";
        let questions = parse(text, Path::new("verify.toml")).expect("valid");
        assert_eq!(questions[0].answers, ["rust", "锈语言"]);
        let bad = "[[question]]\nquestion = \"a\"\nanswers = [\"b\"]\n\n[[question]]\nquestion = \"c\"\nanswers = []\n";
        let e = parse(bad, Path::new("verify.toml")).expect_err("no answers");
        assert_eq!(e.line, Some(5), "{e}");
        let blank = "[[question]]\nquestion = \"a\"\nanswers = [\"？！\"]\n";
        assert!(parse(blank, Path::new("verify.toml")).is_err());
        let typo = "[[question]]\nquestion = \"a\"\nanswer = [\"b\"]\n";
        let e = parse(typo, Path::new("verify.toml")).expect_err("unknown key");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(parse("", Path::new("verify.toml")).expect("empty is valid").is_empty());
    }
}
