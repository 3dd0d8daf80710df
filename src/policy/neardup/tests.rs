//! The near-duplicate specification: masking rules, a table of template pairs that must
//! match and of look-alike chat that must not (Chinese and English, both directions), the
//! index's bookkeeping under churn. Its speed is measured by `benches/neardup.rs`.

use std::collections::BTreeSet;

use super::*;

/// A stand-in for the daemon's compact view: lower case, letters and digits only.
fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn sig(text: &str) -> Signature {
    Signature::of(&norm(text)).unwrap_or_else(|| panic!("no signature for {text:?}"))
}

/// xorshift64*, for reproducible random tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A random common Han character.
    fn han(&mut self) -> char {
        char::from_u32(0x4e00 + self.below(3000) as u32).unwrap_or('的')
    }
    fn han_text(&mut self, len: usize) -> String {
        (0..len).map(|_| self.han()).collect()
    }
}

#[test]
fn masking_table() {
    // (what, normalized input, masked)
    let rows = [
        ("digits", "日结300元", "日结#元"),
        (
            "decimal and thousands (text view)",
            "价格3.5元或1,000元",
            "价格#元或#元",
        ),
        ("id with letters and digits", "加微信abc123了解", "加微信@了解"),
        ("latin cue then id", "联系vxqiang001", "联系vx@"),
        ("one-letter cue after 加", "加vshop8899", "加v@"),
        ("one-letter v without a lead is a word", "vip会员", "vip会员"),
        ("id after a chinese cue, letters only", "飞机usdttrader", "飞机@"),
        ("short latin word after 加 stays", "加vpn账号", "加vpn账号"),
        ("url with scheme (compact)", "点击httpsabccomxyz进群", "点击~进群"),
        ("url after words (compact english)", "joinnowhttpstmescam", "joinnow~"),
        ("www", "网址wwwxpj123com", "网址~"),
        ("t.me compact", "进群tmeshopa", "进群~"),
        ("domain (text view)", "see scam-site.top/a now", "see ~ now"),
        ("handle (text view)", "contact @john_doe now", "contact @ now"),
        ("e-mail (text view)", "mail a.b@qq.com", "mail @"),
        ("bare domain in chinese text", "访问scamsitetop注册", "访问~注册"),
        ("tld-like english word alone is kept", "laptop", "laptop"),
        (
            "long run (an english sentence) keeps its words",
            "earn500dailyworkingfromhomecontactme",
            "earn#dailyworkingfromhomecontactme",
        ),
        ("chinese numerals, two or more", "日赚三千元", "日赚#元"),
        (
            "one chinese numeral before a unit",
            "全场五折每天两小时",
            "全场#折每天#小时",
        ),
        ("one chinese numeral alone is a word", "一起去", "一起去"),
        ("nothing to mask", "今天下午开会", "今天下午开会"),
        ("empty", "", ""),
    ];
    for (what, input, want) in rows {
        assert_eq!(mask(input), want, "{what}: {input:?}");
    }
}

/// Same template, other slots: each must find the other.
const SAME: &[(&str, &str)] = &[
    (
        "【兼职】日结300元，手机操作，加微信abc123了解",
        "【兼职】日结500元，手机操作，加微信xyz789了解",
    ),
    (
        "出售红色连衣裙，原价299现价99，加v: shop8899",
        "出售蓝色连衣裙，原价399现价129，加v: dress001",
    ),
    (
        "澳门新葡京线上娱乐，注册送88元，网址 www.xpj123.com",
        "澳门新葡京线上娱乐，注册送188元，网址 www.xpj888.net",
    ),
    (
        "今晚8点直播带货，全场五折，扫码进群 t.me/shop_a1",
        "今晚9点直播带货，全场七折，扫码进群 t.me/deal_b2",
    ),
    (
        "USDT高价回收，秒到账，飞机 @usdt_trader",
        "USDT高价回收，秒到账，飞机 @coin_king99",
    ),
    (
        "代开各类发票，增值税专票，电话 13800138000",
        "代开各类发票，增值税专票，电话 13912345678",
    ),
    (
        "宝妈兼职在家就能做，每天两小时，月入过万，加qq 12345678",
        "宝妈兼职在家就能做，每天三小时，月入过万，加qq 87654321",
    ),
    (
        "低价出售香港VPN账号，稳定不掉线，购买联系微信 vpn2024",
        "低价出售日本VPN账号，稳定不掉线，购买联系微信 fastvpn9",
    ),
    (
        "明天上午10:00准时开抢，限量100份，先到先得，加vx: qiang001",
        "明天下午3:30准时开抢，限量50份，先到先得，加vx: qiang777",
    ),
    (
        "Earn $500 daily working from home! Contact @richmentor88 on Telegram",
        "Earn $800 daily working from home! Contact @bigmoney2 on Telegram",
    ),
    (
        "Free iPhone 15 giveaway! Click https://free-gift.xyz/abc to claim before 10pm",
        "Free iPhone 14 giveaway! Click https://win-now.top/q1 to claim before 8pm",
    ),
    (
        "Need a loan? Fast approval, no credit check, whatsapp +1 555 0100",
        "Need a loan? Fast approval, no credit check, whatsapp +44 7700 900123",
    ),
];

