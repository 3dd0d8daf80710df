//! The decision with the model (issue 12 §2, §3): the outcome table, and [`Filter::judge`]
//! with a small model trained here — the veto, the model alone for new and trusted members,
//! abstaining on uncovered scripts, learning, display names and the model's flags.

use std::sync::Arc;

use super::*;
use crate::policy::model::{Sample, TrainOptions, train};

const G: GroupId = GroupId::qq(1);

/// A filter with a hard list, a cue list, the detectors, and (with `model`) a model trained
/// on a few messages: 领福利 templates are spam, warnings and chat are ham.
fn filter(model: bool) -> Filter {
    Filter::build(&spec(model)).expect("builds")
}

/// [`filter`]'s spec: the lists, and with `model` a small model with `veto` 0.3, `act` 0.8.
fn spec(model: bool) -> FilterSpec {
    let list = |rule: &str, mode: Mode, phrases: &[&str]| WordList {
        rule: rule.to_owned(),
        phrases: phrases
            .iter()
            .enumerate()
            .map(|(i, p)| Phrase {
                text: (*p).to_owned(),
                file: PathBuf::from(format!("{rule}.txt")),
                line: i + 1,
            })
            .collect(),
        settings: RuleSettings {
            mode,
            display: (rule == "scams").then(|| "诈骗广告".to_owned()),
            model_veto: rule != "abuse",
            ..RuleSettings::default()
        },
    };
    let mut spec = FilterSpec {
        lists: vec![
            list("scams", Mode::Hard, &["刷单返利"]),
            list("contact", Mode::Cue, &["私聊"]),
            list("money", Mode::Cue, &["日结"]),
            list("abuse", Mode::Hard, &["傻逼"]),
        ],
        ..FilterSpec::default()
    };
    let rules_only = Filter::build(&spec).expect("builds");
    if model {
        let spam = [
            "进群领福利，名额有限，先到先得",
            "免费领福利，进群就送，速度来",
            "福利群开了，领福利的来，名额有限",
            "领福利啦，进群领取，先到先得",
        ];
        let ham = [
            "别信那些刷单返利的，都是骗子，我同事被骗了",
            "刷单返利是骗局，大家千万别信",
            "今天天气不错，晚上一起吃饭吧",
            "孩子作业写完了吗，明天要交",
            "这本书挺好看的，推荐给大家",
            "周末去爬山吗，天气预报说晴天",
        ];
        let samples: Vec<Sample> = spam
            .iter()
            .map(|t| (t, true))
            .chain(ham.iter().map(|t| (t, false)))
            .flat_map(|(t, spam)| {
                let (text, flags) = rules_only.features(t);
                std::iter::repeat_n(Sample { text, flags, spam }, 5)
            })
            .collect();
        spec.model = Some(Arc::new(train(&samples, &TrainOptions::default())));
        spec.model_settings = ModelSettings {
            veto: 0.3,
            act: 0.8,
            cue_act: 0.8,
            ..ModelSettings::default()
        };
    }
    spec
}

/// [`filter`] with its model and the thresholds `veto`, `act`, `cue_act` and `bare_act`.
fn with_thresholds(veto: f32, act: f32, cue_act: f32, bare_act: f32) -> Filter {
    let mut spec = spec(true);
    spec.model_settings = ModelSettings {
        veto,
        act,
        cue_act,
        bare_act,
        ..spec.model_settings
    };
    Filter::build(&spec).expect("builds")
}

/// `cue_act`: a cue that decides nothing by itself lowers the threshold at which the model
/// acts, for new members (trusted members' go to review, as the model's own verdicts do); a
/// message without a cue still needs `act`, and `cue_act` above `act` is `act`.
#[test]
fn a_lone_cue_lowers_the_threshold_at_which_the_model_acts() {
    let with = |veto: f32, act: f32, cue_act: f32| with_thresholds(veto, act, cue_act, act);
    // 私聊 is a cue (`contact`) that pairs with nothing here; the second line has no cue.
    let (cue, plain) = ("领福利的私聊", "领福利的来");
    let f = filter(true);
    for text in [cue, plain] {
        let s = f.judge(text, G, Trust::New, None).score.expect("scored");
        assert!(s > 0.0 && s < 1.0, "{text}: {s}");
    }
    // The whole range: a cue acts at any score from cue_act 0, a plain line never below 1.
    let low = with(0.0, 1.0, 0.0);
    let j = low.judge(cue, G, Trust::New, None);
    assert_eq!(j.reason, Some(Reason::Model), "{j:?}");
    assert_eq!(j.violation.map(|v| v.rule.to_string()), Some("model".to_owned()));
    let j = low.judge(cue, G, Trust::Trusted, None);
    assert!(j.violation.is_none() && j.review, "{j:?}");
    assert!(low.judge(plain, G, Trust::New, None).violation.is_none());
    // A cue that is all but the whole message gives the model nothing else to read.
    for bare in ["私聊", "私聊吧"] {
        assert!(low.judge(bare, G, Trust::New, None).violation.is_none(), "{bare}");
        assert!(!low.inspect(bare, None).cue, "{bare}");
    }
    assert!(low.inspect(cue, None).cue);
    assert_eq!(low.inspect(cue, None).threshold.map(|(_, t)| t), Some(0.0));
    assert_eq!(low.inspect(plain, None).threshold.map(|(_, t)| t), Some(1.0));
    // cue_act = act: as without the key; cue_act above act: act.
    for f in [with(0.0, 1.0, 1.0), with(0.0, 0.0, 1.0)] {
        let (_, act) = f.thresholds();
        let j = f.judge(cue, G, Trust::New, None);
        assert_eq!(j.violation.is_some(), act == 0.0, "act {act}: {j:?}");
        assert_eq!(f.act_for(true), act);
    }
}

