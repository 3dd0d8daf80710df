//! The detail lines of `qunguan filter explain` (and the console's explain page), below the
//! verdict line: what the filter saw, the model, and what the ladder would do.
//!
//! Rule ids, patterns, n-gram names and ladder rungs stay as the rules folder and the
//! configuration write them.

use crate::domain::locale::Locale;

/// Why the rules found a violation (`policy::filter::Reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainReason {
    /// A hard phrase.
    Hard,
    /// A strong contact pattern.
    Strong,
    /// A hard phrase of a list the model never overrules.
    Firm,
    /// A cue together with a contact pattern.
    CueAndPattern,
    /// Cues of two different rules in two places.
    TwoCues,
    /// The model's score alone.
    Model,
}

/// A reason, in words.
#[must_use]
pub fn explain_reason(locale: Locale, reason: ExplainReason) -> &'static str {
    match (locale, reason) {
        (Locale::ZhCn, ExplainReason::Hard) => "命中硬性词",
        (Locale::ZhCn, ExplainReason::Strong) => "命中强联系方式模式",
        (Locale::ZhCn, ExplainReason::Firm) => "命中不受模型否决的硬性词",
        (Locale::ZhCn, ExplainReason::CueAndPattern) => "提示词与联系方式模式同时出现",
        (Locale::ZhCn, ExplainReason::TwoCues) => "两个不同规则的提示词出现在两处",
        (Locale::ZhCn, ExplainReason::Model) => "仅凭模型得分",
        (Locale::En, ExplainReason::Hard) => "a hard phrase",
        (Locale::En, ExplainReason::Strong) => "a strong contact pattern",
        (Locale::En, ExplainReason::Firm) => "a hard phrase the model does not overrule",
        (Locale::En, ExplainReason::CueAndPattern) => "a cue together with a contact pattern",
        (Locale::En, ExplainReason::TwoCues) => "cues of two different rules in two places",
        (Locale::En, ExplainReason::Model) => "the model's score alone",
    }
}

/// Which threshold the model's score is held against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExplainThreshold {
    /// The rules' hit stands at or above it, is overruled below it.
    Veto(f32),
    /// The model alone acts at or above it.
    Act(f32),
    /// A trusted member's message at or above it goes to the review list.
    Review(f32),
}

/// What the ladder would do to a member with no strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainEffect<'a> {
    /// The ladder: strike `after` and its rung (as written).
    Ladder {
        /// The strike count after.
        after: u32,
        /// The rung it reaches (`mute 10m`).
        rung: &'a str,
    },
    /// The message is recalled, nothing more.
    Recall,
    /// A warning, no strike.
    Warn,
    /// The member is removed at once.
    Kick,
}

/// Why nothing acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExplainNoAction {
    /// The model overruled the rules' hit.
    Vetoed,
    /// A trusted member: recorded for review instead.
    Review,
    /// The rules' hit does not act for this member.
    NotForMember,
    /// Nothing acts.
    Nothing,
}