/// Chat of similar length, often sharing a word or phrase with the ad: must not match.
const OTHER: &[(&str, &str)] = &[
    (
        "【兼职】日结300元，手机操作，加微信abc123了解",
        "今天下午三点开会，大家记得带电脑",
    ),
    (
        "【兼职】日结300元，手机操作，加微信abc123了解",
        "刚才那个说日结300的是骗子，大家别上当",
    ),
    (
        "出售红色连衣裙，原价299现价99，加v: shop8899",
        "我昨天买了一条红色连衣裙，很好看",
    ),
    (
        "USDT高价回收，秒到账，飞机 @usdt_trader",
        "有人知道USDT怎么提现到银行卡吗",
    ),
    (
        "代开各类发票，增值税专票，电话 13800138000",
        "公司报销需要发票，记得找财务开",
    ),
    (
        "今晚8点直播带货，全场五折，扫码进群 t.me/shop_a1",
        "今晚8点有球赛，一起看吗",
    ),
    ("周末一起去爬山吗，天气预报说是晴天", "周末一起去看电影吗，听说新片不错"),
    (
        "Earn $500 daily working from home! Contact @richmentor88 on Telegram",
        "Good morning everyone, the meeting is moved to 3pm today",
    ),
    (
        "Free iPhone 15 giveaway! Click https://free-gift.xyz/abc to claim before 10pm",
        "Does anyone know if the iPhone 15 supports this app?",
    ),
    (
        "Need a loan? Fast approval, no credit check, whatsapp +1 555 0100",
        "Does anyone need a ride to the airport tomorrow?",
    ),
    (
        "I'll push the fix tonight and open a pull request",
        "I'll review the pull request tomorrow morning",
    ),
];

/// Inserts `stored` into an index of a few hundred random samples and looks `probe` up.
fn lookup(stored: &str, probe: &str) -> Option<Match> {
    let mut index = Index::new();
    let mut rng = Rng(7);
    for id in 100..400 {
        let len = 10 + rng.below(30) as usize;
        if let Some(s) = Signature::of(&rng.han_text(len)) {
            index.insert(id, s);
        }
    }
    index.insert(1, sig(stored));
    index.find(&sig(probe))
}

#[test]
fn templates_with_other_slots_are_found_both_ways() {
    for (a, b) in SAME {
        for (stored, probe) in [(a, b), (b, a)] {
            let found = lookup(stored, probe);
            assert_eq!(
                found.map(|m| m.id),
                Some(1),
                "{probe:?} should match {stored:?}: {} vs {} (distance {})",
                mask(&norm(stored)),
                mask(&norm(probe)),
                sig(stored).distance(&sig(probe))
            );
        }
    }
}

#[test]
fn similar_looking_chat_is_not_found_either_way() {
    for (a, b) in OTHER {
        for (stored, probe) in [(a, b), (b, a)] {
            assert_eq!(
                lookup(stored, probe),
                None,
                "{probe:?} must not match {stored:?} (distance {})",
                sig(stored).distance(&sig(probe))
            );
        }
    }
}

#[test]
fn short_texts_match_only_exactly_and_bare_numbers_never() {
    // Masked to `加v@` (3 characters): exact signatures.
    let a = sig("加v abc123");
    assert!(a.is_exact());
    assert_eq!(a.matches(&sig("加V mm7890")), Some(0), "same masked text");
    assert_eq!(a.matches(&sig("加q xyz789")), None, "one character differs");
    assert_eq!(sig("你好").matches(&sig("您好")), None);
    // An exact signature never matches a fuzzy one, even one that contains its text.
    assert_eq!(a.matches(&sig("加v abc123 日结三百元，手机操作")), None);
    // Nothing but placeholders (or one character besides): no template.
    for bare in [
        "13800138000",
        "abc123",
        "https://x.com/a",
        "q12345678",
        "一二三四五六七",
        "好",
        "",
    ] {
        assert_eq!(Signature::of(&norm(bare)), None, "{bare:?}");
    }
    // Seven Chinese characters are still exact, eight are fuzzy; Latin letters count half.
    assert!(sig("今天下午开会吃").is_exact());
    assert!(!sig("今天下午开会吃饭").is_exact());
    assert!(sig("congratulations").is_exact());
    assert!(!sig("congratulations!!!!!! all").is_exact());
    // So a short text inside a slightly longer one is not a near-duplicate of it.
    assert_eq!(sig("huge, congrats").matches(&sig("congrats!!")), None);
}