/// `bare_act`: a message in which no list and no detector found anything needs the higher
/// `bare_act` for the model to act alone (and, for a trusted member, to be recorded for
/// review); one hit of any kind brings it back to `act`, a lone cue to `cue_act`.
#[test]
fn a_message_with_no_hit_at_all_needs_bare_act() {
    let with = |act: f32, cue_act: f32, bare_act: f32| with_thresholds(0.0, act, cue_act, bare_act);
    // No hit at all; the same words with 日结, a cue that pairs with nothing; with a phone
    // number, a detector's hit that decides nothing by itself.
    let (bare, cue) = ("领福利的来", "领福利的来 日结");
    let f = with(0.0, 0.0, 1.0);
    assert!(f.inspect(bare, None).bare && f.inspect(bare, None).hits.is_empty());
    assert!(!f.inspect(cue, None).bare && f.inspect(cue, None).cue);
    let s = f.judge(bare, G, Trust::New, None).score.expect("scored");
    assert!(s > 0.0 && s < 1.0, "{s}");
    // act 0 acts on anything with a hit, but bare_act 1 on no bare message.
    let j = f.judge(bare, G, Trust::New, None);
    assert!(j.violation.is_none() && j.reason.is_none(), "{j:?}");
    assert!(!f.judge(bare, G, Trust::Trusted, None).review);
    assert_eq!(f.judge(cue, G, Trust::New, None).reason, Some(Reason::Model));
    assert_eq!(f.inspect(bare, None).threshold, Some((ThresholdKind::Act, 1.0)));
    assert_eq!(f.inspect(cue, None).threshold, Some((ThresholdKind::Act, 0.0)));
    let trusted = f.inspect_as(bare, None, Trust::Trusted, None).threshold;
    assert_eq!(trusted, Some((ThresholdKind::Review, 1.0)));
    // Just above and just below the message's own score.
    for (bare_act, acts) in [(s - 0.01, true), (s + 0.01, false)] {
        let f = with(0.0, 0.0, bare_act);
        let j = f.judge(bare, G, Trust::New, None);
        assert_eq!(j.reason == Some(Reason::Model), acts, "bare_act {bare_act}: {j:?}");
        assert_eq!(f.judge(bare, G, Trust::Trusted, None).review, acts);
    }
    // bare_act below act is act: a message without evidence never needs less.
    let f = with(1.0, 1.0, 0.0);
    assert_eq!(f.threshold_for(false, true), 1.0);
    assert!(f.judge(bare, G, Trust::New, None).violation.is_none());
}

#[test]
fn the_outcome_table() {
    use Reason::{CueAndPattern, Firm, Hard, Model, Strong, TwoCues};
    use Trust::{New, Trusted};
    let (veto, act) = (0.3, 0.9);
    // (rules, score, trust) → (acts, review, vetoed)
    type Row = (Option<Reason>, Option<f32>, Trust, Option<Reason>, bool, bool);
    let rows: &[Row] = &[
        (Some(Strong), Some(0.01), New, Some(Strong), false, false),
        (Some(Strong), Some(0.01), Trusted, Some(Strong), false, false),
        (Some(Firm), Some(0.01), New, Some(Firm), false, false),
        (Some(Firm), Some(0.01), Trusted, Some(Firm), false, false),
        (Some(Firm), None, New, Some(Firm), false, false),
        (Some(Hard), Some(0.1), New, None, false, true),
        (Some(Hard), Some(0.1), Trusted, None, false, true),
        (Some(Hard), Some(0.5), New, Some(Hard), false, false),
        (Some(Hard), Some(0.5), Trusted, Some(Hard), false, false),
        (Some(Hard), None, Trusted, Some(Hard), false, false),
        (Some(CueAndPattern), Some(0.1), New, None, false, true),
        (Some(CueAndPattern), Some(0.5), New, Some(CueAndPattern), false, false),
        (Some(CueAndPattern), Some(0.5), Trusted, None, true, false),
        (Some(TwoCues), None, New, Some(TwoCues), false, false),
        (Some(TwoCues), None, Trusted, None, true, false),
        (None, Some(0.95), New, Some(Model), false, false),
        (None, Some(0.95), Trusted, None, true, false),
        (None, Some(0.9), New, Some(Model), false, false),
        (None, Some(0.89), New, None, false, false),
        (None, None, New, None, false, false),
    ];
    for &(rules, score, trust, acts, review, vetoed) in rows {
        let got = outcome(rules, score, trust, veto, act);
        assert_eq!(
            got,
            Outcome { acts, review, vetoed },
            "{rules:?} score {score:?} {trust}"
        );
    }
}

#[test]
fn without_a_model_judge_is_the_rules() {
    let f = filter(false);
    for text in ["刷单返利，私聊", "日结 私聊", "今天天气不错", "加微信abc12345"] {
        let j = f.judge(text, G, Trust::New, None);
        assert_eq!(j.score, None);
        assert_eq!(j.violation, f.check(text, G), "{text}");
    }
    // Trusted: only hard phrases and strong patterns; cue combinations go to review.
    let j = f.judge("日结 私聊", G, Trust::Trusted, None);
    assert!(j.violation.is_none() && j.review, "{j:?}");
    let j = f.judge("刷单返利", G, Trust::Trusted, None);
    assert_eq!(j.violation.map(|v| v.rule.to_string()).as_deref(), Some("scams"));
}

