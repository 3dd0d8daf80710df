//! Contact detectors: the structural signals of an ad, which in Chinese groups catch more
//! spam than any word list — numbers and ids after a QQ or WeChat cue (also `➕V`, `+v`,
//! `V：`, a single 微/薇/威, and ids without a digit where the context says "contact"),
//! Telegram and invite links, phone numbers, URLs (also written `hxxp`, `[.]`, `点com`,
//! `xx 点 cc`), e-mails, @handles, long digit runs and flooding.
//!
//! Each detector runs on one normalized view (see [`RegexView`]): number detectors on the
//! digit view, so `①③⑧`, `一三八` and `1 3 8` all read `138`; link detectors on the text view
//! after the URL spellings are undone. Detectors that are regexes share one `RegexSet` per
//! view, so a message without any of them costs one pass; the set is only run on views a
//! cheap pre-check says could match.
//!
//! Strong detectors decide a violation on their own; weak ones only with a cue (see
//! `super::decide`). `[[regex]]` in `rules.toml` adds detectors, or overrides a built-in
//! one by name (a pattern replaces its logic; settings alone keep it).

use regex::{Regex, RegexSet};

use super::first::{FirstChars, MARK_CONTACT, MARK_Q, MARK_V};
use super::spec::{RegexView, Strength};
use crate::policy::normalize::{CharMarks, Normalizer, View};

/// A built-in detector: its name, default view and strength, and the regex it is built on
/// (`None`: implemented in code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    /// A QQ number after a QQ cue (QQ, 扣扣, 企鹅号, 群号, q群, `群：`, `➕Q`, `Q：`).
    QqId,
    /// A WeChat id or number after a WeChat cue (微信, V信, vx, weixin, 绿泡泡, a single
    /// 微/薇/威/徽, `加V`, `➕V`/`+v`, `V：` …).
    WechatId,
    /// A t.me / telegram.me link.
    TgLink,
    /// An invite link: t.me/joinchat, t.me/+, discord.gg, chat.whatsapp.com, qm.qq.com.
    InviteLink,
    /// A URL; strong when it had to be de-obfuscated (`hxxp`, `[.]`, `点com`, ` . `).
    Url,
    /// A mainland mobile number (11 digits, 1[3-9]…, optionally +86).
    PhoneCn,
    /// An e-mail address.
    Email,
    /// A Telegram-style @handle (5–32 characters).
    TgHandle,
    /// A run of 8 or more digits that is not a phone number.
    LongDigits,
    /// A message of 20+ characters made mostly of one repeated snippet.
    Flood,
    /// The fake wallet "support" pitch: a request, at the start of a sentence or clause, to
    /// hand over a wallet's recovery phrase ("please send us your seed phrase"), or to
    /// validate / rectify / synchronize a wallet. See [`seed_request_spans`].
    SeedPhraseRequest,
}

impl Builtin {
    /// Every built-in, in reporting order.
    pub(crate) const ALL: [Self; 11] = [
        Self::QqId,
        Self::WechatId,
        Self::TgLink,
        Self::InviteLink,
        Self::Url,
        Self::PhoneCn,
        Self::Email,
        Self::TgHandle,
        Self::LongDigits,
        Self::Flood,
        Self::SeedPhraseRequest,
    ];

    /// The name used in hits, logs and `[[regex]] name = …`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::QqId => "qq_id",
            Self::WechatId => "wechat_id",
            Self::TgLink => "tg_link",
            Self::InviteLink => "invite_link",
            Self::Url => "url",
            Self::PhoneCn => "phone_cn",
            Self::Email => "email",
            Self::TgHandle => "tg_handle",
            Self::LongDigits => "long_digits",
            Self::Flood => "flood",
            Self::SeedPhraseRequest => "seed_phrase_request",
        }
    }

    /// The characters a match of [`Builtin::pattern`] can start with, when they are few
    /// (the cue words of the QQ and WeChat detectors), so that a view without any of them can
    /// skip the regex set. `None`: too many to be worth checking.
    pub(crate) fn first_chars(self) -> Option<&'static str> {
        match self {
            Self::QqId => Some("q扣企群"),
            Self::WechatId => Some("加微薇徽威vw绿"),
            _ => None,
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    pub(crate) fn strength(self) -> Strength {
        match self {
            Self::QqId | Self::WechatId | Self::TgLink | Self::InviteLink | Self::SeedPhraseRequest => Strength::Strong,
            _ => Strength::Weak,
        }
    }

    pub(crate) fn view(self) -> RegexView {
        match self {
            Self::QqId | Self::WechatId | Self::PhoneCn | Self::LongDigits => RegexView::Digits,
            Self::Flood => RegexView::Compact,
            _ => RegexView::Text,
        }
    }

    /// The regex the detector is built on. The views are lower-case, so the patterns are too.
    pub(crate) fn pattern(self) -> Option<&'static str> {
        Some(match self {
            Self::QqId => r"(qq|扣扣|企鹅号?|群号|q群|q号|群)([群号码是为]{0,3})([0-9]+)",
            Self::WechatId => {
                r"(加?(?:微信|薇信|徽信|威信|v信|vx|wx|weixin|绿泡泡)|加v|加?[微薇威徽])([号码是为]{0,3})([a-z0-9]+)"
            }
            Self::TgLink => r"(?:t|telegram)\.(?:me|dog)/[a-z0-9_+]",
            Self::InviteLink => {
                r"(?:t\.me/(?:joinchat/|\+)|discord\.gg/|discord(?:app)?\.com/invite/|chat\.whatsapp\.com/|(?:qm|jq)\.qq\.com/)[a-z0-9_]"
            }
            Self::Url => URL,
            Self::Email => r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}",
            Self::TgHandle => r"@[a-z][a-z0-9_]{4,31}",
            Self::PhoneCn | Self::LongDigits | Self::Flood | Self::SeedPhraseRequest => return None,
        })
    }
}

/// A URL: an optional scheme (also `hxxp`), dot-separated labels, and a top-level domain from
/// the list spammers use (a bare `word.word` in chat is usually not a link).
const URL: &str = concat!(
    r"(?:(?:https?|hxxps?)://)?(?:[a-z0-9-]+\.)+",
    r"(?:com|net|org|cn|top|vip|xyz|io|me|cc|tk|ly|info|biz|club|site|online|shop|app|link|live|pro|co|tv|",
    r"ru|in|to|gg|ws|icu|fun|asia|hk|tw|xin|wang|ltd|cloud|store|win|bid|work|today|life|one|red|ink)",
    r"(?:[/?#:][!-~]*)?"
);

