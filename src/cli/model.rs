//! `qunguan model train|eval`: the learned stage from the command line.
//!
//! - `train` reads a corpus folder (`corpus/train`), turns each message into what the filter
//!   feeds the model — the normalized text and the flags of the rules' evidence, computed
//!   with the rules folder's word lists and detectors but never its old `model.bin` — and
//!   writes `rules/model.bin`. Same corpus, same rules → the same bytes (files are read in
//!   path order, lines in file order, and training is deterministic).
//! - `eval` runs the filter with its model over a held-out corpus folder (`corpus/eval`) as
//!   a member of the given trust would be judged, and prints, per category, how many
//!   messages the rules alone and the rules with the model flag: the catch rate (recall) of
//!   spam categories, the false-positive rate of ham categories, and overall precision.
//!   With `--folds K` it cross-validates on a training folder instead (each fold judged by a
//!   model trained on the others) and adds a sweep of the thresholds: that is how the
//!   thresholds of `rules.toml` are chosen without looking at the held-out corpus.
//!
//! # Corpus format
//!
//! Any number of `*.tsv` files in the folder and its subfolders (the category is the path
//! without `.tsv`: `spam/loans`). One message per line: `spam<TAB>text` or `ham<TAB>text`,
//! with `\n`, `\t`, `\r` and `\\` escaped; blank lines and lines starting with `#` are
//! skipped. A line that is not like that stops the command with its file and line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::ModelCommand;
use crate::config::Settings;
use crate::config::rules::{LoadOptions, MODEL_FILE, Rules, filter_without_model};
use crate::policy::filter::{Filter, Reason, Trust, outcome};
use crate::policy::model::{Sample, TrainOptions, train};

pub(crate) fn model(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Train {
            corpus,
            out,
            rules,
            config,
            epochs,
            l2,
            min_count,
            runs,
            seed,
        } => {
            let settings = Settings::load(config.as_deref())?;
            let rules = rules.unwrap_or_else(|| settings.rules.dir.clone());
            let out = out.unwrap_or_else(|| rules.join(MODEL_FILE));
            let defaults = TrainOptions::default();
            let opts = TrainOptions {
                epochs: epochs.unwrap_or(defaults.epochs),
                l2: l2.unwrap_or(defaults.l2),
                min_count: min_count.unwrap_or(defaults.min_count),
                runs: runs.unwrap_or(defaults.runs),
                seed: seed.unwrap_or(defaults.seed),
                ..defaults
            };
            if !(opts.l2.is_finite() && opts.l2 >= 0.0) || opts.epochs == 0 {
                bail!(
                    "--epochs must be 1 or more and --l2 a number of 0 or more (got {} and {})",
                    opts.epochs,
                    opts.l2
                );
            }
            if opts.runs == 0 {
                bail!("--runs must be 1 or more (got 0)");
            }
            let summary = train_to(&corpus, &rules, &out, &opts)?;
            println!("{summary}");
            Ok(())
        }
        ModelCommand::Eval {
            corpus,
            rules,
            config,
            member,
            folds,
            misses,
        } => {
            let settings = Settings::load(config.as_deref())?;
            let dir = rules.unwrap_or_else(|| settings.rules.dir.clone());
            let lines = read_corpus(&corpus)?;
            let spam = lines.iter().filter(|l| l.spam).count();
            let counts = format!("{} messages: {spam} spam, {} ham", lines.len(), lines.len() - spam);
            match folds {
                None => {
                    let rules = Rules::load_with(&dir, &LoadOptions::from(&settings))?;
                    let filter = &rules.filter;
                    let (veto, act) = filter.thresholds();
                    let acts = Acts::of(filter);
                    let model = match filter.model() {
                        Some(m) => format!(
                            "{} (trained on {} spam + {} ham); veto below {veto}, acts alone from {act}{}",
                            dir.join(MODEL_FILE).display(),
                            m.meta().spam,
                            m.meta().ham,
                            acts.note()
                        ),
                        None => format!("none in {} (the rules alone)", dir.display()),
                    };
                    let header = format!("corpus:  {} ({counts})\nmodel:   {model}\n", corpus.display());
                    let rows = judge_all(filter, &lines);
                    print!("{}", report(&rows, &header, member, veto, acts));
                    if misses {
                        print!("{}", wrong(&rows, member, veto, acts));
                    }
                }
                Some(folds) => {
                    if folds < 2 {
                        bail!("--folds {folds}: cross-validation needs 2 folds or more");
                    }
                    let rules = Rules::load_with(&dir, &LoadOptions::from(&settings))?;
                    let filter = filter_without_model(&dir)?;
                    let (veto, act) = rules.filter.thresholds();
                    let acts = Acts::of(&rules.filter);
                    let header = format!(
                        "corpus:  {} ({counts})\nmodel:   {folds}-fold cross-validation (line i in fold i mod {folds}), each fold judged by a model trained on the others with the rules of {}; veto below {veto}, acts alone from {act}{}\n",
                        corpus.display(),
                        dir.display(),
                        acts.note()
                    );
                    let rows = cross_validate(&filter, &lines, folds);
                    print!("{}", report(&rows, &header, member, veto, acts));
                    if misses {
                        print!("{}", wrong(&rows, member, veto, acts));
                    }
                    print!("{}", sweep(&rows, member, acts));
                }
            }
            Ok(())
        }
    }
}