#[test]
fn minhash_distance_estimates_jaccard() {
    // Pairs of random Han texts built to a known shingle Jaccard: a shared core of `k`
    // characters and private tails. Averaged over many pairs, distance / BINS ≈ 1 − J.
    let mut rng = Rng(42);
    for (shared, private) in [(40, 0), (40, 5), (30, 10), (20, 20), (10, 30)] {
        let (mut sum_est, mut sum_true, pairs) = (0.0, 0.0, 300);
        for _ in 0..pairs {
            let core = rng.han_text(shared);
            let a = format!("{core}{}", rng.han_text(private));
            let b = format!("{}{core}", rng.han_text(private));
            let shingles = |s: &str| {
                let c: Vec<char> = s.chars().collect();
                c.windows(3).map(|w| w.to_vec()).collect::<BTreeSet<_>>()
            };
            let (x, y) = (shingles(&a), shingles(&b));
            sum_true += x.intersection(&y).count() as f64 / x.union(&y).count() as f64;
            let (Some(sa), Some(sb)) = (Signature::of(&a), Signature::of(&b)) else {
                panic!("random text has a signature");
            };
            sum_est += 1.0 - f64::from(sa.distance(&sb)) / BINS as f64;
        }
        let (est, truth) = (sum_est / f64::from(pairs), sum_true / f64::from(pairs));
        assert!((est - truth).abs() < 0.05, "J {truth:.3} estimated {est:.3}");
    }
}

#[test]
fn find_returns_the_closest_candidate() {
    let mut index = Index::new();
    let base = "出售红色连衣裙，原价299现价99，质量保证，欢迎选购，加v: shop8899";
    index.insert(
        1,
        sig("出售蓝色连衣裙，原价299现价99，质量很好，欢迎选购，加v: shop8899"),
    );
    index.insert(2, sig(base));
    index.insert(
        3,
        sig("出售红色连衣裙，原价299现价99，质量保证，欢迎来买，加v: shop8899"),
    );
    assert_eq!(index.find(&sig(base)), Some(Match { id: 2, distance: 0 }));
}

#[test]
fn remove_and_replace() {
    let mut index = Index::new();
    let (a, b) = SAME[0];
    index.insert(1, sig(a));
    assert_eq!(index.find(&sig(b)).map(|m| m.id), Some(1));
    assert!(index.remove(1));
    assert!(!index.remove(1), "already gone");
    assert_eq!(index.find(&sig(b)), None);
    assert!(index.is_empty());
    // Re-inserting an id replaces its sample.
    index.insert(5, sig(a));
    index.insert(5, sig(OTHER[0].1));
    assert_eq!(index.len(), 1);
    assert_eq!(index.find(&sig(b)), None);
    assert_eq!(index.find(&sig(OTHER[0].1)).map(|m| m.id), Some(5));
    check(&index);
}

#[test]
fn a_full_index_evicts_the_oldest_live_sample() {
    let mut index = Index::with_capacity(3);
    let texts: Vec<String> = {
        let mut rng = Rng(3);
        (0..5).map(|_| rng.han_text(20)).collect()
    };
    let s = |i: usize| Signature::of(&texts[i]).expect("signature");
    assert_eq!(index.insert(10, s(0)), None);
    assert_eq!(index.insert(11, s(1)), None);
    assert_eq!(index.insert(12, s(2)), None);
    index.remove(10); // the oldest is gone already: the next eviction skips it
    assert_eq!(index.insert(13, s(3)), None, "there was room");
    assert_eq!(index.insert(14, s(4)), Some(11), "11 is the oldest live sample");
    assert_eq!(index.len(), 3);
    assert_eq!(index.find(&s(1)), None);
    for (id, i) in [(12, 2), (13, 3), (14, 4)] {
        assert_eq!(index.find(&s(i)), Some(Match { id, distance: 0 }));
    }
    check(&index);
}