/// One detector as compiled into a filter.
#[derive(Clone, Debug)]
pub(crate) struct Detector {
    /// Index of its rule (name and settings) in the filter's rule table.
    pub(crate) rule: u32,
    pub(crate) strength: Strength,
    pub(crate) view: RegexView,
    /// The built-in logic, unless a `[[regex]]` pattern replaced it.
    pub(crate) builtin: Option<Builtin>,
    /// The built-in detector it is or replaces (`None`: a `[[regex]]` of its own): what the
    /// model's flags call it (a link, a phone number, flooding …).
    pub(crate) family: Option<Builtin>,
    /// The pattern text, reported as the hit's `pattern`.
    pub(crate) pattern: std::sync::Arc<str>,
}

/// A detector hit in original-text bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DetectorHit {
    pub(crate) detector: u32,
    pub(crate) strong: bool,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// The regex detectors of one view, in one set.
#[derive(Clone, Debug, Default)]
struct ViewSet {
    set: Option<RegexSet>,
    /// When every member is a built-in pattern with few first characters: those characters
    /// (a view without any of them cannot match).
    first: Option<FirstChars>,
    /// Per set member: the detector index and the compiled regex.
    members: Vec<(u32, Regex)>,
}

/// All detectors of a filter.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detectors {
    pub(crate) list: Vec<Detector>,
    text: ViewSet,
    compact: ViewSet,
    digits: ViewSet,
    phone: Option<u32>,
    long_digits: Option<u32>,
    flood: Option<u32>,
    /// The built-in recovery-phrase request (see [`seed_request_spans`]).
    seed: Option<SeedRequest>,
    /// Run the request's regex on every message, without its pre-check (differential tests).
    seed_always: bool,
    /// The built-in WeChat detector (not replaced), whose `➕V`/`V：` forms are found in code.
    wechat: Option<u32>,
    /// The built-in QQ detector (not replaced), whose `➕Q`/`Q：` forms are found in code.
    qq: Option<u32>,
    /// A `[[regex]]` of its own runs on the text view, so the link pre-check cannot skip it.
    text_always: bool,
    /// Same for the digit view.
    digits_always: bool,
}

/// Reused buffers for one message.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    digits: View,
    text: View,
    /// The text view with its spelled-out runs joined ([`join_spelled`]).
    spelled: View,
    /// Byte ranges of `spelled` that joined a run with a link mark in it.
    joined: Vec<(usize, usize)>,
    url: View,
    /// Byte ranges of the URL view that were rewritten (de-obfuscated).
    rewritten: Vec<(usize, usize)>,
    grams: Vec<u64>,
}