#[test]
fn the_model_vetoes_a_quoted_warning_and_acts_alone_only_for_new_members() {
    let f = filter(true);
    // A warning quoting the hard phrase: the rules flag it, the model overrules.
    let warning = "别信那些刷单返利的，都是骗子";
    assert!(f.check(warning, G).is_some(), "the rules alone flag it");
    let j = f.judge(warning, G, Trust::New, None);
    let score = j.score.expect("scored");
    assert!(score < 0.3, "score {score}");
    assert!(j.violation.is_none() && j.vetoed && !j.review, "{j:?}");

    // No rule hit, a spam template: the model alone acts for a new member …
    let ad = "领福利进群，名额有限";
    assert!(f.check(ad, G).is_none(), "no rule matches");
    let j = f.judge(ad, G, Trust::New, None);
    assert!(j.score.expect("scored") >= 0.8, "{j:?}");
    let v = j.violation.expect("acts");
    assert_eq!((&*v.rule, j.reason), (MODEL_RULE, Some(Reason::Model)));
    assert!(v.hits.is_empty());
    // … and only goes to review for a trusted one.
    let j = f.judge(ad, G, Trust::Trusted, None);
    assert!(j.violation.is_none() && j.review, "{j:?}");

    // Chat stays clean for everyone.
    let j = f.judge("今天天气不错，一起吃饭吧", G, Trust::New, None);
    assert!(
        j.violation.is_none() && !j.review && j.score.expect("scored") < 0.5,
        "{j:?}"
    );
    // A strong pattern acts whatever the score, also beside a hard phrase the model would
    // have overruled alone (the hard phrase names the rule).
    let j = f.judge("今天天气不错 t.me/joinchat/abcdef", G, Trust::Trusted, None);
    assert_eq!(j.reason, Some(Reason::Strong));
    let text = "别信那些刷单返利的，都是骗子 t.me/joinchat/abcdef";
    let j = f.judge(text, G, Trust::New, None);
    assert!(j.score.expect("scored") < 0.3, "the model alone would veto: {j:?}");
    assert!(!j.vetoed, "{j:?}");
    assert_eq!(j.reason, Some(Reason::Strong));
    assert_eq!(j.violation.map(|v| v.rule.to_string()).as_deref(), Some("scams"));
}

#[test]
fn a_list_with_model_veto_off_is_never_overruled() {
    let f = filter(true);
    // `abuse` has `model_veto = false`: its hit acts whatever the model's score, for new and
    // trusted members, spaced out or not, while the same message without it is still vetoed.
    for text in ["别信那些刷单返利的，都是骗子，傻逼", "楼主 傻 逼", "今天天气不错"] {
        let firm = text != "今天天气不错";
        for trust in [Trust::New, Trust::Trusted] {
            let j = f.judge(text, G, trust, None);
            let score = j.score.expect("scored");
            if firm {
                if text.starts_with("别信") {
                    assert!(score < 0.3, "the model alone would veto {text}: {j:?}");
                }
                assert_eq!(j.reason, Some(Reason::Firm), "{text} {trust}");
                assert!(!j.vetoed && !j.review, "{j:?}");
                assert!(j.violation.is_some(), "{text} {trust}");
            } else {
                assert!(j.violation.is_none() && j.reason.is_none(), "{j:?}");
            }
        }
    }
    // The hard phrase of an ordinary list beside it is still overruled on its own.
    let j = f.judge("别信那些刷单返利的，都是骗子", G, Trust::New, None);
    assert!(j.vetoed && j.violation.is_none(), "{j:?}");
    // `filter explain` names the reason and holds the score against the act threshold.
    let report = f.inspect("楼主 傻 逼", None);
    assert_eq!(report.judgement.reason, Some(Reason::Firm));
    assert!(
        matches!(report.threshold, Some((ThresholdKind::Act, _))),
        "{:?}",
        report.threshold
    );
}

#[test]
fn text_in_an_uncovered_script_is_judged_by_the_rules_alone() {
    let f = filter(true);
    // Russian: folded to Latin look-alikes it would read as gibberish English.
    let j = f.judge("Привет всем, как дела? Завтра встречаемся в парке", G, Trust::New, None);
    assert_eq!((j.score, j.violation.is_some()), (None, false));
    let report = f.inspect("Привет всем, как дела", None);
    assert!(report.explanation.is_none() && report.threshold.is_none());
}

#[test]
fn learning_a_label_moves_the_score_and_the_delta_is_used_by_judge() {
    let f = filter(true);
    let text = "今晚八点直播间抽奖送手机";
    let before = f.judge(text, G, Trust::New, None).score.expect("scored");
    let mut delta = Delta::default();
    let learned = f.learn(&mut delta, text, true).expect("a model is loaded");
    assert!(learned.after > learned.before, "{learned:?}");
    let after = f.judge(text, G, Trust::New, Some(&delta)).score.expect("scored");
    assert!(after > before && after >= 0.8, "{before} → {after}");
    assert_eq!(f.judge(text, G, Trust::New, Some(&delta)).reason, Some(Reason::Model));
    assert!(
        filter(false).learn(&mut delta, text, true).is_none(),
        "no model, nothing to learn"
    );
}