/// One labelled message of a corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Labelled {
    /// The file's path under the corpus folder, without `.tsv` (`spam/loans`).
    pub(crate) category: String,
    pub(crate) spam: bool,
    pub(crate) text: String,
}

/// Trains on the corpus folder `corpus` with the word lists and detectors of the rules folder
/// `rules` and writes the model file to `out` (atomically: a temporary file, then a rename).
/// Returns a one-line summary. `opts` are [`TrainOptions::default`] unless `--epochs`, `--l2`, `--min-count`, `--runs` or `--seed` say
/// otherwise (the shipped model uses the defaults).
pub(crate) fn train_to(corpus: &Path, rules: &Path, out: &Path, opts: &TrainOptions) -> anyhow::Result<String> {
    let lines = read_corpus(corpus)?;
    let filter = filter_without_model(rules)?;
    let samples: Vec<Sample> = lines
        .iter()
        .map(|l| {
            let (text, flags) = filter.features(&l.text);
            Sample {
                text,
                flags,
                spam: l.spam,
            }
        })
        .collect();
    let spam = samples.iter().filter(|s| s.spam).count();
    let model = train(&samples, opts);
    let bytes = model.to_bytes();
    let tmp = out.with_extension("bin.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot move {} to {}", tmp.display(), out.display()))?;
    Ok(format!(
        "wrote {} ({} bytes): trained on {} spam + {} ham from {} with the rules of {}",
        out.display(),
        bytes.len(),
        spam,
        samples.len() - spam,
        corpus.display(),
        rules.display()
    ))
}

/// Every labelled line of the `*.tsv` files under `dir`, files in path order.
pub(crate) fn read_corpus(dir: &Path) -> anyhow::Result<Vec<Labelled>> {
    let mut files = Vec::new();
    collect_tsv(dir, &mut files).with_context(|| format!("cannot read the corpus folder {}", dir.display()))?;
    files.sort();
    if files.is_empty() {
        bail!(
            "{} holds no .tsv file (a corpus is one or more spam<TAB>text / ham<TAB>text files)",
            dir.display()
        );
    }
    let mut out = Vec::new();
    for path in files {
        let src = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let category = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        for (i, line) in src.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (spam, text) =
                parse_line(line).map_err(|why| anyhow::anyhow!("{}:{}: {why}", path.display(), i + 1))?;
            out.push(Labelled {
                category: category.clone(),
                spam,
                text,
            });
        }
    }
    Ok(out)
}

fn collect_tsv(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_tsv(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "tsv") {
            out.push(path);
        }
    }
    Ok(())
}

/// `spam<TAB>text` or `ham<TAB>text`, the text unescaped.
fn parse_line(line: &str) -> Result<(bool, String), String> {
    let Some((label, text)) = line.split_once('\t') else {
        return Err("no tab: write spam<TAB>text or ham<TAB>text".to_owned());
    };
    let spam = match label {
        "spam" => true,
        "ham" => false,
        other => return Err(format!("label {other:?}: write spam or ham")),
    };
    let text = unescape(text);
    if text.trim().is_empty() {
        return Err("the message is empty".to_owned());
    }
    Ok((spam, text))
}