impl Detectors {
    /// Compiles the detectors. `regexes[i]` is the pattern of `list[i]` (`None` for detectors
    /// implemented in code). A pattern that does not compile returns its index and the error.
    pub(crate) fn build(list: Vec<Detector>, regexes: &[Option<String>]) -> Result<Self, (usize, String)> {
        let mut out = Self::default();
        let mut by_view: [Vec<(u32, &str)>; 3] = Default::default();
        // Per view: the first characters of its members, while all are known.
        let mut firsts: [Option<String>; 3] = [Some(String::new()), Some(String::new()), Some(String::new())];
        for (i, (detector, pattern)) in list.iter().zip(regexes).enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            match (detector.builtin, pattern) {
                (Some(Builtin::PhoneCn), None) => out.phone = Some(id),
                (Some(Builtin::LongDigits), None) => out.long_digits = Some(id),
                (Some(Builtin::Flood), None) => out.flood = Some(id),
                (Some(Builtin::SeedPhraseRequest), None) => {
                    out.seed = Some(SeedRequest::new(id).map_err(|e| (i, e))?);
                }
                (_, Some(p)) => {
                    match detector.builtin {
                        Some(Builtin::WechatId) => out.wechat = Some(id),
                        Some(Builtin::QqId) => out.qq = Some(id),
                        _ => {}
                    }
                    out.text_always |= detector.view == RegexView::Text && detector.builtin.is_none();
                    out.digits_always |= detector.view == RegexView::Digits && detector.builtin.is_none();
                    let v = view_index(detector.view);
                    by_view[v].push((id, p.as_str()));
                    firsts[v] = match (firsts[v].take(), detector.builtin.and_then(Builtin::first_chars)) {
                        (Some(so_far), Some(first)) => Some(so_far + first),
                        _ => None,
                    };
                }
                (_, None) => {}
            }
        }
        for (v, members) in by_view.iter().enumerate() {
            let mut compiled = Vec::with_capacity(members.len());
            for &(id, p) in members {
                let re = Regex::new(p).map_err(|e| (id as usize, e.to_string()))?;
                compiled.push((id, re));
            }
            let set = if compiled.is_empty() {
                None
            } else {
                Some(
                    RegexSet::new(members.iter().map(|(_, p)| *p))
                        .map_err(|e| (members[0].0 as usize, e.to_string()))?,
                )
            };
            let target = match v {
                0 => &mut out.text,
                1 => &mut out.compact,
                _ => &mut out.digits,
            };
            let first = firsts[v].as_deref().map(|chars| FirstChars::from_chars(chars.chars()));
            *target = ViewSet {
                set,
                first,
                members: compiled,
            };
        }
        out.list = list;
        Ok(out)
    }

    /// Runs every detector whose view could match on `text` (original) and `compact` (its
    /// compact view after variants), appending hits to `out`.
    ///
    /// Weak detectors decide nothing without a cue, so `want_weak = false` (no phrase hit in
    /// the message) skips the ones that cost a pass of their own (flooding, digit runs).
    /// `marks`: the [`CharMarks`] of `compact` (`u8::MAX` when not known); without
    /// [`MARK_CONTACT`] the regex sets with a first-character pre-check cannot match.
    #[allow(clippy::too_many_arguments)] // the message's views and facts, passed rather than bundled
    pub(crate) fn run(
        &self,
        normalizer: &Normalizer,
        text: &str,
        compact: &View,
        marks: u8,
        want_weak: bool,
        scratch: &mut Scratch,
        out: &mut Vec<DetectorHit>,
    ) {
        let stats = compact.stats();
        // Compact view.
        if let Some(flood) = self.flood
            && (want_weak || self.list[flood as usize].strength == Strength::Strong)
            && let Some((s, e)) = flood_span(compact, stats.chars, &mut scratch.grams)
        {
            out.push(self.hit(flood, false, s, e));
        }
        self.run_set(&self.compact, normalizer, text, compact, marks, &[], out);

        // `➕V abc123`, `v: abc123`, `Q：12345`: a bare V (Q) is a WeChat (QQ) cue only by the
        // original text around it, which the views drop; found in code, only where the view
        // has a Latin letter.
        // (Only where the view has the letter at all: its marks say so.)
        if stats.ascii_alpha {
            if let Some(wechat) = self.wechat
                && marks & MARK_V != 0
            {
                letter_cue_ids(normalizer, text, compact, 'v', |s, e| {
                    out.push(self.hit(wechat, false, s, e))
                });
            }
            if let Some(qq) = self.qq
                && marks & MARK_Q != 0
            {
                letter_cue_ids(normalizer, text, compact, 'q', |s, e| {
                    out.push(self.hit(qq, false, s, e))
                });
            }
        }

        // Digit view: only when it could hold what its detectors need — 5+ digits in a row
        // (QQ, phone, long runs, numeric WeChat ids) or a Latin letter (WeChat ids, which may
        // have no digit).
        if self.digits_always || stats.digit_run >= 5 || stats.ascii_alpha {
            let digits = if normalizer.options().numerals && stats.numeral {
                compact.digits_into(&mut scratch.digits);
                &scratch.digits
            } else {
                compact
            };
            self.digit_runs(digits, want_weak, out);
            // The digit view differs from the compact view only in numerals, which no
            // pre-checked set starts with: the compact view's marks hold for it.
            self.run_set(&self.digits, normalizer, text, digits, marks, &[], out);
        }

        // Text view: only when the message has something a link, address or handle needs, or
        // the compact view names a recovery phrase (the request's own pre-check).
        let links = self.text.set.is_some() && (self.text_always || stats.link_hint);
        let seed = self
            .seed
            .as_ref()
            .filter(|_| self.seed_always || (stats.ascii_alpha && SeedRequest::named_in(compact.as_str())));
        if !links && seed.is_none() {
            return;
        }
        normalizer.text_into(text, &mut scratch.text);
        // Letters spelled out one by one (`s e e d p h r a s e`, `t . m e / x x`) read as one
        // word, as the compact view and the model read them.
        let view = if join_spelled(&scratch.text, &mut scratch.spelled, &mut scratch.joined) {
            &scratch.spelled
        } else {
            scratch.joined.clear();
            &scratch.text
        };
        if let Some(seed) = seed {
            seed_request_spans(&seed.request, text, view, |s, e| {
                out.push(self.hit(seed.detector, false, s, e))
            });
        }
        if links {
            deobfuscate(view, &scratch.joined, &mut scratch.url, &mut scratch.rewritten);
            // The URL view keeps noise and rewrites spellings: the marks do not hold for it.
            self.run_set(
                &self.text,
                normalizer,
                text,
                &scratch.url,
                u8::MAX,
                &scratch.rewritten,
                out,
            );
        }
    }

    /// Marks ([`MARK_CONTACT`]) the characters a match of a regex set with a
    /// first-character pre-check can start with, and `v` ([`MARK_V`]) and `q` ([`MARK_Q`]),
    /// the letters of the cues found in code.
    pub(crate) fn mark_first_chars(&self, marks: &mut CharMarks) {
        for set in [&self.text, &self.compact, &self.digits] {
            if let Some(first) = &set.first {
                first.mark_into(marks, MARK_CONTACT);
            }
        }
        marks.mark('v', MARK_V);
        marks.mark('q', MARK_Q);
    }

    /// Drops the first-character pre-checks of the regex sets and the recovery-phrase
    /// request's pre-check (for differential tests).
    #[cfg(test)]
    pub(crate) fn disable_prechecks(&mut self) {
        for set in [&mut self.text, &mut self.compact, &mut self.digits] {
            set.first = None;
        }
        self.seed_always = true;
    }

    fn hit(&self, detector: u32, strong_override: bool, start: usize, end: usize) -> DetectorHit {
        let strong = strong_override || self.list[detector as usize].strength == Strength::Strong;
        DetectorHit {
            detector,
            strong,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// Phone numbers and long digit runs: maximal runs of ASCII digits in the digit view.
    fn digit_runs(&self, digits: &View, want_weak: bool, out: &mut Vec<DetectorHit>) {
        let wanted = |d: Option<u32>| d.filter(|&d| want_weak || self.list[d as usize].strength == Strength::Strong);
        let (phone, long) = (wanted(self.phone), wanted(self.long_digits));
        if phone.is_none() && long.is_none() {
            return;
        }
        let s = digits.as_str().as_bytes();
        let mut i = 0;
        while i < s.len() {
            if !s[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            let run = &s[start..i];
            let detector = if is_mobile(run) {
                phone
            } else if run.len() >= 8 {
                long
            } else {
                None
            };
            if let Some(d) = detector {
                let (os, oe) = digits.original_span(start, i);
                out.push(self.hit(d, false, os, oe));
            }
        }
    }

    /// Runs the regexes of `set` on `view`; `marks`: the view's [`CharMarks`] (`u8::MAX` when
    /// not known).
    #[allow(clippy::too_many_arguments)] // the message's views and facts, passed rather than bundled
    fn run_set(
        &self,
        set: &ViewSet,
        normalizer: &Normalizer,
        text: &str,
        view: &View,
        marks: u8,
        rewritten: &[(usize, usize)],
        out: &mut Vec<DetectorHit>,
    ) {
        let Some(regex_set) = &set.set else { return };
        let haystack = view.as_str();
        if set
            .first
            .as_ref()
            .is_some_and(|first| marks & MARK_CONTACT == 0 || !first.may_match(haystack))
        {
            return;
        }
        // `is_match` allocates nothing; most messages stop here.
        if !regex_set.is_match(haystack) {
            return;
        }
        let matched = regex_set.matches(haystack);
        for index in matched.iter() {
            let (id, re) = &set.members[index];
            let detector = &self.list[*id as usize];
            for caps in re.captures_iter(haystack) {
                let Some(whole) = caps.get(0) else { continue };
                let span = match detector.builtin {
                    Some(b) => validate(b, normalizer, text, view, &caps),
                    None => Some((whole.start(), whole.end())),
                };
                let Some((s, e)) = span else { continue };
                let strong_override = detector.builtin == Some(Builtin::Url)
                    && rewritten.iter().any(|&(rs, re)| rs < whole.end() && whole.start() < re);
                let (os, oe) = view.original_span(s, e);
                out.push(self.hit(*id, strong_override, os, oe));
            }
        }
    }
}

/// The recovery-phrase request on the text view (lower-case, each whitespace character one
/// space): an optional please / kindly / just, a verb of handing over (send, share, submit,
/// provide, give, DM, forward, drop, reply with, validate), an optional `us` / `me` / `our
/// team` / `the bot`, then `your` or `the` and the phrase — a seed, recovery, secret, backup,
/// mnemonic or wallet phrase, words or key, a "12-word" / "24 words" count before it or for
/// it, or `your private key` — or validate / rectify / synchronize your wallet. Where the
/// match must stand and what may follow it is checked in code ([`seed_request_spans`]). The
/// words may be glued together: a request spelled out letter by letter (`s e n d y o u r s e
/// e d p h r a s e`) reads as one word in the view ([`join_spelled`]).
const SEED_REQUEST: &str = concat!(
    // ASCII classes: a small automaton (the view's letters are folded to ASCII).
    r"(?-u)\b(?:(?:please|pls|plz|kindly|just|now|simply) *)?",
    r"(?:(?:send|share|submit|provide|give|dm|pm|forward|drop|reply *with|validate) *",
    r"(?:(?:us|me|our *[a-z]+|the *[a-z]+) *)?",
    r"(?:(?:your|the) *(?:(?:(?:12|24|twelve|twenty[- ]?four)[- ]?words?)",
    r"(?: *(?:seed|recovery|secret|backup|mnemonic|wallet))?(?: *(?:phrase|words|key))?",
    r"|(?:seed|recovery|secret|backup|mnemonic|wallet) *(?:phrase|words|key))",
    r"|your *private *key)",
    r"|(?:validate|rectify|synchroni[sz]e) *your *wallet)\b",
);

/// The built-in recovery-phrase request, compiled.
#[derive(Clone, Debug)]
struct SeedRequest {
    detector: u32,
    request: Regex,
}

/// What stands right before `phrase`, `word` or `key` in the compact view of a request: a
/// stem of [`SEED_REQUEST`] or a count (`seedphrase`, `12word`, `privatekey`).
const SEED_STEMS: [&[u8]; 11] = [
    b"seed",
    b"recovery",
    b"secret",
    b"backup",
    b"mnemonic",
    b"wallet",
    b"private",
    b"12",
    b"24",
    b"twelve",
    b"four",
];

impl SeedRequest {
    fn new(detector: u32) -> Result<Self, String> {
        Ok(Self {
            detector,
            request: Regex::new(SEED_REQUEST).map_err(|e| e.to_string())?,
        })
    }

    /// The pre-check on the compact view (no spaces or punctuation): it names a recovery
    /// phrase — `phrase`, `word` or `key` right after one of [`SEED_STEMS`] — or holds
    /// `yourwallet`. Every one of these has a `p`, `w` or `k`, which `memchr3` finds; most
    /// messages have none of the words, and skip the text view.
    fn named_in(compact: &str) -> bool {
        let b = compact.as_bytes();
        let stem_before = |at: usize| SEED_STEMS.iter().any(|stem| b[..at].ends_with(stem));
        memchr::memchr3_iter(b'p', b'w', b'k', b).any(|at| {
            let rest = &b[at..];
            match rest[0] {
                b'p' => rest.starts_with(b"phrase") && stem_before(at),
                b'w' => {
                    (rest.starts_with(b"word") && stem_before(at))
                        || (rest.starts_with(b"wallet") && b[..at].ends_with(b"your"))
                }
                _ => rest.starts_with(b"key") && stem_before(at),
            }
        })
    }
}

/// Calls `found(start, end)` (original bytes) for each [`SEED_REQUEST`] match on the text
/// view `view` of `text` that opens a sentence or clause — at the start, after sentence or
/// clause punctuation, a line break, or an emoji or symbol, not after a word or a quotation
/// mark ("never share your seed phrase", "if someone asks you to send your recovery phrase,
/// block them", "he said \"send your seed phrase\"" are talk about the pitch) — and whose
/// sentence does not go on to say who must not get it ("share your recovery phrase with no
/// one") nor is a wallet address ("validate your wallet address before you send").
fn seed_request_spans(re: &Regex, text: &str, view: &View, mut found: impl FnMut(usize, usize)) {
    let hay = view.as_str();
    for m in re.find_iter(hay) {
        let rest = &hay[m.end()..];
        if !opens_clause(text, view, m.start()) || tells_who_not(rest) || rest.trim_start().starts_with("address") {
            continue;
        }
        let (os, oe) = view.original_span(m.start(), m.end());
        found(os, oe);
    }
}

/// Characters after which a request opens a clause: sentence and clause punctuation (ASCII
/// and full-width forms the text view keeps), dashes, bullets and markdown marks.
const CLAUSE_OPENERS: [char; 20] = [
    '.', '!', '?', ':', ';', ',', '-', '*', '#', '>', '|', '~', '。', '！', '？', '：', '；', '，', '、', '…',
];

/// Quotation marks and opening brackets: a request right after one is quoted, not made.
const QUOTED_BEFORE: [char; 10] = ['"', '\'', '`', '“', '‘', '«', '「', '『', '(', '['];

/// Whether view byte `start` opens a sentence or clause (see [`seed_request_spans`]).
fn opens_clause(text: &str, view: &View, start: usize) -> bool {
    let hay = view.as_str();
    let before = hay[..start].trim_end_matches(' ');
    let Some(last) = before.chars().next_back() else {
        return true;
    };
    if CLAUSE_OPENERS.contains(&last) {
        return true;
    }
    if QUOTED_BEFORE.contains(&last) || last.is_alphanumeric() || last.is_ascii_punctuation() {
        // A line break in the original still opens one (the view reads it as a space).
        return before.len() < start && between(view, text, before.len(), start).contains(['\n', '\r']);
    }
    // An emoji or symbol before it (`🚨 send your …`, `— send your …`).
    true
}

/// Whether the rest of the request's sentence says who must not get the phrase ("with no
/// one", "to anyone", "never").
fn tells_who_not(rest: &str) -> bool {
    let sentence = rest
        .split(['.', '!', '?', ';', '。', '！', '？', '；'])
        .next()
        .unwrap_or("");
    [" no one", " noone", " nobody", " anyone", " anybody", " never"]
        .iter()
        .any(|w| sentence.contains(w))
}

fn view_index(view: RegexView) -> usize {
    match view {
        RegexView::Text => 0,
        RegexView::Compact => 1,
        RegexView::Digits => 2,
    }
}

/// The extra checks of a built-in regex detector; returns the view span to report.
fn validate(
    builtin: Builtin,
    normalizer: &Normalizer,
    text: &str,
    view: &View,
    caps: &regex::Captures<'_>,
) -> Option<(usize, usize)> {
    let whole = caps.get(0)?;
    let hay = view.as_str();
    let (start, end) = (whole.start(), whole.end());
    match builtin {
        Builtin::QqId => {
            let (cue, filler, id) = (caps.get(1)?, caps.get(2)?, caps.get(3)?);
            // A bare 群 is a cue only with 号 or a colon before the number (`新群：389627510`),
            // not in `群里12345人`.
            if cue.as_str() == "群"
                && !filler.as_str().contains('号')
                && !colon_between(view, text, cue.end(), id.start())
            {
                return None;
            }
            let id = id.as_str().as_bytes();
            let ok =
                (5..=11).contains(&id.len()) && id[0] != b'0' && !latin_glued_before(normalizer, text, view, start);
            ok.then_some((start, end))
        }
        Builtin::WechatId => {
            if latin_glued_before(normalizer, text, view, start) {
                return None;
            }
            let (cue, filler, id) = (caps.get(1)?, caps.get(2)?, caps.get(3)?);
            if reference_code(view, text, start, cue.as_str(), filler.as_str(), id) {
                return None;
            }
            let add = cue.as_str().starts_with('加');
            let single = cue.as_str().trim_start_matches('加').chars().count() == 1;
            if single {
                // A single 微/薇/威 is a cue only as a word of its own: not the end of 稍微,
                // 权威, 蔷薇 (a Han character right before it, unless that ends a contact verb:
                // `联系徽 abc_def`), and straight before the id.
                let first = cue.as_str().chars().next().map_or(1, char::len_utf8);
                let (os, _) = view.original_span(start, start + first);
                let before = &text[..os];
                let glued_han = before.chars().next_back().is_some_and(is_han)
                    && !CONTACT_VERBS.iter().any(|verb| before.ends_with(verb));
                if (glued_han && !add) || !filler.as_str().is_empty() {
                    return None;
                }
            }
            let context = Context {
                // A bare single character only counts with an id that looks like one.
                add,
                number_word: !filler.as_str().is_empty(),
                colon: colon_between(view, text, cue.end(), id.start()),
            };
            wechat_id(view, text, id.start(), id.end(), context).map(|end| (start, end))
        }
        Builtin::Url => {
            // Not the domain of an e-mail, and the domain must end where the TLD ends.
            let before = hay[..start].chars().next_back();
            let after = hay[end..].chars().next();
            let ok = !matches!(before, Some(c) if c == '@' || c == '.' || c.is_ascii_alphanumeric())
                && !matches!(after, Some(c) if c.is_ascii_alphanumeric());
            ok.then_some((start, end))
        }
        Builtin::TgHandle => {
            let before = hay[..start].chars().next_back();
            let after = hay[end..].chars().next();
            let ok = !matches!(before, Some(c) if c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && !matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == '_');
            ok.then_some((start, end))
        }
        Builtin::Email | Builtin::TgLink | Builtin::InviteLink => Some((start, end)),
        Builtin::PhoneCn | Builtin::LongDigits | Builtin::Flood | Builtin::SeedPhraseRequest => None,
    }
}

/// Whether a WeChat match is a reference code rather than an id: a Latin cue glued to a run
/// of digits (`WX20240815037`, one token in the original) right after a word that names a
/// reference number — one ending in 单, or 单号, 编号, 序号, 批号, 票号, 件号, 型号
/// (`维修单号 WX20240815037`, `编号：VX1024`, `工单 wx2031`): order, ticket, serial and model
/// numbers often start with letters that read as `wx` or `vx`. `微信号 wx123456` and
/// `加我 WX123456` stay ids.
fn reference_code(view: &View, text: &str, start: usize, cue: &str, filler: &str, id: regex::Match<'_>) -> bool {
    if !filler.is_empty() || !id.as_str().bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // The view reads `wx` as 微信 (variants.toml): the cue's own letters are in the original.
    let (os, cue_end) = view.original_span(start, start + cue.len());
    let (id_start, _) = view.original_span(id.start(), id.end());
    let latin = text
        .get(os..cue_end)
        .is_some_and(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphabetic()));
    if !latin || cue_end != id_start {
        return false; // `微信20240815`, `WX 2024…`, `vx：123456`: written as a contact is
    }
    let before = text[..os].trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '：' | '﹕'));
    let mut back = before.chars().rev();
    match back.next() {
        Some('单' | '單') => true,
        // 单号, 编号, 序号, 批号, 票号, 件号, 型号: not 微信号 (the cue's own 号)
        Some('号' | '號') => back
            .next()
            .is_some_and(|c| matches!(c, '单' | '單' | '编' | '編' | '序' | '批' | '票' | '件' | '型')),
        _ => false,
    }
}

