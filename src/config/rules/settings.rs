//! `rules/rules.toml` (per-rule settings, `[[regex]]` detectors, `[normalize]` switches) and
//! `rules/variants.toml`, parsed with the line of every value kept, so that a wrong value is
//! reported as `rules.toml:12: …`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::RulesError;
use crate::domain::event::GroupId;
use crate::domain::strike::Severity;
use crate::policy::filter::spec::Phrase;
use crate::policy::filter::{
    MatchMode, Mode, ModelSettings, RegexSpec, RegexView, RuleAction, RuleSettings, Strength, Variant,
};
use crate::policy::normalize::NormalizeOptions;

/// The parsed `rules.toml`.
#[derive(Debug, Default)]
pub(crate) struct RulesToml {
    pub(crate) normalize: NormalizeOptions,
    /// Settings by word-list name, with the line of the table.
    pub(crate) rules: BTreeMap<String, (RuleSettings, usize)>,
    pub(crate) regexes: Vec<RegexSpec>,
    /// `[model]`.
    pub(crate) model: ModelSettings,
    /// Every name an `alike` list holds: (the table's list, the name, its line), for the
    /// check that each names another word list.
    pub(crate) alike: Vec<(String, String, usize)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    normalize: NormalizeOptions,
    #[serde(default)]
    rules: BTreeMap<String, Spanned<RawRule>>,
    #[serde(default)]
    regex: Vec<Spanned<RawRegex>>,
    model: Option<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    enabled: Option<bool>,
    veto: Option<Spanned<f64>>,
    act: Option<Spanned<f64>>,
    cue_act: Option<Spanned<f64>>,
    bare_act: Option<Spanned<f64>>,
    severity: Option<Spanned<RawSeverity>>,
    action: Option<RuleAction>,
    recall: Option<bool>,
    groups: Option<Vec<Spanned<RawGroup>>>,
    exclude_groups: Option<Vec<Spanned<RawGroup>>>,
    dry_run: Option<bool>,
    display: Option<Spanned<String>>,
    display_en: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    mode: Option<Mode>,
    #[serde(rename = "match")]
    matching: Option<MatchMode>,
    severity: Option<Spanned<RawSeverity>>,
    action: Option<RuleAction>,
    recall: Option<bool>,
    groups: Option<Vec<Spanned<RawGroup>>>,
    exclude_groups: Option<Vec<Spanned<RawGroup>>>,
    dry_run: Option<bool>,
    display: Option<Spanned<String>>,
    display_en: Option<Spanned<String>>,
    model_veto: Option<bool>,
    backwards: Option<bool>,
    backwards_pairs: Option<Spanned<bool>>,
    alike: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegex {
    name: Spanned<String>,
    pattern: Option<Spanned<String>>,
    strength: Option<Strength>,
    view: Option<RegexView>,
    enabled: Option<bool>,
    severity: Option<Spanned<RawSeverity>>,
    action: Option<RuleAction>,
    recall: Option<bool>,
    groups: Option<Vec<Spanned<RawGroup>>>,
    exclude_groups: Option<Vec<Spanned<RawGroup>>>,
    dry_run: Option<bool>,
    display: Option<Spanned<String>>,
    display_en: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSeverity {
    Strikes(i64),
    Word(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawGroup {
    Number(i64),
    Text(String),
}

/// 1-based line of byte `offset` in `src`.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn toml_error(path: &Path, src: &str, e: &toml::de::Error) -> RulesError {
    let line = e.span().map(|s| line_of(src, s.start));
    RulesError {
        file: path.to_owned(),
        line,
        reason: e.message().trim().to_owned(),
    }
}

/// Parses `rules.toml` from `src`.
pub(crate) fn parse_rules_toml(path: &Path, src: &str) -> Result<RulesToml, RulesError> {
    let raw: Raw = toml::from_str(src).map_err(|e| toml_error(path, src, &e))?;
    let at = |span: std::ops::Range<usize>| line_of(src, span.start);
    let mut out = RulesToml {
        normalize: raw.normalize,
        ..RulesToml::default()
    };
    for (name, rule) in raw.rules {
        let line = at(rule.span());
        let rule = rule.into_inner();
        let model_veto = rule.model_veto.unwrap_or(true);
        let backwards = rule.backwards.unwrap_or(false);
        let backwards_pairs = backwards_pairs(path, src, &name, rule.backwards_pairs, backwards, model_veto)?;
        let mut alike = Vec::new();
        for other in rule.alike.unwrap_or_default() {
            let line = at(other.span());
            let other = other.into_inner().trim().to_owned();
            out.alike.push((name.clone(), other.clone(), line));
            alike.push(other);
        }
        let settings = RuleSettings {
            mode: rule.mode.unwrap_or_default(),
            matching: rule.matching.unwrap_or_default(),
            severity: severity(path, src, rule.severity)?,
            action: rule.action.unwrap_or_default(),
            recall: rule.recall.unwrap_or(true),
            groups: groups(path, src, rule.groups)?,
            exclude_groups: groups(path, src, rule.exclude_groups)?,
            dry_run: rule.dry_run.unwrap_or(false),
            display: display(path, src, rule.display)?,
            display_en: display(path, src, rule.display_en)?,
            model_veto,
            backwards,
            backwards_pairs,
            alike,
        };
        out.rules.insert(name, (settings, line));
    }
    if let Some(model) = raw.model {
        out.model = model_settings(path, src, model)?;
    }
    for regex in raw.regex {
        let table_line = at(regex.span());
        let regex = regex.into_inner();
        let name = regex.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(RulesError::new(
                path,
                Some(at(regex.name.span())),
                "a [[regex]] needs a name",
            ));
        }
        let line = regex
            .pattern
            .as_ref()
            .map_or(table_line.max(at(regex.name.span())), |p| at(p.span()));
        out.regexes.push(RegexSpec {
            name,
            pattern: regex.pattern.map(Spanned::into_inner),
            strength: regex.strength,
            view: regex.view,
            enabled: regex.enabled.unwrap_or(true),
            settings: RuleSettings {
                severity: severity(path, src, regex.severity)?,
                action: regex.action.unwrap_or_default(),
                recall: regex.recall.unwrap_or(true),
                groups: groups(path, src, regex.groups)?,
                exclude_groups: groups(path, src, regex.exclude_groups)?,
                dry_run: regex.dry_run.unwrap_or(false),
                display: display(path, src, regex.display)?,
                display_en: display(path, src, regex.display_en)?,
                ..RuleSettings::default()
            },
            file: path.to_owned(),
            line,
        });
    }
    Ok(out)
}

/// `backwards_pairs` of `[rules.<name>]`: what it says, which needs `backwards = true`; left
/// out, on for a list with `backwards = true` and `model_veto = false` (what turned the pairs on
/// before the setting existed, so a `rules.toml` written then reads as it did).
fn backwards_pairs(
    path: &Path,
    src: &str,
    name: &str,
    raw: Option<Spanned<bool>>,
    backwards: bool,
    model_veto: bool,
) -> Result<bool, RulesError> {
    let Some(raw) = raw else {
        return Ok(backwards && !model_veto);
    };
    let on = *raw.get_ref();
    if on && !backwards {
        return Err(RulesError::new(
            path,
            Some(line_of(src, raw.span().start)),
            format!(
                "[rules.{name}] backwards_pairs = true needs backwards = true: the pairs are the two-character phrases of a list matched backwards"
            ),
        ));
    }
    Ok(on)
}

/// `[model]`: the thresholds, each a probability, and the settings of the `model` rule.
fn model_settings(path: &Path, src: &str, raw: RawModel) -> Result<ModelSettings, RulesError> {
    let defaults = ModelSettings::default();
    let threshold = |value: Option<Spanned<f64>>, key: &str, default: f32| -> Result<f32, RulesError> {
        let Some(value) = value else { return Ok(default) };
        let line = line_of(src, value.span().start);
        let v = *value.get_ref();
        if (0.0..=1.0).contains(&v) {
            // A probability: f32 holds it to 7 digits, more than a threshold needs.
            #[allow(clippy::cast_possible_truncation)]
            Ok(v as f32)
        } else {
            Err(RulesError::new(
                path,
                Some(line),
                format!("[model] {key} = {v}: write a probability between 0 and 1 (default {default})"),
            ))
        }
    };
    // The thresholds' order: an error names the line of the key that breaks it (`line`).
    let line = |value: &Option<Spanned<f64>>| value.as_ref().map(|v| line_of(src, v.span().start));
    let ordered = |ok: bool, line: Option<usize>, message: String| {
        if ok {
            Ok(())
        } else {
            Err(RulesError::new(path, line, message))
        }
    };
    let (veto_line, cue_act_line, bare_act_line) = (line(&raw.veto), line(&raw.cue_act), line(&raw.bare_act));
    let veto = threshold(raw.veto, "veto", defaults.veto)?;
    let act = threshold(raw.act, "act", defaults.act)?;
    ordered(
        veto <= act,
        veto_line,
        format!(
            "[model] veto = {veto} is above act = {act}: the veto must not exceed the threshold at which the model acts alone"
        ),
    )?;
    let cue_act = threshold(raw.cue_act, "cue_act", act)?;
    ordered(
        cue_act >= veto,
        cue_act_line,
        format!(
            "[model] cue_act = {cue_act} is below veto = {veto}: a lone cue lowers the threshold at which the model acts, but not below the veto"
        ),
    )?;
    let bare_act = threshold(raw.bare_act, "bare_act", act)?;
    ordered(
        bare_act >= act,
        bare_act_line,
        format!(
            "[model] bare_act = {bare_act} is below act = {act}: a message with no rule evidence raises the threshold at which the model acts, never lowers it"
        ),
    )?;
    Ok(ModelSettings {
        enabled: raw.enabled.unwrap_or(true),
        veto,
        act,
        cue_act,
        bare_act,
        settings: RuleSettings {
            severity: severity(path, src, raw.severity)?,
            action: raw.action.unwrap_or_default(),
            recall: raw.recall.unwrap_or(true),
            groups: groups(path, src, raw.groups)?,
            exclude_groups: groups(path, src, raw.exclude_groups)?,
            dry_run: raw.dry_run.unwrap_or(false),
            display: display(path, src, raw.display)?,
            display_en: display(path, src, raw.display_en)?,
            ..RuleSettings::default()
        },
    })
}

/// A display name: trimmed, not empty, one line.
fn display(path: &Path, src: &str, raw: Option<Spanned<String>>) -> Result<Option<String>, RulesError> {
    let Some(raw) = raw else { return Ok(None) };
    let line = line_of(src, raw.span().start);
    let text = raw.get_ref().trim();
    if text.is_empty() || text.contains(['\n', '\r']) {
        return Err(RulesError::new(
            path,
            Some(line),
            "display: write the name members see, on one line (e.g. display = \"广告引流\")",
        ));
    }
    Ok(Some(text.to_owned()))
}

fn severity(path: &Path, src: &str, raw: Option<Spanned<RawSeverity>>) -> Result<Severity, RulesError> {
    let Some(raw) = raw else {
        return Ok(Severity::default());
    };
    let line = line_of(src, raw.span().start);
    match raw.into_inner() {
        RawSeverity::Strikes(n) if n >= 1 => Ok(Severity::Strikes(u32::try_from(n).unwrap_or(u32::MAX))),
        RawSeverity::Word(w) if w.eq_ignore_ascii_case("max") => Ok(Severity::Max),
        RawSeverity::Strikes(n) => Err(RulesError::new(
            path,
            Some(line),
            format!("severity {n}: write a number of strikes (1 or more) or \"max\""),
        )),
        RawSeverity::Word(w) => Err(RulesError::new(
            path,
            Some(line),
            format!("severity {w:?}: write a number of strikes (1 or more) or \"max\""),
        )),
    }
}

fn groups(path: &Path, src: &str, raw: Option<Vec<Spanned<RawGroup>>>) -> Result<Vec<GroupId>, RulesError> {
    let mut out = Vec::new();
    for g in raw.unwrap_or_default() {
        let line = line_of(src, g.span().start);
        let parsed = match g.into_inner() {
            RawGroup::Number(n) => Ok(GroupId::qq(n)),
            RawGroup::Text(t) => t.parse::<GroupId>().map_err(|e| format!("group {t:?}: {e}")),
        };
        out.push(parsed.map_err(|reason| RulesError::new(path, Some(line), reason))?);
    }
    Ok(out)
}

/// Parses `variants.toml`: `canonical = ["spelling", …]`.
pub(crate) fn parse_variants(path: &Path, src: &str) -> Result<Vec<Variant>, RulesError> {
    let raw: BTreeMap<String, Spanned<Vec<String>>> = toml::from_str(src).map_err(|e| toml_error(path, src, &e))?;
    let mut out = Vec::new();
    for (canonical, spellings) in raw {
        let span = spellings.span();
        let array = &src[span.clone()];
        for spelling in spellings.into_inner() {
            // The line of the spelling inside a multi-line array.
            let offset = array.find(spelling.as_str()).map_or(span.start, |at| span.start + at);
            out.push(Variant {
                canonical: canonical.clone(),
                spelling: Phrase {
                    text: spelling,
                    file: path.to_owned(),
                    line: line_of(src, offset),
                },
            });
        }
    }
    Ok(out)
}