/// Undoes `\n`, `\t`, `\r` and `\\` (any other escaped character stands for itself).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// What the filter made of one corpus message: the rules' decision and the model's score.
#[derive(Clone, Debug)]
pub(crate) struct Row<'a> {
    pub(crate) line: &'a Labelled,
    /// What the decision table goes by (`Report::table_reason`).
    pub(crate) rules: Option<Reason>,
    pub(crate) score: Option<f32>,
    /// Whether the message holds a cue with something around it, which lowers the threshold
    /// at which the model acts to `cue_act` (`Report::cue`).
    pub(crate) cue: bool,
    /// Whether no list and no detector found anything in the message, which raises the
    /// threshold at which the model acts to `bare_act` (`Report::bare`).
    pub(crate) bare: bool,
}

/// The thresholds at which the model acts without a rule's decision: `plain` for a message
/// with hits but no lone cue, `cue` for one with a lone cue, `bare` for one with no hit at all
/// (`[model] act`, `cue_act`, the lower of the two, and `bare_act`, the higher of it and `act`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Acts {
    pub(crate) plain: f32,
    pub(crate) cue: f32,
    pub(crate) bare: f32,
}

impl Acts {
    /// The thresholds in force in `filter`.
    pub(crate) fn of(filter: &Filter) -> Self {
        Self {
            plain: filter.act_for(false),
            cue: filter.act_for(true),
            bare: filter.threshold_for(false, true),
        }
    }

    /// The threshold for `row`.
    fn for_row(self, row: &Row<'_>) -> f32 {
        if row.cue {
            self.cue
        } else if row.bare {
            self.bare
        } else {
            self.plain
        }
    }

    /// What the report's header says of the lone-cue and no-evidence thresholds (nothing of
    /// one that is `act`).
    fn note(self) -> String {
        let mut note = String::new();
        if self.cue < self.plain {
            let _ = write!(note, " (with a lone cue from {})", self.cue);
        }
        if self.bare > self.plain {
            let _ = write!(note, " (with no hit at all from {})", self.bare);
        }
        note
    }
}

/// The rules' decision and the model's score of every line, every rule applying (as in
/// `filter scan`), with `filter`'s model.
pub(crate) fn judge_all<'a>(filter: &Filter, lines: &'a [Labelled]) -> Vec<Row<'a>> {
    lines
        .iter()
        .map(|line| {
            let report = filter.inspect_as(&line.text, None, Trust::New, None);
            Row {
                line,
                rules: report.table_reason,
                score: report.judgement.score,
                cue: report.cue,
                bare: report.bare,
            }
        })
        .collect()
}

/// Cross-validation on `lines`: line `i` is in fold `i mod folds`; each fold is judged by a
/// model trained on the other folds (same options as `train`). Nothing outside `lines` is
/// read, so thresholds can be chosen on the training corpus without touching the held-out
/// one.
pub(crate) fn cross_validate<'a>(filter: &Filter, lines: &'a [Labelled], folds: usize) -> Vec<Row<'a>> {
    let features: Vec<Sample> = lines
        .iter()
        .map(|l| {
            let (text, flags) = filter.features(&l.text);
            Sample {
                text,
                flags,
                spam: l.spam,
            }
        })
        .collect();
    let mut rows: Vec<Option<Row<'a>>> = vec![None; lines.len()];
    for fold in 0..folds {
        let training: Vec<Sample> = features
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, s)| s.clone())
            .collect();
        let model = train(&training, &TrainOptions::default());
        let judge = filter.with_model(Some(Arc::new(model)));
        for (i, line) in lines.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            let report = judge.inspect_as(&line.text, None, Trust::New, None);
            rows[i] = Some(Row {
                line,
                rules: report.table_reason,
                score: report.judgement.score,
                cue: report.cue,
                bare: report.bare,
            });
        }
    }
    rows.into_iter().flatten().collect()
}

/// Counts of one category (or of a whole class).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    messages: usize,
    /// Flagged by the rules alone.
    rules: usize,
    /// Flagged by the rules with the model, for the member's trust.
    judged: usize,
    /// Of `judged`, by the model alone.
    model_alone: usize,
    /// Rules hits the model vetoed.
    vetoed: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.messages += other.messages;
        self.rules += other.rules;
        self.judged += other.judged;
        self.model_alone += other.model_alone;
        self.vetoed += other.vetoed;
    }
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.1} %", 100.0 * part as f64 / whole as f64)
    }
}