/// Verbs that ask to be contacted: right before a single 微/薇/威/徽 they make it a WeChat cue
/// although a Han character is glued to it (`联系徽 abc_def`, `聯絡薇：abc123`).
const CONTACT_VERBS: [&str; 8] = ["联系", "联络", "聯繫", "聯絡", "聯系", "咨询", "諮詢", "添加"];

/// What stands between a WeChat cue and the id after it, which decides whether an id without
/// a digit counts: `微信 thanks` is chat, `加V：dk_sudai` and `微信号 zhangsan_88` are not.
#[derive(Clone, Copy, Debug, Default)]
struct Context {
    /// The cue asks to add (`加微信`, `加V`, `➕V`) or is a bare single-character cue.
    add: bool,
    /// 号/码/是/为 between the cue and the id (`微信号`, `微信是`).
    number_word: bool,
    /// A colon between the cue and the id in the original text.
    colon: bool,
}

/// The end (view bytes) of the WeChat id starting at view byte `id_start`, at most
/// `id_max`: the Latin/digit run, cut where the original text has whitespace ("微信 abc123
/// thanks" is the id abc123). A number needs 6 digits (often a phone number written with
/// separators); a Latin id 6–20 characters (`_` and `-` included) with a digit — or, without one, starting with a
/// letter and in a contact context: an `_` or `-` inside it in the original (`dk_sudai`), a
/// colon, 号 or an "add" cue before it.
fn wechat_id(view: &View, text: &str, id_start: usize, id_max: usize, context: Context) -> Option<usize> {
    let hay = view.as_str();
    let bytes = hay.as_bytes();
    if id_start >= id_max || !bytes[id_start].is_ascii_alphanumeric() {
        return None;
    }
    if bytes[id_start].is_ascii_digit() {
        let digits = bytes[id_start..id_max]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        return (digits >= 6).then_some(id_start + digits);
    }
    let mut id_end = id_start + 1;
    while id_end < id_max && bytes[id_end].is_ascii_alphanumeric() {
        let (_, prev_end) = view.original_span(id_end - 1, id_end);
        let (next_start, _) = view.original_span(id_end, id_end + 1);
        // Two view bytes from one original character (a ligature like "ﬀ") overlap: no gap.
        if text
            .get(prev_end..next_start)
            .is_some_and(|gap| gap.chars().any(char::is_whitespace))
        {
            break;
        }
        id_end += 1;
    }
    let token = &hay[id_start..id_end];
    // WeChat counts `_` and `-` in an id's 6–20 characters; the view has dropped them
    // (`mm_qc3` reads `mmqc3`), so they are counted back from the original.
    let (os, oe) = view.original_span(id_start, id_end);
    let joiners = text[os..oe].matches(['_', '-', '＿', '－']).count();
    if !(6..=20).contains(&(token.len() + joiners)) {
        return None;
    }
    if token.bytes().any(|b| b.is_ascii_digit()) {
        return Some(id_end);
    }
    let joined = joiners > 0;
    (joined || context.add || context.number_word || context.colon).then_some(id_end)
}