#[test]
fn explain_reports_score_threshold_and_features() {
    let f = filter(true);
    let report = f.inspect_as("别信那些刷单返利的", None, Trust::New, None);
    assert_eq!(report.threshold.map(|t| t.0), Some(ThresholdKind::Veto));
    let e = report.explanation.expect("explained");
    assert!(!e.features.is_empty() && e.features.len() <= EXPLAIN_FEATURES);
    assert!(report.flags.hard_phrase);
    let report = f.inspect_as("今天天气不错", None, Trust::Trusted, None);
    assert_eq!(report.threshold.map(|t| t.0), Some(ThresholdKind::Review));
    let report = f.inspect_as("今天天气不错", None, Trust::New, None);
    assert_eq!(report.threshold, Some((ThresholdKind::Act, 0.8)));
}

#[test]
fn the_model_reads_latin_word_boundaries_and_chinese_as_before() {
    let f = filter(false);
    let rows: &[(&str, &str)] = &[
        // words keep a space between them, so `saved my` has no `dm`
        ("git stash saved my life today", "git stash saved my life today"),
        ("DM me for VIP signals 🚀🚀", "dm me for vip signals"),
        ("Top 10 coins, no pitch", "top 10 coins no pitch"),
        // letters spelled one by one are still one word
        ("D M me now", "dm me now"),
        ("w h a t s a p p +1 555 0100", "whatsapp 15550100"),
        ("t . m e / cashbot", "tme cashbot"),
        // no whitespace, no boundary
        ("t.me/cashbot", "tmecashbot"),
        ("what\u{200b}sapp", "whatsapp"),
        // Chinese is read as before, spaced or not
        ("加 微-信 领福利", "加微信领福利"),
        ("今天天气不错", "今天天气不错"),
        ("加 v x 详聊 13812345678", "加vx详聊13812345678"),
        ("用 git stash 存一下", "用git stash存一下"),
    ];
    for (text, want) in rows {
        assert_eq!(f.features(text).0, *want, "{text:?}");
    }
}

#[test]
fn scoring_explaining_and_learning_read_the_same_marked_text() {
    use crate::policy::model::features::gram_bucket;
    let f = filter(true);
    let model = f.model().expect("a model");
    for text in [
        "git stash saved my life today",
        "DM me for signals",
        "今天天气不错，领福利吗",
    ] {
        let score = f.judge(text, G, Trust::New, None).score.expect("scored");
        let (input, flags) = f.features(text);
        assert_eq!(model.score(&input, &flags).to_bits(), score.to_bits(), "{text:?}");
        let explained = f.inspect(text, None).explanation.expect("explained");
        assert!(
            (explained.score - score).abs() < 1e-6,
            "{text:?}: {} vs {score}",
            explained.score
        );
    }
    // A label moves the n-grams of the marked text: `d m` across the boundary, never `dm`.
    let mut delta = Delta::default();
    f.learn(&mut delta, "git stash saved my life today", false)
        .expect("a model");
    assert!(delta.get(gram_bucket("d m")) < 0.0);
    assert!(delta.get(gram_bucket(" my")) < 0.0);
    assert_eq!(delta.get(gram_bucket("dm")), 0.0);
}

#[test]
fn display_names_never_show_an_internal_id() {
    let f = filter(true);
    let rows: &[(&str, Locale, &str)] = &[
        ("scams", Locale::ZhCn, "诈骗广告"),
        ("scams", Locale::En, "诈骗广告"),
        ("contact", Locale::ZhCn, "违规内容"),
        ("contact", Locale::En, "prohibited content"),
        ("wechat_id", Locale::ZhCn, "微信引流"),
        ("model", Locale::En, "likely spam"),
        ("flood", Locale::ZhCn, "刷屏"),
        ("manual", Locale::En, "admin action"),
        ("learned", Locale::ZhCn, "与管理员标记的广告相似"),
        ("join_answer", Locale::ZhCn, "入群答案"),
        ("inactive", Locale::En, "inactivity"),
        ("seed_phrase_request", Locale::ZhCn, "索要钱包助记词"),
        ("seed_phrase_request", Locale::En, "asking for a wallet recovery phrase"),
    ];
    for (rule, locale, want) in rows {
        assert_eq!(f.display_name(rule, *locale), *want, "{rule} {locale:?}");
    }
}

/// The wallet "support" pitch decides on its own, as a strong pattern the model cannot
/// overrule, and is no contact: the model's flags read as if it were not there (the shipped
/// `model.bin` does not depend on it).
#[test]
fn a_recovery_phrase_request_is_strong_and_sets_no_model_flag() {
    let f = filter(true);
    let pitch = "Support team here, please send us your seed phrase to restore the wallet";
    let report = f.inspect(pitch, Some(G));
    let (violation, reason) = report.violation.expect("the pitch is a violation");
    assert_eq!(&*violation.rule, "seed_phrase_request");
    assert_eq!(reason, Reason::Strong);
    assert!(f.judge(pitch, G, Trust::Trusted, None).violation.is_some());
    let (_, flags) = f.features(pitch);
    assert_eq!(flags, Flags::default());
    let warning = "Support will never ask you to send your seed phrase to restore the wallet";
    assert!(f.inspect(warning, Some(G)).violation.is_none());
}

