//! The filter's specification: table-driven rows over the adversarial dev set's dictionary
//! (`tests/fixtures/filter-dict.txt`, loaded through the real rules-folder loader), the dev
//! set's bar, rows over the shipped `rules/` folder (the contact patterns and cue categories
//! of issue 12 §1), rows over a small folder built for the combining rules (cues count by
//! place; a bare phone number or link with any cue), and property tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::Rules;
use crate::domain::event::GroupId;
use crate::policy::filter::*;

const GROUP: GroupId = GroupId::qq(10_000);

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes `filter-dict.txt` as a rules folder: one word list per category, `rules.toml`
/// with each category's mode (`cue`/`hard`) and `match = "word"` when the category has
/// `*-word` entries (the word rule only ever affects Latin hits), `allow.txt` from the allow
/// entries. `pattern` entries are the built-in detectors; their names are checked to exist.
pub(crate) fn write_dev_rules(dir: &Path) {
    let mut lists: BTreeMap<String, (Vec<String>, bool, bool)> = BTreeMap::new();
    let mut allow = Vec::new();
    for line in fixture("filter-dict.txt").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let (term, category, mode) = (cols[0], cols[1], cols[2]);
        match mode {
            "allow" => allow.push(term.to_owned()),
            "pattern" => {
                let name = term.trim_matches(['{', '}']).to_lowercase();
                assert!(detect::Builtin::from_name(&name).is_some(), "no detector for {term}");
            }
            _ => {
                let entry = lists.entry(category.to_owned()).or_default();
                entry.0.push(term.to_owned());
                entry.1 |= mode.starts_with("cue");
                entry.2 |= mode.ends_with("-word");
            }
        }
    }
    let mut toml = String::new();
    for (category, (terms, cue, word)) in &lists {
        std::fs::write(dir.join(format!("{category}.txt")), terms.join("\n")).expect("write list");
        toml.push_str(&format!(
            "[rules.{category}]\nmode = \"{}\"\nmatch = \"{}\"\n\n",
            if *cue { "cue" } else { "hard" },
            if *word { "word" } else { "substring" }
        ));
    }
    std::fs::write(dir.join("rules.toml"), toml).expect("write toml");
    std::fs::write(dir.join("allow.txt"), allow.join("\n")).expect("write allow");
}

/// The dev dictionary as a filter, built once.
fn dev() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        write_dev_rules(dir.path());
        Rules::load(dir.path()).expect("dev rules load").filter
    })
}

/// Undoes the TSV's escapes: `\t`, `\n`, `\r`, `\\`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[test]
fn dev_set_meets_its_bar() {
    let tsv = fixture("filter-dev.tsv");
    let (mut must, mut caught, mut clean, mut flagged) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (category, text, note) = (cols[0], unescape(cols[1]), cols[3]);
        let outcome = note.split(':').next().unwrap_or("");
        let verdict = dev().inspect(&text, Some(GROUP)).violation;
        match outcome {
            "MUST_CATCH" => {
                must += 1;
                // Flagged, and by a non-cue hit or a cue combination: never by nothing.
                if verdict.is_some() {
                    caught += 1;
                } else {
                    misses.push(format!("missed  [{category}] {text:?}"));
                }
            }
            "MUST_NOT_FLAG" | "SCORE_ONLY" => {
                clean += 1;
                if let Some((v, reason)) = verdict {
                    flagged += 1;
                    misses.push(format!("flagged [{category}] {text:?}: rule {} ({reason})", v.rule));
                }
            }
            _ => {}
        }
    }
    for m in &misses {
        println!("{m}");
    }
    println!("MUST_CATCH caught {caught}/{must}; MUST_NOT_FLAG+SCORE_ONLY flagged {flagged}/{clean}");
    assert!(must >= 60 && clean >= 40, "the fixture is the whole dev half");
    assert!(caught * 100 >= must * 95, "caught {caught}/{must} (< 95 %)");
    assert!(flagged <= 1, "flagged {flagged} clean rows");
}

/// What a row expects: a violation of `rule` whose hits quote `quote` from the original text,
/// or nothing.
#[derive(Debug)]
enum Want {
    /// A violation decided by `rule`; some hit quotes exactly `quote`.
    Flag(&'static str, &'static str),
    /// No violation.
    Clean,
}
use Want::{Clean, Flag};