/// Recall and false-positive rate of `rows` with thresholds `veto`, `acts`, for a member of
/// trust `member`.
fn rates(rows: &[Row<'_>], member: Trust, veto: f32, acts: Acts) -> (usize, usize, usize, usize) {
    let (mut spam, mut caught, mut ham, mut flagged) = (0, 0, 0, 0);
    for r in rows {
        let hit = outcome(r.rules, r.score, member, veto, acts.for_row(r)).acts.is_some();
        if r.line.spam {
            spam += 1;
            caught += usize::from(hit);
        } else {
            ham += 1;
            flagged += usize::from(hit);
        }
    }
    (caught, spam, flagged, ham)
}

/// The evaluation report of `rows` with the thresholds `veto` and `acts`: per category, what
/// the rules alone and the rules with the model flag for a member of trust `member`, then
/// recall, false-positive rate and precision. `header` is printed first.
pub(crate) fn report(rows: &[Row<'_>], header: &str, member: Trust, veto: f32, acts: Acts) -> String {
    let mut categories: Vec<(&str, bool, Tally)> = Vec::new();
    for r in rows {
        let o = outcome(r.rules, r.score, member, veto, acts.for_row(r));
        let one = Tally {
            messages: 1,
            rules: usize::from(r.rules.is_some()),
            judged: usize::from(o.acts.is_some()),
            model_alone: usize::from(o.acts == Some(Reason::Model)),
            vetoed: usize::from(o.vetoed),
        };
        match categories
            .iter_mut()
            .find(|(c, s, _)| *c == r.line.category && *s == r.line.spam)
        {
            Some((_, _, tally)) => tally.add(one),
            None => categories.push((&r.line.category, r.line.spam, one)),
        }
    }
    let mut out = String::new();
    out.push_str(header);
    let _ = writeln!(out, "member:  {member}");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<28} {:>8}  {:>16}  {:>16}  {:>11}  {:>6}",
        "category", "messages", "rules alone", "rules + model", "model alone", "vetoed"
    );
    let mut totals = [Tally::default(), Tally::default()]; // ham, spam
    for spam in [true, false] {
        let what = if spam {
            "caught (recall)"
        } else {
            "flagged (false positives)"
        };
        let _ = writeln!(out, "-- {} categories: {what}", if spam { "spam" } else { "ham" });
        for (category, _, t) in categories.iter().filter(|(_, s, _)| *s == spam) {
            let _ = writeln!(
                out,
                "{:<28} {:>8}  {:>6} {:>9}  {:>6} {:>9}  {:>11}  {:>6}",
                category,
                t.messages,
                t.rules,
                percent(t.rules, t.messages),
                t.judged,
                percent(t.judged, t.messages),
                t.model_alone,
                t.vetoed
            );
            totals[usize::from(spam)].add(*t);
        }
    }
    let (ham, spam) = (totals[0], totals[1]);
    let _ = writeln!(out);
    let rows = [
        ("", String::new(), "rules alone".to_owned(), "rules + model".to_owned()),
        (
            "recall (spam caught)",
            spam.messages.to_string(),
            percent(spam.rules, spam.messages),
            percent(spam.judged, spam.messages),
        ),
        (
            "false-positive rate (ham)",
            ham.messages.to_string(),
            percent(ham.rules, ham.messages),
            percent(ham.judged, ham.messages),
        ),
        (
            "precision",
            String::new(),
            percent(spam.rules, spam.rules + ham.rules),
            percent(spam.judged, spam.judged + ham.judged),
        ),
    ];
    for (label, messages, rules, judged) in rows {
        let _ = writeln!(out, "{label:<28} {messages:>8}  {rules:>16}  {judged:>16}");
    }
    out
}