#[test]
fn flags_describe_the_evidence() {
    let f = filter(false);
    let (normalized, flags) = f.features("【福利】私聊 日结 13812345678 t.me/abcdef 😀😀 @someone 微信：abc12345");
    assert!(normalized.starts_with("福利私聊日结"), "{normalized}");
    let want = Flags {
        strong_contact: true,
        weak_contact: true,
        hard_phrase: false,
        cue_places: 2,
        links: 1,
        longest_digit_run: 11,
        emoji: 2,
        id_after_colon: true,
        starts_with_bracket: true,
        mentions: 1,
        phone: true,
        flood: false,
        quoted: false,
    };
    assert_eq!(flags, want);
    let (_, flags) = f.features("今天天气不错");
    assert_eq!(flags, Flags::default());
    let (_, flags) = f.features("别信“刷单返利”这种话");
    assert!(flags.quoted && flags.hard_phrase, "{flags:?}");
}

#[test]
fn text_facts_read_emoji_mentions_ids_after_colons_and_quotes() {
    let rows: &[(&str, usize, usize, bool, usize)] = &[
        ("", 0, 0, false, 0),
        ("时间 12:30 见", 0, 0, false, 0),
        ("Q: 12345", 0, 0, true, 0),
        ("微信：ａｂｃ１２３", 0, 0, true, 0),
        ("☎️ ❤ 🔥🔥 ⭐", 5, 0, false, 0),
        ("@a ＠b", 0, 2, false, 0),
        ("别信“刷单日结”这种话", 0, 0, false, 2),
        ("「代开发票」『包过』", 0, 0, false, 4),
        ("\"free airdrop\" ＂x＂ — ‘no’", 0, 0, false, 4),
    ];
    for &(text, emoji, mentions, id, quote_marks) in rows {
        let got = TextFacts::of(text);
        assert_eq!(
            got,
            TextFacts {
                maybe_foreign: false,
                emoji,
                mentions,
                id_after_colon: id,
                quote_marks,
            },
            "{text:?}"
        );
    }
}

/// The byte scan's shortcut never hides a foreign script: whenever it says "nothing foreign
/// can be here", the per-character count agrees that the text is covered.
#[test]
fn the_foreign_script_shortcut_agrees_with_the_coverage_count() {
    let samples = [
        "今天天气不错，一起吃饭吧。「好」《书》【广告】",
        "加V：abc123 ➕ 🔥🔥 ①③⑧ ｖｘ１２３ ＠someone",
        "Ⓥⓘⓐⓖⓡⓐ 𝐯𝐢𝐚𝐠𝐫𝐚 🅥🅧 café naïve",
        "Привет всем, как дела",
        "こんにちは、元気ですか",
        "안녕하세요 여러분",
        "مرحبا بالجميع",
        "Γειά σου κόσμε",
        "ｶﾀｶﾅ",
        "สวัสดีครับ",
        "ㄅㄆㄇㄈ 注音",
    ];
    for text in samples {
        let facts = TextFacts::of(text);
        if !facts.maybe_foreign {
            assert!(Model::covers(text), "{text:?}");
        }
    }
    for foreign in [
        "Привет всем, как дела",
        "こんにちは、元気ですか",
        "안녕하세요 여러분",
        "مرحبا بالجميع",
        "สวัสดีครับ",
    ] {
        assert!(TextFacts::of(foreign).maybe_foreign, "{foreign:?}");
        assert!(!Model::covers(foreign), "{foreign:?}");
    }
    for styled in ["Ⓥⓘⓐⓖⓡⓐ 免费", "𝐯𝐢𝐚𝐠𝐫𝐚 cheap", "🅥🅧 abc123"] {
        assert!(Model::covers(styled), "styled Latin is Latin: {styled:?}");
    }
}

/// The lessons of a test: `sample` is learned spam (`#7`), and `delta` what labels taught.
struct Taught {
    sample: &'static str,
    delta: Delta,
}

impl report::Lessons for Taught {
    fn with_learned_delta(&self, f: &mut dyn FnMut(Option<&Delta>)) {
        f(Some(&self.delta));
    }
    fn matched(&self, _: &Filter, text: &str) -> Option<report::LearnedMatch> {
        (text == self.sample).then(|| report::LearnedMatch {
            id: "#7".to_owned(),
            text: self.sample.to_owned(),
            similarity: 1.0,
        })
    }
}

#[test]
fn scan_judges_with_the_lessons_it_is_given() {
    let f = filter(true);
    let sample = "周末去爬山吗，天气预报说晴天";
    let chat = "今天天气不错，晚上一起吃饭吧";
    let mut delta = Delta::new();
    f.learn(&mut delta, chat, true).expect("a model is loaded");
    let taught = Taught { sample, delta };
    let input = format!("{sample}\n{chat}\n");
    let scan = |lessons: &dyn report::Lessons| -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let summary = report::scan(&f, input.as_bytes(), &mut out, false, Trust::Trusted, lessons).expect("scans");
        assert_eq!(summary.messages, 2);
        String::from_utf8(out)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    let score = |line: &serde_json::Value| line["score"].as_f64().expect("a score");
    let alone = scan(&());
    let learned = scan(&taught);
    // Nothing learned: both are ordinary chat.
    assert_eq!(
        (&alone[0]["violation"], &alone[1]["violation"]),
        (&false.into(), &false.into())
    );
    assert!(alone[0].get("learned").is_none(), "{:?}", alone[0]);
    // A near-duplicate of learned spam is a violation, for a trusted member too, and names
    // its sample.
    assert_eq!(
        (&learned[0]["violation"], &learned[0]["learned"]),
        (&true.into(), &"#7".into())
    );
    // The score is the model's with the instance's delta (a trusted member's model-only hit
    // goes to review, so the decision stays).
    assert!(score(&learned[1]) > score(&alone[1]) + 0.3, "{learned:?} {alone:?}");
    assert_eq!(learned[1]["violation"], false);
    assert!(learned[1].get("learned").is_none());
}