/// One row per evasion technique and false-positive trap, over the dev dictionary. Groups:
/// evasions (the filter must see through them), traps (it must not fire), REGRESSION (bugs
/// once found, kept fixed).
const ROWS: &[(&str, &str, Want)] = &[
    // --- plain ---
    (
        "plain hard phrase",
        "需要代开发票的私聊我",
        Flag("ad_fraud", "代开发票"),
    ),
    ("case-insensitive", "出售K粉", Flag("drugs", "K粉")),
    ("lower-case Latin in a Chinese phrase", "出售k粉", Flag("drugs", "k粉")),
    // --- separators ---
    ("spaces", "代 开 发 票", Flag("ad_fraud", "代 开 发 票")),
    ("dots", "代.开.发.票", Flag("ad_fraud", "代.开.发.票")),
    ("hyphens in Latin", "v-i-a-g-r-a", Flag("en_spam", "v-i-a-g-r-a")),
    ("CJK brackets", "博【彩】官网", Flag("gambling", "博【彩")),
    ("tab and CRLF", "冰\r\n毒", Flag("drugs", "冰\r\n毒")),
    ("ideographic space", "网　赚", Flag("ad_fraud", "网　赚")),
    ("emoji", "代🔥开🔥发🔥票", Flag("ad_fraud", "代🔥开🔥发🔥票")),
    ("spaced single letters", "f u c k you", Flag("en_profanity", "f u c k")),
    // --- invisible ---
    (
        "zero-width space",
        "代\u{200B}开\u{200B}发\u{200B}票",
        Flag("ad_fraud", "代\u{200B}开\u{200B}发\u{200B}票"),
    ),
    ("soft hyphen", "vi\u{00AD}agra", Flag("en_spam", "vi\u{00AD}agra")),
    (
        "zalgo",
        "f\u{0489}u\u{0489}c\u{0489}k\u{0489}",
        Flag("en_profanity", "f\u{0489}u\u{0489}c\u{0489}k"),
    ),
    // --- width, case, style ---
    ("full-width", "ｃａｓｉｎｏ", Flag("en_spam", "ｃａｓｉｎｏ")),
    ("alternating case", "ViAgRa 50mg", Flag("en_spam", "ViAgRa")),
    ("bold math letters", "𝐯𝐢𝐚𝐠𝐫𝐚", Flag("en_spam", "𝐯𝐢𝐚𝐠𝐫𝐚")),
    ("circled letters", "Ⓥⓘⓐⓖⓡⓐ", Flag("en_spam", "Ⓥⓘⓐⓖⓡⓐ")),
    // --- traditional ---
    ("traditional", "代開發票，量大優惠", Flag("ad_fraud", "代開發票")),
    ("traditional 2", "兼職日結，無需經驗", Flag("ad_fraud", "兼職日結")),
    // --- homoglyphs ---
    ("Cyrillic", "vіаgrа", Flag("en_spam", "vіаgrа")),
    ("Cyrillic sex", "ѕех chat", Flag("en_profanity", "ѕех")),
    ("Greek lunate sigma", "ϲiаlis", Flag("en_spam", "ϲiаlis")),
    // --- repeats ---
    ("stretched vowel", "viiiiagra", Flag("en_spam", "viiiiagra")),
    ("stretched consonant", "assssss", Flag("en_profanity", "assssss")),
    // --- contact patterns ---
    (
        "WeChat id after a cue",
        "加微信daikai888",
        Flag("wechat_id", "加微信daikai888"),
    ),
    (
        "WeChat id after zero-width cue",
        "加\u{200B}微\u{200B}信\u{200B}daikai888",
        Flag("wechat_id", "加\u{200B}微\u{200B}信\u{200B}daikai888"),
    ),
    (
        "full-width cue and id",
        "加ｖｘ：ａｂｃ１２３４５６",
        Flag("wechat_id", "加ｖｘ：ａｂｃ１２３４５６"),
    ),
    (
        "negative squared letters",
        "加🅥🅧 abc12345",
        Flag("wechat_id", "加🅥🅧 abc12345"),
    ),
    (
        "circled phone after cue",
        "加微信①③⑧①②③④⑤⑥⑦⑧",
        Flag("wechat_id", "①③⑧①②③④⑤⑥⑦⑧"),
    ),
    ("dingbat digits", "薇信❶❸❾❷❹❺❻❼❽❾❶", Flag("wechat_id", "❶❸❾❷❹❺❻❼❽❾❶")),
    (
        "Chinese numerals",
        "加V一三八一二三四五六七八",
        Flag("wechat_id", "一三八一二三四五六七八"),
    ),
    (
        "financial numerals",
        "扣扣壹贰叁肆伍陆柒捌玖",
        Flag("qq_id", "扣扣壹贰叁肆伍陆柒捌玖"),
    ),
    (
        "两 and 零",
        "威信号码是一五零两两三三四四五五",
        Flag("wechat_id", "威信号码是一五零两两三三四四五五"),
    ),
    (
        "circled ideographs",
        "群号㊀㊁㊂㊃㊄㊅",
        Flag("qq_id", "群号㊀㊁㊂㊃㊄㊅"),
    ),
    (
        "wxid",
        "微信号：wxid_abc123456",
        Flag("wechat_id", "微信号：wxid_abc123456"),
    ),
    (
        "telegram cue + handle",
        "飞机 @usdt_otc_888 出金",
        Flag("contact_cue", "@usdt_otc_888"),
    ),
    ("invite link", "t.me/joinchat/AbCdEf123", Flag("tg_link", "t.me/j")),
    (
        "discord invite",
        "discord.gg/abcd1234 free nitro",
        Flag("invite_link", "discord.gg/a"),
    ),
    (
        "defanged URL",
        "hxxp://spam-site[.]com",
        Flag("url", "hxxp://spam-site[.]com"),
    ),
    ("spaced dots", "www . fuli . vip", Flag("url", "www . fuli . vip")),
    ("点com", "fuli点com 福利", Flag("url", "fuli点com")),
    // --- contact patterns of issue 12 §1 ---
    (
        "➕V before an id",
        "需要的➕V abc123 私",
        Flag("wechat_id", "➕V abc123"),
    ),
    ("+v glued to its id", "+vabc12345", Flag("wechat_id", "+vabc12345")),
    (
        "full-width ＋Ｖ： and an id without a digit",
        "＋Ｖ：ｌｏａｎ＿ｎｅｗ",
        Flag("wechat_id", "＋Ｖ：ｌｏａｎ＿ｎｅｗ"),
    ),
    (
        "bare V： before an id",
        "详聊V：zxxf-pro",
        Flag("wechat_id", "V：zxxf-pro"),
    ),
    (
        "bare v: with spaces",
        "v : abc123456",
        Flag("wechat_id", "v : abc123456"),
    ),
    (
        "bare V： and a six-character id counting its underscore",
        "清仓十块三片，V：ab_cd5",
        Flag("wechat_id", "V：ab_cd5"),
    ),
    (
        "bare V： and five characters with the underscore",
        "版本V：a_b12",
        Clean,
    ),
    (
        "加V： and an id without a digit",
        "加V：dk_sudai",
        Flag("wechat_id", "加V：dk_sudai"),
    ),
    (
        "single 微 before an id",
        "微❤ tx_kuaisu",
        Flag("wechat_id", "微❤ tx_kuaisu"),
    ),
    (
        "single 薇 with a colon",
        "薇：abc123456",
        Flag("wechat_id", "薇：abc123456"),
    ),
    (
        "single 威 before an id",
        "威 abc12345 详谈",
        Flag("wechat_id", "威 abc12345"),
    ),
    ("vx before an id", "vx abc12345", Flag("wechat_id", "vx abc12345")),
    (
        "single 徽 before an id",
        "徽 fapiao_sd",
        Flag("wechat_id", "徽 fapiao_sd"),
    ),
    (
        "single 徽 after a contact verb",
        "面膜买一送一，聯絡徽 hufu_gc",
        Flag("wechat_id", "徽 hufu_gc"),
    ),
    (
        "single 薇 after 联系, with a colon",
        "详情联系薇：abc123456",
        Flag("wechat_id", "薇：abc123456"),
    ),
    (
        "➕Q before a number",
        "需要的➕Q 2098765431",
        Flag("qq_id", "➕Q 2098765431"),
    ),
    (
        "full-width Ｑ：",
        "报销一条龙，Ｑ：２０９８７６５４３",
        Flag("qq_id", "Ｑ：２０９８７６５４３"),
    ),
    (
        "群： before a number",
        "大家加新群：389627510",
        Flag("qq_id", "群：389627510"),
    ),
    (
        "an id without a digit after 微信号：",
        "微信号：zhangsanfeng",
        Flag("wechat_id", "微信号：zhangsanfeng"),
    ),
    (
        "an id without a digit joined by _",
        "微信 daikai_vip 详谈",
        Flag("wechat_id", "微信 daikai_vip"),
    ),
    ("link with a spaced 点", "fuli 点 cc 福利", Flag("url", "fuli 点 cc")),
    (
        "link with 点 and a space after",
        "fuli点 vip",
        Flag("url", "fuli点 vip"),
    ),
    ("link with a bracketed dot", "fuli[.]cc", Flag("url", "fuli[.]cc")),
    (
        "flood with a cue",
        "加群领福利加群领福利加群领福利加群领福利加群领福利",
        Flag("contact_cue", "加群"),
    ),
    ("cues of two rules", "菠菜 私聊", Flag("gambling_cue", "私聊")),
    // --- traps: must stay clean ---
    ("allow list: 出口交易", "今年出口交易额增长了百分之五", Clean),
    ("allow list: 开发票务", "公司在开发票务系统", Clean),
    ("allow list: 大麻哈鱼", "大麻哈鱼很好吃", Clean),
    ("cue alone: 威信", "他在群里很有威信", Clean),
    ("cue alone: 企鹅号称", "南极的企鹅号称不怕冷", Clean),
    ("cue alone: 跑分", "这手机安兔兔跑分多少", Clean),
    (
        "two cues of one rule",
        "Work from home and earn $500 daily, click here",
        Clean,
    ),
    ("bare phone number", "有需要的联系13812345678", Clean),
    ("order number", "订单号 20240521000123456", Clean),
    ("date and time", "2024年12月31日 23:59:59", Clean),
    ("list markers", "①打开设置②点击关于本机③查看版本号", Clean),
    ("ranking numerals", "第一二三名分别是", Clean),
    ("class ⊅ ass", "Our class starts at nine", Clean),
    ("Scunthorpe", "Scunthorpe United won", Clean),
    ("analysis ⊅ anal", "Data analysis report", Clean),
    ("specialist ⊅ cialis", "Ask a specialist", Clean),
    ("Dickens ⊅ dick", "Charles Dickens novels", Clean),
    ("as sure ⊅ ass", "as sure as can be", Clean),
    ("vxlan ⊅ vx", "vxlan 隧道配置", Clean),
    ("accented Latin", "café au lait", Clean),
    ("innocent repetition", "谢谢谢谢大家", Clean),
    ("URL shortener without a cue", "bit.ly/3xYzAbC 领取福利", Clean),
    (
        "a sentence ending in a TLD-like word",
        "I went to the site. Me too",
        Clean,
    ),
    ("WeChat cue then an English word", "我发你微信了 thanks", Clean),
    (
        "an English word after a WeChat cue is no id",
        "微信 thanks everyone",
        Clean,
    ),
    ("v glued to a word before a colon", "dev: release123 today", Clean),
    ("a V without plus or colon", "V abc123456", Clean),
    ("a Q without plus or colon", "Q 12345678 is a model", Clean),
    ("群 before a count", "群里12345人", Clean),
    ("a letter q in a word before a colon", "faq: 123456", Clean),
    ("稍微 is not the cue 微", "稍微 update123 一下", Clean),
    ("权威 is not the cue 威", "权威abc12345发布", Clean),
    ("蔷薇 is not the cue 薇", "蔷薇 rose2024 开了", Clean),
    ("a time with 点", "下午3 点 30 开会", Clean),
    ("点 between words is no link", "app 点 开 就行", Clean),
    // --- REGRESSION ---
    (
        "REGRESSION: word rule still catches glued digits",
        "sex123",
        Flag("en_profanity", "sex"),
    ),
    (
        "REGRESSION: an allow entry covering part of a hit does nothing",
        "相约炮台见",
        Clean,
    ),
    ("REGRESSION: avx512 is not the cue vx", "avx512 指令集 加速", Clean),
    (
        "REGRESSION: a WeChat id ends at whitespace",
        "微信 abc123 thanks",
        Flag("wechat_id", "微信 abc123"),
    ),
];