/// Whether the original text between view bytes `from` and `to` (the end of one match and
/// the start of the next) holds a colon.
fn colon_between(view: &View, text: &str, from: usize, to: usize) -> bool {
    between(view, text, from, to).contains([':', '：', '﹕'])
}

/// A CJK unified ideograph (the basic block and extension A).
pub(super) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// The original text between view bytes `from` (after a character) and `to` (at one).
fn between<'t>(view: &View, text: &'t str, from: usize, to: usize) -> &'t str {
    let hay = view.as_str();
    let (Some(last), Some(next)) = (
        hay.get(..from).and_then(|h| h.chars().next_back()),
        hay.get(to..).and_then(|h| h.chars().next()),
    ) else {
        return "";
    };
    if from > to {
        return "";
    }
    let (_, a) = view.original_span(from - last.len_utf8(), from);
    let (b, _) = view.original_span(to, to + next.len_utf8());
    text.get(a..b).unwrap_or("")
}

/// The characters that, right before a bare `V`, make it a WeChat cue: `➕V`, `+v`, `＋V`.
const PLUS: [char; 6] = ['+', '➕', '＋', '﹢', '✚', '✙'];

/// `➕V abc123`, `+v：abc123`, `v: abc123`, `V：dk_sudai` (`letter` = `v`, a WeChat id), or
/// `➕Q 12345`, `Q：12345` (`letter` = `q`, a QQ number of 5–11 digits): the letter in the
/// compact view, a letter of its own in the original (no Latin letter glued before it),
/// preceded by a plus sign or followed by a colon, then the id ([`wechat_id`]; the context
/// counts as "contact"). Calls `found(start, end)` with the original span from the plus sign
/// (or the letter) to the end of the id.
fn letter_cue_ids(normalizer: &Normalizer, text: &str, view: &View, letter: char, mut found: impl FnMut(usize, usize)) {
    let hay = view.as_str();
    let bytes = hay.as_bytes();
    // `letter` is ASCII, which never occurs inside another character's UTF-8 bytes: a byte
    // scan finds it (cheaper on a short message than a `str` search, which sets up memchr).
    let byte = u8::try_from(letter).unwrap_or(0);
    let mut from = 0;
    while let Some(at) = bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == byte))
        .map(|i| from + i)
    {
        from = at + 1;
        let (vs, ve) = view.original_span(at, at + 1);
        let before = text[..vs].trim_end_matches([' ', '\u{3000}']);
        let prev = before.chars().next_back();
        if prev.is_some_and(|c| normalizer.is_latin_letter(c)) && before.len() == vs {
            continue; // glued: "dev: x", "love"
        }
        if prev == Some('加') && letter == 'v' {
            continue; // 加V: the regex's cue
        }
        let plus = prev.is_some_and(|c| PLUS.contains(&c));
        let after = text[ve..].trim_start_matches([' ', '\u{3000}']);
        let colon = after.starts_with([':', '：', '﹕']);
        if !plus && !colon {
            continue;
        }
        // Skip 号/码/是/为 after the v, as the regex cues do.
        let mut id_start = at + 1;
        let mut skipped = 0;
        while skipped < 3 && hay[id_start..].starts_with(['号', '码', '是', '为']) {
            id_start += '号'.len_utf8();
            skipped += 1;
        }
        if id_start >= bytes.len() {
            continue;
        }
        let context = Context {
            add: true,
            number_word: skipped > 0,
            colon,
        };
        let end = if letter == 'q' {
            let digits = bytes[id_start..].iter().take_while(|b| b.is_ascii_digit()).count();
            ((5..=11).contains(&digits) && bytes[id_start] != b'0').then_some(id_start + digits)
        } else {
            wechat_id(view, text, id_start, bytes.len(), context)
        };
        if let Some(end) = end {
            let start = if plus {
                before.char_indices().next_back().map_or(vs, |(i, _)| i)
            } else {
                vs
            };
            let (_, oe) = view.original_span(id_start, end);
            found(start, oe);
        }
    }
}