/// The messages `rows` gets wrong with the thresholds `veto` and `acts` for a member of trust
/// `member`: spam missed, then ham flagged, one per line — `miss` or `false`, the category,
/// the rules' decision (`-` for none; `vetoed` when the model overruled it), the model's
/// score (`-` without one) and the message, escaped as in the corpus.
pub(crate) fn wrong(rows: &[Row<'_>], member: Trust, veto: f32, acts: Acts) -> String {
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(out, "messages judged wrongly (kind, category, rules, score, text):");
    for spam in [true, false] {
        for r in rows.iter().filter(|r| r.line.spam == spam) {
            let o = outcome(r.rules, r.score, member, veto, acts.for_row(r));
            if o.acts.is_some() != spam {
                let rules = match (r.rules, o.vetoed) {
                    (None, _) => "-".to_owned(),
                    (Some(reason), false) => format!("{reason:?}"),
                    (Some(reason), true) => format!("{reason:?} (vetoed)"),
                };
                let score = r.score.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"));
                let _ = writeln!(
                    out,
                    "{}\t{}\t{rules}\t{score}\t{}",
                    if spam { "miss" } else { "false" },
                    r.line.category,
                    escape(&r.line.text)
                );
            }
        }
    }
    out
}

/// The corpus escaping of `text` (the inverse of [`unescape`]).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Recall / false-positive rate over a grid of thresholds (cross-validation only: choosing
/// thresholds on the held-out corpus would make its figures meaningless). A message with a
/// cue is judged at `cue_act` when that is below the grid's `act`, one with no hit at
/// `bare_act` when that is above it (`acts`: the thresholds in force).
pub(crate) fn sweep(rows: &[Row<'_>], member: Trust, acts: Acts) -> String {
    const VETO: [f32; 6] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    const ACT: [f32; 7] = [0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98];
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(out, "recall / false-positive rate by threshold ({member} member):");
    let _ = write!(out, "{:<10}", "veto\\act");
    for act in ACT {
        let _ = write!(out, " {act:>15}");
    }
    let _ = writeln!(out);
    for veto in VETO {
        let _ = write!(out, "{veto:<10}");
        for act in ACT {
            let plain = act.max(veto);
            let grid = Acts {
                plain,
                cue: acts.cue.clamp(veto, plain),
                bare: acts.bare.max(plain),
            };
            let (caught, spam, flagged, ham) = rates(rows, member, veto, grid);
            let _ = write!(
                out,
                " {:>15}",
                format!(
                    "{:.1}/{:.2}",
                    100.0 * caught as f64 / spam.max(1) as f64,
                    100.0 * flagged as f64 / ham.max(1) as f64
                )
            );
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_escapes_and_errors_name_what_is_wrong() {
        assert_eq!(
            parse_line("spam\t加V：a\\nb\\tc\\\\d"),
            Ok((true, "加V：a\nb\tc\\d".to_owned()))
        );
        assert_eq!(parse_line("ham\t你好"), Ok((false, "你好".to_owned())));
        assert!(parse_line("spam 你好").unwrap_err().contains("no tab"));
        assert!(parse_line("eggs\t你好").unwrap_err().contains("\"eggs\""));
        assert!(parse_line("ham\t  ").unwrap_err().contains("empty"));
    }

    #[test]
    fn escaping_undoes_unescaping() {
        let text = "a\\nb\tc\\d\r";
        assert_eq!(unescape(&escape(text)), text);
        assert_eq!(escape("x\ty\nz"), "x\\ty\\nz");
    }

    #[test]
    fn a_corpus_folder_reads_in_path_order_and_a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("spam")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("ham")).expect("mkdir");
        std::fs::write(
            dir.path().join("spam/b.tsv"),
            "# comment\nspam\t加微信\n\nspam\t代开发票\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("ham/a.tsv"), "ham\t今天吃什么\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a corpus file").expect("write");
        let lines = read_corpus(dir.path()).expect("reads");
        let got: Vec<(&str, bool, &str)> = lines
            .iter()
            .map(|l| (l.category.as_str(), l.spam, l.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("ham/a", false, "今天吃什么"),
                ("spam/b", true, "加微信"),
                ("spam/b", true, "代开发票")
            ]
        );
        std::fs::write(dir.path().join("ham/c.tsv"), "ham\tok\nspam-ish\tno\n").expect("write");
        let err = read_corpus(dir.path()).expect_err("bad label").to_string();
        assert!(err.contains("c.tsv:2:") && err.contains("spam-ish"), "{err}");
    }
}