#[test]
fn a_message_of_thousands_of_hits_is_checked_in_linear_time() {
    // 20,000 overlapping hits (加微信, 微信, the WeChat detector): mapping each back to the
    // original must not rescan the message, or this takes minutes instead of milliseconds.
    let text = "加 微 信 abc123，".repeat(20_000);
    let report = dev().inspect(&text, Some(GROUP));
    assert!(report.violation.is_some());
    assert!(report.hits.len() >= 20_000, "{} hits", report.hits.len());
    let last = report.hits.last().expect("hits");
    assert!(text[last.start..last.end].starts_with('加') || text[last.start..last.end].starts_with('微'));
}

#[test]
fn evasions_and_traps_table() {
    let mut failures = Vec::new();
    for (name, text, want) in ROWS {
        let report = dev().inspect(text, Some(GROUP));
        let ok = match (want, &report.violation) {
            (Clean, None) => true,
            (Flag(rule, quote), Some((v, _))) => {
                &*v.rule == *rule && v.hits.iter().any(|h| &text[h.start..h.end] == *quote)
            }
            _ => false,
        };
        if !ok {
            let hits: Vec<String> = report
                .hits
                .iter()
                .map(|h| format!("{}:{:?}={:?}", h.rule, h.kind, &text[h.start..h.end]))
                .collect();
            failures.push(format!(
                "{name}: {text:?} want {want:?}, got {:?} hits {hits:?} (normalized {:?})",
                report.violation.as_ref().map(|(v, r)| (v.rule.to_string(), *r)),
                report.normalized
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Checks `rows` against `filter`'s rules (the model takes no part: `inspect().violation`
/// is the rules' decision).
fn check_rows(filter: &Filter, rows: &[(&str, &str, Want)]) {
    let mut failures = Vec::new();
    for (name, text, want) in rows {
        let report = filter.inspect(text, Some(GROUP));
        let ok = match (want, &report.violation) {
            (Clean, None) => true,
            (Flag(rule, quote), Some((v, _))) => {
                &*v.rule == *rule && v.hits.iter().any(|h| &text[h.start..h.end] == *quote)
            }
            _ => false,
        };
        if !ok {
            let hits: Vec<String> = report
                .hits
                .iter()
                .map(|h| format!("{}:{:?}={:?}", h.rule, h.kind, &text[h.start..h.end]))
                .collect();
            failures.push(format!(
                "{name}: {text:?} want {want:?}, got {:?} hits {hits:?} (normalized {:?})",
                report.violation.as_ref().map(|(v, r)| (v.rule.to_string(), *r)),
                report.normalized
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The shipped `rules/` folder as a filter, built once.
fn shipped() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        Rules::load(&dir).expect("the shipped rules load").filter
    })
}

/// The shipped defaults: pinyin contacts and the cue categories of issue 12 §1, each with the
/// trap it must not fall into.
const SHIPPED_ROWS: &[(&str, &str, Want)] = &[
    // --- pinyin ---
    (
        "pinyin wei xin",
        "wei xin abc12345",
        Flag("wechat_id", "wei xin abc12345"),
    ),
    ("pinyin kou kou", "kou kou 12345678", Flag("qq_id", "kou kou 12345678")),
    ("pinyin jia wo", "jia wo weixin 领福利", Flag("ads", "jia wo weixin")),
    ("pinyin jia v", "jia v abc12345", Flag("ads", "jia v")),
    ("weixin glued in a word", "weixinpay is a brand", Clean),
    // --- loans ---
    (
        "loans: a cue with a phone number",
        "网贷 13812345678",
        Flag("loans", "网贷"),
    ),
    ("loans: a hard phrase", "不看征信，当天下款", Flag("scams", "不看征信")),
    ("loans: cues of one list", "征信不好能下款吗", Clean),
    ("loans: talk of 征信", "房贷要查征信的", Clean),
    // --- VPN ---
    (
        "vpn: a cue with a contact cue",
        "稳定梯子 私聊",
        Flag("ads", "稳定梯子"),
    ),
    ("vpn: two lists", "翻墙 私聊", Flag("vpn", "翻墙")),
    ("vpn: a cue with a link", "机场节点 fuli.vip", Flag("vpn", "机场节点")),
    ("vpn: a ladder", "家里的梯子借我用一下", Clean),
    // --- exam cheating ---
    ("exam: 代考", "四六级代考", Flag("ads", "代考")),
    ("exam: answers and a contact cue", "答案 私聊", Flag("exam", "答案")),
    ("exam: answers in a study group", "第三题答案是C吧", Clean),
    // --- fake engagement ---
    ("engagement: 刷粉 and 加群", "刷粉 加群", Flag("engagement", "刷粉")),
    ("engagement: 点赞员", "招点赞员，一单五块", Flag("scams", "点赞员")),
    ("engagement: a like", "给我点赞哈哈", Clean),
    // --- fake official notices ---
    (
        "official: 客服 with a phone number",
        "客服 13812345678",
        Flag("official", "客服"),
    ),
    ("official: customer service talk", "找客服退款了", Clean),
    ("official: a frozen account, one list", "账户异常被冻结了怎么办", Clean),
    // --- ghostwriting ---
    ("ghostwriting: 论文 and 私信", "论文 私信", Flag("ghostwriting", "论文")),
    ("ghostwriting: 代写论文", "代写论文，包过", Flag("ads", "代写论文")),
    ("ghostwriting: a thesis", "我的论文查重过了", Clean),
    // --- phrases added with the composed corpus ---
    ("gambling: 上下分", "24小时上 下 分，秒到账", Flag("scams", "上 下 分")),
    (
        "gambling: 回血上岸 in traditional",
        "帶你回血上岸",
        Flag("scams", "回血上岸"),
    ),
    ("money game: 资金盘", "新资金盘刚开", Flag("scams", "资金盘")),
    ("adult: 全套服务", "会所新到技师，全套服务", Flag("adult", "全套服务")),
    (
        "english: forex signals",
        "Free FOREX signals every day",
        Flag("english", "FOREX signals"),
    ),
    (
        "english: recover your crypto",
        "We recover your crypto in 24h",
        Flag("english", "recover your crypto"),
    ),
    ("ads: 一件代发", "厂家货源，一件代发", Flag("ads", "一件代发")),
    ("ads: 进群领红包", "进 群 领 红 包", Flag("ads", "进 群 领 红 包")),
    // --- 裙 for 群 (round 4) ---
    (
        "裙号 before a number is a QQ group",
        "裙号 58273619 进来领红包",
        Flag("qq_id", "裙号 58273619"),
    ),
    ("加裙 with a colon", "加裙：738294516", Flag("qq_id", "加裙：738294516")),
    ("a skirt is no group", "这条裙子真好看，裙子号码是M", Clean),
    // --- English contact and money cues (round 4) ---
    (
        "english: earn and pm me, two lists",
        "Earn $300 a day from home, pm me",
        Flag("money", "Earn"),
    ),
    (
        "english: cash out and link in bio",
        "I cashed out again today, link in bio",
        Flag("money", "cashed out"),
    ),
    (
        "english: pm me alone is talk",
        "pm me the address of the restaurant",
        Clean,
    ),
    (
        "english: learn is not earn",
        "I learn Rust on weekends, msg me for the notes",
        Clean,
    ),
    ("english: earn alone is talk", "I earn less than my sister does", Clean),
    ("上下 in ordinary talk is no phrase", "上下班高峰分流", Clean),
    ("代刷 is not inside 代码", "代码写完了 刷新一下", Clean),
    // --- abuse and contraband (round 5; both lists have model_veto = false) ---
    ("abuse: spaced insult", "你就是个 煞 笔", Flag("abuse", "煞 笔")),
    ("abuse: pinyin shabi", "楼上shabi吧", Flag("abuse", "shabi")),
    (
        "abuse: fuck off, spaced",
        "just f u c k off already",
        Flag("abuse", "f u c k off"),
    ),
    ("abuse: sb inside a word", "usb线又坏了", Clean),
    (
        "abuse: a swear about one's day is not an insult",
        "他妈的今天又加班",
        Clean,
    ),
    (
        "drugs: split by a line break",
        "有海洛\r\n因要的私",
        Flag("drugs", "海洛\r\n因"),
    ),
    ("drugs: full-width letter", "低价出Ｋ粉", Flag("drugs", "Ｋ粉")),
    ("drugs: a fish", "大麻哈鱼真好吃", Clean),
    ("drugs: Canada and spicy soup", "加拿大麻辣烫店开业了", Clean),
    ("gambling: pinyin wang du", "wang du ping tai", Flag("scams", "wang du")),
    // --- leetspeak: digits and symbols for letters ---
    (
        "leet: 3 and 0",
        "fr33 crypt0 for everyone",
        Flag("english", "fr33 crypt0"),
    ),
    ("leet: 1 for i", "v1agra 50mg", Flag("english", "v1agra")),
    ("leet: $ for s", "ca$ino bonus", Flag("english", "ca$ino")),
    ("leet: a version number is a number", "升级到 win10 之后电脑卡了", Clean),
    ("leet: a price is a price", "this costs $500 per month", Clean),
    // --- written backwards ---
    ("backwards: a hard phrase", "票发开代", Flag("ads", "票发开代")),
    ("backwards: a Latin hard phrase", "argaiv", Flag("english", "argaiv")),
    ("backwards: a two-character word is a word", "这道题把我逼傻了", Clean),
    // --- a two-character insult backwards, aimed at someone (round 13) ---
    ("backwards pair: an insult at you", "你逼傻", Flag("abuse", "逼傻")),
    ("backwards pair: with a particle", "人贱你吧", Flag("abuse", "人贱")),
    (
        "backwards pair: a spelling of the insult",
        "笔煞你",
        Flag("abuse", "笔煞"),
    ),
    (
        "backwards pair: a contraband word at you",
        "你毒冰",
        Flag("drugs", "毒冰"),
    ),
    ("backwards pair: no one addressed", "逼傻了", Clean),
    ("backwards pair: more words around it", "这题能逼傻你", Clean),
    ("backwards pair: a colour", "粉白色的裙子你喜欢吗", Clean),
    ("backwards pair: only lists with backwards_pairs", "你单刷", Clean),
    // --- split characters (拆字) ---
    ("split characters: 纟勺 火包", "纟勺火包吗", Flag("adult", "纟勺火包")),
    ("split characters: 木仓", "仿真木仓出售", Flag("drugs", "仿真木仓")),
    // --- profanity, only when disguised ---
    ("disguised profanity: zalgo", "f҉u҉c҉k҉", Flag("profanity", "f҉u҉c҉k")),
    (
        "disguised profanity: stretched",
        "assssss",
        Flag("profanity", "assssss"),
    ),
    ("disguised profanity: leet", "@ss", Flag("profanity", "@ss")),
    (
        "profanity written plainly is chat",
        "fuck, I missed the bus again",
        Clean,
    ),
    ("profanity inside words", "the class passed the assessment", Clean),
    // --- case alternating inside a word is a disguise (round 13) ---
    ("alternating case", "FuCk this", Flag("profanity", "FuCk")),
    ("alternating case from lower", "wanna sEx", Flag("profanity", "sEx")),
    ("a word written in capitals is plain", "FUCK this traffic", Clean),
    ("a capitalized word is plain", "Sex Education is a good show", Clean),
    // --- four-letter words of a disguised list, backwards (round 13) ---
    (
        "backwards: a four-letter disguised word",
        "kcuf off",
        Flag("profanity", "kcuf"),
    ),
    ("backwards: another", "free nrop here", Flag("profanity", "nrop")),
    ("backwards: three letters stay out", "xes", Clean),
    (
        "English adult ad in Cyrillic letters",
        "ѕех chat",
        Flag("english", "ѕех chat"),
    ),
    // --- an emoji in place of a letter inside a Latin word ---
    ("emoji for a letter: f🍑ck", "f🍑ck", Flag("profanity", "f🍑ck")),
    (
        "emoji for a letter, in a sentence",
        "what the f🔥ck is this",
        Flag("profanity", "f🔥ck"),
    ),
    ("emoji for a letter: sh💩t", "sh💩t happens", Flag("profanity", "sh💩t")),
    ("emoji with a skin tone", "b👍🏽tch please", Flag("profanity", "b👍🏽tch")),
    (
        "emoji for a letter in an ad word",
        "cheap v🍆agra here",
        Flag("english", "v🍆agra"),
    ),
    (
        "emoji for a letter: c🎰sino",
        "best c🎰sino bonus",
        Flag("english", "c🎰sino"),
    ),
    (
        "an emoji between words is no letter",
        "I had a 🍑 for lunch, so good",
        Clean,
    ),
    ("an emoji after a word is no letter", "good luck🍀 on the exam", Clean),
    ("a spaced emoji is no letter", "sh 💩 t", Clean),
    ("an emoji glued inside ordinary words", "sit😀in the sun", Clean),
    // --- contact emoji ---
    ("penguin emoji for QQ", "🐧123456789", Flag("qq_id", "🐧123456789")),
    ("a penguin at the zoo", "今天去动物园看了🐧好可爱", Clean),
    // --- pinyin of the hard phrases (round 13, pinyin.txt), glued or spaced ---
    ("pinyin of an adult phrase", "yue pao ma", Flag("pinyin", "yue pao")),
    ("pinyin glued to Chinese", "今晚luoliao吗", Flag("pinyin", "luoliao")),
    ("pinyin of a lottery", "liu he cai 包中", Flag("pinyin", "liu he cai")),
    ("pinyin of an insult", "cao ni ma", Flag("pinyin", "cao ni ma")),
    ("pinyin of a drug", "hai luo yin 有货", Flag("pinyin", "hai luo yin")),
    ("pinyin of a job scam", "shua dan 一单一结", Flag("pinyin", "shua dan")),
    ("pinyin that is an everyday word is not listed", "bing du 好可怕", Clean),
    ("pinyin of an auntie is no drug", "da ma 在跳广场舞", Clean),
    ("pinyin inside a longer Latin word", "买了件tangzhuang", Clean),
    // --- characters split into components (round 13) ---
    ("split 冰 in a drug", "冫水毒出售", Flag("drugs", "冫水毒")),
    ("split 傻 in an insult", "你个亻叟逼", Flag("abuse", "亻叟逼")),
    ("split 聊 in an adult phrase", "衤果耳卯", Flag("adult", "衤果耳卯")),
    ("split 彩 in a lottery", "六合采彡", Flag("scams", "六合采彡")),
    // --- prescription drugs without a product name (round 13) ---
    (
        "pharma: the missing prescription is the pitch",
        "💉 cheap, no prescription needed",
        Flag("english", "no prescription"),
    ),
    (
        "pharma: discreet shipping",
        "meds shipped worldwide, discreet shipping",
        Flag("english", "discreet shipping"),
    ),
    (
        "pharma: a plural is another word",
        "no prescriptions were filled today",
        Clean,
    ),
    (
        "pharma: talk of a prescription",
        "the pharmacist said I need a prescription for it",
        Clean,
    ),
    // --- allow-list neighbours (round 13) ---
    ("a fort is no date", "周末相约炮台山看日出", Clean),
    ("a whitefly is no drug", "番茄叶子上全是白粉虱", Clean),
    // --- a claimed role with a request to add, go private, scan or pay (round 17) ---
    (
        "a courier asking to be added",
        "我是快递员，你的件地址不全，加我一下",
        Flag("roles", "快递员"),
    ),
    (
        "a head teacher asking to be added",
        "各位家长，我是新来的班主任，请大家加我好友",
        Flag("roles", "班主任"),
    ),
    (
        "a school office asking to scan and pay",
        "学校财务处通知：资料费请扫码缴费",
        Flag("roles", "财务处"),
    ),
    (
        "an official asking to move to private",
        "我是派出所民警，请私下联系我配合调查",
        Flag("roles", "派出所"),
    ),
    ("a real courier, a role alone", "快递员说下午三点到，家里有人吗", Clean),
    ("a real head teacher, a role alone", "班主任在群里发了下周的课表", Clean),
    ("a friend's request alone", "以后加我一起打球", Clean),
    ("paying, a request alone", "付款的时候记得备注名字", Clean),
    // --- `requests` and `contact` are alike: one ask said twice is no pair (round 18) ---
    (
        "a member's sale: go private or add me",
        "闲置台灯出，要的私聊或者加我",
        Clean,
    ),
    ("lost and found: DM or add me", "捡到一把伞，失主私信我或者加我", Clean),
    (
        "a request with a role still pairs",
        "我是驿站的，你的件破损了，私聊加我赔钱",
        Flag("roles", "驿站的"),
    ),
    (
        "a contact cue with another cue list still pairs",
        "出金快 飞机私聊",
        Flag("money", "出金"),
    ),
    // --- the wallet "support" pitch: a request that opens a sentence or clause (round 28) ---
    (
        "seed phrase: the support pitch",
        "Customer support here: please send us your seed phrase so we can fix the sync issue",
        Flag("seed_phrase_request", "please send us your seed phrase"),
    ),
    (
        "seed phrase: after a comma",
        "Your wallet is flagged, send your recovery phrase to restore access",
        Flag("seed_phrase_request", "send your recovery phrase"),
    ),
    (
        "seed phrase: a word count before the stem",
        "Hello, kindly DM me your 12-word recovery phrase to unlock the funds",
        Flag("seed_phrase_request", "kindly DM me your 12-word recovery phrase"),
    ),
    (
        "seed phrase: the word count alone",
        "Send us the 24 words and we restore it for you",
        Flag("seed_phrase_request", "Send us the 24 words"),
    ),
    (
        "seed phrase: a private key",
        "Admin here: provide your private key to verify the account",
        Flag("seed_phrase_request", "provide your private key"),
    ),
    (
        "seed phrase: rectify your wallet",
        "Your wallet is out of sync. Rectify your wallet on the page below",
        Flag("seed_phrase_request", "Rectify your wallet"),
    ),
    (
        "seed phrase: after a line break",
        "Hi dear\nshare your secret phrase with the admin to finish KYC",
        Flag("seed_phrase_request", "share your secret phrase"),
    ),
    (
        "seed phrase: after an emoji",
        "🚨 Submit your mnemonic phrase to the bot",
        Flag("seed_phrase_request", "Submit your mnemonic phrase"),
    ),
    (
        "seed phrase: full-width letters",
        "ＰＬＥＡＳＥ ＳＥＮＤ ＹＯＵＲ ＳＥＥＤ ＰＨＲＡＳＥ",
        Flag(
            "seed_phrase_request",
            "ＰＬＥＡＳＥ ＳＥＮＤ ＹＯＵＲ ＳＥＥＤ ＰＨＲＡＳＥ",
        ),
    ),
    (
        "seed phrase: Cyrillic look-alikes",
        "Plеаsе sеnd yоur sееd phrаsе",
        Flag("seed_phrase_request", "Plеаsе sеnd yоur sееd phrаsе"),
    ),
    (
        "seed phrase: extra spaces",
        "Please  send   your    seed     phrase",
        Flag("seed_phrase_request", "Please  send   your    seed     phrase"),
    ),
    (
        "seed phrase: a warning",
        "Never share your seed phrase with anyone.",
        Clean,
    ),
    (
        "seed phrase: advice to block the asker",
        "If someone asks you to send your recovery phrase, block them",
        Clean,
    ),
    (
        "seed phrase: a warning as an order",
        "Share your recovery phrase with no one.",
        Clean,
    ),
    (
        "seed phrase: don't send it",
        "Do not send your seed phrase to anyone claiming to be support",
        Clean,
    ),
    (
        "seed phrase: the pitch quoted",
        "Scammers will say \"send us your seed phrase\", ignore them",
        Clean,
    ),
    (
        "seed phrase: a restore instruction",
        "Open the app, tap restore and type in your recovery phrase",
        Clean,
    ),
    (
        "seed phrase: a wallet address",
        "Validate your wallet address before you send the coins",
        Clean,
    ),
    (
        "seed phrase: syncing",
        "Sync your wallet first, then check the balance",
        Clean,
    ),
    ("seed phrase: a story", "He told me to send my seed phrase lol", Clean),
    (
        "seed phrase: a backup instruction",
        "Write down the 12 words in order and keep them offline",
        Clean,
    ),
    // --- letters spelled out one by one read as one word in the text view (round 29) ---
    (
        "seed phrase: the stem spelled out",
        "Support team here. Please send your s e e d p h r a s e to finish the sync",
        Flag("seed_phrase_request", "Please send your s e e d p h r a s e"),
    ),
    (
        "seed phrase: the whole request spelled out",
        "s e n d y o u r s e e d p h r a s e",
        Flag("seed_phrase_request", "s e n d y o u r s e e d p h r a s e"),
    ),
    (
        "seed phrase: spelled out with full-width letters",
        "ｄｍ ｍｅ your ｓ ｅ ｅ ｄ phrase",
        Flag("seed_phrase_request", "ｄｍ ｍｅ your ｓ ｅ ｅ ｄ phrase"),
    ),
    (
        "seed phrase: a spelled-out warning",
        "Never s h a r e your s e e d p h r a s e with anyone",
        Clean,
    ),
    (
        "seed phrase: a spelled-out warning as an order",
        "S h a r e your recovery phrase with no one.",
        Clean,
    ),
    (
        "a spelled-out t.me link",
        "join t . m e / c a s h b o t",
        Flag("tg_link", "t . m e / c"),
    ),
    (
        "a spelled-out t.me before a plain name",
        "signals every day: t . m e / profit_desk77",
        Flag("tg_link", "t . m e / p"),
    ),
    (
        "a spelled-out invite link (the t.me link acts)",
        "加 t . m e / + a b c d 入群",
        Flag("tg_link", "t . m e / +"),
    ),
    (
        "a spelled-out link is an obfuscated one",
        "w w w . f u l i . v i p",
        Flag("url", "w w w . f u l i . v i p"),
    ),
    ("a spelled-out handle alone", "找 @ c a s h b o t", Clean),
    (
        "spelled-out ordinary words",
        "I a m in the U S A, options a b c d",
        Clean,
    ),
    ("chess moves", "e 4 e 5 N f 3 N c 6 B b 5", Clean),
    ("a spelled name", "my name is spelled k a t e", Clean),
    // --- a reference number that starts with WX/VX is no WeChat id (round 26) ---
    ("an order number after a colon", "订单号：VX1234567 已发货", Clean),
    (
        "WX and digits without a reference word are an id",
        "WX20240815037 备注来意",
        Flag("wechat_id", "WX20240815037"),
    ),
    (
        "微信号 before wx and digits is an id",
        "微信号 wx123456789",
        Flag("wechat_id", "wx123456789"),
    ),
    (
        "written apart from the number, after 编号",
        "编号 wx 12345678 加我详聊",
        Flag("wechat_id", "wx 12345678"),
    ),
];

#[test]
fn shipped_rules_table() {
    check_rows(shipped(), SHIPPED_ROWS);
}

/// The shipped rules *with the shipped model*, each message judged as a new member's (what
/// issue 12's checks do): talk about a topic — a question asked about it, a news report of it,
/// trade figures — is not a pitch for it, and the pitches themselves still act. The first four
/// were flagged by the model alone (0.62–0.78) before round 14's training text of questions
/// and reports; every row is far from the thresholds, so a retrained model that moves scores
/// by a few hundredths keeps them.
const SHIPPED_JUDGED_ROWS: &[(&str, &str, bool)] = &[
    (
        "a question about medicine abroad",
        "Can I get amoxicillin without a prescription here in Bangkok?",
        false,
    ),
    (
        "a question about a loan app",
        "is it normal for a loan app to ask for access to my contacts?",
        false,
    ),
    (
        "a question about an exchange",
        "How do I know if a crypto exchange is regulated?",
        false,
    ),
    (
        "a question about a scam group (two cues)",
        "How can I tell if a Telegram investment group is a scam?",
        false,
    ),
    (
        "a question about gambling law",
        "Is it legal to gamble online in the UK?",
        false,
    ),
    (
        "news of a scam ring",
        "The news says police busted a crypto scam ring in Manila",
        false,
    ),
    ("a victim's question (a hard phrase)", "刷单被骗了怎么报警？", false),
    ("a question about a credit card", "请问哪里可以办理信用卡？", false),
    ("a trade fair", "今年的外贸交易会人很多", false),
    (
        "an English investment pitch",
        "Our team turned $200 into $9,000 in a week with this trading bot, message me to join",
        true,
    ),
    (
        "an account manager's pitch",
        "Hello dear, I'm an account manager at a crypto platform, 30% weekly returns guaranteed, inbox me",
        true,
    ),
    ("a job scam", "招聘兼职，在家用手机就能做，日结三百，有意者私聊", true),
    // --- round 15: contraband news is vetoed, a contraband sale or a word at someone is not ---
    ("news of a drug's harm", "冰毒的危害你知道吗", false),
    ("news of a law", "代孕在中国是违法的", false),
    ("news from abroad", "加拿大大麻合法化已经好几年了", false),
    ("a drug sale", "长期出售冰毒和K粉", true),
    ("a drug sale with a contact", "出冰毒 货到付款 私聊", true),
    ("a contraband word backwards at someone", "你毒冰", true),
    ("a weapon for sale, split characters", "仿真木仓出售", true),
    // --- round 15: the model does not read what the allow list clears ---
    ("a ticketing platform being built", "开发票务平台", false),
    ("a ticketing system", "公司在开发票务系统", false),
    ("paying by WeChat", "微信支付就行", false),
    // --- round 17: a claimed role with a request is a soft hit; real talk of the role is not ---
    (
        "a school office asking to be added",
        "家长们注意，我是学校财务处的，资料费请单独联系我缴纳",
        true,
    ),
    (
        "a bureau asking to be added",
        "您好，这里是人社局，您的补贴未领取，加我好友登记",
        true,
    ),
    (
        "a counsellor asking a fee in private (a soft hit above the veto)",
        "各位同学，我是辅导员，奖学金要先交一下手续费，私聊我",
        true,
    ),
    (
        "a real courier in his group",
        "我是快递员，这片区域我负责，有件找不到可以在群里问",
        false,
    ),
    (
        "a warning about a fake head teacher",
        "有人被冒充班主任的骗子拉进群骗了校服费，大家小心",
        false,
    ),
    (
        "a warning that schools never ask to scan",
        "学平险是自愿的，学校不会让你扫码交钱，别信",
        false,
    ),
    (
        "a counsellor's real request (vetoed)",
        "辅导员让我们周五前交一下实习报告",
        false,
    ),
    // A reference number starting with WX is no WeChat id (round 26): its `WX` still reads as
    // a contact cue beside the long number, a soft hit the model vetoes.
    (
        "a repair order number (vetoed)",
        "维修单号 WX20240815037 师傅说明天上午来",
        false,
    ),
    ("a ticket number glued to 工单 (vetoed)", "工单wx20312345已处理", false),
];

#[test]
fn shipped_rules_and_model_judge_talk_about_a_topic_apart_from_a_pitch() {
    let mut failures = Vec::new();
    for (name, text, flag) in SHIPPED_JUDGED_ROWS {
        let judged = shipped().judge(text, GROUP, Trust::New, None);
        assert!(judged.score.is_some(), "{name}: the shipped model scores {text:?}");
        if judged.violation.is_some() != *flag {
            failures.push(format!(
                "{name}: {text:?} want {}, got {:?} (score {:?})",
                if *flag { "a violation" } else { "nothing" },
                judged.reason,
                judged.score
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A folder for the combining rules: 飞机 is a cue of two lists on purpose, and 灰机 a
/// spelling of it.
fn combining() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = [
            ("contact.txt", "飞机\n纸飞机\n私聊\ntelegram\n"),
            ("money.txt", "飞机\n出金\nusdt\n"),
            ("variants.toml", "\"飞机\" = [\"灰机\"]\n"),
            (
                "rules.toml",
                "[rules.contact]\nmode = \"cue\"\nmatch = \"word\"\n[rules.money]\nmode = \"cue\"\nmatch = \"word\"\n",
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        Rules::load(dir.path()).expect("loads").filter
    })
}

/// Issue 12 §1, "fixes to how cues combine": two cues are two places, and a bare phone number
/// or link with any cue is enough — but not with a cue inside its own span.
const COMBINING_ROWS: &[(&str, &str, Want)] = &[
    ("cues of two lists in two places", "飞机 出金", Flag("contact", "飞机")),
    ("one word in two lists is one place", "坐飞机去北京", Clean),
    ("a spelling variant inside a longer cue is one place", "纸灰机", Clean),
    (
        "a word of two lists and a word of one of them",
        "飞机 私聊",
        Flag("money", "飞机"),
    ),
    ("two places of one list", "私聊 telegram", Clean),
    (
        "a bare phone number with any cue",
        "私聊 13812345678",
        Flag("contact", "私聊"),
    ),
    (
        "a bare link with any cue",
        "出金 https://example.com/x",
        Flag("money", "出金"),
    ),
    (
        "a cue inside the link does not combine with it",
        "https://telegram.org/faq",
        Clean,
    ),
    (
        "a cue inside one link combines with a phone number",
        "telegram.org 13812345678",
        Flag("contact", "telegram"),
    ),
    (
        "an e-mail with a cue",
        "usdt support@example.com",
        Flag("money", "usdt"),
    ),
];

#[test]
fn combining_rules_table() {
    check_rows(combining(), COMBINING_ROWS);
}

fn noise_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        ' ', '.', '-', '\t', '\n', '_', '|', '*', '@', '#', '~', '　', '，', '。', '、', '【', '】', '「', '\u{200B}',
        '\u{200C}', '\u{200D}', '\u{FEFF}', '\u{00AD}', '\u{2060}', '🔥', '😀', '🎲', '❤', '\u{FE0F}',
    ])
}

proptest! {
    /// A hard phrase still hits whatever noise is inserted between (and around) its
    /// characters, and the hit quotes the phrase with its noise.
    #[test]
    fn phrases_survive_inserted_noise(
        phrase in prop::sample::select(vec!["代开发票", "网赌", "刷单返利", "冰毒", "百家乐", "viagra"]),
        gaps in prop::collection::vec(prop::collection::vec(noise_char(), 0..4), 8),
    ) {
        let mut text = String::from("朋友们好 ");
        for (c, gap) in phrase.chars().zip(&gaps) {
            text.push(c);
            text.extend(gap);
        }
        text.push_str(" 谢谢");
        let v = dev().check(&text, GROUP);
        prop_assert!(v.is_some(), "{text:?} not flagged");
        let v = v.expect("checked");
        let quoted = v.hits.iter().any(|h| {
            let q = &text[h.start..h.end];
            q.starts_with(phrase.chars().next().expect("non-empty"))
                && q.ends_with(phrase.chars().last().expect("non-empty"))
        });
        prop_assert!(quoted, "{text:?}: {:?}", v.hits);
    }

    /// Every hit's span lies on char boundaries of the original text.
    #[test]
    fn hit_spans_lie_on_char_boundaries(
        text in "[加微信代开发票网赌ＱＱｖｘqQvVxX①③⑧❶一三八 .@/:\u{200B}🔥0-9a-z]{0,40}"
    ) {
        let report = dev().inspect(&text, None);
        for h in &report.hits {
            prop_assert!(h.start < h.end && h.end <= text.len(), "{h:?}");
            prop_assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end), "{h:?}");
        }
    }

    /// Arbitrary text never panics and the spans stay in bounds.
    #[test]
    fn arbitrary_text_is_handled(text in "\\PC{0,60}") {
        for h in dev().inspect(&text, None).hits {
            prop_assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
        }
    }
}

/// A ligature folds into two letters of one original character: an id that runs into it
/// neither panics nor reaches outside the text (found by `arbitrary_text_is_handled`).
#[test]
fn an_id_running_into_a_ligature_is_handled() {
    for text in ["Vxﬀ", "加Vxﬀ123456", "wx: abﬃcd12"] {
        for h in dev().inspect(text, None).hits {
            assert!(
                text.is_char_boundary(h.start) && text.is_char_boundary(h.end),
                "{text}: {h:?}"
            );
        }
    }
}

/// Every message of the repository's corpora (`corpus/train`, `corpus/eval`, `corpus/check`,
/// the adversarial dev set `tests/fixtures/filter-dev.tsv`): the second column of each row
/// (`label<TAB>text` with `\n` and `\t` escaped; the dev set has more columns).
fn corpus_texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("tests/fixtures/filter-dev.tsv")];
    for split in ["train", "eval", "check"] {
        for class in ["spam", "ham"] {
            let mut found: Vec<_> = std::fs::read_dir(root.join("corpus").join(split).join(class))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
                .collect();
            found.sort();
            files.extend(found);
        }
    }
    let mut texts = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some(body) = line.split('\t').nth(1) {
                texts.push(body.replace("\\n", "\n").replace("\\t", "\t"));
            }
        }
    }
    texts
}

/// The filter's cost cuts must not change what it says (issue 12 §6): over every message of
/// the corpora, with the shipped rules and model and with the dev rules, the filter with its
/// first-character pre-checks (variants, allow list, the QQ/WeChat regex set) gives exactly
/// what the same filter gives when every automaton and regex set runs on every message — the
/// normalized text, every hit, the flags, the score to the bit and the decision. (The
/// normalizer's fast paths are pinned against its definition in `policy::normalize`.)
#[test]
fn the_prechecks_change_nothing_on_the_corpora() {
    let texts = corpus_texts();
    assert!(texts.len() > 10_000, "only {} corpus messages", texts.len());
    let mut variants_seen = 0;
    for filter in [shipped(), dev()] {
        let reference = filter.without_prechecks();
        for text in &texts {
            let got = filter.inspect_as(text, Some(GROUP), Trust::New, None);
            let want = reference.inspect_as(text, Some(GROUP), Trust::New, None);
            assert_eq!(got, want, "{text:?}");
            assert_eq!(
                got.judgement.score.map(f32::to_bits),
                want.judgement.score.map(f32::to_bits),
                "{text:?}"
            );
            let judged = filter.judge(text, GROUP, Trust::New, None);
            assert_eq!(judged, reference.judge(text, GROUP, Trust::New, None), "{text:?}");
            variants_seen += usize::from(got.normalized != filter.normalizer().compact(text));
        }
    }
    // The corpora exercise the variants table (V信, 薇信, 扣扣 … rewritten).
    assert!(variants_seen > 50, "only {variants_seen} messages with a variant");
}

/// The model's input from the word gaps the normalizer records is the input the walk over
/// every character gives ([`mark_words`](crate::policy::model::words::mark_words)), on every
/// message of the corpora (issue 12 §6: a cost cut that must change nothing).
#[test]
fn the_word_gaps_give_the_walks_model_input_on_the_corpora() {
    use crate::policy::model::words::{mark_words, model_input};
    use crate::policy::normalize::View;
    let normalizer = shipped().normalizer().clone();
    let (mut view, mut walked, mut out) = (View::default(), String::new(), String::new());
    let mut marked = 0;
    for text in &corpus_texts() {
        normalizer.compact_into(text, &mut view);
        let want = if mark_words(text, view.as_str(), view.char_spans(), &mut walked) {
            marked += 1;
            walked.as_str()
        } else {
            view.as_str()
        };
        assert_eq!(model_input(text, &view, &mut out), want, "{text:?}");
    }
    // The corpora hold English chat and scams: boundaries are marked in many messages.
    assert!(marked > 500, "only {marked} messages with a word boundary");
}