/// Whether the match at view byte `start` begins with a Latin letter glued to another Latin
/// letter just before it in the original text ("avx512" is not the cue "vx").
fn latin_glued_before(normalizer: &Normalizer, text: &str, view: &View, start: usize) -> bool {
    if !view.as_str()[start..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        return false;
    }
    let (os, _) = view.original_span(start, start + 1);
    text[..os]
        .chars()
        .next_back()
        .is_some_and(|c| normalizer.is_latin_letter(c))
}

/// 11 digits `1[3-9]…`, or 13 with the country code 86.
fn is_mobile(run: &[u8]) -> bool {
    let local = match run.len() {
        11 => run,
        13 if run.starts_with(b"86") => &run[2..],
        _ => return false,
    };
    local[0] == b'1' && (b'3'..=b'9').contains(&local[1])
}

/// The characters besides ASCII letters and digits that a spelled-out run may hold: what a
/// link, an address or a handle is written with (`t . m e / + x x`, `@ a b c d e`).
fn spells(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'+' | b'@' | b'_' | b':')
}

/// The fewest ASCII letters a spelled-out run must hold to be joined: `D M me`, `a b` and a
/// pair of initials stay apart (nothing the text view's detectors read is two letters long).
const SPELLED_LETTERS: usize = 3;