#[test]
fn churn_keeps_the_index_consistent_and_bounded() {
    let mut rng = Rng(99);
    let mut index = Index::with_capacity(50);
    let mut alive: BTreeSet<u64> = BTreeSet::new();
    let mut sigs: Vec<Signature> = Vec::new();
    for step in 0..5_000u64 {
        let id = rng.below(120);
        if rng.below(3) == 0 {
            assert_eq!(index.remove(id), alive.remove(&id), "step {step}");
        } else {
            // Templates repeat so that bands hold chains longer than one.
            let template = rng.below(8);
            let tail = rng.below(3) as usize;
            let text = format!("模板{template}号广告内容请联系我们{}", rng.han_text(tail));
            let s = Signature::of(&text).expect("signature");
            sigs.push(s);
            if let Some(evicted) = index.insert(id, s) {
                alive.remove(&evicted);
            }
            alive.insert(id);
        }
        assert_eq!(index.len(), alive.len(), "step {step}");
        assert!(index.len() <= index.capacity());
        assert!(index.fifo.len() <= 2 * index.capacity() + 16);
    }
    check(&index);
    for s in &sigs {
        let _ = index.find(s);
    }
}

/// The bookkeeping invariants: every live slot is in each of its bands' lists exactly
/// once, lists are doubly linked correctly, heads point at list starts, nothing else is
/// linked.
fn check(index: &Index) {
    let live: BTreeSet<u32> = index.by_id.values().copied().collect();
    assert_eq!(live.len(), index.by_id.len());
    for (&id, &at) in &index.by_id {
        assert_eq!(index.slots[at as usize].id, id);
    }
    let mut linked = 0;
    for (&key, &head) in &index.heads {
        let band = (key & 7) as usize;
        let mut prev = NONE;
        let mut at = head;
        while at != NONE {
            assert!(live.contains(&at), "a removed slot is still linked");
            let slot = &index.slots[at as usize];
            assert_eq!(slot.sig.band_key(band), key);
            assert_eq!(slot.links[band].prev, prev);
            linked += 1;
            prev = at;
            at = slot.links[band].next;
        }
    }
    let expected: usize = live.iter().map(|&at| index.slots[at as usize].sig.bands()).sum();
    assert_eq!(linked, expected);
}

#[test]
fn only_the_head_of_a_wall_of_text_counts() {
    let head: String = Rng(8).han_text(MAX_CHARS);
    let a = format!("{head}{}", "尾巴".repeat(5_000));
    let b = format!("{head}{}", "别的".repeat(3));
    assert_eq!(Signature::of(&a), Signature::of(&b));
}

#[test]
fn never_panics_on_odd_input() {
    let mut rng = Rng(5);
    let pool = [
        'a', 'Z', '0', '9', '.', '/', '@', ':', '加', 'v', '微', '信', '三', '折', '\u{0}', '🙂', 'я', ' ', '#',
    ];
    for _ in 0..3_000 {
        let len = rng.below(40) as usize;
        let text: String = (0..len).map(|_| pool[rng.below(pool.len() as u64) as usize]).collect();
        let masked = mask(&text);
        if let Some(s) = Signature::of(&text) {
            assert!(s.distance(&s) == 0);
        }
        assert!(
            masked.chars().count() <= text.chars().count() + 1,
            "{text:?} → {masked:?}"
        );
    }
}

#[test]
fn find_all_returns_every_stored_near_duplicate_closest_first() {
    let mut index = Index::new();
    let template = "兼职刷单日结三百元有意者加微信详聊";
    index.insert(1, sig("兼职刷单日结三百元有意者加微信详聊"));
    index.insert(2, sig("兼职刷单日结五百元有意者加微信详聊哦"));
    index.insert(3, sig("今天天气很好我们一起去公园散步吧"));
    let found = index.find_all(&sig(template));
    let ids: Vec<u64> = found.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        [1, 2],
        "both templates, the closest first (then by id); not the chat"
    );
    assert_eq!(found[0].distance, 0, "the same template");
    assert!(found[0].distance <= found[1].distance);
    assert!(index.find(&sig(template)).is_some_and(|m| m.id != 3));
    index.remove(1);
    assert_eq!(
        index.find_all(&sig(template)).iter().map(|m| m.id).collect::<Vec<_>>(),
        [2]
    );
}

#[test]
fn the_documented_example_masks_as_documented() {
    // rules/README.md, "Samples and trust".
    assert_eq!(
        mask(&norm("高薪招聘宝妈在家用手机操作每天两小时收入五百元详情私聊我")),
        "高薪招聘宝妈在家用手机操作每天#小时收入#元详情私聊我"
    );
}