/// [`TextFacts::of`] as it was before the byte table (issue 12 §6): a `match` on every lead
/// byte, stepping from character to character. The table must change nothing.
fn text_facts_by_match(text: &str) -> TextFacts {
    let mut out = TextFacts::default();
    let b = text.as_bytes();
    let mut i = 0;
    // One step per character (the lead byte says how long it is).
    while let Some(&lead) = b.get(i) {
        let next = || b.get(i + 1).copied().unwrap_or(0);
        i += match lead {
            // ASCII: Latin, digits, punctuation.
            b'@' => {
                out.mentions += 1;
                1
            }
            b':' => {
                out.id_after_colon |= id_follows(&text[i + 1..]);
                1
            }
            b'"' => {
                out.quote_marks += 1;
                1
            }
            0x00..=0x7F => 1,
            // U+0080–U+034F: Latin-1, Latin Extended, IPA, modifiers, combining marks.
            0xC2..=0xCC => 2,
            // Other two-byte characters: Greek, Cyrillic, Hebrew, Arabic ….
            0xC0..=0xDF => {
                out.maybe_foreign = true;
                2
            }
            // U+4000–U+9FFF: Han.
            0xE4..=0xE9 => 3,
            // U+2000–U+2FFF: punctuation, symbols, circled letters, pictographs.
            0xE2 => {
                match next() {
                    0x98..=0x9E | 0xAC..=0xAF => out.emoji += 1,
                    // U+201C, U+201D: “ ”
                    0x80 if matches!(b.get(i + 2), Some(0x9C | 0x9D)) => out.quote_marks += 1,
                    _ => {}
                }
                3
            }
            // U+3000–U+3FFF: CJK punctuation, extension A — but not kana, Bopomofo or
            // Hangul compatibility jamo (U+3040–U+318F: counted letter by letter).
            0xE3 => {
                match next() {
                    0x81..=0x86 => out.maybe_foreign = true,
                    // U+300C–U+300F: 「 」 『 』
                    0x80 if matches!(b.get(i + 2), Some(0x8C..=0x8F)) => out.quote_marks += 1,
                    _ => {}
                }
                3
            }
            // U+F000–U+FFFF: compatibility ideographs, full-width forms — but not the
            // half-width katakana and Hangul (U+FF61–U+FFDC).
            0xEF => {
                match next() {
                    0xBC => match b.get(i + 2) {
                        Some(0xA0) => out.mentions += 1,
                        Some(0x82) => out.quote_marks += 1, // ＂
                        Some(0x9A) => out.id_after_colon |= id_follows(text.get(i + 3..).unwrap_or("")),
                        _ => {}
                    },
                    0xBD => out.maybe_foreign |= b.get(i + 2).is_some_and(|&c| c >= 0xA1),
                    0xBE | 0xBF => out.maybe_foreign = true,
                    _ => {}
                }
                3
            }
            // Other three-byte characters: Indic, Thai, Hangul, Yi, private use ….
            0xE0..=0xEF => {
                out.maybe_foreign = true;
                3
            }
            // U+1F000–U+1FFFF: emoji, enclosed letters; U+1D400–: styled letters;
            // U+20000–: Han extensions.
            0xF0..=0xF7 => {
                match next() {
                    0x9F => out.emoji += 1,
                    0x9D | 0xA0..=0xB3 => {}
                    _ => out.maybe_foreign = true,
                }
                4
            }
            // Continuation bytes (not reached from a lead byte in valid UTF-8).
            _ => 1,
        };
    }
    out
}

proptest::proptest! {
    /// [`TextFacts::of`]'s byte scan reads the same facts as a `match` on every lead byte,
    /// stepping from character to character, on any text.
    #[test]
    fn the_lead_byte_table_reads_the_same_text_facts(text in "\\PC{0,40}") {
        proptest::prop_assert_eq!(TextFacts::of(&text), text_facts_by_match(&text));
    }
}

/// The same on mixed scripts, emoji and the marks the facts count.
#[test]
fn the_lead_byte_table_reads_the_same_text_facts_on_marks_and_scripts() {
    for text in [
        "",
        "时间 12:30 见",
        "Q: 12345",
        "微信：ａｂｃ１２３",
        "☎️ ❤ 🔥🔥 ⭐",
        "@a ＠b",
        "别信“刷单日结”这种话",
        "「代开发票」『包过』",
        "\"free airdrop\" ＂x＂ — ‘no’",
        "Привет мир",
        "こんにちは",
        "한국어",
        "ｶﾀｶﾅ",
        "مرحبا",
        "𝐯𝐢𝐚",
        "𠀀𠀁",
        "é ñ ü",
        "ΑΒΓ",
        "\u{0345}\u{0350}",
        "ไทย",
    ] {
        assert_eq!(TextFacts::of(text), text_facts_by_match(text), "{text:?}");
    }
}