/// The text view `text` with each spelled-out run joined into one word, into `out`: a run of
/// one-character tokens — ASCII letters and digits, and the marks of [`spells`] — each from
/// the next by exactly one space, with at least [`SPELLED_LETTERS`] letters, loses the spaces
/// inside it (`s e e d p h r a s e` → `seedphrase`, `t . m e / x x` → `t.me/xx`, `w h a t s
/// a p p` → `whatsapp`). A word of two or more characters ends a run (`s e e d phrase` →
/// `seed phrase`) — unless the run ends with a mark, which joins that word too (`t . m e /
/// cashbot` → `t.me/cashbot`) — and so does a double space. The byte ranges of `out` of the
/// joined runs that hold a mark go to `joined` (a link spelled out is an obfuscated one).
/// Returns false, leaving `out` as it was, when nothing is joined: then `text` is the view.
///
/// Only the text view's detectors read this (links, addresses, handles, the recovery-phrase
/// request): the compact view drops every space anyway, the whole-word rule of the word lists
/// already reads `f u c k` as a word (a space is a boundary), and the model's input joins
/// letters spelled alone ([`crate::policy::model`]'s word boundaries).
fn join_spelled(text: &View, out: &mut View, joined: &mut Vec<(usize, usize)>) -> bool {
    let s = text.as_str().as_bytes();
    // A single-character token at byte `at`: a spelling character with a space or an end on
    // each side.
    let single = |at: usize| {
        s.get(at).is_some_and(|&b| spells(b))
            && (at == 0 || s[at - 1] == b' ')
            && s.get(at + 1).is_none_or(|&b| b == b' ')
    };
    // The runs to join, as view byte ranges (first token's byte, last token's byte + 1).
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut at = 0;
    while at < s.len() {
        if !single(at) {
            // On to the next token: past this one and its space.
            at = match memchr::memchr(b' ', &s[at..]) {
                Some(k) => at + k + 1,
                None => break,
            };
            continue;
        }
        let start = at;
        let (mut letters, mut mark) = (0, false);
        loop {
            letters += usize::from(s[at].is_ascii_alphabetic());
            mark |= !s[at].is_ascii_alphanumeric();
            if single(at + 2) {
                at += 2;
            } else {
                break;
            }
        }
        if letters >= SPELLED_LETTERS {
            // A run that ends with a mark joins the word after it too (`t . m e / cashbot`).
            let glue = !s[at].is_ascii_alphanumeric()
                && s.get(at + 1) == Some(&b' ')
                && s.get(at + 2).is_some_and(|&b| b != b' ');
            runs.push((start, at + 1 + usize::from(glue), mark));
        }
        at += 2;
    }
    if runs.is_empty() {
        return false;
    }
    out.clear();
    joined.clear();
    let spans = text.char_spans();
    let (mut copied, mut copied_char) = (0usize, 0usize); // `out` holds the view before these
    for &(start, end, mark) in &runs {
        for (c, &(os, oe)) in text.as_str()[copied..start].chars().zip(&spans[copied_char..]) {
            out.push(c, os as usize, oe as usize);
            copied_char += 1;
        }
        let from = out.as_str().len();
        // The run is ASCII: one byte, one character, one span each.
        for k in start..end {
            let (os, oe) = spans[copied_char + k - start];
            if s[k] != b' ' {
                out.push(char::from(s[k]), os as usize, oe as usize);
            }
        }
        if mark {
            joined.push((from, out.as_str().len()));
        }
        copied_char += end - start;
        copied = end;
    }
    for (c, &(os, oe)) in text.as_str()[copied..].chars().zip(&spans[copied_char..]) {
        out.push(c, os as usize, oe as usize);
    }
    true
}

/// The URL view: the text view with the spellings that hide links undone, recording which
/// byte ranges were rewritten (a link that needed this is an ad, not a shared article):
/// `hxxp` → `http`; `[.]` `(.)` `{.}` `。` `｡` → `.`; `点`/`點` (spaces around it or not) and
/// ` dot ` between letters or digits → `.`; spaces on both sides of a dot removed. The bytes of
/// `text` in the ranges `joined` (spelled-out runs with a link mark, [`join_spelled`]) count as
/// rewritten too.
fn deobfuscate(text: &View, joined: &[(usize, usize)], out: &mut View, rewritten: &mut Vec<(usize, usize)>) {
    out.clear();
    rewritten.clear();
    let mut joined = joined.iter().copied().peekable();
    let s = text.as_str();
    let spans = text.char_spans();
    // Byte index into `s` and character index into `spans`, advanced together.
    let (mut i, mut ci) = (0, 0);
    while i < s.len() {
        let rest = &s[i..];
        let prev_alnum = out
            .as_str()
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rewrite: Option<(usize, &str)> = if rest.starts_with("hxxp") {
            Some((4, "http"))
        } else if ["[.]", "(.)", "{.}"].iter().any(|p| rest.starts_with(p)) {
            Some((3, "."))
        } else if rest.starts_with(['。', '｡']) {
            Some((rest.chars().next().map_or(1, char::len_utf8), "."))
        } else if prev_alnum && let Some(n) = spelled_dot(rest) {
            Some((n, "."))
        } else if prev_alnum && let Some(n) = spaced_dot(rest) {
            Some((n, "."))
        } else {
            None
        };
        match rewrite {
            Some((n, with)) => {
                let k = rest[..n].chars().count();
                let (os, oe) = (spans[ci].0 as usize, spans[ci + k - 1].1 as usize);
                let at = out.as_str().len();
                for c in with.chars() {
                    out.push(c, os, oe);
                }
                rewritten.push((at, out.as_str().len()));
                (i, ci) = (i + n, ci + k);
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                let (os, oe) = spans[ci];
                let at = out.as_str().len();
                out.push(c, os as usize, oe as usize);
                while joined.next_if(|&(_, end)| end <= i).is_some() {}
                if joined.peek().is_some_and(|&(start, _)| start <= i) {
                    match rewritten.last_mut() {
                        Some(last) if last.1 == at => last.1 = out.as_str().len(),
                        _ => rewritten.push((at, out.as_str().len())),
                    }
                }
                (i, ci) = (i + c.len_utf8(), ci + 1);
            }
        }
    }
}

/// `点`/`點` between alphanumerics, with or without spaces around it (`xx点cc`, `xx 点 cc`):
/// the byte length to replace, spaces included.
fn spelled_dot(rest: &str) -> Option<usize> {
    let body = rest.trim_start_matches(' ');
    let lead = rest.len() - body.len();
    let after = body.strip_prefix(['点', '點'])?;
    let next = after.trim_start_matches(' ');
    next_is_alnum(next).then_some(lead + '点'.len_utf8() + (after.len() - next.len()))
}