/// One detail line (or block) of `filter explain`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExplainLine<'a> {
    /// The message as given.
    Text(&'a str),
    /// The normalized text.
    Normalized(&'a str),
    /// The member's trust: trusted or new.
    Member {
        /// Trusted (else new).
        trusted: bool,
    },
    /// No hit at all.
    NoHits,
    /// The heading of the hit lines.
    HitsHeading,
    /// One hit.
    Hit {
        /// 1-based.
        n: usize,
        /// Its rule.
        rule: &'a str,
        /// `hard`, `cue` or `regex`.
        kind: &'a str,
        /// The pattern, quoted as the rules folder writes it.
        pattern: &'a str,
        /// Byte span in the original.
        start: usize,
        /// Byte span in the original.
        end: usize,
        /// The original text of the span.
        found: &'a str,
    },
    /// The rules alone: no violation, and whether anything matched.
    RulesClean {
        /// Cues or weak patterns matched, but not enough.
        weak_hits: bool,
    },
    /// The rules alone: a violation.
    RulesViolation {
        /// The rule.
        rule: &'a str,
        /// Why.
        reason: ExplainReason,
    },
    /// The model's score against its threshold.
    ModelScore {
        /// The score.
        score: f32,
        /// The threshold in force.
        threshold: ExplainThreshold,
        /// At or above it.
        above: bool,
    },
    /// The model's score of the member's own words outside quotation marks, which counts
    /// when it is the lower (a quoted ad is not read as the member's).
    OwnWords {
        /// The score.
        score: f32,
        /// At or above the threshold in force.
        above: bool,
    },
    /// The heading of the feature lines, with the log-odds.
    FeaturesHeading(f32),
    /// The model's bias.
    Bias(f32),
    /// One feature and what the instance learned of it (0: nothing).
    Feature {
        /// Its contribution.
        contribution: f32,
        /// Its name.
        name: &'a str,
        /// Learned weight.
        learned: f32,
    },
    /// The sum of the rest.
    Rest(f32),
    /// The model abstains on this script.
    ModelAbstains,
    /// No model loaded.
    NoModel,
    /// The message is a near-duplicate of a learned spam sample.
    LearnedMatch {
        /// `#12`.
        id: &'a str,
        /// 0–1.
        similarity: f32,
        /// The sample's text.
        text: &'a str,
    },
    /// The decision: a near-duplicate of learned spam sample `id`.
    DecisionLearned(&'a str),
    /// How the learned decision shows: the rule's display name.
    ShownLearned(&'a str),
    /// The decision: a violation of `rule`.
    DecisionViolation {
        /// The rule.
        rule: &'a str,
        /// Why.
        reason: ExplainReason,
    },
    /// How the violation shows and what it does.
    Shown {
        /// The rule's display name.
        name: &'a str,
        /// Its strikes; `None`: straight to the last rung.
        strikes: Option<u32>,
        /// `ladder`, `recall`, `warn`, `kick`, as the rule writes it.
        action: &'a str,
        /// Whether the message is recalled.
        recall: bool,
        /// A dry run.
        dry_run: bool,
    },
    /// What the ladder would do, and the ladder (as written).
    Ladder {
        /// The effect.
        effect: ExplainEffect<'a>,
        /// The rungs joined.
        ladder: &'a str,
    },
    /// The decision: nothing acts, and why.
    DecisionClean(ExplainNoAction),
}

/// One detail line of `filter explain`, without its newline (a block has inner newlines).
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn explain_line(locale: Locale, line: ExplainLine<'_>) -> String {
    let zh = locale == Locale::ZhCn;
    match line {
        ExplainLine::Text(text) if zh => format!("原文：        {text}"),
        ExplainLine::Text(text) => format!("text:        {text}"),
        ExplainLine::Normalized(text) if zh => format!("规范化：      {text}"),
        ExplainLine::Normalized(text) => format!("normalized:  {text}"),
        ExplainLine::Member { trusted } if zh => {
            format!("成员：        {}", if trusted { "信任成员" } else { "新成员" })
        }
        ExplainLine::Member { trusted } => format!("member:      {}", if trusted { "trusted" } else { "new" }),
        ExplainLine::NoHits if zh => "命中：        无".to_owned(),
        ExplainLine::NoHits => "hits:        none".to_owned(),
        ExplainLine::HitsHeading if zh => "命中：".to_owned(),
        ExplainLine::HitsHeading => "hits:".to_owned(),
        ExplainLine::Hit {
            n,
            rule,
            kind,
            pattern,
            start,
            end,
            found,
        } => {
            if zh {
                let kind = match kind {
                    "hard" => "硬性词",
                    "cue" => "提示词",
                    "regex" => "正则",
                    other => other,
                };
                format!("  {n}. {rule}（{kind}）模式 {pattern}，位于字节 {start}..{end}：{found:?}")
            } else {
                format!("  {n}. {rule} ({kind}) pattern {pattern} at bytes {start}..{end}: {found:?}")
            }
        }
        ExplainLine::RulesClean { weak_hits } => match (zh, weak_hits) {
            (true, false) => "规则：        不违规（没有命中）".to_owned(),
            (true, true) => "规则：        不违规（只有提示词或弱模式，不构成违规）".to_owned(),
            (false, false) => "rules:       no violation (nothing matched)".to_owned(),
            (false, true) => "rules:       no violation (cues and weak patterns alone are not a violation)".to_owned(),
        },
        ExplainLine::RulesViolation { rule, reason } if zh => {
            format!("规则：        违反规则 {rule}（{}）", explain_reason(locale, reason))
        }
        ExplainLine::RulesViolation { rule, reason } => {
            format!(
                "rules:       violation of rule {rule} ({})",
                explain_reason(locale, reason)
            )
        }
        ExplainLine::ModelScore {
            score,
            threshold,
            above,
        } => {
            let against = match (zh, threshold) {
                (true, ExplainThreshold::Veto(t)) => {
                    format!("否决阈值 {t}：达到或高于它时规则的命中成立，低于它时被推翻")
                }
                (true, ExplainThreshold::Act(t)) => format!("处置阈值 {t}：达到或高于它时模型单独处置"),
                (true, ExplainThreshold::Review(t)) => {
                    format!("审核阈值 {t}：信任成员的消息达到或高于它时记入待审核列表")
                }
                (false, ExplainThreshold::Veto(t)) => {
                    format!("veto threshold {t}: the rules' hit stands at or above it, is overruled below it")
                }
                (false, ExplainThreshold::Act(t)) => format!("act threshold {t}: the model alone acts at or above it"),
                (false, ExplainThreshold::Review(t)) => {
                    format!("review threshold {t}: a trusted member's message at or above it goes to the review list")
                }
            };
            match (zh, above) {
                (true, true) => format!("模型：        得分 {score:.3}（达到或高于；{against}）"),
                (true, false) => format!("模型：        得分 {score:.3}（低于；{against}）"),
                (false, true) => format!("model:       score {score:.3} (at or above; {against})"),
                (false, false) => format!("model:       score {score:.3} (below; {against})"),
            }
        }
        ExplainLine::OwnWords { score, above } => match (zh, above) {
            (true, true) => {
                format!("引号外：      成员自己的话得分 {score:.3}（达到或高于；引号内的内容不计，以较低的得分为准）")
            }
            (true, false) => {
                format!("引号外：      成员自己的话得分 {score:.3}（低于；引号内的内容不计，以较低的得分为准）")
            }
            (false, true) => format!(
                "own words:   score {score:.3} outside the quotation marks (at or above; the lower score counts)"
            ),
            (false, false) => {
                format!("own words:   score {score:.3} outside the quotation marks (below; the lower score counts)")
            }
        },
        ExplainLine::FeaturesHeading(logit) if zh => format!("特征：        对对数几率 {logit:+.3} 贡献最大的几项"),
        ExplainLine::FeaturesHeading(logit) => {
            format!("features:    the largest contributions to the log-odds {logit:+.3}")
        }
        ExplainLine::Bias(bias) => format!("  {bias:+8.3}  {}", if zh { "偏置" } else { "bias" }),
        ExplainLine::Feature {
            contribution,
            name,
            learned,
        } => {
            let learned = match (learned == 0.0, zh) {
                (true, _) => String::new(),
                (false, true) => format!("（已学习 {learned:+.3}）"),
                (false, false) => format!(" (learned {learned:+.3})"),
            };
            format!("  {contribution:+8.3}  {name:?}{learned}")
        }
        ExplainLine::Rest(rest) => format!("  {rest:+8.3}  {}", if zh { "其余" } else { "everything else" }),
        ExplainLine::ModelAbstains if zh => {
            "模型：        不参与（文本主要是语料未覆盖的文字）：由规则单独决定".to_owned()
        }
        ExplainLine::ModelAbstains => {
            "model:       abstains (the text is mostly in a script the corpus does not cover): the rules decide alone"
                .to_owned()
        }
        ExplainLine::NoModel if zh => "模型：        未加载（rules/model.bin）：由规则单独决定".to_owned(),
        ExplainLine::NoModel => "model:       none loaded (rules/model.bin): the rules decide alone".to_owned(),
        ExplainLine::LearnedMatch { id, similarity, text } if zh => {
            format!("已学习：      与管理员标记的广告样本 {id} 相似（相似度 {similarity:.2}）：{text:?}")
        }
        ExplainLine::LearnedMatch { id, similarity, text } => {
            format!("learned:     matches admin-marked spam sample {id} (similarity {similarity:.2}): {text:?}")
        }
        ExplainLine::DecisionLearned(id) if zh => {
            format!("决定：        违反规则 learned（与管理员标记的广告样本 {id} 近似重复；新成员和信任成员一样处置）")
        }
        ExplainLine::DecisionLearned(id) => format!(
            "decision:    violation of rule learned (a near-duplicate of admin-marked spam sample {id}; acts for new and trusted members alike)"
        ),
        ExplainLine::ShownLearned(name) if zh => format!("              向成员显示为「{name}」；记 1 次违规；撤回消息"),
        ExplainLine::ShownLearned(name) => {
            format!("             shown to members as 「{name}」; one strike; recall the message")
        }
        ExplainLine::DecisionViolation { rule, reason } if zh => {
            format!("决定：        违反规则 {rule}（{}）", explain_reason(locale, reason))
        }
        ExplainLine::DecisionViolation { rule, reason } => {
            format!(
                "decision:    violation of rule {rule} ({})",
                explain_reason(locale, reason)
            )
        }
        ExplainLine::Shown {
            name,
            strikes,
            action,
            recall,
            dry_run,
        } => {
            if zh {
                let severity = strikes.map_or_else(|| "直接到最后一级".to_owned(), |n| format!("{n} 次违规"));
                format!(
                    "              向成员显示为「{name}」；严重程度 {severity}；动作 {action}；{}{}",
                    if recall { "撤回消息" } else { "保留消息" },
                    if dry_run {
                        "；试运行：不发送任何动作"
                    } else {
                        ""
                    }
                )
            } else {
                let severity =
                    strikes.map_or_else(|| "straight to the last rung".to_owned(), |n| format!("{n} strike(s)"));
                format!(
                    "             shown to members as 「{name}」; severity {severity}; action {action}; {}{}",
                    if recall {
                        "recall the message"
                    } else {
                        "keep the message"
                    },
                    if dry_run { "; DRY RUN: nothing is sent" } else { "" }
                )
            }
        }
        ExplainLine::Ladder { effect, ladder } => {
            let effect = match (zh, effect) {
                (true, ExplainEffect::Ladder { after, rung }) => format!("没有违规记录的成员记第 {after} 次 → {rung}"),
                (true, ExplainEffect::Recall) => "只撤回，不记违规".to_owned(),
                (true, ExplainEffect::Warn) => "警告一次，不记违规".to_owned(),
                (true, ExplainEffect::Kick) => "立即移出该成员".to_owned(),
                (false, ExplainEffect::Ladder { after, rung }) => {
                    format!("a member with no strikes gets strike {after} → {rung}")
                }
                (false, ExplainEffect::Recall) => "recall only, no strike".to_owned(),
                (false, ExplainEffect::Warn) => "a warning, no strike".to_owned(),
                (false, ExplainEffect::Kick) => "the member is removed at once".to_owned(),
            };
            if zh {
                format!("处置阶梯：    {effect}（阶梯：{ladder}）")
            } else {
                format!("ladder:      {effect} (ladder: {ladder})")
            }
        }
        ExplainLine::DecisionClean(why) => {
            let why = match (zh, why) {
                (true, ExplainNoAction::Vetoed) => "模型推翻了规则的命中：它确信这条消息无害",
                (true, ExplainNoAction::Review) => "该成员受信任：改为记入待审核列表",
                (true, ExplainNoAction::NotForMember) => "规则的命中对该成员不生效",
                (true, ExplainNoAction::Nothing) => "没有任何规则处置",
                (false, ExplainNoAction::Vetoed) => {
                    "the model overruled the rules' hit: it is confident the message is benign"
                }
                (false, ExplainNoAction::Review) => "the member is trusted: recorded for admin review instead",
                (false, ExplainNoAction::NotForMember) => "the rules' hit does not act for this member",
                (false, ExplainNoAction::Nothing) => "nothing acts",
            };
            if zh {
                format!("决定：        不违规（{why}）")
            } else {
                format!("decision:    no violation ({why})")
            }
        }
    }
}

/// Where `filter explain` took the learned samples from, for its last line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplesSource<'a> {
    /// No database at `path`: the shipped model alone.
    NoDatabase(&'a str),
    /// They could not be read (the error).
    Unreadable(&'a str),
    /// `count` samples, `spam` of them spam in force, from the running daemon or the
    /// database at `path`.
    Loaded {
        /// Samples read.
        count: usize,
        /// Spam samples in force.
        spam: usize,
        /// `None`: the running daemon; else the database's path.
        database: Option<&'a str>,
    },
}

/// The `samples:` line of `filter explain`.
#[must_use]
pub fn explain_samples(locale: Locale, source: SamplesSource<'_>) -> String {
    match (locale, source) {
        (Locale::ZhCn, SamplesSource::NoDatabase(path)) => {
            format!("样本：        未参考（{path} 没有数据库，见 storage.path）：仅用随附的模型")
        }
        (Locale::En, SamplesSource::NoDatabase(path)) => {
            format!("samples:     none consulted (no database at {path}, storage.path): the shipped model alone")
        }
        (Locale::ZhCn, SamplesSource::Unreadable(error)) => format!("样本：        未参考（{error}）"),
        (Locale::En, SamplesSource::Unreadable(error)) => format!("samples:     none consulted ({error})"),
        (Locale::ZhCn, SamplesSource::Loaded { count, spam, database }) => {
            let from = database.map_or_else(|| "运行中的守护进程".to_owned(), |p| format!(" {p} 的数据库"));
            format!(
                "样本：        从{from}读取 {count} 条已学习样本，其中 {spam} 条生效的广告样本：已应用模型的实例增量和近似重复检查"
            )
        }
        (Locale::En, SamplesSource::Loaded { count, spam, database }) => {
            let from = database.map_or_else(|| "the running daemon".to_owned(), |p| format!("the database at {p}"));
            format!(
                "samples:     {count} learned sample(s) from {from}, {spam} spam in force: the model's instance delta and the near-duplicate check applied"
            )
        }
    }
}