proptest::proptest! {
    /// `Builtin::first_chars` lists every character a match of the QQ and WeChat regexes can
    /// start with (a view without one skips the regex set): on text built from their cue
    /// words, every match starts with one of them.
    #[test]
    fn the_contact_regexes_start_with_their_first_characters(
        text in "[qQ扣企鹅群号码是为加微薇徽威信vVxXwW绿泡eixn0-9a-z _：]{0,24}",
    ) {
        for builtin in [detect::Builtin::QqId, detect::Builtin::WechatId] {
            let (Some(pattern), Some(first)) = (builtin.pattern(), builtin.first_chars()) else {
                continue;
            };
            let re = regex::Regex::new(pattern).expect("the built-in pattern compiles");
            for m in re.find_iter(&text) {
                let c = m.as_str().chars().next().unwrap_or(' ');
                proptest::prop_assert!(first.contains(c), "{builtin:?} matched {:?} in {text:?}", m.as_str());
            }
        }
    }
}

#[test]
fn a_hard_phrase_in_quotation_marks_decides_as_a_cue() {
    let f = filter(false);
    // Bare and in every kind of quotation mark: the phrase alone acts, quoted it is a cue.
    assert!(f.check("那个刷单返利的号", G).is_some());
    for text in [
        "别信“刷单返利”，都是骗子",
        "别信「刷单返利」",
        "别信『刷单返利』",
        "别信‘刷单返利’",
        "don't fall for \"刷单返利\"",
        "don't fall for '刷单返利' ok",
        "别信＂刷单返利＂",
    ] {
        assert!(f.check(text, G).is_none(), "{text}");
    }
    // Still evidence: with a cue of another rule in another place it is a cue combination.
    let j = f.judge("“刷单返利” 私聊", G, Trust::New, None);
    assert_eq!(j.reason, Some(Reason::TwoCues), "{j:?}");
    // Not quoted: an opening mark without its close, a close before it, apostrophes, another
    // line.
    for text in [
        "“刷单返利，私我",
        "他说”刷单返利“",
        "it's 刷单返利 isn't it",
        "“好消息\n刷单返利”",
    ] {
        assert!(f.check(text, G).is_some(), "{text}");
    }
    // A list the model never overrules is not softened by quotes.
    assert!(f.check("他骂我“傻逼”", G).is_some());
}

#[test]
fn a_bare_hard_phrase_is_not_vetoed_but_one_with_words_around_it_is() {
    let f = filter(true);
    for text in ["刷单返利", "刷单返利！", "刷单返利吗", "🔥刷 单 返 利🔥"] {
        let j = f.judge(text, G, Trust::New, None);
        assert_eq!(j.reason, Some(Reason::Firm), "{text}: {j:?}");
        assert!(j.violation.is_some() && !j.vetoed, "{text}: {j:?}");
    }
    // Two words beside the phrase give the model something to read: its veto stands.
    let j = f.judge("别信那些刷单返利的，都是骗子", G, Trust::New, None);
    assert!(j.vetoed && j.violation.is_none(), "{j:?}");
}

/// A filter with one hard phrase and an allow list that clears the words it hides in
/// (开发票 in 开发票务, 刷单 in 刷单词): the model's input of detection round 15.
fn with_allow_list() -> Filter {
    let phrase = |text: &str, file: &str, line: usize| Phrase {
        text: text.to_owned(),
        file: PathBuf::from(file),
        line,
    };
    let spec = FilterSpec {
        lists: vec![WordList {
            rule: "ads".to_owned(),
            phrases: vec![phrase("开发票", "ads.txt", 1), phrase("刷单", "ads.txt", 2)],
            settings: RuleSettings::default(),
        }],
        allow: vec![
            phrase("开发票务", "allow.txt", 1),
            phrase("刷单词", "allow.txt", 2),
            phrase("qq邮箱", "allow.txt", 3),
        ],
        ..FilterSpec::default()
    };
    Filter::build(&spec).expect("builds")
}

/// The model reads no n-gram of a stretch the allow list clears, and none across it: each
/// such stretch is one [`MASK`] in its input (`开发票务平台`: the n-grams of 平台 alone). Only
/// the allowed stretch is masked; the same words elsewhere, or not cleared, are read.
#[test]
fn the_model_does_not_read_what_the_allow_list_clears() {
    use crate::policy::model::features::MASK;
    let f = with_allow_list();
    let m = MASK;
    let rows: &[(&str, String)] = &[
        ("开发票务平台", format!("{m}平台")),
        ("我们在开发票务系统", format!("我们在{m}系统")),
        ("每天刷单词一百个", format!("每天{m}一百个")),
        // spaced or disguised, the allow list still clears it, so it is still masked
        ("开 发 票 务平台", format!("{m}平台")),
        // overlapping and adjacent stretches are one mask each
        ("刷单词开发票务", format!("{m}{m}")),
        // Latin and Chinese in one allowed phrase, beside marked Latin words
        ("QQ邮箱 send it to me", format!("{m}send it to me")),
        // nothing cleared: read as before
        ("代开发票", "代开发票".to_owned()),
        ("刷单返利", "刷单返利".to_owned()),
        ("今天天气不错", "今天天气不错".to_owned()),
    ];
    for (text, want) in rows {
        assert_eq!(&f.features(text).0, want, "{text:?}");
    }
    // The rules still see the text as it is: the allow list clears the hit, nothing more.
    assert!(f.check("开发票务平台", G).is_none());
    assert!(f.check("代开发票", G).is_some());
}