fn next_is_alnum(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// ` . `, ` dot `, `(dot)`, `[dot]` between alphanumerics: the byte length to replace.
fn spaced_dot(rest: &str) -> Option<usize> {
    for p in ["(dot)", "[dot]"] {
        if rest.starts_with(p) && next_is_alnum(rest[p.len()..].trim_start_matches(' ')) {
            let after = &rest[p.len()..];
            return Some(p.len() + after.len() - after.trim_start_matches(' ').len());
        }
    }
    let lead = rest.len() - rest.trim_start_matches(' ').len();
    if lead == 0 {
        return None;
    }
    let body = &rest[lead..];
    let dot = if body.starts_with('.') {
        1
    } else if body.starts_with("dot ") {
        3
    } else {
        return None;
    };
    let after = &body[dot..];
    let trail = after.len() - after.trim_start_matches(' ').len();
    (trail > 0 && next_is_alnum(&after[trail..])).then_some(lead + dot + trail)
}

/// `{FLOOD}`: 20+ characters whose 4-grams are less than 30 % distinct. Returns the span of
/// the whole message.
///
/// Distinct 4-grams are counted in a small open-addressing set that gives up as soon as the
/// count reaches the limit, so an ordinary message (almost all 4-grams distinct) costs about
/// a third of a pass.
fn flood_span(compact: &View, chars: u32, grams: &mut Vec<u64>) -> Option<(usize, usize)> {
    let s = compact.as_str();
    let total = (chars as usize).saturating_sub(3);
    if chars < 20 {
        return None;
    }
    let limit = (total * 3).div_ceil(10); // flood: distinct < 30 % of total
    let slots = (limit * 2).next_power_of_two().max(16);
    grams.clear();
    grams.resize(slots, 0);
    let mut distinct = 0;
    let mut window = [0u32; 4];
    for (i, c) in s.chars().enumerate() {
        window = [window[1], window[2], window[3], u32::from(c)];
        if i < 3 {
            continue;
        }
        // Never 0 (0 marks an empty slot): the top bit is set.
        let h = window.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
            (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
        }) | 1 << 63;
        let mut slot = (h as usize) & (slots - 1);
        loop {
            match grams[slot] {
                0 => {
                    grams[slot] = h;
                    distinct += 1;
                    if distinct >= limit {
                        return None;
                    }
                    break;
                }
                g if g == h => break,
                _ => slot = (slot + 1) & (slots - 1),
            }
        }
    }
    Some(compact.original_span(0, s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::normalize::{NormalizeOptions, Normalizer};

    /// The text view of `original` with its spelled-out runs joined, each joined run with a
    /// link mark quoted from the original, and whether anything was joined.
    fn joined(original: &str) -> (String, Vec<String>, bool) {
        let normalizer = Normalizer::new(NormalizeOptions::default());
        let (mut text, mut out, mut ranges) = (View::default(), View::default(), Vec::new());
        normalizer.text_into(original, &mut text);
        if !join_spelled(&text, &mut out, &mut ranges) {
            return (text.as_str().to_owned(), Vec::new(), false);
        }
        let quoted = ranges
            .iter()
            .map(|&(s, e)| {
                let (os, oe) = out.original_span(s, e);
                original[os..oe].to_owned()
            })
            .collect();
        (out.as_str().to_owned(), quoted, true)
    }

    #[test]
    fn spelled_out_runs_read_as_one_word() {
        let rows: &[(&str, &str, &[&str], bool)] = &[
            // letters spelled one by one, alone or among words
            ("s e e d p h r a s e", "seedphrase", &[], true),
            ("send your s e e d phrase", "send your seed phrase", &[], true),
            ("D M me", "d m me", &[], false),
            ("D M m e now", "dmme now", &[], true),
            ("W h a t s A p p +1 555", "whatsapp +1 555", &[], true),
            // full-width letters fold to ASCII first
            ("ｗ ｈ ａ ｔ ｓ", "whats", &[], true),
            // link marks and digits inside a run: a link spelled out is an obfuscated one
            ("join t . m e / x x now", "join t.me/xx now", &["t . m e / x x"], true),
            // a run that ends with a mark joins the word after it
            ("t . m e / cash_bot now", "t.me/cash_bot now", &["t . m e /"], true),
            ("w w w . example.com", "www.example.com", &["w w w ."], true),
            ("@ c a s h _ b o t", "@cash_bot", &["@ c a s h _ b o t"], true),
            (
                "w w w . a b c 8 8 . v i p",
                "www.abc88.vip",
                &["w w w . a b c 8 8 . v i p"],
                true,
            ),
            // a longer word, a double space or other punctuation ends a run
            ("s e e d  p h r a s e", "seed  phrase", &[], true),
            ("t e l e - g r a m", "tele - gram", &[], true),
            // fewer than three letters: initials, pairs, numbers
            ("a b", "a b", &[], false),
            ("J. K. Rowling", "j. k. rowling", &[], false),
            ("1 2 3 4 5 6", "1 2 3 4 5 6", &[], false),
            ("x = y + z", "x = y + z", &[], false),
            ("price 5 . 5 k", "price 5 . 5 k", &[], false),
            // Chinese and words are untouched
            ("微 信 加 我", "微 信 加 我", &[], false),
            ("I am a dev", "i am a dev", &[], false),
        ];
        for (original, view, marked, changed) in rows {
            let want = (
                (*view).to_owned(),
                marked.iter().map(|m| (*m).to_owned()).collect(),
                *changed,
            );
            assert_eq!(joined(original), want, "{original:?}");
        }
    }

    #[test]
    fn spelled_out_ordinary_text_joins_into_nothing_a_detector_reads() {
        // Ordinary text with three or more single letters: the joined word is no link,
        // address, handle or request.
        let rows: &[(&str, &str)] = &[
            ("I a m here", "iam here"),
            ("made in the U S A", "made in the usa"),
            ("options a b c d", "options abcd"),
            ("e 4 e 5 N f 3", "e4e5nf3"),
            ("x y z", "xyz"),
        ];
        for (original, view) in rows {
            assert_eq!(joined(original).0, *view, "{original:?}");
        }
    }

    #[test]
    fn spelled_out_runs_keep_their_original_spans() {
        let normalizer = Normalizer::new(NormalizeOptions::default());
        let (mut text, mut out, mut ranges) = (View::default(), View::default(), Vec::new());
        for original in [
            "多 s e e d 啊 p h r a s e 🔥 t . m e / x",
            "a b c",
            "ｓ ｅ ｅ ｄ x",
            " a b c ",
        ] {
            normalizer.text_into(original, &mut text);
            assert!(join_spelled(&text, &mut out, &mut ranges), "{original:?}");
            assert_eq!(out.char_spans().len(), out.as_str().chars().count());
            for (c, &(s, e)) in out.as_str().chars().zip(out.char_spans()) {
                let from = &original[s as usize..e as usize];
                let mut folded = View::default();
                normalizer.text_into(from, &mut folded);
                assert!(folded.as_str().contains(c), "{original:?}: {c:?} from {from:?}");
            }
        }
    }

    #[test]
    fn a_spelled_out_link_is_rewritten_in_the_url_view() {
        let normalizer = Normalizer::new(NormalizeOptions::default());
        let (mut text, mut spelled, mut ranges) = (View::default(), View::default(), Vec::new());
        let (mut url, mut rewritten) = (View::default(), Vec::new());
        normalizer.text_into("看 w w w . f u l i . v i p 和 www . x . cc", &mut text);
        assert!(join_spelled(&text, &mut spelled, &mut ranges));
        deobfuscate(&spelled, &ranges, &mut url, &mut rewritten);
        assert_eq!(url.as_str(), "看 www.fuli.vip 和 www.x.cc");
        let parts: Vec<&str> = rewritten.iter().map(|&(s, e)| &url.as_str()[s..e]).collect();
        assert_eq!(parts, ["www.fuli.vip", ".", "."]);
    }
}