/// A mask breaks the n-grams: none reads it or reaches across it, and scoring (which sums
/// in one pass) adds exactly the features [`for_each_feature`] reports.
#[test]
fn a_mask_starts_the_n_grams_afresh() {
    use crate::policy::model::features::{MASK, Seen, for_each_feature, for_each_gram, gram_bucket, sum_features};
    let text = format!("ab{MASK}cd{MASK}{MASK}e{MASK}");
    let mut grams = Vec::new();
    for_each_gram(&text, |b, s, e| grams.push((b, text[s..e].to_owned())));
    let want: Vec<(u32, String)> = ["a", "b", "ab", "c", "d", "cd", "e"]
        .iter()
        .map(|g| (gram_bucket(g), (*g).to_owned()))
        .collect();
    assert_eq!(grams, want);
    let flags = crate::policy::model::Flags::default();
    let weight = |i: u32| f32::from(u16::try_from(i % 997).unwrap_or(0)) / 1000.0;
    for text in [
        text.as_str(),
        "",
        "\0",
        "a\0",
        "\0a",
        "ab\0",
        "\0ab",
        "a\0b",
        "abc\0abc\0",
        "开发\0平台一二三",
    ] {
        let mut seen = Seen::default();
        let mut by_callback = 0.5f32;
        for_each_feature(&mut seen, text, &flags, |i, _| by_callback += weight(i));
        let summed = sum_features(&mut seen, text, &flags, 0.5, weight);
        assert_eq!(summed.to_bits(), by_callback.to_bits(), "{text:?}");
    }
}

/// What a member says around a quotation: the quoted passages left out, marks and all, when
/// they are pairs on one line with two characters or more between them.
#[test]
fn outside_quotes_leaves_out_the_quoted_passages() {
    let rows: &[(&str, Option<&str>)] = &[
        ("“账户异常 请联系客服”这种短信直接删", Some(" 这种短信直接删")),
        ("有人私聊我「代写论文」『包过』 这群里", Some("有人私聊我   这群里")),
        (
            "he said \"guaranteed profit\" lol, and ＂dm me＂ too",
            Some("he said   lol, and   too"),
        ),
        // Too short to be a passage, a mark without its close, a close on the next line,
        // single quotes and apostrophes: nothing is left out.
        ("备注“福”进群", None),
        ("他说“日结兼职 然后就没了", None),
        ("“第一行\n第二行”", None),
        ("it's 'fine' they said", None),
        ("今天天气不错", None),
        // Only the passage that closes on its line; the rest stays.
        ("“a\n“日结兼职”吗", Some("“a\n 吗")),
    ];
    for &(text, want) in rows {
        assert_eq!(outside_quotes(text).as_deref(), want, "{text:?}");
    }
}

/// Where the model would act on its own, the score of a message that quotes something is the
/// lower of the message's and that of the member's own words around the quotation, when four
/// or more normalized characters are left: a member quoting an ad to warn about it is not read
/// as the ad.
#[test]
fn a_quoted_ad_is_scored_by_the_words_around_it() {
    let f = filter(true);
    let ad = "领福利进群，名额有限，先到先得";
    let score = |text: &str| f.judge(text, G, Trust::New, None).score.expect("scored");
    let (whole, own) = (score(&format!("{ad} 大家千万别信")), score(" 大家千万别信"));
    assert!(whole >= 0.8 && own < 0.3, "{whole} {own}");
    // Quoted: the lower score, and nothing acts.
    let quoted = format!("“{ad}” 大家千万别信");
    let j = f.judge(&quoted, G, Trust::New, None);
    assert_eq!((j.score, j.own_words), (Some(own), Some(own)), "{j:?}");
    assert!(j.violation.is_none() && !j.review, "{j:?}");
    // A trusted member's goes to no review list either; `filter explain` shows both scores.
    let j = f.judge(&quoted, G, Trust::Trusted, None);
    assert!(j.violation.is_none() && !j.review && j.own_words == Some(own), "{j:?}");
    let report = f.inspect(&quoted, None);
    assert_eq!(report.judgement.own_words, Some(own));
    assert!(report.explanation.expect("explained").score >= 0.8);
    // All quotation, or too little outside it: the message's own score, and the ad acts.
    for text in [format!("“{ad}”"), format!("「{ad}」看看")] {
        let j = f.judge(&text, G, Trust::New, None);
        assert!(
            j.score.expect("scored") >= 0.8 && j.own_words.is_none(),
            "{text}: {j:?}"
        );
        assert_eq!(j.reason, Some(Reason::Model), "{text}");
    }
    // An ad that quotes a code word keeps its own score (the words around it are the ad).
    let j = f.judge("领福利进群，名额有限，备注“福利”先到先得", G, Trust::New, None);
    assert_eq!(j.reason, Some(Reason::Model), "{j:?}");
    // A soft hit: its veto reads the whole message, quoted or not (the rules saw the pair).
    let j = f.judge(&format!("“{ad} 日结 私聊” 大家千万别信"), G, Trust::New, None);
    assert!(j.own_words.is_none() && j.score.expect("scored") >= 0.3, "{j:?}");
    assert_eq!(j.reason, Some(Reason::TwoCues), "{j:?}");
}
